"""`flask outbox work`: one pass, or a process that stops cleanly and loses nothing when killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest

from app import PROJECT_ROOT
from app.mail.senders import make_sender
from app.mail.worker import deliver_pending
from tests.conftest import TEST_SECRET_KEY


def test_once_delivers_what_is_due_and_says_so(app, runner, enqueue):
    message_id = enqueue()
    result = runner.invoke(args=["outbox", "work", "--once"])
    assert result.exit_code == 0, result.output
    assert result.output == "outbox: 1 sent, 0 to retry, 0 failed\n"
    folder = Path(url2pathname(urlsplit(app.config["MAIL_URL"]).path))
    assert len(list(folder.glob(f"*{message_id}.eml"))) == 1

    result = runner.invoke(args=["outbox", "work", "--once"])
    assert result.output == "outbox: nothing due\n"


# --- the worker as its own process (committed: it reads what the test wrote) -----------------

@pytest.fixture
def start_worker(database_url, tmp_path):
    started = []

    def start(mail_url: str) -> subprocess.Popen:
        env = dict(
            os.environ,
            GATEHOUSE_DATABASE_URL=database_url,
            GATEHOUSE_MAIL_URL=mail_url,
            GATEHOUSE_SECRET_KEY=TEST_SECRET_KEY,
            GATEHOUSE_INSTANCE_PATH=str(tmp_path / "worker-instance"),
            GATEHOUSE_LOG_LEVEL="ERROR",
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "outbox", "work",
             "--interval", "0.2"],
            cwd=PROJECT_ROOT, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


def deliver_when_released(app, smtp_server, timeout=5.0):
    """Worker passes until one sends something: a killed worker's database connection may take a
    moment to be noticed and its row lock (PostgreSQL) released."""
    sender = make_sender(smtp_server.url, app.config["MAIL_FROM"])
    deadline = time.monotonic() + timeout
    with app.app_context():
        while True:
            counts = deliver_pending(sender=sender)
            if counts.total or time.monotonic() > deadline:
                return counts
            time.sleep(0.05)


@pytest.mark.committed
def test_sigterm_finishes_the_message_being_sent_then_exits(
        enqueue, stored, smtp_server, start_worker):
    message_id = enqueue()
    smtp_server.hold("RCPT")
    worker = start_worker(smtp_server.url)
    smtp_server.wait_until_held(timeout=15)

    worker.send_signal(signal.SIGTERM)
    time.sleep(0.2)  # the signal is in before the server answers
    smtp_server.release()
    out, err = worker.communicate(timeout=15)

    assert worker.returncode == 0, err
    assert "outbox: 1 sent, 0 to retry, 0 failed" in out
    assert out.rstrip().endswith("outbox: stopped")
    assert len(smtp_server.wait_for(count=1)) == 1
    assert stored(message_id).status == "sent"


@pytest.mark.committed
def test_a_killed_worker_loses_nothing(app, enqueue, stored, smtp_server, start_worker):
    message_id = enqueue()
    smtp_server.hold("RCPT")  # claimed, mid-conversation, nothing accepted yet
    worker = start_worker(smtp_server.url)
    smtp_server.wait_until_held(timeout=15)
    worker.kill()
    worker.communicate(timeout=15)
    smtp_server.release()

    message = stored(message_id)
    assert (message.status, message.attempts) == ("pending", 0)
    assert deliver_when_released(app, smtp_server).sent == 1
    assert len(smtp_server.wait_for(count=1)) == 1
    assert stored(message_id).status == "sent"


@pytest.mark.committed
def test_killed_after_the_server_accepted_it_is_sent_again_with_the_same_message_id(
        app, enqueue, smtp_server, start_worker):
    # The documented at-least-once window: the server has the message, the commit never came.
    message_id = enqueue()
    smtp_server.hold("DATA")
    worker = start_worker(smtp_server.url)
    smtp_server.wait_until_held(timeout=15)
    worker.kill()
    worker.communicate(timeout=15)
    smtp_server.release()
    smtp_server.wait_for(count=1)

    assert deliver_when_released(app, smtp_server).sent == 1
    first, second = smtp_server.wait_for(count=2)
    assert first["Message-ID"] == second["Message-ID"] == f"<{message_id}@gatehouse.localhost>"

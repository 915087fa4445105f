"""The worker: mail arrives once, survives an outage and a dying worker, and gives up loudly."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest
import sqlalchemy as sa

from app.db import db, utcnow
from app.mail.models import MessageStatus, OutboxMessage
from app.mail.senders import make_sender
from app.mail.services import MailService
from app.mail.worker import deliver_pending, retry_delay
from tests.smtp_server import first_link, html_body, text_body


def later(message, seconds=1):
    """A clock just past the message's next attempt."""
    moment = message.next_attempt_at + timedelta(seconds=seconds)
    return lambda: moment


def test_enqueued_mail_arrives_through_smtp(app, enqueue, stored, deliver, smtp_server):
    message_id = enqueue(to="ann@example.com")
    assert deliver().sent == 1

    [mail] = smtp_server.wait_for(count=1)
    assert mail["To"] == "ann@example.com"
    assert mail["From"] == app.config["MAIL_FROM"]
    assert mail["Subject"] == "Activate your account"
    assert mail["Message-ID"] == f"<{message_id}@gatehouse.localhost>"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail.get_content_type() == "multipart/alternative"
    assert first_link(mail) == "https://gatehouse.test/user/activate/tok-1"
    assert "Hello Ann," in text_body(mail)
    assert 'href="https://gatehouse.test/user/activate/tok-1"' in html_body(mail)
    assert smtp_server.envelopes == [("no-reply@gatehouse.localhost", ["ann@example.com"])]

    sent = stored(message_id)
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 1, None)
    assert sent.sent_at is not None


def test_a_second_pass_sends_nothing_again(enqueue, deliver, smtp_server):
    enqueue()
    enqueue(to="bob@example.com")
    assert deliver().sent == 2
    assert deliver().total == 0
    assert [m["To"] for m in smtp_server.wait_for(count=2)] == ["ann@example.com",
                                                                "bob@example.com"]


def test_without_a_sender_the_worker_uses_mail_url(app, enqueue, stored):
    message_id = enqueue()
    with app.app_context():
        assert deliver_pending().sent == 1  # the tests' MAIL_URL is a file:// folder
    folder = Path(url2pathname(urlsplit(app.config["MAIL_URL"]).path))
    assert len(list(folder.glob(f"*{message_id}.eml"))) == 1
    assert stored(message_id).status == "sent"


def test_server_down_keeps_the_message_pending_for_a_later_attempt(
        enqueue, stored, deliver, smtp_server):
    message_id = enqueue()
    smtp_server.stop()
    before = utcnow()

    counts = deliver()
    assert (counts.sent, counts.retrying, counts.failed) == (0, 1, 0)
    message = stored(message_id)
    assert message.status == "pending" and message.attempts == 1
    assert "Connection refused" in message.last_error or "ConnectionRefused" in message.last_error
    # First retry after 15 to 30 seconds (30 s with jitter).
    assert before + timedelta(seconds=15) <= message.next_attempt_at
    assert message.next_attempt_at <= utcnow() + timedelta(seconds=30)
    assert message.sent_at is None


def test_back_up_and_due_the_message_is_delivered_exactly_once(
        enqueue, stored, deliver, smtp_server):
    message_id = enqueue()
    smtp_server.stop()
    deliver()
    smtp_server.start()

    assert deliver().total == 0  # the server is back, but the message is not due yet
    assert smtp_server.messages == []

    assert deliver(clock=later(stored(message_id))).sent == 1
    assert deliver(clock=later(stored(message_id), seconds=3600)).total == 0
    [mail] = smtp_server.wait_for(count=1)
    assert mail["Message-ID"] == f"<{message_id}@gatehouse.localhost>"
    message = stored(message_id)
    assert (message.status, message.attempts) == ("sent", 2)


def test_after_max_attempts_the_message_fails_and_is_not_retried(
        enqueue, stored, deliver, smtp_server):
    message_id = enqueue()
    smtp_server.stop()
    delays = []
    clock = utcnow
    for attempt in range(1, 4):
        counts = deliver(max_attempts=3, clock=clock)
        message = stored(message_id)
        assert message.attempts == attempt
        if attempt < 3:
            assert counts.retrying == 1 and message.status == "pending"
            delays.append(message.next_attempt_at - clock())
            clock = later(message)
    assert counts.failed == 1
    assert message.status == MessageStatus.FAILED and message.last_error
    assert delays[1] > delays[0] / 2  # backing off, not hammering

    smtp_server.start()
    assert deliver(clock=lambda: utcnow() + timedelta(days=30)).total == 0
    assert smtp_server.messages == []
    assert stored(message_id).attempts == 3


def test_max_attempts_comes_from_the_setting(app, enqueue, stored, deliver, smtp_server,
                                             monkeypatch):
    monkeypatch.setitem(app.config, "OUTBOX_MAX_ATTEMPTS", 1)
    message_id = enqueue()
    smtp_server.stop()
    assert deliver().failed == 1
    assert stored(message_id).status == "failed"


def test_a_recipient_the_server_refuses_for_good_fails_at_once(
        enqueue, stored, deliver, smtp_server):
    smtp_server.refused.add("gone@example.com")
    gone = enqueue(to="gone@example.com")
    fine = enqueue(to="ann@example.com")
    counts = deliver()
    assert (counts.sent, counts.failed) == (1, 1)
    message = stored(gone)
    assert (message.status, message.attempts) == ("failed", 1)
    assert "550" in message.last_error and "gone@example.com" in message.last_error
    assert stored(fine).status == "sent"
    assert [m["To"] for m in smtp_server.wait_for(count=1)] == ["ann@example.com"]


class InterruptedSender:
    """Delivers through `sender` until the `fatal`-th message, where the process is 'killed'."""

    def __init__(self, sender, fatal: int) -> None:
        self.sender = sender
        self.fatal = fatal
        self.calls = 0

    def send(self, message):
        self.calls += 1
        if self.calls == self.fatal:
            raise KeyboardInterrupt  # like SIGINT or SystemExit: not a delivery failure
        self.sender.send(message)


def test_a_worker_killed_mid_batch_loses_nothing(enqueue, stored, deliver, smtp_sender,
                                                 smtp_server):
    ids = [enqueue(to=f"user{n}@example.com") for n in range(3)]
    with pytest.raises(KeyboardInterrupt):
        deliver(sender=InterruptedSender(smtp_sender, fatal=2))
    assert stored(ids[0]).status == "sent"
    for message_id in ids[1:]:
        message = stored(message_id)
        # Rolled back to exactly as it was: not counted as an attempt, due at once.
        assert (message.status, message.attempts, message.last_error) == ("pending", 0, None)

    assert deliver().sent == 2
    mails = smtp_server.wait_for(count=3)
    assert sorted(m["Message-ID"] for m in mails) == sorted(
        f"<{message_id}@gatehouse.localhost>" for message_id in ids)


def test_messages_go_out_oldest_first(enqueue, deliver, smtp_server):
    for n in range(4):
        enqueue(to=f"user{n}@example.com")
    assert deliver(batch=2).sent == 2
    assert deliver(batch=10).sent == 2
    assert [m["To"] for m in smtp_server.wait_for(count=4)] == [
        f"user{n}@example.com" for n in range(4)]


@pytest.mark.committed
def test_two_workers_at_once_deliver_each_message_exactly_once(app, smtp_server):
    with app.app_context(), db.transaction() as session:
        service = MailService(session)
        ids = {service.enqueue(to=f"user{n}@example.com", template="activation",
                               context={"first_name": f"User {n}", "expires_hours": 72,
                                        "link": f"https://gatehouse.test/a/{n}"}).id
               for n in range(30)}

    start = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            with app.app_context():
                sender = make_sender(smtp_server.url, app.config["MAIL_FROM"])
                start.wait()
                results.append(deliver_pending(sender=sender))
        except BaseException as error:  # surfaced below; a thread cannot fail the test itself
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert sum(r.sent for r in results) == 30 and sum(r.total for r in results) == 30

    mails = smtp_server.wait_for(count=30)
    assert sorted(m["Message-ID"] for m in mails) == sorted(
        f"<{message_id}@gatehouse.localhost>" for message_id in ids)
    with app.app_context(), db.transaction() as session:
        rows = session.execute(sa.select(OutboxMessage.status, OutboxMessage.attempts)).all()
    assert sorted(rows) == [("sent", 1)] * 30


def test_retry_delays_grow_and_are_capped():
    for attempts in range(1, 15):
        expected = min(30 * 2 ** (attempts - 1), 3600)
        for _ in range(20):
            delay = retry_delay(attempts).total_seconds()
            assert expected / 2 <= delay <= expected

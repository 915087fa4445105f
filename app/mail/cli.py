"""`flask --app wsgi outbox work`: the delivery worker, as a long-running process or one pass."""

from __future__ import annotations

import signal
import threading

import click
from flask import current_app
from flask.cli import with_appcontext

from app.mail.senders import make_sender
from app.mail.worker import PassCounts, deliver_pending, work

outbox = click.Group("outbox", help="The mail outbox.")


@outbox.command("work")
@click.option("--once", is_flag=True, help="Deliver what is due in one pass, then exit.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds to wait after the outbox is drained.")
@click.option("--batch", type=click.IntRange(min=1), default=100, show_default=True,
              help="Most messages per pass.")
@with_appcontext
def outbox_work(once: bool, interval: float, batch: int):
    """Deliver pending mail. SIGTERM or Ctrl-C stops after the message being sent."""
    config = current_app.config
    sender = make_sender(config["MAIL_URL"], config["MAIL_FROM"])
    if once:
        counts = deliver_pending(batch=batch, sender=sender)
        click.echo(f"outbox: {counts}" if counts.total else "outbox: nothing due")
        return

    stop = threading.Event()

    def request_stop(_signum, _frame):
        if stop.is_set():
            # Asked twice: stop now. The message being sent rolls back to pending.
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    click.echo(f"outbox: delivering through {sender!r}; SIGTERM or Ctrl-C stops")

    def summary(counts: PassCounts) -> None:
        click.echo(f"outbox: {counts}")

    try:
        work(stop=stop, interval=interval, batch=batch, sender=sender, on_pass=summary)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("outbox: stopped")


commands = [outbox]

"""`flask --app wsgi outbox work`: the delivery worker for mail and webhooks, as a long-running
process or one pass."""

from __future__ import annotations

import signal
import threading

import click
import requests
from flask import current_app
from flask.cli import with_appcontext

from app.events import delivery as webhooks
from app.mail.senders import Sender, make_sender
from app.mail.worker import Channel, PassCounts, mail_channel, work

outbox = click.Group("outbox", help="The outbox: mail and webhook deliveries.")


@outbox.command("work")
@click.option("--once", is_flag=True, help="Deliver what is due in one pass, then exit.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds to wait after the outbox is drained.")
@click.option("--batch", type=click.IntRange(min=1), default=100, show_default=True,
              help="Most deliveries per pass, for mail and for webhooks.")
@with_appcontext
def outbox_work(once: bool, interval: float, batch: int):
    """Deliver pending mail and webhooks. SIGTERM or Ctrl-C stops after the delivery being
    made."""
    config = current_app.config
    sender = make_sender(config["MAIL_URL"], config["MAIL_FROM"])
    http = requests.Session()  # one for the process: keep-alive connections to receivers
    channels = [
        mail_channel(sender),
        Channel("webhooks", lambda batch, stop: webhooks.deliver_pending(batch=batch, http=http,
                                                                         stop=stop)),
    ]
    try:
        if once:
            _one_pass(channels, batch)
        else:
            _run(channels, sender, interval, batch)
    finally:
        http.close()


def _one_pass(channels: list[Channel], batch: int) -> None:
    said = False
    for channel in channels:
        counts = channel.deliver(batch, None)
        if counts.total:
            click.echo(f"{channel.label}: {counts}")
            said = True
    if not said:
        click.echo("outbox: nothing due")


def _run(channels: list[Channel], sender: Sender, interval: float, batch: int) -> None:
    stop = threading.Event()

    def request_stop(_signum, _frame):
        if stop.is_set():
            # Asked twice: stop now. The message being sent rolls back to pending; a webhook
            # being posted stays claimed until its lease runs out, then is tried again.
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    click.echo(f"outbox: delivering mail through {sender!r} and webhooks; SIGTERM or Ctrl-C "
               "stops")

    def summary(channel: Channel, counts: PassCounts) -> None:
        click.echo(f"{channel.label}: {counts}")

    try:
        work(stop=stop, channels=channels, interval=interval, batch=batch, on_pass=summary)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("outbox: stopped")


commands = [outbox]

"""The outbox worker: claims due messages one at a time, sends them, and records what happened.
Delivery is at least once, never lost; deliver_pending says how. `work` also runs other
channels' passes (webhooks: app.events.delivery) in the same loop."""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Sequence

import sqlalchemy as sa
from flask import current_app

from app.db import db, utcnow
from app.mail.models import EMAIL, MessageStatus, OutboxMessage
from app.mail.senders import DeliveryFailed, PermanentFailure, Sender, make_sender

log = logging.getLogger(__name__)

BACKOFF_BASE = 30.0  # seconds before the first retry
BACKOFF_CAP = 3600.0
ERROR_LIMIT = 2000  # characters of last_error kept


@dataclass
class PassCounts:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.retrying + self.failed

    def __str__(self) -> str:
        return f"{self.sent} sent, {self.retrying} to retry, {self.failed} failed"


def retry_delay(attempts: int) -> timedelta:
    """About 30 s after the first failure, doubling with each one, at most an hour."""
    delay = min(BACKOFF_BASE * 2 ** (attempts - 1), BACKOFF_CAP)
    # Half fixed, half random: never sooner than half the delay, and messages that failed
    # together (the server was down) do not all come back in the same second.
    return timedelta(seconds=delay / 2 + random.uniform(0, delay / 2))


def _claim(now: datetime) -> sa.Select:
    """The oldest due message, for any number of workers at once.

    PostgreSQL: the row is locked FOR UPDATE SKIP LOCKED, so each worker takes a different one.
    SQLite: the transaction has begun IMMEDIATE, holding the database's write lock before this
    read, so a second worker waits for the first to commit. Other writers wait too, for one SMTP
    conversation at most (bounded by the socket timeout): fine for the embedded single-node setup;
    production runs PostgreSQL.
    """
    return (
        sa.select(OutboxMessage)
        .where(
            OutboxMessage.channel == EMAIL,
            OutboxMessage.status == MessageStatus.PENDING,
            OutboxMessage.next_attempt_at <= now,
        )
        .order_by(OutboxMessage.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)  # SQLite renders none: IMMEDIATE does its job
    )


def _describe(error: Exception) -> str:
    # Senders word their own failures (and keep credentials out); anything else is a surprise
    # worth naming by type.
    text = str(error) if isinstance(error, DeliveryFailed) else f"{type(error).__name__}: {error}"
    return text[:ERROR_LIMIT]


def _deliver_one(sender: Sender, max_attempts: int,
                 clock: Callable[[], datetime]) -> str | None:
    """Claim, send and record one message; None when nothing is due."""
    with db.transaction() as session:
        # db.transaction() begins SQLite transactions IMMEDIATE, so two workers never claim
        # the same row there; PostgreSQL's claim query skips locked rows.
        now = clock()
        message = session.scalars(_claim(now)).first()
        if message is None:
            return None
        message.attempts += 1
        # Only an Exception counts as a failed attempt. Anything else (the process being
        # stopped hard) propagates and the transaction rolls back: the message is pending
        # again, as if never claimed.
        try:
            sender.send(message)
        except Exception as error:
            message.last_error = _describe(error)
            if isinstance(error, PermanentFailure) or message.attempts >= max_attempts:
                message.status = MessageStatus.FAILED
                log.error("outbox message %s (%s) failed after %d attempt(s): %s", message.id,
                          message.template, message.attempts, message.last_error)
                return "failed"
            message.next_attempt_at = now + retry_delay(message.attempts)
            log.warning("outbox message %s (%s) attempt %d failed, retrying at %s: %s",
                        message.id, message.template, message.attempts,
                        message.next_attempt_at.isoformat(timespec="seconds"), message.last_error)
            return "retrying"
        message.status = MessageStatus.SENT
        message.sent_at = clock()
        log.info("outbox message %s (%s) sent", message.id, message.template)
        return "sent"


def deliver_pending(
    *,
    batch: int = 100,
    sender: Sender | None = None,
    max_attempts: int | None = None,
    clock: Callable[[], datetime] = utcnow,
    stop: threading.Event | None = None,
) -> PassCounts:
    """One pass: deliver up to `batch` due messages, each in its own transaction.

    A message is claimed, sent and marked `sent` in one transaction. A worker that dies before
    its commit loses nothing: the rollback leaves the row pending, as if never claimed, and the
    next pass sends it. Delivery is therefore at least once: a worker that dies after the SMTP
    server accepted a message but before the commit sends it again on the next pass. Both copies
    carry the same Message-ID (derived from the outbox id), so receivers can drop the duplicate.

    A failed attempt is retried with backoff (retry_delay) until `max_attempts` (default
    OUTBOX_MAX_ATTEMPTS), then the message is `failed`; a permanent refusal fails it at once.
    Runs inside an app context; the sender defaults to the one MAIL_URL names. `stop` is
    checked between messages, never during one.
    """
    config = current_app.config
    sender = sender or make_sender(config["MAIL_URL"], config["MAIL_FROM"])
    max_attempts = max_attempts or config["OUTBOX_MAX_ATTEMPTS"]
    counts = PassCounts()
    while counts.total < batch and not (stop and stop.is_set()):
        outcome = _deliver_one(sender, max_attempts, clock)
        if outcome is None:
            break
        setattr(counts, outcome, getattr(counts, outcome) + 1)
    return counts


@dataclass(frozen=True)
class Channel:
    """One kind of outbox row for `work` to deliver."""

    label: str  # what the command prints before a pass's counts
    deliver: Callable[[int, threading.Event | None], PassCounts]  # one pass: (batch, stop)


def mail_channel(sender: Sender) -> Channel:
    # Labelled "outbox" as it always was: people and scripts read the command's output.
    return Channel("outbox", lambda batch, stop: deliver_pending(batch=batch, sender=sender,
                                                                 stop=stop))


def work(
    *,
    stop: threading.Event,
    channels: Sequence[Channel],
    interval: float = 5.0,
    batch: int = 100,
    on_pass: Callable[[Channel, PassCounts], None] | None = None,
) -> None:
    """Deliver passes of every channel until `stop` is set, waiting `interval` seconds whenever
    none of them has anything left.

    A failing pass (database unreachable, say) is logged and tried again after the interval;
    one channel failing does not hold up the others.
    """
    while not stop.is_set():
        busy = False
        for channel in channels:
            if stop.is_set():
                break
            try:
                counts = channel.deliver(batch, stop)
            except Exception:
                log.exception("%s pass failed; trying again in %s s", channel.label, interval)
                counts = PassCounts()
            if counts.total and on_pass is not None:
                on_pass(channel, counts)
            busy = busy or counts.total >= batch
        if not busy:
            stop.wait(interval)

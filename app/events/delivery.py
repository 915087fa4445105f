"""Webhook delivery: the outbox worker's second channel. Signed POSTs, retried with the mail
backoff, in event order per subscription; deliver_pending says how."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session, aliased

from app.db import db, utcnow
from app.events.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from app.events.schemas import WebhookPayloadSchema
from app.events.signing import SecretUnavailable, signature_header, unseal
from app.mail.worker import ERROR_LIMIT, PassCounts, retry_delay

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3.05  # seconds; just over a multiple of 3, TCP's retransmission window
READ_TIMEOUT = 10.0
# How long a claimed delivery is left alone: a worker that dies mid-attempt leaves it pending,
# and another worker tries again after this. Comfortably longer than one attempt can take.
LEASE = timedelta(minutes=2)
USER_AGENT = "Gatehouse-Webhooks/1"


@dataclass(frozen=True)
class Attempt:
    """A claimed delivery, ready to POST once the claiming transaction has committed."""

    delivery_id: uuid.UUID
    number: int
    subscription_id: uuid.UUID
    url: str
    event_id: uuid.UUID
    event_type: str
    body: bytes
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Outcome:
    response_status: int | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.error is None


def payload(event) -> bytes:
    """The event as the receiver gets it; the same bytes on every attempt."""
    return json.dumps(WebhookPayloadSchema().dump(event), separators=(",", ":")).encode()


def _claim_query(now: datetime) -> sa.Select:
    """The due delivery of the earliest event whose subscription has no earlier one pending.

    That rule is the ordering guarantee: within one subscription, events go out in seq order,
    and one that keeps failing holds back the later ones until it is delivered or fails for
    good. Subscriptions do not wait for each other. A claimed delivery stays pending (under a
    lease), so it holds back its successors while its attempt is in flight, also from other
    workers. PostgreSQL: FOR UPDATE SKIP LOCKED lets workers claim different rows at once.
    SQLite: the claim runs in a BEGIN IMMEDIATE transaction, one worker at a time.
    """
    earlier = aliased(WebhookDelivery)
    return (
        sa.select(WebhookDelivery)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= now,
            # Paused subscriptions keep their deliveries, in order, until reactivated.
            WebhookSubscription.active.is_(True),
            ~sa.exists().where(
                earlier.subscription_id == WebhookDelivery.subscription_id,
                earlier.status == DeliveryStatus.PENDING,
                earlier.event_seq < WebhookDelivery.event_seq,
            ),
        )
        .order_by(WebhookDelivery.event_seq)
        .limit(1)
        .with_for_update(of=WebhookDelivery, skip_locked=True)
    )


def _redact(text: str, url: str) -> str:
    """Error text without the URL's path and query, which may carry the receiver's token."""
    parts = urlsplit(url)
    for secret in sorted({url, parts.path + ("?" + parts.query if parts.query else ""),
                          parts.query}, key=len, reverse=True):
        if secret and secret != "/":
            text = text.replace(secret, "…")
    return text


def _describe(error: Exception, url: str) -> str:
    if isinstance(error, requests.Timeout):
        text = f"no answer within the timeout ({type(error).__name__})"
    elif isinstance(error, requests.ConnectionError):
        text = f"could not connect ({type(error).__name__}): {error}"
    else:
        text = f"{type(error).__name__}: {error}"
    return _redact(text, url)[:ERROR_LIMIT]


def _apply(delivery: WebhookDelivery, outcome: Outcome, now: datetime,
           max_attempts: int) -> str:
    """Record an attempt's outcome on the row; returns the PassCounts field it counts as."""
    delivery.response_status = outcome.response_status
    if outcome.delivered:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.last_error = None
        log.info("webhook delivery %s (%s) delivered to subscription %s", delivery.id,
                 delivery.event.type, delivery.subscription_id)
        return "sent"
    delivery.last_error = outcome.error
    if delivery.attempts >= max_attempts:
        delivery.status = DeliveryStatus.FAILED
        log.error("webhook delivery %s (%s) to subscription %s failed after %d attempt(s): %s",
                  delivery.id, delivery.event.type, delivery.subscription_id, delivery.attempts,
                  delivery.last_error)
        return "failed"
    delivery.next_attempt_at = now + retry_delay(delivery.attempts)
    log.warning("webhook delivery %s (%s) to subscription %s attempt %d failed, retrying at "
                "%s: %s", delivery.id, delivery.event.type, delivery.subscription_id,
                delivery.attempts, delivery.next_attempt_at.isoformat(timespec="seconds"),
                delivery.last_error)
    return "retrying"


def _claim(session: Session, now: datetime, max_attempts: int) -> Attempt | str | None:
    """Claim the next delivery: an Attempt to make, a counts field when it was settled without
    one (the secret cannot be decrypted), or None when nothing is due."""
    delivery = session.scalars(_claim_query(now)).first()
    if delivery is None:
        return None
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.next_attempt_at = now + LEASE
    subscription, event = delivery.subscription, delivery.event
    try:
        secret = unseal(subscription.encrypted_secret, subscription.id)
    except SecretUnavailable as error:
        return _apply(delivery, Outcome(error=str(error)), now, max_attempts)
    return Attempt(delivery_id=delivery.id, number=delivery.attempts,
                   subscription_id=subscription.id, url=subscription.url, event_id=event.id,
                   event_type=event.type, body=payload(event), secret=secret)


def post(http: requests.Session, attempt: Attempt, timestamp: int) -> Outcome:
    """One signed POST. Redirects are not followed (a webhook URL names its receiver), and
    the answer's body is never read."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Gatehouse-Event-Id": str(attempt.event_id),
        "Gatehouse-Event-Type": attempt.event_type,
        "Gatehouse-Timestamp": str(timestamp),
        "Gatehouse-Signature": signature_header(attempt.secret, timestamp, attempt.body),
    }
    try:
        response = http.post(attempt.url, data=attempt.body, headers=headers,
                             timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), allow_redirects=False,
                             stream=True)
    except Exception as error:  # any failure to get an answer is a failed attempt
        return Outcome(error=_describe(error, attempt.url))
    response.close()
    if 200 <= response.status_code < 300:
        return Outcome(response_status=response.status_code)
    return Outcome(response_status=response.status_code,
                   error=f"the receiver answered {response.status_code} {response.reason or ''}"
                   .strip()[:ERROR_LIMIT])


def _record(attempt: Attempt, outcome: Outcome, now: datetime, max_attempts: int) -> str:
    with db.transaction() as session:
        delivery = session.get(WebhookDelivery, attempt.delivery_id, with_for_update=True)
        counted = "sent" if outcome.delivered else "retrying"
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return counted  # the subscription was deleted meanwhile, or the row settled
        if delivery.attempts != attempt.number and not outcome.delivered:
            # Our lease ran out and another worker has made a newer attempt: its outcome is
            # the one to keep. A success is recorded whoever made it: the event did arrive.
            return counted
        return _apply(delivery, outcome, now, max_attempts)


def _deliver_one(http: requests.Session, max_attempts: int,
                 clock: Callable[[], datetime]) -> str | None:
    """Claim, POST and record one delivery; None when nothing is due.

    The claim commits before the POST, so no transaction (and on SQLite no write lock) is held
    while a receiver takes its time.
    """
    with db.transaction() as session:
        # db.transaction() begins SQLite transactions IMMEDIATE, so two workers never claim
        # the same row there; PostgreSQL's claim query skips locked rows.
        claimed = _claim(session, clock(), max_attempts)
    if not isinstance(claimed, Attempt):
        return claimed
    outcome = post(http, claimed, int(clock().timestamp()))
    return _record(claimed, outcome, clock(), max_attempts)


def deliver_pending(
    *,
    batch: int = 100,
    http: requests.Session | None = None,
    max_attempts: int | None = None,
    clock: Callable[[], datetime] = utcnow,
    stop: threading.Event | None = None,
) -> PassCounts:
    """One pass: deliver up to `batch` due webhook deliveries.

    A delivery is claimed (its attempt counted, a lease set) and committed, POSTed, and its
    outcome recorded in a second transaction. A worker that dies in between leaves it pending;
    after the lease another attempt is made. Delivery is therefore at least once: receivers
    drop duplicates by `Gatehouse-Event-Id`.

    2xx is delivered. Anything else is retried with the mail backoff (app.mail.worker
    .retry_delay) until `max_attempts` (default OUTBOX_MAX_ATTEMPTS), then failed. Runs inside
    an app context; `stop` is checked between deliveries, never during one.
    """
    max_attempts = max_attempts or current_app.config["OUTBOX_MAX_ATTEMPTS"]
    counts = PassCounts()
    own_session = http is None
    http = http or requests.Session()
    try:
        while counts.total < batch and not (stop and stop.is_set()):
            outcome = _deliver_one(http, max_attempts, clock)
            if outcome is None:
                break
            setattr(counts, outcome, getattr(counts, outcome) + 1)
    finally:
        if own_session:
            http.close()
    return counts

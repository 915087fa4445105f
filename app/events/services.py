"""The event log: recording events (with their webhook deliveries), the feed, and subscriptions.

Sequence numbers are handed out when an event is inserted, but transactions commit in their own
order: seq 11 can be visible while seq 10's transaction is still open, and a poller that read
"after 10: got 11" would skip 10 for ever. The feed therefore only serves a *settled* prefix: it
stops before the first event recorded less than SETTLE_WINDOW ago, however many newer ones are
visible. An event is missed only if its transaction stays open longer than the window after
recording it; requests commit within milliseconds, and the window leaves room for lock waits,
pauses and small clock differences between instances (occurred_at is the recording instance's
clock). Webhook deliveries wait out the same window before their first attempt, so that the
per-subscription order (app.events.delivery) is the feed's order. SQLite, whose writers take
turns, never commits out of order; the window costs it nothing but latency.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterable
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import g, has_app_context, has_request_context
from sqlalchemy.orm import Session, joinedload

from app.cache import TTLCache, process_cache
from app.db import Page, add_inserted, bound_row, paginate, utcnow
from app.events import errors
from app.events.models import (
    URL_MAX_LENGTH, DeliveryStatus, Event, WebhookDelivery, WebhookSubscription, wants,
)
from app.events.signing import new_secret, seal

SETTLE_WINDOW = timedelta(seconds=5)
MAX_SEQ = 2**63 - 1
# An event type (`user.created`, `license_transaction.provisioned`), a prefix (`user.*`) or `*`.
TYPE_PATTERN = re.compile(r"^(\*|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(\.\*)?)$")
MAX_TYPE_LENGTH = 64
MAX_EVENT_TYPES = 50
EDITABLE = ("url", "event_types", "active", "description")
# How long a process matches events against its snapshot of the active subscriptions.
SUBSCRIPTION_CACHE_SECONDS = 5.0


@dataclass
class FeedPage:
    items: list[Event]
    next_cursor: str



def parse_cursor(cursor: str | None) -> int:
    """The seq a cursor stands for. Cursors are opaque to clients; today they are the seq."""
    if cursor is None or cursor == "":
        return 0
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 19 or int(cursor) > MAX_SEQ:
        raise errors.InvalidCursor("pass back a nextCursor or seq this feed returned",
                                   errors={"after": ["Not a cursor this feed handed out."]})
    return int(cursor)


def normalize_types(values: Iterable[str], field: str) -> list[str]:
    """Checked, trimmed, duplicates dropped (first occurrence kept)."""
    patterns: list[str] = []
    problems: dict[int, list[str]] = {}
    for index, value in enumerate(values):
        pattern = value.strip()
        if len(pattern) > MAX_TYPE_LENGTH or not TYPE_PATTERN.match(pattern):
            problems[index] = ["Use an event type (user.created), a prefix (user.*) or *."]
        elif pattern not in patterns:
            patterns.append(pattern)
    if problems:
        raise errors.InvalidEventType("an event type is not valid", errors={field: problems})
    if len(patterns) > MAX_EVENT_TYPES:
        raise errors.InvalidEventType(f"at most {MAX_EVENT_TYPES} event types",
                                      errors={field: [f"At most {MAX_EVENT_TYPES} entries."]})
    return patterns


def _type_condition(patterns: list[str]) -> sa.ColumnElement[bool]:
    if not patterns or "*" in patterns:
        return sa.true()
    # Prefixes compared as text, not with LIKE: `_` in event types is no wildcard, and SQLite's
    # LIKE would ignore case where PostgreSQL's does not.
    return sa.or_(*(
        sa.func.substr(Event.type, 1, len(pattern) - 1) == pattern[:-1]
        if pattern.endswith(".*") else Event.type == pattern
        for pattern in patterns
    ))


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str:
    """https anywhere; plain http only to this machine (development receivers)."""

    def refuse(why: str):
        return errors.InvalidWebhookUrl(why, errors={"url": [why]})

    url = url.strip()
    if len(url) > URL_MAX_LENGTH or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise refuse("Not a URL.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise refuse("Not a URL.") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise refuse("Use an absolute https:// URL.")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise refuse("Use https; plain http is accepted only for loopback receivers "
                     "(localhost, 127.0.0.1, ::1).")
    if parts.username is not None or parts.password is not None:
        # They would be shown to everyone who lists webhooks; the signature authenticates us.
        raise refuse("Credentials in the URL are not accepted; verify the signature instead.")
    if parts.fragment:
        raise refuse("A webhook URL has no #fragment.")
    return url


def active_subscriptions(session: Session) -> list[tuple[uuid.UUID, list[str]]]:
    """The active webhook subscriptions (id, event types), from a per-process snapshot
    (app.cache): every event recorded is matched against them, so recording an event nobody
    subscribes to costs no query. A new subscription made on another instance is matched from
    at most SUBSCRIPTION_CACHE_SECONDS on; the feed has every event. A stale entry never yields
    a delivery: EventLog confirms matches in the database before writing deliveries."""

    def load() -> list[tuple[uuid.UUID, list[str]]]:
        # No autoflush: callers flush where their rules need it (a savepoint around a unique
        # insert, say), and this lookup must not move that flush here.
        with session.no_autoflush:
            rows = session.execute(
                sa.select(WebhookSubscription.id, WebhookSubscription.event_types)
                .where(WebhookSubscription.active.is_(True))).all()
        return [(row.id, list(row.event_types or ())) for row in rows]

    if not has_app_context():
        return load()
    return subscription_cache().get("active", load)


def subscription_cache() -> TTLCache:
    return process_cache("webhook_subscriptions", SUBSCRIPTION_CACHE_SECONDS)


_EVENTS = Event.__table__
# The columns an event is inserted with (`seq` comes from the database).
_COLUMNS = ("id", "type", "subject_id", "data", "client_id", "occurred_at")
_INSERT_EVENT = _EVENTS.insert().returning(_EVENTS.c.seq)


class EventLog:
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, type: str, subject_id: object = None, **data: object) -> Event:
        """Append an event, and a delivery for each active subscription that wants it; they
        exist exactly when the caller's transaction commits."""
        return self.insert(self.new(type, subject_id, **data))

    def insert(self, event: Event) -> Event:
        """Append an event from `new` (as `record` does)."""
        # Inserted now, by one statement, rather than by the unit of work at the next flush:
        # nearly every writing request records an event. No autoflush: callers flush where
        # their rules need it (a savepoint around a unique insert, say).
        with self.session.no_autoflush:
            seq = self.session.execute(_INSERT_EVENT, self.columns(event)).scalar_one()
        return self.inserted(event, seq)

    @staticmethod
    def new(type: str, subject_id: object = None, **data: object) -> Event:
        """An event not yet in the log, for `insert`; or for a caller that inserts it within a
        statement of its own (see `insert_from`) and hands it to `inserted` afterwards."""
        principal = g.get("principal") if has_request_context() else None
        return Event(
            id=uuid.uuid4(),
            type=type,
            subject_id=str(subject_id) if subject_id is not None else None,
            data={key: value for key, value in data.items() if value is not None},
            client_id=principal.client_id if principal else None,
            # Set here rather than at flush: the deliveries' first attempt is counted from it.
            occurred_at=utcnow(),
        )

    @staticmethod
    def columns(event: Event, prefix: str = "") -> dict[str, object]:
        """The event's values, keyed as `bound_row` names its columns' parameters."""
        return {f"{prefix}_{name}" if prefix else name: getattr(event, name)
                for name in _COLUMNS}

    @staticmethod
    def insert_from(source: sa.FromClause, prefix: str) -> sa.Insert:
        """An INSERT of the event bound as `<prefix>_<column>` (`columns(event, prefix)`) for
        each row of `source` (none when it has none), returning its `seq`: a part of a caller's
        own statement (in a WITH)."""
        values = sa.select(*bound_row((_EVENTS.c[name] for name in _COLUMNS), prefix).values())
        return (_EVENTS.insert().from_select(_COLUMNS, values.select_from(source))
                .returning(_EVENTS.c.seq))

    def inserted(self, event: Event, seq: int) -> Event:
        """An event from `new` that is now in the log as `seq`: the session holds it as stored,
        and the subscriptions that want it get their deliveries."""
        event.seq = seq
        add_inserted(self.session, event)
        self._fan_out(event)
        return event

    def _fan_out(self, event: Event) -> None:
        wanted = [subscription_id for subscription_id, types
                  in active_subscriptions(self.session) if wants(types, event.type)]
        if not wanted:
            return
        with self.session.no_autoflush:  # see active_subscriptions
            confirmed = self.session.scalars(
                sa.select(WebhookSubscription.id)
                .where(WebhookSubscription.id.in_(wanted), WebhookSubscription.active.is_(True))
                .order_by(WebhookSubscription.id)).all()
        first_attempt = event.occurred_at + SETTLE_WINDOW
        for subscription_id in confirmed:
            self.session.add(WebhookDelivery(subscription_id=subscription_id,
                                             event_seq=event.seq, next_attempt_at=first_attempt))


class EventFeed:
    """Reading the log oldest first, by cursor (see the module docstring on settling)."""

    def __init__(self, session: Session, clock: Callable[[], datetime] = utcnow) -> None:
        self.session = session
        self.clock = clock

    def read(self, *, after: str | None, types: Iterable[str] = (), limit: int) -> FeedPage:
        start = parse_cursor(after)
        patterns = normalize_types(types, "type")
        in_range = Event.seq > start
        # The first event still inside the window ends the page, even if later ones are older
        # (occurred_at and seq need not agree across concurrent transactions).
        unsettled = self.session.scalar(
            sa.select(sa.func.min(Event.seq))
            .where(in_range, Event.occurred_at > self.clock() - SETTLE_WINDOW))
        if unsettled is not None:
            in_range = sa.and_(in_range, Event.seq < unsettled)
        items = list(self.session.scalars(
            sa.select(Event).where(in_range, _type_condition(patterns))
            .order_by(Event.seq).limit(limit)))
        if len(items) == limit:
            end = items[-1].seq
        elif patterns:
            # Fewer matches than asked for: every settled event was looked at, so the next poll
            # can start after the last of them rather than rescan what did not match.
            end = self.session.scalar(sa.select(sa.func.max(Event.seq)).where(in_range)) or start
        else:
            end = items[-1].seq if items else start
        return FeedPage(items=items, next_cursor=str(end))


class WebhookService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def search(self, *, offset: int, limit: int) -> Page:
        return paginate(self.session, sa.select(WebhookSubscription).order_by(
            WebhookSubscription.created_at, WebhookSubscription.id), offset, limit)

    def get(self, subscription_id: uuid.UUID) -> WebhookSubscription:
        subscription = self.session.get(WebhookSubscription, subscription_id)
        if subscription is None:
            raise errors.WebhookNotFound(f"no webhook subscription with id {subscription_id}")
        return subscription

    def create(self, data: dict, *, client_id: str | None) -> WebhookSubscription:
        """A subscription, with its signing secret attached for this one response."""
        subscription = WebhookSubscription(
            id=uuid.uuid4(),
            url=check_url(data["url"]),
            event_types=normalize_types(data.get("event_types") or [], "eventTypes"),
            active=data.get("active", True),
            description=data.get("description"),
            client_id=client_id,
        )
        self._new_secret(subscription)
        self.session.add(subscription)
        # Flushed so that the response carries the stored timestamps.
        self.session.flush()
        subscription_cache().forget()
        return subscription

    def update(self, subscription: WebhookSubscription, data: dict) -> WebhookSubscription:
        """Change url, types, active, description. A new URL also applies to pending
        deliveries; deactivating pauses them (they wait, in order, until reactivated)."""
        changes = {key: data[key] for key in EDITABLE if key in data}
        if "url" in changes:
            changes["url"] = check_url(changes["url"])
        if "event_types" in changes:
            changes["event_types"] = normalize_types(changes["event_types"] or [], "eventTypes")
        for key, value in changes.items():
            setattr(subscription, key, value)
        # Flushed so that the response carries the new updatedAt.
        self.session.flush()
        subscription_cache().forget()
        return subscription

    def delete(self, subscription: WebhookSubscription) -> None:
        """Delete the subscription and its deliveries: pending ones are not sent."""
        self.session.delete(subscription)
        self.session.flush()
        subscription_cache().forget()

    def rotate_secret(self, subscription: WebhookSubscription) -> WebhookSubscription:
        """A new secret signs from now on (attached for this one response); the old one stops
        at once. Deliveries the receiver rejects until it has the new one are retried."""
        self._new_secret(subscription)
        self.session.flush()
        return subscription

    @staticmethod
    def _new_secret(subscription: WebhookSubscription) -> None:
        secret = new_secret()
        subscription.encrypted_secret = seal(secret, subscription.id)
        subscription.secret_rotated_at = utcnow()
        subscription.secret = secret

    def deliveries(self, subscription: WebhookSubscription, *, status: str | None,
                   offset: int, limit: int) -> Page:
        """The subscription's deliveries, newest event first."""
        condition = WebhookDelivery.subscription_id == subscription.id
        if status:
            condition = sa.and_(condition, WebhookDelivery.status == DeliveryStatus(status))
        return paginate(self.session, sa.select(WebhookDelivery).where(condition)
                        .options(joinedload(WebhookDelivery.event))
                        .order_by(WebhookDelivery.event_seq.desc()), offset, limit)


"""Events, appended in the transaction of the change they describe; webhook subscriptions and
the deliveries that carry events to them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, TimestampMixin, utcnow

# The events' primary key: 64 bits on PostgreSQL; on SQLite only INTEGER is the rowid alias that
# autoincrements. Columns referring to it use the same type.
SEQ_TYPE = sa.BigInteger().with_variant(sa.Integer, "sqlite")
URL_MAX_LENGTH = 2000


class Event(Base):
    __tablename__ = "events"

    # The sequence number is the feed's cursor: integrations read "everything after N".
    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4)
    type: Mapped[str] = mapped_column(sa.String(64), index=True)
    subject_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # The client whose call caused the event, when there was one.
    client_id: Mapped[str | None] = mapped_column(sa.String(64))
    # Indexed for the feed's settle window: "the oldest event that is still too recent".
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class DeliveryStatus(StrEnum):
    PENDING = "pending"      # waiting for its first or next attempt (or for an earlier one)
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"        # out of attempts


class WebhookSubscription(Base, TimestampMixin):
    """A receiver URL and the event types it wants, with the secret that signs what it gets."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    url: Mapped[str] = mapped_column(sa.String(URL_MAX_LENGTH))
    # Exact types ("user.created") or prefixes ("user.*"); empty means every event.
    event_types: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    description: Mapped[str | None] = mapped_column(sa.String(500))
    # The signing secret, encrypted (app.events.signing.seal): the worker needs it in the clear
    # to sign, so it cannot be hashed; encrypted, a copy of the database alone (a backup, a
    # read-only leak) does not let anyone forge deliveries.
    encrypted_secret: Mapped[str] = mapped_column(sa.Text)
    secret_rotated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The client that created it, for the record.
    client_id: Mapped[str | None] = mapped_column(sa.String(64))

    deliveries: Mapped[list[WebhookDelivery]] = relationship(
        back_populates="subscription", passive_deletes=True)

    # Not stored: the plain secret, attached by WebhookService on creation and rotation for
    # that one response.
    secret = None


class WebhookDelivery(Base):
    """One event on its way to one subscription: the webhook channel of the outbox."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # One delivery per event and subscription; its index also serves "earlier pending
        # deliveries of this subscription" (the worker's ordering rule) and the listing.
        sa.UniqueConstraint("subscription_id", "event_seq"),
        # The worker's claim: pending rows that are due.
        sa.Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Deleting a subscription deletes its deliveries, pending ones included: it gets nothing more.
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    event_seq: Mapped[int] = mapped_column(SEQ_TYPE, sa.ForeignKey("events.seq"))
    status: Mapped[str] = mapped_column(sa.String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    # The receiver's HTTP status on the last attempt (None: no answer, e.g. a timeout).
    response_status: Mapped[int | None]
    # Why the last attempt failed; never holds the secret, the signature or the URL's query.
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]

    subscription: Mapped[WebhookSubscription] = relationship(back_populates="deliveries")
    event: Mapped[Event] = relationship()

    @property
    def due_at(self) -> datetime | None:
        """When the next attempt may start; None once delivered or failed."""
        return self.next_attempt_at if self.status == DeliveryStatus.PENDING else None


def wants(event_types: list[str], event_type: str) -> bool:
    """Whether a subscription to `event_types` (none: everything) gets an event of this type."""
    return not event_types or any(type_matches(pattern, event_type) for pattern in event_types)


def type_matches(pattern: str, event_type: str) -> bool:
    """`user.created` matches itself; `user.*` matches every type under `user.`; `*` all."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return event_type == pattern

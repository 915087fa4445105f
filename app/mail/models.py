"""The outbox: one row per message to deliver, written in the transaction of its cause."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow

EMAIL = "email"


class MessageStatus(StrEnum):
    PENDING = "pending"  # waiting for its first or next attempt
    SENT = "sent"        # accepted by the mail server (or written to a file)
    FAILED = "failed"    # given up on: rejected outright or out of attempts


class OutboxMessage(Base):
    """A rendered message and its delivery state. Rendering happens at enqueue time, so what is
    delivered is what the change described, even if templates change before the worker runs."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        # The worker's claim: pending rows that are due.
        sa.Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),
        # The users API: the latest activation (or reset, ...) mail of a user.
        sa.Index("ix_outbox_messages_user_id_template", "user_id", "template"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # How the message travels; webhooks will be a second channel.
    channel: Mapped[str] = mapped_column(sa.String(16), default=EMAIL)
    template: Mapped[str] = mapped_column(sa.String(64))
    recipient: Mapped[str] = mapped_column(sa.String(320))
    subject: Mapped[str] = mapped_column(sa.String(500))
    text_body: Mapped[str] = mapped_column(sa.Text)
    html_body: Mapped[str] = mapped_column(sa.Text)
    # The locale the message was rendered in (after falling back), e.g. "de" for "de-AT".
    locale: Mapped[str] = mapped_column(sa.String(35))
    # Tags the message for the users API; deliberately no foreign key, so that deleting a user
    # neither fails on nor silently drops mail already on its way.
    user_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(sa.String(16), default=MessageStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Why the last attempt failed; senders keep credentials out of it.
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

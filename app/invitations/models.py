"""An invitation mailed to an address, answered on the invitation page."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, TimestampMixin, utcnow

STATUSES = ("pending", "accepted", "declined", "revoked", "expired")
OPEN = "pending"


class Invitation(Base, TimestampMixin):
    __tablename__ = "invitations"
    __table_args__ = (
        # One open invitation per address and organization ("personal" without one); the
        # database says so too, so two racing requests cannot both create one.
        sa.Index("uq_invitations_open", "email", "scope_key", unique=True,
                 postgresql_where=sa.text("status = 'pending'"),
                 sqlite_where=sa.text("status = 'pending'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(sa.String(320), index=True)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    role_name: Mapped[str | None] = mapped_column(sa.ForeignKey("roles.name"))
    scope_key: Mapped[str] = mapped_column(sa.String(64))
    client_id: Mapped[str] = mapped_column(sa.String(64))
    redirect_uri: Mapped[str | None] = mapped_column(sa.String(2000))
    valid_until: Mapped[datetime]
    locale: Mapped[str | None] = mapped_column(sa.String(35))
    message: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), default=OPEN, index=True)
    sent_count: Mapped[int] = mapped_column(default=0)
    last_sent_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    accepted_user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"))

    @property
    def expired(self) -> bool:
        return self.status == OPEN and self.valid_until <= utcnow()

    @property
    def effective_status(self) -> str:
        """What the invitation is now: a pending one past its date is expired."""
        return "expired" if self.expired else self.status

"""The user account."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, TimestampMixin

STATUSES = ("pendingApproval", "pendingActivation", "active", "suspended", "rejected")


class User(Base, TimestampMixin):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Normalized (email-validator) and lower-cased: the one column lookups and uniqueness use.
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    first_name: Mapped[str] = mapped_column(sa.String(100))
    last_name: Mapped[str] = mapped_column(sa.String(100))
    display_name: Mapped[str | None] = mapped_column(sa.String(200))
    phone_number: Mapped[str | None] = mapped_column(sa.String(40))
    locale: Mapped[str | None] = mapped_column(sa.String(35))
    status: Mapped[str] = mapped_column(sa.String(32), default="pendingActivation", index=True)
    email_verified: Mapped[bool] = mapped_column(default=False)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    activated_at: Mapped[datetime | None]
    # Gatehouse's own back-office staff (approve registrations on /backoffice).
    is_staff: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    # Not stored: the latest activation email's delivery, attached for API responses
    # (UserService.with_delivery).
    activation_email = None

    @property
    def name(self) -> str:
        return self.display_name or f"{self.first_name} {self.last_name}".strip()

    def get_user_id(self) -> str:  # Authlib
        return str(self.id)


class EmailVerification(Base):
    """A short code (and a link) proving that a self-registered user reads their mailbox."""

    __tablename__ = "email_verifications"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                               index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

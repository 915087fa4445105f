"""Failed-login counters per account key (any email, registered or not)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class LoginThrottle(Base):
    __tablename__ = "login_throttles"

    # A keyed hash of the normalized email: unknown addresses are throttled exactly like known
    # ones, so the lockout itself says nothing about which accounts exist.
    key_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    last_failure_at: Mapped[datetime | None]

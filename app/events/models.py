"""Events, appended in the transaction of the change they describe."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow


class Event(Base):
    __tablename__ = "events"

    # The sequence number is the feed's cursor: integrations read "everything after N".
    seq: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                     primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4)
    type: Mapped[str] = mapped_column(sa.String(64), index=True)
    subject_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # The client whose call caused the event, when there was one.
    client_id: Mapped[str | None] = mapped_column(sa.String(64))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)

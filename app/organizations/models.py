"""Organizations (B2B customers), roles, and who belongs to which organization."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, TimestampMixin, utcnow

ORGANIZATION_STATUSES = ("active", "blocked", "inactive")
PERMISSIONS = ("canOrder", "ordersNeedApproval", "canManageUsers", "canManageAddresses")

# Seeded by the migration; operators may add or change roles. `rank` orders them by strength:
# a supervisor may grant only roles whose rank is at most their own.
DEFAULT_ROLES = (
    {"name": "viewer", "display_name": "Viewer", "rank": 0, "permissions": []},
    {"name": "buyer", "display_name": "Buyer", "rank": 10,
     "permissions": ["canOrder", "ordersNeedApproval"]},
    {"name": "purchaser", "display_name": "Purchaser", "rank": 20, "permissions": ["canOrder"]},
    {"name": "supervisor", "display_name": "Supervisor", "rank": 30,
     "permissions": ["canOrder", "canManageUsers", "canManageAddresses"]},
)
DEFAULT_ROLE = "purchaser"


class Role(Base):
    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(sa.String(200))
    rank: Mapped[int] = mapped_column(default=0)
    permissions: Mapped[list[str]] = mapped_column(sa.JSON, default=list)


class Organization(Base, TimestampMixin):
    __tablename__ = "organizations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(200))
    # The ERP's customer number: unique, and changeable.
    external_id: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    vat_number: Mapped[str | None] = mapped_column(sa.String(40))
    status: Mapped[str] = mapped_column(sa.String(16), default="active")
    payment_mode: Mapped[str | None] = mapped_column(sa.String(32))

    members: Mapped[list[Membership]] = relationship(back_populates="organization",
                                                     cascade="all, delete-orphan")


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (sa.UniqueConstraint("organization_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                               index=True)
    role_name: Mapped[str] = mapped_column(sa.ForeignKey("roles.name"), default=DEFAULT_ROLE)
    # The organization the user acts for when nothing else is said (ID token, shop).
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="members")
    role: Mapped[Role] = relationship(lazy="joined")

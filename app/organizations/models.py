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
    user: Mapped["User"] = relationship(lazy="joined")  # noqa: F821 (app.users.models)


class Address(Base, TimestampMixin):
    """A postal address of an organization: for invoices, deliveries, or both."""

    __tablename__ = "addresses"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str | None] = mapped_column(sa.String(100))
    name: Mapped[str | None] = mapped_column(sa.String(200))
    street: Mapped[str] = mapped_column(sa.String(200))
    street2: Mapped[str | None] = mapped_column(sa.String(200))
    postal_code: Mapped[str] = mapped_column(sa.String(20))
    city: Mapped[str] = mapped_column(sa.String(100))
    region: Mapped[str | None] = mapped_column(sa.String(100))
    country: Mapped[str] = mapped_column(sa.String(2))
    phone_number: Mapped[str | None] = mapped_column(sa.String(40))
    is_invoice: Mapped[bool] = mapped_column(default=True)
    is_delivery: Mapped[bool] = mapped_column(default=True)
    is_default_invoice: Mapped[bool] = mapped_column(default=False)
    is_default_delivery: Mapped[bool] = mapped_column(default=False)


REGISTRATION_FLOWS = ("consumer", "complete", "erpApproval", "backofficeApproval")
# Company fields a registration template may ask for, in the order the page shows them.
COMPANY_FIELDS = ("companyName", "vatNumber", "customerNumber", "street", "postalCode", "city",
                  "country", "phoneNumber")


class RegistrationTemplate(Base):
    """Which registration flow a shop's registration page runs, and what it asks for."""

    __tablename__ = "registration_templates"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(sa.String(200))
    flow: Mapped[str] = mapped_column(sa.String(32))
    role_name: Mapped[str | None] = mapped_column(sa.ForeignKey("roles.name"))
    payment_mode: Mapped[str | None] = mapped_column(sa.String(32))
    fields: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    is_default: Mapped[bool] = mapped_column(default=False)


class RegistrationRequest(Base, TimestampMixin):
    """Company data waiting for approval (partial registration flows)."""

    __tablename__ = "registration_requests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                               index=True)
    template_name: Mapped[str | None] = mapped_column(sa.String(64))
    flow: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16), default="pending", index=True)
    company: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # "page" (the registration page, with a password) or "api" (the shop's own form).
    source: Mapped[str] = mapped_column(sa.String(8))
    client_id: Mapped[str | None] = mapped_column(sa.String(64))
    redirect_uri: Mapped[str | None] = mapped_column(sa.String(2000))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(sa.String(200))

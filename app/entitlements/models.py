"""The catalog (licensed items, license models, product packages), entitlements, license
transactions and the licenses they provision."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, TimestampMixin, utcnow
from app.organizations.models import Organization
from app.users.models import User

SEAT_COUNTING = ("namedUsers", "concurrent")
TRANSACTION_TYPES = ("Order",)

product_package_items = sa.Table(
    "product_package_items",
    Base.metadata,
    sa.Column("product_package_id", sa.ForeignKey("product_packages.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("licensed_item_id", sa.ForeignKey("licensed_items.id"), primary_key=True),
)


class LicensedItem(Base, TimestampMixin):
    """Something an application checks a license for: a product, an edition, a feature."""

    __tablename__ = "licensed_items"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # What applications ask for by name; never shown to people.
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(200))
    # Translations of display_name, by language tag ({"fi": "…"}).
    display_names: Mapped[dict[str, str]] = mapped_column(sa.JSON, default=dict)


class LicenseModel(Base, TimestampMixin):
    """How the licenses of a package are counted and leased (used by license consumption)."""

    __tablename__ = "license_models"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    seat_counting: Mapped[str] = mapped_column(sa.String(16))
    max_lease_seconds: Mapped[int]
    # 0: no offline checkout.
    max_offline_seconds: Mapped[int] = mapped_column(default=0)
    cooldown_seconds: Mapped[int] = mapped_column(default=0)


class ProductPackage(Base, TimestampMixin):
    """What the shop sells (a transaction item's `productId`): licensed items + a license model."""

    __tablename__ = "product_packages"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    display_name: Mapped[str | None] = mapped_column(sa.String(200))
    license_model_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("license_models.id"),
                                                        index=True)

    license_model: Mapped[LicenseModel] = relationship()
    licensed_items: Mapped[list[LicensedItem]] = relationship(
        secondary=product_package_items, order_by=LicensedItem.name)


class Entitlement(Base):
    """Where licenses live: a user's one personal entitlement, or one of an organization's."""

    __tablename__ = "entitlements"
    __table_args__ = (
        sa.CheckConstraint("(user_id IS NULL) <> (organization_id IS NULL)", name="one_owner"),
        # An organization's default entitlement is created on first provisioning; two first
        # provisionings at once must not both create one.
        sa.Index("uq_entitlements_default_organization", "organization_id", unique=True,
                 sqlite_where=sa.text("is_default"), postgresql_where=sa.text("is_default")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(200))
    # Unique: at most one personal entitlement per user, race-safe.
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User | None] = relationship()
    organization: Mapped[Organization | None] = relationship()

    @property
    def owner(self) -> User | Organization:
        return self.user if self.user_id is not None else self.organization


class LicenseTransaction(Base, TimestampMixin):
    """An order provisioned into an entitlement; unique by the shop's `externalId` per owner."""

    __tablename__ = "license_transactions"
    __table_args__ = (
        sa.CheckConstraint("(user_id IS NULL) <> (organization_id IS NULL)", name="one_owner"),
        # Per owner (not per entitlement): a retried webhook finds the first transaction even
        # if the owner's default entitlement were to change in between.
        sa.UniqueConstraint("user_id", "external_id"),
        sa.UniqueConstraint("organization_id", "external_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    entitlement_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("entitlements.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"))
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(sa.String(32), default="Order")
    external_id: Mapped[str] = mapped_column(sa.String(200))

    entitlement: Mapped[Entitlement] = relationship()
    user: Mapped[User | None] = relationship()
    organization: Mapped[Organization | None] = relationship()
    items: Mapped[list[LicenseTransactionItem]] = relationship(
        back_populates="transaction", cascade="all, delete-orphan",
        order_by="LicenseTransactionItem.position")

    @property
    def owner(self) -> User | Organization:
        return self.user if self.user_id is not None else self.organization


class LicenseTransactionItem(Base):
    """One line of an order, as the shop sent it; it provisions one license per licensed item of
    its product package."""

    __tablename__ = "license_transaction_items"
    __table_args__ = (
        sa.UniqueConstraint("transaction_id", "external_id"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    transaction_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("license_transactions.id", ondelete="CASCADE"))
    # Keeps the items in the order the shop sent them.
    position: Mapped[int]
    external_id: Mapped[str] = mapped_column(sa.String(200))
    product_package_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("product_packages.id"))
    quantity: Mapped[int]
    # As requested (None: from the moment of provisioning; forever), so that a retry of the same
    # request compares equal; the licenses carry the effective dates.
    license_valid_from: Mapped[datetime | None]
    license_valid_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    transaction: Mapped[LicenseTransaction] = relationship(back_populates="items")
    product_package: Mapped[ProductPackage] = relationship()
    licenses: Mapped[list[License]] = relationship(
        back_populates="transaction_item", cascade="all, delete-orphan",
        order_by="License.licensed_item_id")


class License(Base, TimestampMixin):
    """The right to use one licensed item, with a number of seats, for a time."""

    __tablename__ = "licenses"
    __table_args__ = (sa.CheckConstraint("seats_total > 0", name="seats_positive"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    entitlement_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("entitlements.id", ondelete="CASCADE"), index=True)
    transaction_item_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("license_transaction_items.id", ondelete="CASCADE"), index=True)
    licensed_item_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("licensed_items.id"))
    seats_total: Mapped[int]
    valid_from: Mapped[datetime]
    # None: perpetual.
    valid_until: Mapped[datetime | None]
    suspended_at: Mapped[datetime | None]

    transaction_item: Mapped[LicenseTransactionItem] = relationship(back_populates="licenses")
    licensed_item: Mapped[LicensedItem] = relationship()

    # Nothing consumes seats until license consumption (`/authz/`) exists.
    seats_taken = 0

    def is_active(self, now: datetime) -> bool:
        return (self.suspended_at is None and self.valid_from <= now
                and (self.valid_until is None or now < self.valid_until))

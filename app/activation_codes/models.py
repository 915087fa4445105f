"""Activation code configurations, batches, the codes of the stock (a keyed hash each, never the
code) and the allocations that hand codes out to orders."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, TimestampMixin, utcnow
from app.entitlements.models import ProductPackage

# 64 bits on PostgreSQL; on SQLite only INTEGER is the rowid alias that autoincrements.
CODE_ID_TYPE = sa.BigInteger().with_variant(sa.Integer, "sqlite")
ORDER_REF_LENGTH = 200
# activation_codes' autovacuum storage parameters on PostgreSQL (see ActivationCode).
VACUUM_OFTEN = {"autovacuum_vacuum_scale_factor": 0, "autovacuum_vacuum_threshold": 5000}


class CodeState(StrEnum):
    AVAILABLE = "available"  # in stock
    ALLOCATED = "allocated"  # handed to an order; the customer has (or will get) it
    REDEEMED = "redeemed"    # spent: licenses provisioned
    VOID = "void"            # unusable for good (refund, revoked batch)


class ActivationCodeConfig(Base, TimestampMixin):
    """What a code grants (a product package, license validity) and when it may be redeemed;
    its stock's low- and high-water marks, and whether each stock alert may fire again."""

    __tablename__ = "activation_code_configs"
    __table_args__ = (
        sa.CheckConstraint("seats > 0", name="seats_positive"),
        sa.CheckConstraint("low_water_mark >= 0 AND high_water_mark >= low_water_mark",
                           name="water_marks"),
        sa.CheckConstraint("license_duration IS NULL OR (license_valid_from IS NULL AND "
                           "license_valid_until IS NULL)", name="one_validity"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    product_package_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("product_packages.id"), index=True)
    # Seats in each license a redemption provisions.
    seats: Mapped[int] = mapped_column(default=1)
    # Validity: fixed dates (None: from redemption; forever), or an ISO 8601 duration counted
    # from redemption.
    license_valid_from: Mapped[datetime | None]
    license_valid_until: Mapped[datetime | None]
    license_duration: Mapped[str | None] = mapped_column(sa.String(40))
    # When codes may be redeemed (None: no bound).
    redeemable_from: Mapped[datetime | None]
    redeemable_until: Mapped[datetime | None]
    reseller: Mapped[str | None] = mapped_column(sa.String(200))
    # stock_low fires once when available stock falls to the low-water mark (0: never), and may
    # fire again only after a restock above the high-water mark.
    low_water_mark: Mapped[int] = mapped_column(default=0)
    high_water_mark: Mapped[int] = mapped_column(default=0)
    # Flipped by conditional UPDATEs, so that exactly one request emits each alert.
    stock_low_armed: Mapped[bool] = mapped_column(default=True)
    stock_exhausted_armed: Mapped[bool] = mapped_column(default=True)

    product_package: Mapped[ProductPackage] = relationship()


class ActivationCodeBatch(Base):
    """Codes minted under one batch key. The batch number is in every code, so it is the key."""

    __tablename__ = "activation_code_batches"
    __table_args__ = (sa.CheckConstraint("number BETWEEN 1 AND 65535", name="number_range"),)

    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    config_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("activation_code_configs.id"), index=True)
    # Its key has left the service (created empty for offline minting, or exported).
    offline: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    config: Mapped[ActivationCodeConfig] = relationship()


class ActivationCode(Base):
    """One code of the stock: its batch and serial (from which, with the batch key, the code can
    be derived again) and a keyed hash of the code to find it by."""

    __tablename__ = "activation_codes"
    __table_args__ = (
        # Stock counts by state.
        sa.Index("ix_activation_codes_config_id_state_id", "config_id", "state", "id"),
        # Allocation takes the available codes of a configuration oldest batch first, in the
        # order they joined the stock, through this index, which holds only those. (Ordered by
        # id alone, PostgreSQL walked the primary key past every code already taken: a draw
        # growing slower as codes went out.)
        sa.Index("ix_activation_codes_available", "config_id", "batch_number", "id",
                 postgresql_where=sa.text("state = 'available'"),
                 sqlite_where=sa.text("state = 'available'")),
        # Partial indexes: most codes have no order or redeemer yet, and every entry is
        # written again whenever a code changes state.
        # An order's codes (a retried allocation, a release).
        sa.Index("ix_activation_codes_config_id_order_ref", "config_id", "order_ref",
                 postgresql_where=sa.text("order_ref IS NOT NULL"),
                 sqlite_where=sa.text("order_ref IS NOT NULL")),
        # Deleting a user or a license transaction sets these to NULL.
        sa.Index("ix_activation_codes_redeemed_by_user_id", "redeemed_by_user_id",
                 postgresql_where=sa.text("redeemed_by_user_id IS NOT NULL"),
                 sqlite_where=sa.text("redeemed_by_user_id IS NOT NULL")),
        sa.Index("ix_activation_codes_license_transaction_id", "license_transaction_id",
                 postgresql_where=sa.text("license_transaction_id IS NOT NULL"),
                 sqlite_where=sa.text("license_transaction_id IS NOT NULL")),
        sa.CheckConstraint("state IN ('available', 'allocated', 'redeemed', 'void')",
                           name="state"),
        # PostgreSQL: vacuumed after every few thousand changed codes rather than a fifth of
        # the table. Each draw reads past the dead index entries of the codes drawn before it
        # until VACUUM removes them (migration 0013).
        {"postgresql_with": VACUUM_OFTEN},
    )

    id: Mapped[int] = mapped_column(CODE_ID_TYPE, primary_key=True, autoincrement=True)
    # Not indexed on its own: batches are never deleted, and a batch's codes are found through
    # the (config_id, state, id) index.
    batch_number: Mapped[int] = mapped_column(sa.ForeignKey("activation_code_batches.number"))
    # Copied from the batch: allocation and stock queries then read one table.
    config_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("activation_code_configs.id"))
    serial: Mapped[int] = mapped_column(sa.BigInteger)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    state: Mapped[str] = mapped_column(sa.String(16), default=CodeState.AVAILABLE)
    order_ref: Mapped[str | None] = mapped_column(sa.String(ORDER_REF_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    allocated_at: Mapped[datetime | None]
    redeemed_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    redeemed_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"))
    license_transaction_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("license_transactions.id", ondelete="SET NULL"))


class Allocation(Base):
    """An order's draw from the stock; its unique orderRef makes a retried checkout a replay."""

    __tablename__ = "activation_code_allocations"
    __table_args__ = (sa.UniqueConstraint("config_id", "order_ref"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    config_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("activation_code_configs.id"))
    order_ref: Mapped[str] = mapped_column(sa.String(ORDER_REF_LENGTH))
    quantity: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

"""The rules of activation codes: configurations, minting and importing batches, the stock and its
alerts, allocation to orders, and redemption exactly once."""

from __future__ import annotations

import functools
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.activation_codes import errors
from app.activation_codes import format as codes
from app.activation_codes.durations import InvalidDuration, parse_duration
from app.activation_codes.models import (
    ActivationCode, ActivationCodeBatch, ActivationCodeConfig, Allocation, CodeState,
)
from app.db import Page, bound_row, insert_for, paginate, utcnow
from app.entitlements.errors import NotYourEntitlement, TransactionNotFound
from app.entitlements.models import LicenseTransaction, ProductPackage
from app.entitlements.services import (
    Access, AvailableLicense, EntitlementService, LicensedItemRef, OwnerRef, pick_display_name,
)
from app.errors import GatehouseError
from app.events.models import Event
from app.events.services import EventLog
from app.oidc.bearer import REALM, Principal
from app.oidc.errors import InsufficientScope
from app.oidc.models import Client
from app.security.hashing import derive_key, keyed_hash
from app.users.errors import UserNotFound
from app.users.models import User

MASTER_KEY_PURPOSE = "activation-codes"
HASH_PURPOSE = "activation-code"
MAX_BATCH_SIZE = 100_000
MANAGE_SCOPES = ("activation-codes:manage",)
ALLOCATE_SCOPES = ("activation-codes:allocate",)
REDEEM_SCOPES = ("activation-codes:redeem",)
ANY_CODE_SCOPES = ("activation-codes:manage", "activation-codes:allocate",
                   "activation-codes:redeem")
_CODES = ActivationCode.__table__
_CONFIGS = ActivationCodeConfig.__table__
_ALLOCATIONS = Allocation.__table__
_EVENTS = Event.__table__
SPENDABLE = (CodeState.AVAILABLE, CodeState.ALLOCATED)
# "Is in stock", written out (not a bound parameter) so that PostgreSQL can use the partial index
# of available codes in prepared statements too.
IN_STOCK = _CODES.c.state == sa.literal_column(f"'{CodeState.AVAILABLE}'")
INVALID_DETAIL = ("We do not recognize this code. Check it against the original, or ask the "
                  "shop that sold it to you.")


# --- keys -------------------------------------------------------------------------------------


def master_key() -> bytes:
    """The root of every batch key. Changing the service's secret key orphans all codes."""
    return derive_key(current_app.config["SECRET_KEY"], MASTER_KEY_PURPOSE)


@functools.lru_cache(maxsize=4096)
def batch_key(master: bytes, number: int) -> bytes:
    return codes.derive_batch_key(master, number)


def code_hash(code: str) -> str:
    """What the database keeps of a (normalized) code."""
    return keyed_hash(HASH_PURPOSE, code)


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


# --- who may do what ----------------------------------------------------------------------------


def _insufficient(scopes: tuple[str, ...]) -> InsufficientScope:
    error = InsufficientScope(f"this call needs the scope {' or '.join(scopes)}")
    error.headers["WWW-Authenticate"] = (
        f'Bearer realm="{REALM}", error="insufficient_scope", scope="{" ".join(scopes)}"')
    return error


def redeeming_user(session: Session, principal: Principal, ref: str) -> User:
    """Whom a redemption is for. A user's token reaches that user only (`me` or their own id),
    as it does their licenses; a client needs `activation-codes:redeem` and names the user by
    id."""
    if principal.is_user:
        return Access(session, principal).user(ref)
    if ref == "me":
        raise NotYourEntitlement("`me` needs a user's access token; a client names the user by id")
    if not principal.has_any(REDEEM_SCOPES):
        raise _insufficient(REDEEM_SCOPES)
    try:
        user = session.get(User, uuid.UUID(ref))
    except ValueError:
        user = None
    if user is None:
        raise UserNotFound(f"no user with id {ref}")
    return user


def registered_return_url(session: Session, url: str) -> str | None:
    """`url` if it is exactly a registered redirect URI of some client: the redeem page links
    back to shops, never to wherever a link says."""
    for (uris,) in session.execute(sa.select(Client.redirect_uris)):
        if url in (uris or ()):
            return url
    return None


def require_code_scope(principal: Principal) -> None:
    """Checking a code: any user's own token, or a client that works with codes."""
    if not principal.is_user and not principal.has_any(ANY_CODE_SCOPES):
        raise _insufficient(ANY_CODE_SCOPES)


# --- configurations ---------------------------------------------------------------------------


def _field_error(field: str, message: str) -> errors.InvalidConfig:
    return errors.InvalidConfig(message, errors={field: [message]})


class ConfigService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, data: dict) -> ActivationCodeConfig:
        if self.session.get(ProductPackage, data["product_package_id"]) is None:
            raise _field_error("productPackageId", "No product package with this id.")
        low = data.get("low_water_mark", 0)
        config = ActivationCodeConfig(
            id=uuid.uuid4(),
            product_package_id=data["product_package_id"],
            seats=data.get("seats", 1),
            license_valid_from=data.get("license_valid_from"),
            license_valid_until=data.get("license_valid_until"),
            license_duration=data.get("license_duration"),
            redeemable_from=data.get("redeemable_from"),
            redeemable_until=data.get("redeemable_until"),
            reseller=data.get("reseller"),
            low_water_mark=low,
            high_water_mark=data.get("high_water_mark", low),
        )
        self._check(config)
        self.session.add(config)
        # Flushed so that the response carries the stored timestamps.
        self.session.flush()
        return config

    def update(self, config: ActivationCodeConfig, changes: dict) -> ActivationCodeConfig:
        """The redemption period, the reseller and the water marks; what a code grants is fixed
        once codes exist."""
        for name in ("redeemable_from", "redeemable_until", "reseller", "low_water_mark",
                     "high_water_mark"):
            if name in changes:
                setattr(config, name, changes[name])
        self._check(config)
        self.session.flush()
        return config

    def get(self, config_id: uuid.UUID) -> ActivationCodeConfig:
        config = self.session.get(ActivationCodeConfig, config_id)
        if config is None:
            raise errors.ConfigNotFound(f"no activation code configuration {config_id}")
        return config

    def search(self, *, offset: int, limit: int) -> Page:
        return paginate(self.session, sa.select(ActivationCodeConfig).order_by(
            ActivationCodeConfig.created_at, ActivationCodeConfig.id), offset, limit)

    @staticmethod
    def _check(config: ActivationCodeConfig) -> None:
        if config.license_duration is not None:
            if config.license_valid_from or config.license_valid_until:
                raise _field_error("licenseDuration", "Give a duration or fixed dates, not both.")
            try:
                parse_duration(config.license_duration)
            except InvalidDuration as invalid:
                raise _field_error("licenseDuration", _sentence(str(invalid))) from None
            config.license_duration = config.license_duration.strip().upper()
        if (config.license_valid_from and config.license_valid_until
                and config.license_valid_until <= config.license_valid_from):
            raise _field_error("licenseValidUntil", "Must be after licenseValidFrom.")
        if (config.redeemable_from and config.redeemable_until
                and config.redeemable_until <= config.redeemable_from):
            raise _field_error("redeemableUntil", "Must be after redeemableFrom.")
        if config.high_water_mark < config.low_water_mark:
            raise _field_error("highWaterMark", "Must be at least lowWaterMark.")


# --- stock and its alerts ---------------------------------------------------------------------


def _in_stock(config: str, at_most: str, *, newest_first: bool = False) -> sa.Select:
    """The ids of a configuration's codes in stock, at most `at_most` (both bound parameters, by
    name), read from one end of the partial index of available codes, which holds them in draw
    order: oldest batch first, then as they joined the stock. Draws read from the oldest end.
    Counts read from the newest end, away from the codes draws take, whose index entries stay
    behind, dead, until VACUUM removes them. (Without an ORDER BY, PostgreSQL may count by
    scanning the table from its start, where the codes taken first lie: a draw took ever longer
    as they grew in number.)"""
    order = (_CODES.c.batch_number, _CODES.c.id)
    if newest_first:
        order = tuple(column.desc() for column in order)
    return (sa.select(_CODES.c.id)
            .where(_CODES.c.config_id == sa.bindparam(config), IN_STOCK)
            .order_by(*order).limit(sa.bindparam(at_most)))


def _count(codes: sa.Select) -> sa.Select:
    return sa.select(sa.func.count()).select_from(codes.subquery())


# Available codes, counted no further than `at_most`: the index is read that far and no further.
_AVAILABLE_AT_MOST = _count(_in_stock("config_id", "at_most", newest_first=True))


class StockAlerts:
    """`stock_low` and `stock_exhausted`, each emitted once: counts are bounded (never the whole
    stock), and the alert's flag is flipped by a conditional UPDATE that only one request wins.
    Under concurrent allocation a count may still see codes other transactions are taking, so an
    alert can come a few allocations late; an allocation that finds the stock empty emits it."""

    def __init__(self, session: Session, events: EventLog) -> None:
        self.session = session
        self.events = events

    def _available(self, config_id: uuid.UUID, at_most: int) -> int:
        return self.session.scalar(_AVAILABLE_AT_MOST, {"config_id": config_id,
                                                        "at_most": at_most})

    def _disarm(self, config_id: uuid.UUID, flag: str) -> bool:
        column = _CONFIGS.c[flag]
        result = self.session.execute(
            _CONFIGS.update().where(_CONFIGS.c.id == config_id, column.is_(True))
            .values({column: False}))
        return result.rowcount == 1

    # `config` below is the model, or a row of its columns (allocation reads no more).

    @staticmethod
    def count_to(config: ActivationCodeConfig | sa.Row) -> int:
        """How far available codes must be counted after a draw (0: both alerts were given)."""
        if config.stock_low_armed and config.low_water_mark > 0:
            return config.low_water_mark + 1
        return 1 if config.stock_exhausted_armed else 0

    def after_draw(self, config: ActivationCodeConfig | sa.Row,
                   available: int | None = None) -> None:
        """Codes left the stock: alert if it fell to the low-water mark, or ran out.
        `available`: the codes left, counted up to `count_to(config)`, if the caller has it."""
        count_to = self.count_to(config)
        if not count_to:
            return
        if available is None:
            available = self._available(config.id, count_to)
        low = config.stock_low_armed and config.low_water_mark > 0
        facts = {"configId": str(config.id), "productPackageId": str(config.product_package_id),
                 "reseller": config.reseller, "lowWaterMark": config.low_water_mark,
                 "highWaterMark": config.high_water_mark}
        if low and available <= config.low_water_mark and self._disarm(config.id,
                                                                        "stock_low_armed"):
            self.events.record("activation_codes.stock_low", config.id, available=available,
                               **facts)
        if config.stock_exhausted_armed and available == 0 and self._disarm(
                config.id, "stock_exhausted_armed"):
            self.events.record("activation_codes.stock_exhausted", config.id, **facts)

    def after_restock(self, config: ActivationCodeConfig) -> None:
        """Codes joined the stock: re-arm stock_low above the high-water mark, and
        stock_exhausted as soon as there is any."""
        low_armed, exhausted_armed = self.session.execute(
            sa.select(_CONFIGS.c.stock_low_armed, _CONFIGS.c.stock_exhausted_armed)
            .where(_CONFIGS.c.id == config.id)).one()
        if low_armed and exhausted_armed:
            return
        available = self._available(config.id, config.high_water_mark + 1)
        rearm = {}
        if not low_armed and available > config.high_water_mark:
            rearm["stock_low_armed"] = True
        if not exhausted_armed and available > 0:
            rearm["stock_exhausted_armed"] = True
        if rearm:
            self.session.execute(_CONFIGS.update().where(_CONFIGS.c.id == config.id)
                                 .values(rearm))
            # The ORM copy must not carry the old flags into later checks of this request.
            self.session.expire(config, list(rearm))


@dataclass
class Stock:
    config_id: uuid.UUID
    available: int = 0
    allocated: int = 0
    redeemed: int = 0
    void: int = 0

    @property
    def total(self) -> int:
        return self.available + self.allocated + self.redeemed + self.void


@dataclass
class ImportReport:
    imported: int = 0
    duplicates: int = 0
    rejected: list[dict] = field(default_factory=list)


class BatchService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.events = EventLog(session)
        self.alerts = StockAlerts(session, self.events)

    def create(self, config: ActivationCodeConfig, count: int
               ) -> tuple[ActivationCodeBatch, list[str]]:
        """A new batch with `count` fresh codes in stock (0: empty, for minting offline); the
        codes are returned this once, display-formatted."""
        if not 0 <= count <= MAX_BATCH_SIZE:
            raise ValueError(f"a batch has 0 to {MAX_BATCH_SIZE} codes")
        batch = self._new_batch(config, offline=count == 0)
        key = batch_key(master_key(), batch.number)
        serials: set[int] = set()
        while len(serials) < count:
            serials.add(secrets.randbits(codes.SERIAL_BITS))
        minted = [(serial, codes.mint(key, batch.number, serial)) for serial in serials]
        self._insert(config, batch, minted)
        if minted:
            self.alerts.after_restock(config)
        return batch, [codes.display(code) for _serial, code in minted]

    def _new_batch(self, config: ActivationCodeConfig, *, offline: bool) -> ActivationCodeBatch:
        for _attempt in range(5):
            number = (self.session.scalar(sa.select(sa.func.max(ActivationCodeBatch.number)))
                      or 0) + 1
            if number > codes.MAX_BATCH:
                raise errors.BatchNumbersExhausted("no batch number is free; every code carries "
                                                   "one of 65535")
            batch = ActivationCodeBatch(number=number, config_id=config.id, offline=offline,
                                        created_at=utcnow())
            try:
                with self.session.begin_nested():
                    self.session.add(batch)
                    # flush now: a batch created at the same moment may have taken this number;
                    # then the next one is tried.
                    self.session.flush()
            except IntegrityError:
                continue
            return batch
        raise errors.BatchNumbersExhausted("could not reserve a batch number; try again")

    def _insert(self, config: ActivationCodeConfig, batch: ActivationCodeBatch,
                minted: Iterable[tuple[int, str]], *, skip_existing: bool = False) -> int:
        now = utcnow()
        rows = [{"batch_number": batch.number, "config_id": config.id, "serial": serial,
                 "code_hash": code_hash(code), "state": CodeState.AVAILABLE, "created_at": now}
                for serial, code in minted]
        if not rows:
            return 0
        if not skip_existing:
            self.session.execute(_CODES.insert(), rows)
            return len(rows)
        insert = insert_for(self.session)
        # Codes already in stock (an import sent twice, or two at once) are skipped, not errors.
        statement = (insert(_CODES).on_conflict_do_nothing(index_elements=["code_hash"])
                     .returning(_CODES.c.id))
        return len(self.session.execute(statement, rows).all())

    def import_codes(self, batch: ActivationCodeBatch, texts: list[str]) -> ImportReport:
        """Put offline-minted codes of this batch into stock: each must be well-formed, carry
        this batch's number and its key's MAC. Codes already in stock count as duplicates."""
        if batch.revoked_at is not None:
            raise errors.BatchRevoked(f"batch {batch.number} is revoked; its codes cannot be "
                                      "imported")
        key = batch_key(master_key(), batch.number)
        report = ImportReport()
        valid: dict[str, int] = {}
        for index, text in enumerate(texts):
            try:
                parsed = codes.parse(text)
            except codes.MalformedCode as malformed:
                report.rejected.append({"index": index, "reason": f"malformed: {malformed}"})
                continue
            if parsed.batch != batch.number:
                report.rejected.append({"index": index, "reason": f"belongs to batch "
                                                                  f"{parsed.batch}"})
                continue
            try:
                codes.verify(parsed, key)
            except codes.ForgedCode:
                report.rejected.append({"index": index,
                                        "reason": "not genuine: not minted with this batch's key"})
                continue
            if parsed.code in valid:
                report.duplicates += 1
            else:
                valid[parsed.code] = parsed.serial
        report.imported = self._insert(batch.config, batch,
                                       [(serial, code) for code, serial in valid.items()],
                                       skip_existing=True)
        report.duplicates += len(valid) - report.imported
        if report.imported:
            self.alerts.after_restock(batch.config)
        return report

    def revoke(self, batch: ActivationCodeBatch) -> ActivationCodeBatch:
        """Its codes stop redeeming; those still in stock leave it (void), so that allocation
        never hands them out. Revoking again changes nothing."""
        if batch.revoked_at is not None:
            return batch
        now = utcnow()
        batch.revoked_at = now
        withdrawn = self.session.execute(
            _CODES.update()
            .where(_CODES.c.config_id == batch.config_id, _CODES.c.state == CodeState.AVAILABLE,
                   _CODES.c.batch_number == batch.number)
            .values(state=CodeState.VOID, voided_at=now)).rowcount
        self.events.record("activation_codes.batch_revoked", batch.number,
                           configId=str(batch.config_id), batch=batch.number,
                           withdrawnFromStock=withdrawn)
        self.session.flush()
        if withdrawn:
            self.alerts.after_draw(batch.config)
        return batch

    def mark_offline(self, number: int) -> ActivationCodeBatch:
        """The batch's key is being handed out (`codes export-key`)."""
        batch = self.session.get(ActivationCodeBatch, number)
        if batch is None:
            raise errors.BatchNotFound(f"no batch {number}")
        if batch.revoked_at is not None:
            raise errors.BatchRevoked(f"batch {number} is revoked")
        batch.offline = True
        self.session.flush()
        return batch

    def batches(self, config: ActivationCodeConfig) -> list[ActivationCodeBatch]:
        return list(self.session.scalars(
            sa.select(ActivationCodeBatch).where(ActivationCodeBatch.config_id == config.id)
            .order_by(ActivationCodeBatch.number)))

    def batch(self, config: ActivationCodeConfig, number: int) -> ActivationCodeBatch:
        batch = self.session.get(ActivationCodeBatch, number)
        if batch is None or batch.config_id != config.id:
            raise errors.BatchNotFound(f"no batch {number} in this configuration")
        return batch

    def stock(self, config: ActivationCodeConfig) -> Stock:
        stock = Stock(config.id)
        for state, count in self.session.execute(
                sa.select(_CODES.c.state, sa.func.count()).where(_CODES.c.config_id == config.id)
                .group_by(_CODES.c.state)):
            setattr(stock, state, count)
        return stock


# --- allocation -------------------------------------------------------------------------------


@dataclass
class AllocationResult:
    config_id: uuid.UUID
    order_ref: str
    quantity: int
    codes: list[str]
    created_at: datetime


class _Short(Exception):
    """Fewer codes were returned to stock than the order has: undo the release."""


@functools.cache
def _claim_statement(dialect: str) -> sa.Insert:
    """Insert an allocation unless its orderRef has one. A retry running at the same moment
    waits on the unique index until the first request commits, and then inserts nothing: no
    savepoint, no exception, on the hot path."""
    return (insert_for(dialect)(_ALLOCATIONS)
            .on_conflict_do_nothing(index_elements=["config_id", "order_ref"])
            .returning(_ALLOCATIONS.c.id))


# The oldest free codes of a configuration (see _in_stock). On PostgreSQL SKIP LOCKED lets
# concurrent orders take different codes instead of queueing for the same ones; SQLite's writers
# take turns anyway (BEGIN IMMEDIATE), and its dialect leaves FOR UPDATE out.
_PICKED = _in_stock("config", "quantity").with_for_update(skip_locked=True).cte("picked")
_TAKEN = dict(state=CodeState.ALLOCATED, order_ref=sa.bindparam("ref"),
              allocated_at=sa.bindparam("taken_at", type_=_CODES.c.allocated_at.type))
# All or none: when fewer codes are free than asked for, none is taken.
_ALL_PICKED = (sa.select(sa.func.count()).select_from(_PICKED).scalar_subquery()
               == sa.bindparam("quantity"))
# Built once: this runs on every allocation. SQLite joins the picked codes (UPDATE ... FROM).
_TAKE = (_CODES.update().where(_CODES.c.id == _PICKED.c.id, _ALL_PICKED).values(_TAKEN)
         .returning(_CODES.c.id, _CODES.c.batch_number, _CODES.c.serial))
# PostgreSQL finds them by primary key as an array (`id = ANY(ARRAY(...))`): a plan that stays
# an index lookup when PostgreSQL switches the prepared statement to its generic plan (a join
# with the CTE became a hash join over the whole table there).
_TAKE_BY_ID = (_CODES.update()
               .where(_CODES.c.id == sa.any_(sa.func.array(
                   sa.select(_PICKED.c.id).scalar_subquery())), _ALL_PICKED)
               .values(_TAKEN)
               .returning(_CODES.c.id, _CODES.c.batch_number, _CODES.c.serial))
# PostgreSQL: the same, also counting (up to `count_to`) the codes that were available when the
# statement began, for the stock alerts, without a second round trip. (SQLite counts afterwards.)
_STOCK_BEFORE = (_count(_in_stock("config", "count_to", newest_first=True))
                 .scalar_subquery().label("before"))
_TAKE_COUNTING = _TAKE_BY_ID.returning(_STOCK_BEFORE)


# What the draw and the alerts read of the configuration, as a plain row (no ORM bookkeeping on
# the busiest call there is).
_CONFIG_FOR_DRAW = sa.select(
    _CONFIGS.c.id, _CONFIGS.c.product_package_id, _CONFIGS.c.reseller,
    _CONFIGS.c.low_water_mark, _CONFIGS.c.high_water_mark, _CONFIGS.c.stock_low_armed,
    _CONFIGS.c.stock_exhausted_armed,
).where(_CONFIGS.c.id == sa.bindparam("config_id"))


def _config_and_claim() -> sa.Select:
    """PostgreSQL: the configuration read, the claim and its `allocated` event in one round trip
    (the INSERTs in a WITH). One row of the configuration's columns, with `claimed` the new
    allocation's id and `event_seq` its event's, both None when the orderRef has an allocation
    already; no row when there is no such configuration. The event's columns are bound as
    `event_<column>`; if the draw then finds too few codes, both rows are deleted again."""
    config = _CONFIG_FOR_DRAW.cte("config")
    values = bound_row(_ALLOCATIONS.c[name] for name in
                       ("id", "config_id", "order_ref", "quantity", "created_at"))
    claim = (_claim_statement("postgresql")
             .from_select(list(values), sa.select(*values.values()).select_from(config))
             .cte("claim"))
    event = EventLog.insert_from(claim, "event").cte("event")
    return (sa.select(config, claim.c.id.label("claimed"), event.c.seq.label("event_seq"))
            .select_from(config.outerjoin(claim, sa.true()).outerjoin(event, sa.true())))


_CONFIG_AND_CLAIM = _config_and_claim()


class AllocationService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.events = EventLog(session)
        self.alerts = StockAlerts(session, self.events)

    def allocate(self, config_id: uuid.UUID, order_ref: str,
                 quantity: int) -> tuple[AllocationResult, bool]:
        """`quantity` codes from stock for one order, all or none; returns them and whether the
        allocation is new. The same orderRef again returns the same codes."""
        now = utcnow()
        allocation_id = uuid.uuid4()
        claim = {"id": allocation_id, "config_id": config_id, "order_ref": order_ref,
                 "quantity": quantity, "created_at": now}
        event = self.events.new("activation_codes.allocated", allocation_id,
                                configId=str(config_id), orderRef=order_ref, quantity=quantity)
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            config = self.session.execute(
                _CONFIG_AND_CLAIM, {**claim, **EventLog.columns(event, "event")}).first()
            claimed = config and config.claimed
        else:
            config = self.session.execute(_CONFIG_FOR_DRAW, claim).first()
            claimed = config and self.session.execute(_claim_statement(dialect), claim).first()
        if config is None:
            raise errors.ConfigNotFound(f"no activation code configuration {config_id}")
        if not claimed:
            return self._replay(config, order_ref, quantity), False
        count_to = self.alerts.count_to(config)
        parameters = {"config": config.id, "quantity": quantity, "ref": order_ref,
                      "taken_at": now}
        available = None
        if count_to and dialect == "postgresql":
            taken = self.session.execute(_TAKE_COUNTING,
                                         {**parameters, "count_to": count_to + quantity}).all()
            if taken:
                # Counted before the draw, which took `quantity` of them.
                available = taken[0].before - quantity
            taken = sorted(row[:3] for row in taken)
        else:
            take = _TAKE_BY_ID if dialect == "postgresql" else _TAKE
            taken = sorted(self.session.execute(take, parameters))
        if not taken:
            self.session.execute(_ALLOCATIONS.delete().where(_ALLOCATIONS.c.id == allocation_id))
            if dialect == "postgresql":
                self.session.execute(_EVENTS.delete().where(_EVENTS.c.seq == config.event_seq))
            # Nothing was drawn; the empty (or low) stock is still worth an alert.
            self.alerts.after_draw(config)
            raise errors.OutOfStock(
                f"{quantity} code{'s' if quantity != 1 else ''} asked for; fewer are in stock",
                configId=str(config.id))
        if dialect == "postgresql":
            self.events.inserted(event, config.event_seq)
        else:
            self.events.insert(event)
        self.alerts.after_draw(config, available)
        return AllocationResult(config.id, order_ref, quantity, self._derive(taken), now), True

    def _replay(self, config: ActivationCodeConfig | sa.Row, order_ref: str,
                quantity: int) -> AllocationResult:
        existing = self._find(config, order_ref)
        if existing is None:
            raise RuntimeError("allocation insert failed, but no allocation has this orderRef")
        if existing.quantity != quantity:
            raise errors.AllocationConflict(
                f"order {order_ref} was allocated {existing.quantity} code"
                f"{'s' if existing.quantity != 1 else ''}; release it to allocate another number",
                quantity=existing.quantity)
        rows = self.session.execute(
            sa.select(_CODES.c.id, _CODES.c.batch_number, _CODES.c.serial)
            .where(_CODES.c.config_id == config.id, _CODES.c.order_ref == order_ref)
            .order_by(_CODES.c.id)).all()
        return AllocationResult(config.id, order_ref, existing.quantity, self._derive(rows),
                                existing.created_at)

    def _find(self, config: ActivationCodeConfig | sa.Row, order_ref: str, *,
              for_update: bool = False) -> Allocation | None:
        query = sa.select(Allocation).where(Allocation.config_id == config.id,
                                            Allocation.order_ref == order_ref)
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    @staticmethod
    def _derive(rows: Iterable[sa.Row]) -> list[str]:
        master = master_key()
        return [codes.display(codes.mint(batch_key(master, number), number, serial))
                for _id, number, serial in rows]

    def release(self, config: ActivationCodeConfig, order_ref: str) -> None:
        """A checkout aborted before the codes were shown: they go back to stock (first in line
        again). Refused if any of them has been redeemed or voided."""
        # Locked: two releases of one order take turns.
        allocation = self._find(config, order_ref, for_update=True)
        if allocation is None:
            raise errors.AllocationNotFound(f"no allocation {order_ref} in this configuration")
        try:
            with self.session.begin_nested():
                returned = self.session.execute(
                    _CODES.update()
                    .where(_CODES.c.config_id == config.id, _CODES.c.order_ref == order_ref,
                           _CODES.c.state == CodeState.ALLOCATED)
                    .values(state=CodeState.AVAILABLE, order_ref=None, allocated_at=None)
                ).rowcount
                # Checked after the update, not before: a redemption in between would
                # otherwise slip through.
                if returned != allocation.quantity:
                    raise _Short
        except _Short:
            raise errors.AllocationNotReleasable(
                f"{allocation.quantity - returned} of the order's codes are redeemed or void; "
                "void the others one by one") from None
        self.session.delete(allocation)
        self.events.record("activation_codes.allocation_released", allocation.id,
                           configId=str(config.id), orderRef=order_ref,
                           quantity=allocation.quantity)
        self.session.flush()
        self.alerts.after_restock(config)


# --- one code: check, redeem, void ------------------------------------------------------------


@dataclass
class FoundCode:
    id: int
    state: str
    batch: int
    order_ref: str | None
    redeemed_by_user_id: uuid.UUID | None
    license_transaction_id: uuid.UUID | None
    redeemed_at: datetime | None
    voided_at: datetime | None
    batch_revoked_at: datetime | None
    config: ActivationCodeConfig


@dataclass
class CheckResult:
    well_formed: bool
    genuine: bool
    redeemable: bool
    # What redeeming would answer, when it would fail.
    error: GatehouseError | None = None
    product_package: ProductPackage | None = None

    @property
    def reason(self) -> str | None:
        return self.error.code if self.error else None

    @property
    def detail(self) -> str | None:
        return self.error.detail if self.error else None


@dataclass
class Redemption:
    transaction_id: uuid.UUID
    redeemed_at: datetime
    licenses: list[AvailableLicense]


@dataclass
class VoidedCode:
    batch: int
    state: str
    order_ref: str | None
    voided_at: datetime | None


_LOOKUP = (
    sa.select(ActivationCode.id, ActivationCode.state, ActivationCode.batch_number,
              ActivationCode.order_ref, ActivationCode.redeemed_by_user_id,
              ActivationCode.license_transaction_id, ActivationCode.redeemed_at,
              ActivationCode.voided_at, ActivationCodeBatch.revoked_at, ActivationCodeConfig)
    .join(ActivationCodeBatch, ActivationCodeBatch.number == ActivationCode.batch_number)
    .join(ActivationCodeConfig, ActivationCodeConfig.id == ActivationCode.config_id)
    .where(ActivationCode.code_hash == sa.bindparam("code_hash"))
)


def _date(moment: datetime) -> str:
    return moment.strftime("%d %B %Y %H:%M UTC")


# Redemption's statements, built once (it runs once per code, and constructing a statement
# costs about as much as running it). The code's row is locked when it is looked up, so two
# redemptions of one code take turns from there (on SQLite, writers always do).
_LOOKUP_FOR_REDEMPTION = _LOOKUP.with_for_update(of=ActivationCode)
_SPEND = (_CODES.update()
          .where(_CODES.c.id == sa.bindparam("code"), _CODES.c.state.in_(SPENDABLE))
          .values(state=CodeState.REDEEMED,
                  redeemed_at=sa.bindparam("now", type_=_CODES.c.redeemed_at.type),
                  redeemed_by_user_id=sa.bindparam(
                      "user", type_=_CODES.c.redeemed_by_user_id.type),
                  license_transaction_id=sa.bindparam(
                      "transaction", type_=_CODES.c.license_transaction_id.type)))


class RedemptionService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.events = EventLog(session)

    def find(self, text: str, *, lookup: sa.Select = _LOOKUP) -> FoundCode:
        """The stock's code typed as `text`. Malformed and forged codes are refused before the
        database is asked; a genuine-looking code that is not in stock is as invalid."""
        try:
            parsed = codes.parse(text)
        except codes.MalformedCode as malformed:
            raise errors.CodeMalformed(_sentence(str(malformed))) from None
        try:
            codes.verify(parsed, batch_key(master_key(), parsed.batch))
        except codes.ForgedCode:
            raise errors.CodeInvalid(INVALID_DETAIL) from None
        row = self.session.execute(lookup, {"code_hash": code_hash(parsed.code)}).first()
        if row is None:
            raise errors.CodeInvalid(INVALID_DETAIL)
        return FoundCode(*row)

    @staticmethod
    def _check_usable(found: FoundCode, now: datetime) -> None:
        """Revoked batch, outside the redemption period, void, licenses already over."""
        config = found.config
        if found.batch_revoked_at is not None:
            raise errors.CodeRevoked("This code has been withdrawn by the vendor and can no "
                                     "longer be redeemed. Please contact the shop.")
        if config.redeemable_from is not None and now < config.redeemable_from:
            raise errors.CodeExpired(f"This code can be redeemed from "
                                     f"{_date(config.redeemable_from)}.",
                                     redeemableFrom=config.redeemable_from.isoformat())
        if config.redeemable_until is not None and now >= config.redeemable_until:
            raise errors.CodeExpired(f"This code could be redeemed until "
                                     f"{_date(config.redeemable_until)}.",
                                     redeemableUntil=config.redeemable_until.isoformat())
        if found.state == CodeState.VOID:
            raise errors.CodeVoid("This code has been cancelled (for example after a refund) "
                                  "and can no longer be redeemed.")
        if config.license_valid_until is not None and config.license_valid_until <= now:
            raise errors.CodeExpired(f"The licenses this code grants ended on "
                                     f"{_date(config.license_valid_until)}.")

    def check(self, text: str) -> CheckResult:
        """Whether `text` would redeem now, without redeeming it."""
        try:
            found = self.find(text)
        except errors.CodeMalformed as malformed:
            return CheckResult(False, False, False, malformed)
        except errors.CodeInvalid as invalid:
            return CheckResult(True, False, False, invalid)
        try:
            self._check_usable(found, utcnow())
            if found.state == CodeState.REDEEMED:
                raise self._already_redeemed()
        except GatehouseError as refused:
            return CheckResult(True, True, False, refused)
        return CheckResult(True, True, True, product_package=found.config.product_package)

    @staticmethod
    def _already_redeemed() -> errors.CodeAlreadyRedeemed:
        return errors.CodeAlreadyRedeemed("This code has already been redeemed. Each code can "
                                          "be redeemed once.")

    def redeem(self, user: User, text: str, *, languages: Iterable[str] = ()) -> Redemption:
        """Spend the code for `user`: one license transaction in their personal entitlement.
        Exactly once; the same user asking again gets the original result."""
        found = self.find(text, lookup=_LOOKUP_FOR_REDEMPTION)
        now = utcnow()
        self._check_usable(found, now)
        if found.state not in SPENDABLE:
            # Redeemed already (perhaps by a request this one waited for at the lookup): the
            # code as it is now says by whom.
            return self._redeemed_before(found.id, user, languages)
        valid_from, valid_until = self._validity(found.config, now)
        transaction, _created = EntitlementService(self.session).provision(user, {
            "type": "ActivationCode",
            "external_id": f"activation-code:{found.id}",
            "items": [{"external_id": f"activation-code:{found.id}",
                       "product_id": found.config.product_package_id,
                       "quantity": found.config.seats,
                       "license_valid_from": valid_from, "license_valid_until": valid_until}],
        })
        spent = self.session.execute(_SPEND, {"code": found.id, "now": now, "user": user.id,
                                              "transaction": transaction.id}).rowcount
        if spent != 1:  # the lock held since the lookup rules this out
            raise RuntimeError(f"activation code {found.id} changed under its lock")
        self.events.record("activation_code.redeemed", found.id,
                           configId=str(found.config.id), batch=found.batch,
                           orderRef=found.order_ref, userId=str(user.id),
                           transactionId=str(transaction.id))
        return Redemption(transaction.id, now, self._licenses(transaction, user, languages))

    @staticmethod
    def _validity(config: ActivationCodeConfig,
                  now: datetime) -> tuple[datetime | None, datetime | None]:
        if config.license_duration:
            return now, parse_duration(config.license_duration).after(now)
        return config.license_valid_from, config.license_valid_until

    def _redeemed_before(self, code_id: int, user: User,
                         languages: Iterable[str]) -> Redemption:
        state, redeemed_by, transaction_id, redeemed_at = self.session.execute(
            sa.select(_CODES.c.state, _CODES.c.redeemed_by_user_id,
                      _CODES.c.license_transaction_id, _CODES.c.redeemed_at)
            .where(_CODES.c.id == code_id)).one()
        if state == CodeState.VOID:
            raise errors.CodeVoid("This code has been cancelled (for example after a refund) "
                                  "and can no longer be redeemed.")
        if redeemed_by == user.id and transaction_id is not None:
            try:
                transaction = EntitlementService(self.session).transaction(user, transaction_id)
            except TransactionNotFound:
                pass
            else:
                return Redemption(transaction.id, redeemed_at,
                                  self._licenses(transaction, user, languages))
        raise self._already_redeemed()

    @staticmethod
    def _licenses(transaction: LicenseTransaction, user: User,
                  languages: Iterable[str]) -> list[AvailableLicense]:
        """The transaction's licenses, in the shape of the user's available licenses."""
        languages = tuple(languages)
        owner = OwnerRef(id=user.id, name=user.name)
        now = utcnow()
        return [
            AvailableLicense(
                id=lic.id, valid_from=lic.valid_from, valid_until=lic.valid_until,
                active=lic.is_active(now), entitlement_id=lic.entitlement_id,
                licensed_item=LicensedItemRef(
                    id=lic.licensed_item.id, name=lic.licensed_item.name,
                    display_name=pick_display_name(lic.licensed_item.display_name,
                                                   lic.licensed_item.display_names, languages)),
                seats_taken=lic.seats_taken, seats_total=lic.seats_total, owner=owner)
            for item in transaction.items for lic in item.licenses
        ]

    def void(self, text: str) -> VoidedCode:
        """Make an unredeemed code unusable for good (a refund). Voiding again changes nothing;
        a redeemed code cannot be voided."""
        found = self.find(text)
        if found.state == CodeState.VOID:
            return VoidedCode(found.batch, found.state, found.order_ref, found.voided_at)
        now = utcnow()
        voided = found.state in SPENDABLE and self.session.execute(
            _CODES.update()
            .where(_CODES.c.id == found.id, _CODES.c.state.in_(SPENDABLE))
            .values(state=CodeState.VOID, voided_at=now)).rowcount == 1
        if not voided:
            state, voided_at = self.session.execute(
                sa.select(_CODES.c.state, _CODES.c.voided_at).where(_CODES.c.id == found.id)).one()
            if state == CodeState.VOID:
                return VoidedCode(found.batch, state, found.order_ref, voided_at)
            raise errors.CodeAlreadyRedeemed("The code has been redeemed; it cannot be voided. "
                                             "Suspend the licenses of its transaction instead.")
        self.events.record("activation_code.voided", found.id, configId=str(found.config.id),
                           batch=found.batch, orderRef=found.order_ref,
                           previousState=found.state)
        if found.state == CodeState.AVAILABLE:
            StockAlerts(self.session, self.events).after_draw(found.config)
        return VoidedCode(found.batch, CodeState.VOID, found.order_ref, now)

"""The rules of entitlement management: the catalog, who may reach whose licenses, license
transactions (provisioned once per `externalId` and owner), and the licenses an owner may use."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, make_transient_to_detached, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from app.cache import TTLCache, process_cache
from app.db import (
    Page, add_inserted, bound_row, column_values, flush_unique, insert_for, paginate, utcnow,
)
from app.entitlements import errors
from app.entitlements.models import (
    Entitlement, License, LicensedItem, LicenseModel, LicenseTransaction, LicenseTransactionItem,
    ProductPackage,
)
from app.errors import GatehouseError
from app.events.services import EventLog
from app.oidc.bearer import REALM, Principal
from app.oidc.errors import InsufficientScope
from app.organizations.errors import OrganizationNotFound
from app.organizations.models import Membership, Organization
from app.users.errors import UserNotFound
from app.users.models import User

Owner = User | Organization

READ_SCOPES = ("entitlement:read", "entitlement:provision")
PROVISION_SCOPES = ("entitlement:provision",)
# What an item must repeat, unchanged, for a request to be a retry rather than a new order:
# the stored column, and the request's field.
ITEM_FIELDS = (("product_package_id", "product_id"), ("quantity", "quantity"),
               ("license_valid_from", "license_valid_from"),
               ("license_valid_until", "license_valid_until"))


# --- who may reach whose licenses -----------------------------------------------------------


class Access:
    """A client reaches any owner with the entitlement scopes; a user's token reaches only that
    user's own licenses (`me` or their own id), whatever scopes it carries, and never an
    organization's directly (members see those through `me`)."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.session = session
        self.principal = principal

    def user_id(self, ref: str, *, write: bool = False, users_may: bool = True) -> uuid.UUID:
        """The id of the user `ref` ("me" or an id) names, if the caller may read (or provision
        to) them; whether that user exists is for the caller to find out. `users_may=False`:
        for clients only (suspending a user's licenses is not for that user)."""
        principal = self.principal
        if principal.is_user:
            if not users_may:
                raise errors.NotYourEntitlement("this is for the vendor's integrations, not for "
                                                "a user's token")
            if ref != "me" and _uuid(ref) != _uuid(principal.sub):
                # Refused before any lookup, so the answer says nothing about that user.
                raise errors.NotYourEntitlement("a user's token reaches only that user's own "
                                                "licenses")
            if write:
                self._require(PROVISION_SCOPES)
            user_id = _uuid(principal.sub)
        else:
            if ref == "me":
                raise errors.NotYourEntitlement("`me` needs a user's access token; a client "
                                                "names the user by id")
            self._require(PROVISION_SCOPES if write else READ_SCOPES)
            user_id = _uuid(ref)
        if user_id is None:
            raise UserNotFound(f"no user with id {ref}")
        return user_id

    def user(self, ref: str, *, write: bool = False, users_may: bool = True) -> User:
        user_id = self.user_id(ref, write=write, users_may=users_may)
        user = self.session.get(User, user_id)
        if user is None:
            raise UserNotFound(f"no user with id {ref}")
        return user

    def organization(self, organization_id: uuid.UUID, *, write: bool = False) -> Organization:
        if self.principal.is_user:
            raise errors.NotYourEntitlement("a user sees their organizations' licenses through "
                                            "/users/me/available-licenses")
        self._require(PROVISION_SCOPES if write else READ_SCOPES)
        organization = self.session.get(Organization, organization_id)
        if organization is None:
            raise OrganizationNotFound(f"no organization with id {organization_id}")
        return organization

    def _require(self, scopes: tuple[str, ...]) -> None:
        if not self.principal.has_any(scopes):
            error = InsufficientScope(f"this call needs the scope {' or '.join(scopes)}")
            error.headers["WWW-Authenticate"] = (
                f'Bearer realm="{REALM}", error="insufficient_scope", scope="{" ".join(scopes)}"')
            raise error


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# --- the catalog ------------------------------------------------------------------------------


class CatalogService:
    def __init__(self, session: Session) -> None:
        self.session = session

    # licensed items

    def create_licensed_item(self, data: dict) -> LicensedItem:
        self._name_free(LicensedItem, data["name"], errors.LicensedItemNameTaken)
        item = LicensedItem(name=data["name"], display_name=data["display_name"],
                            display_names=data.get("display_names") or {})
        flush_unique(self.session, item, errors.LicensedItemNameTaken(
            f"{data['name']} is already a licensed item"))
        return item

    def licensed_items(self, *, offset: int, limit: int) -> Page:
        query = sa.select(LicensedItem).order_by(LicensedItem.name)
        return paginate(self.session, query, offset, limit)

    def licensed_item(self, item_id: uuid.UUID) -> LicensedItem:
        item = self.session.get(LicensedItem, item_id)
        if item is None:
            raise errors.LicensedItemNotFound(f"no licensed item with id {item_id}")
        return item

    def update_licensed_item(self, item: LicensedItem, changes: dict) -> LicensedItem:
        if "name" in changes and changes["name"] != item.name:
            self._name_free(LicensedItem, changes["name"], errors.LicensedItemNameTaken)
        fields = {k: v for k, v in changes.items()
                  if k in ("name", "display_name", "display_names")}
        flush_unique(self.session, item, errors.LicensedItemNameTaken(
            f"{fields.get('name', item.name)} is already a licensed item"), fields)
        package_cache().forget()
        return item

    # license models

    def create_license_model(self, data: dict) -> LicenseModel:
        self._name_free(LicenseModel, data["name"], errors.LicenseModelNameTaken)
        model = LicenseModel(**data)
        flush_unique(self.session, model, errors.LicenseModelNameTaken(
            f"{data['name']} is already a license model"))
        return model

    def license_models(self, *, offset: int, limit: int) -> Page:
        query = sa.select(LicenseModel).order_by(LicenseModel.name)
        return paginate(self.session, query, offset, limit)

    # product packages

    def create_product_package(self, data: dict) -> ProductPackage:
        self._name_free(ProductPackage, data["name"], errors.ProductPackageNameTaken)
        model = self.session.get(LicenseModel, data["license_model_id"])
        if model is None:
            raise errors.UnknownCatalogReference(
                "no license model with this id",
                errors={"licenseModelId": [f"No license model {data['license_model_id']}."]})
        wanted = list(dict.fromkeys(data["licensed_item_ids"]))
        items = self.session.scalars(
            sa.select(LicensedItem).where(LicensedItem.id.in_(wanted))).all()
        missing = set(wanted) - {item.id for item in items}
        if missing:
            raise errors.UnknownCatalogReference(
                "some licensed items do not exist",
                errors={"licensedItemIds": [f"No licensed item {item_id}."
                                            for item_id in sorted(map(str, missing))]})
        package = ProductPackage(name=data["name"], display_name=data.get("display_name"),
                                 license_model=model,
                                 licensed_items=sorted(items, key=lambda i: i.name))
        flush_unique(self.session, package, errors.ProductPackageNameTaken(
            f"{data['name']} is already a product package"))
        return package

    def product_packages(self, *, offset: int, limit: int) -> Page:
        query = (sa.select(ProductPackage).order_by(ProductPackage.name)
                 .options(selectinload(ProductPackage.licensed_items),
                          selectinload(ProductPackage.license_model)))
        return paginate(self.session, query, offset, limit)

    def product_package(self, package_id: uuid.UUID) -> ProductPackage:
        package = self.session.scalar(
            sa.select(ProductPackage).where(ProductPackage.id == package_id)
            .options(selectinload(ProductPackage.licensed_items),
                     selectinload(ProductPackage.license_model)))
        if package is None:
            raise errors.ProductPackageNotFound(f"no product package with id {package_id}")
        return package

    def _name_free(self, model, name: str, error: type[GatehouseError]) -> None:
        if self.session.scalar(sa.select(model.id).where(model.name == name)) is not None:
            raise error(f"{name} is already taken")


# --- license transactions -------------------------------------------------------------------

# How long a process provisions from its copy of a product package's licensed items (app.cache).
# Packages never change their items; a renamed licensed item shows in provisioning responses of
# other instances within this time.
PACKAGE_CACHE_SECONDS = 30.0


def package_cache() -> TTLCache:
    return process_cache("product_packages", PACKAGE_CACHE_SECONDS)



def _owner_column(owner: Owner) -> str:
    """The owner's column in license_transactions and entitlements."""
    return "user_id" if isinstance(owner, User) else "organization_id"


# Provisioning's statements, built once: it is the hot path of the shop's orders and of
# redemption, and constructing a statement costs about as much as running it.
_ENTITLEMENTS = Entitlement.__table__
_DEFAULT_ENTITLEMENT = {
    "user_id": sa.select(_ENTITLEMENTS.c.id)
    .where(_ENTITLEMENTS.c.user_id == sa.bindparam("owner")),
    "organization_id": sa.select(_ENTITLEMENTS.c.id)
    .where(_ENTITLEMENTS.c.organization_id == sa.bindparam("owner"), _ENTITLEMENTS.c.is_default),
}
_ITEMS = LicenseTransactionItem.__table__
_LICENSES = License.__table__
_INSERT_ITEMS = _ITEMS.insert()
_INSERT_LICENSES = _LICENSES.insert()


def _row_insert(table: sa.Table, prefix: str) -> sa.Insert:
    return table.insert().values(bound_row(table.c, prefix))


# Orders up to this many items and licenses in all go in by one statement; larger ones (up to
# 100 items of 100 licensed items each) by one executemany each.
ONE_STATEMENT_ROWS = 32


@functools.lru_cache(maxsize=64)
def _insert_items_and_licenses(items: int, licenses: int) -> sa.Insert:
    """PostgreSQL: `items` items and `licenses` licenses in one statement, each row's INSERT
    but the last in a WITH (the licenses' foreign keys are checked at the statement's end).
    Built once per shape; single-row INSERTs, because SQLAlchemy caches no multi-row VALUES."""
    rows = [*((_ITEMS, f"i{n}") for n in range(items)),
            *((_LICENSES, f"l{n}") for n in range(licenses))]
    *before, (table, prefix) = rows
    return _row_insert(table, prefix).add_cte(
        *(_row_insert(table, prefix).cte(f"insert_{prefix}") for table, prefix in before))


def _numbered(prefix: str, rows: list[dict]) -> dict:
    return {f"{prefix}{n}_{name}": value
            for n, row in enumerate(rows) for name, value in row.items()}


@functools.cache
def _claim_transaction(dialect: str, owner_column: str) -> sa.Insert:
    """Insert a transaction unless its owner has one with this externalId (then nothing)."""
    return (insert_for(dialect)(LicenseTransaction.__table__)
            .on_conflict_do_nothing(index_elements=[owner_column, "external_id"])
            .returning(LicenseTransaction.id))


@functools.cache
def _claim_into_default_entitlement(dialect: str, owner_column: str) -> sa.Insert:
    """The same claim, into the owner's default entitlement found by the statement itself (one
    round trip less on every order after the first): nothing when the owner has no default
    entitlement yet, as when it has this externalId already."""
    table = LicenseTransaction.__table__
    columns = [column for column in table.c if column.name != "entitlement_id"]
    source = _DEFAULT_ENTITLEMENT[owner_column].with_only_columns(
        *bound_row(columns).values(),
        _ENTITLEMENTS.c.id)
    return (insert_for(dialect)(table)
            .from_select([*(column.name for column in columns), "entitlement_id"], source)
            .on_conflict_do_nothing(index_elements=[owner_column, "external_id"])
            .returning(table.c.id, table.c.entitlement_id))


@functools.cache
def _create_default_entitlement(dialect: str, owner_column: str) -> sa.Insert:
    """Insert an owner's default entitlement unless it has one (the unique index says)."""
    if owner_column == "user_id":
        conflict = {"index_elements": ["user_id"]}
    else:
        conflict = {"index_elements": ["organization_id"],
                    "index_where": _ENTITLEMENTS.c.is_default}
    return insert_for(dialect)(_ENTITLEMENTS).on_conflict_do_nothing(**conflict)


def _owner_condition(owner: Owner):
    if isinstance(owner, User):
        return LicenseTransaction.user_id == owner.id
    return LicenseTransaction.organization_id == owner.id


def _same_item(item: LicenseTransactionItem, data: dict) -> bool:
    return all(getattr(item, column) == data.get(field) for column, field in ITEM_FIELDS)


class EntitlementService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.events = EventLog(session)

    def provision(self, owner: Owner, data: dict) -> tuple[LicenseTransaction, bool]:
        """Provision an order; returns the transaction and whether it is new.

        The same `externalId` again is a retry when each item it carries is already in the
        transaction unchanged: the existing transaction comes back, and nothing is provisioned.
        """
        now = utcnow()
        licensed = self._licensed_items_for(list(enumerate(data["items"])), now)
        owner_column = _owner_column(owner)
        dialect = self.session.get_bind().dialect.name
        transaction = LicenseTransaction(
            id=uuid.uuid4(), entitlement_id=None,
            user_id=owner.id if owner_column == "user_id" else None,
            organization_id=owner.id if owner_column == "organization_id" else None,
            type=data["type"], external_id=data["external_id"], created_at=now, updated_at=now)
        # The same order arriving twice at once meets the unique index here (on PostgreSQL the
        # later one waits for the earlier to commit); the later one then answers with the
        # earlier one's transaction.
        claimed = self.session.execute(_claim_into_default_entitlement(dialect, owner_column),
                                       {**column_values(transaction), "owner": owner.id}).first()
        if claimed is not None:
            inserted, transaction.entitlement_id = claimed
        else:
            # The owner's first order (no default entitlement yet), or a retry: with the
            # entitlement made sure of, the claim tells which.
            transaction.entitlement_id = self._default_entitlement_id(owner)
            inserted = self.session.execute(_claim_transaction(dialect, owner_column),
                                            column_values(transaction)).scalar()
        if inserted is None:
            existing = self._find(owner, data["external_id"])
            if existing is None:  # the conflicting row is gone again (deleted owner): retry
                raise errors.TransactionConflict(
                    f"transaction {data['external_id']} is being provisioned; retry")
            return self._retry_of(existing, data), False
        if owner_column == "user_id":
            transaction.user = owner
        else:
            transaction.organization = owner
        transaction.items = []
        add_inserted(self.session, transaction)
        added = self._add_items(transaction, data["items"], licensed, now)
        self._provisioned(transaction, added)
        return transaction, True

    def add_items(self, transaction: LicenseTransaction, data: dict) -> LicenseTransaction:
        """Add the items the transaction does not have yet; repeated identical items are no-ops."""
        if data.get("external_id") not in (None, transaction.external_id):
            raise errors.TransactionConflict(
                f"this transaction's externalId is {transaction.external_id}")
        existing = {item.external_id: item for item in transaction.items}
        new = []
        for index, item in enumerate(data["items"]):
            found = existing.get(item["external_id"])
            if found is None:
                new.append((index, item))
            elif not _same_item(found, item):
                raise errors.TransactionItemConflict(
                    f"item {item['external_id']} exists with different content",
                    errors=_item_error(index, "externalId", "Already in the transaction with "
                                                            "different content."))
        if new:
            now = utcnow()
            licensed = self._licensed_items_for(new, now)
            added = self._add_items(transaction, [item for _, item in new], licensed, now)
            transaction.updated_at = now
            self._provisioned(transaction, added)
        return transaction

    def transactions(self, owner: Owner, *, external_id: str | None, offset: int,
                     limit: int) -> Page:
        query = (sa.select(LicenseTransaction).where(_owner_condition(owner))
                 .order_by(LicenseTransaction.created_at, LicenseTransaction.id)
                 .options(*_transaction_loads()))
        if external_id is not None:
            query = query.where(LicenseTransaction.external_id == external_id)
        return paginate(self.session, query, offset, limit)

    def transaction(self, owner: Owner, transaction_id: uuid.UUID, *,
                    for_update: bool = False) -> LicenseTransaction:
        query = (sa.select(LicenseTransaction)
                 .where(LicenseTransaction.id == transaction_id, _owner_condition(owner))
                 .options(*_transaction_loads()))
        if for_update:
            # Changes to one transaction queue up (PostgreSQL; SQLite's writers already do), so
            # two PUTs adding the same item cannot both add it.
            query = query.with_for_update(of=LicenseTransaction)
        transaction = self.session.scalar(query)
        if transaction is None:
            raise errors.TransactionNotFound(f"no license transaction {transaction_id} here")
        return transaction

    def suspend(self, transaction: LicenseTransaction) -> LicenseTransaction:
        now = utcnow()
        changed = [lic for lic in _licenses(transaction) if lic.suspended_at is None]
        for lic in changed:
            lic.suspended_at = now
        if changed:
            self.events.record("licenses.suspended", transaction.id,
                               externalId=transaction.external_id,
                               licenseIds=[str(lic.id) for lic in changed])
        return transaction

    def resume(self, transaction: LicenseTransaction) -> LicenseTransaction:
        changed = [lic for lic in _licenses(transaction) if lic.suspended_at is not None]
        for lic in changed:
            lic.suspended_at = None
        if changed:
            self.events.record("licenses.resumed", transaction.id,
                               externalId=transaction.external_id,
                               licenseIds=[str(lic.id) for lic in changed])
        return transaction

    # --- the parts of provisioning ------------------------------------------------------------

    def _find(self, owner: Owner, external_id: str) -> LicenseTransaction | None:
        return self.session.scalar(
            sa.select(LicenseTransaction)
            .where(_owner_condition(owner), LicenseTransaction.external_id == external_id)
            .options(*_transaction_loads()))

    def _retry_of(self, existing: LicenseTransaction, data: dict) -> LicenseTransaction:
        items = {item.external_id: item for item in existing.items}
        same = existing.type == data["type"] and all(
            item["external_id"] in items and _same_item(items[item["external_id"]], item)
            for item in data["items"])
        if not same:
            raise errors.TransactionConflict(
                f"transaction {data['external_id']} exists with different content; "
                "add items with PUT", transactionId=str(existing.id))
        return existing

    def _licensed_items_for(self, items: list[tuple[int, dict]],
                            now: datetime) -> dict[uuid.UUID, list[LicensedItem]]:
        """The licensed items of each (index, item) pair's product package, after checking each
        item's validity; the index places a field error on the request's item."""
        for index, item in items:
            valid_from = item.get("license_valid_from") or now
            until = item.get("license_valid_until")
            if until is not None and until <= valid_from:
                raise errors.InvalidValidity(
                    "licenseValidUntil must be after licenseValidFrom (default: now)",
                    errors=_item_error(index, "licenseValidUntil",
                                       "Must be after licenseValidFrom (default: now)."))
        licensed: dict[uuid.UUID, list[LicensedItem]] = {}
        for index, item in items:
            package_id = item["product_id"]
            if package_id in licensed:
                continue
            cached = package_cache().get(package_id, lambda: self._load_package(package_id))
            if cached is None:
                raise errors.UnknownProduct(
                    f"no product package {package_id}",
                    errors=_item_error(index, "productId", "No product package with this id."))
            # Copies attached to this session, without a query (the cache holds detached rows).
            licensed[package_id] = [self.session.merge(row, load=False) for row in cached]
        return licensed

    def _load_package(self, package_id: uuid.UUID) -> tuple[LicensedItem, ...] | None:
        """A product package's licensed items, by id (the order licenses are listed in),
        detached for the package cache; None if there is no such package."""
        package = self.session.scalar(
            sa.select(ProductPackage).where(ProductPackage.id == package_id)
            .options(selectinload(ProductPackage.licensed_items)))
        if package is None:
            return None
        rows = tuple(sorted(package.licensed_items, key=lambda licensed: licensed.id))
        copies = tuple(LicensedItem(id=row.id, name=row.name, display_name=row.display_name,
                                    display_names=row.display_names, created_at=row.created_at,
                                    updated_at=row.updated_at) for row in rows)
        for copy in copies:
            make_transient_to_detached(copy)
        return copies

    def _default_entitlement_id(self, owner: Owner) -> uuid.UUID:
        """The owner's personal (user) or default (organization) entitlement, created on first
        use; two first provisionings at once meet the unique index and share one."""
        column = _owner_column(owner)
        found = self.session.scalar(_DEFAULT_ENTITLEMENT[column], {"owner": owner.id})
        if found is not None:
            return found
        name = "Personal entitlement" if column == "user_id" else "Default entitlement"
        self.session.execute(
            _create_default_entitlement(self.session.get_bind().dialect.name, column),
            {"id": uuid.uuid4(), column: owner.id, "name": name, "is_default": True,
             "created_at": utcnow()})
        return self.session.scalar(_DEFAULT_ENTITLEMENT[column], {"owner": owner.id})

    def _add_items(self, transaction: LicenseTransaction, items: list[dict],
                   licensed: dict[uuid.UUID, list[LicensedItem]],
                   now: datetime) -> list[LicenseTransactionItem]:
        """Insert the items and their licenses (one statement each, not the ORM's unit of
        work: this is the hot path of provisioning and redemption) and add them to the
        transaction as stored rows."""
        position = len(transaction.items)
        added = []
        for data in items:
            item = LicenseTransactionItem(
                id=uuid.uuid4(), transaction_id=transaction.id, position=position,
                external_id=data["external_id"], product_package_id=data["product_id"],
                quantity=data["quantity"], license_valid_from=data.get("license_valid_from"),
                license_valid_until=data.get("license_valid_until"), created_at=now)
            # One license per licensed item of the package, each with `quantity` seats, in the
            # order the relationship loads them later.
            item.licenses = [
                License(id=uuid.uuid4(), entitlement_id=transaction.entitlement_id,
                        transaction_item_id=item.id, licensed_item_id=licensed_item.id,
                        licensed_item=licensed_item, seats_total=data["quantity"],
                        valid_from=data.get("license_valid_from") or now,
                        valid_until=data.get("license_valid_until"), suspended_at=None,
                        created_at=now, updated_at=now)
                for licensed_item in licensed[data["product_id"]]
            ]
            added.append(item)
            position += 1
        licenses = [lic for item in added for lic in item.licenses]
        item_rows = [column_values(item) for item in added]
        license_rows = [column_values(lic) for lic in licenses]
        if (self.session.get_bind().dialect.name == "postgresql" and license_rows
                and len(item_rows) + len(license_rows) <= ONE_STATEMENT_ROWS):
            self.session.execute(_insert_items_and_licenses(len(item_rows), len(license_rows)),
                                 {**_numbered("i", item_rows), **_numbered("l", license_rows)})
        else:
            self.session.execute(_INSERT_ITEMS, item_rows)
            if license_rows:
                self.session.execute(_INSERT_LICENSES, license_rows)
        add_inserted(self.session, *licenses, *added)
        set_committed_value(transaction, "items", [*transaction.items, *added])
        return added

    def _provisioned(self, transaction: LicenseTransaction,
                     items: list[LicenseTransactionItem]) -> None:
        owner = transaction.owner
        self.events.record(
            "license_transaction.provisioned", transaction.id,
            externalId=transaction.external_id, entitlementId=str(transaction.entitlement_id),
            ownerType="user" if isinstance(owner, User) else "organization",
            ownerId=str(owner.id),
            itemExternalIds=[item.external_id for item in items],
            licenseIds=[str(lic.id) for item in items for lic in item.licenses])


def _transaction_loads():
    return (selectinload(LicenseTransaction.items).selectinload(LicenseTransactionItem.licenses)
            .selectinload(License.licensed_item),)


def _licenses(transaction: LicenseTransaction) -> Iterable[License]:
    return (lic for item in transaction.items for lic in item.licenses)


def _item_error(index: int, field: str, message: str) -> dict:
    return {"transaction": {"items": {str(index): {field: [message]}}}}


# --- available licenses ---------------------------------------------------------------------


# The read model of available licenses. Ids are text when listed (see uuid_text); UUIDs work
# as well wherever the schema renders them.


@dataclass(slots=True)
class OwnerRef:
    id: str | uuid.UUID
    name: str


@dataclass(slots=True)
class LicensedItemRef:
    id: str | uuid.UUID
    name: str
    display_name: str


@dataclass(slots=True)
class AvailableLicense:
    id: str | uuid.UUID
    valid_from: datetime
    valid_until: datetime | None
    active: bool
    entitlement_id: str | uuid.UUID
    licensed_item: LicensedItemRef
    seats_taken: int
    seats_total: int
    owner: OwnerRef


def pick_display_name(default: str, translations: dict[str, str] | None,
                      languages: Iterable[str]) -> str:
    """The translation for the first language that has one (`fi-FI` falls back to `fi`)."""
    if not translations:
        return default
    by_tag = {tag.lower(): text for tag, text in translations.items()}
    for language in languages:
        language = language.lower()
        text = by_tag.get(language) or by_tag.get(language.split("-", 1)[0])
        if text:
            return text
    return default


def _entitlements_of(owner: str) -> sa.CompoundSelect | sa.Select:
    """The ids of a user's entitlements (personal, and their organizations') or of an
    organization's; each part an index lookup (an OR across them would scan)."""
    owner_id = sa.bindparam("owner_id")
    if owner == "user":
        return sa.union_all(
            sa.select(Entitlement.id).where(Entitlement.user_id == owner_id),
            sa.select(Entitlement.id)
            .join(Membership, Membership.organization_id == Entitlement.organization_id)
            .where(Membership.user_id == owner_id))
    return sa.select(Entitlement.id).where(Entitlement.organization_id == owner_id)


class uuid_text(sa.sql.functions.FunctionElement):
    """A UUID column as canonical text, made by the database: rendering a list of licenses then
    formats no UUID objects in Python."""

    type = sa.String()
    inherit_cache = True


@compiles(uuid_text)
def _uuid_text(element, compiler, **kw):
    return f"CAST({compiler.process(element.clauses, **kw)} AS VARCHAR)"


@compiles(uuid_text, "sqlite")
def _uuid_text_sqlite(element, compiler, **kw):
    # SQLite keeps a UUID as 32 hex digits.
    hex32 = compiler.process(element.clauses, **kw)
    return " || '-' || ".join(f"substr({hex32}, {start}, {length})" for start, length in
                              ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12)))


# The statements below are built once, with bound parameters: building a statement costs more
# than running these, and applications read available licenses on every start.


@functools.cache
def _available_query(owner: str, include_expired: bool) -> sa.Select:
    """The licenses of a user (their own and their organizations') or of an organization, with
    what is shown of their licensed item and owner."""
    query = (sa.select(uuid_text(License.id), License.valid_from, License.valid_until,
                       License.suspended_at, uuid_text(License.entitlement_id),
                       License.seats_total, uuid_text(License.licensed_item_id),
                       LicensedItem.name, LicensedItem.display_name,
                       uuid_text(sa.func.coalesce(Entitlement.user_id,
                                                  Entitlement.organization_id)),
                       Organization.name, User.first_name, User.last_name, User.display_name)
             .join(Entitlement, License.entitlement_id == Entitlement.id)
             .join(LicensedItem, License.licensed_item_id == LicensedItem.id)
             .outerjoin(Organization, Entitlement.organization_id == Organization.id)
             .outerjoin(User, Entitlement.user_id == User.id)
             .where(License.entitlement_id.in_(_entitlements_of(owner)))
             .order_by(LicensedItem.name, License.valid_from, License.id))
    if not include_expired:
        query = query.where(sa.or_(License.valid_until.is_(None),
                                   License.valid_until > sa.bindparam("now")))
    return query


@functools.cache
def _translations_query(owner: str) -> sa.Select:
    """The display-name translations of the licensed items an owner has licenses for."""
    licensed = sa.select(License.licensed_item_id).where(
        License.entitlement_id.in_(_entitlements_of(owner)))
    return sa.select(uuid_text(LicensedItem.id), LicensedItem.display_names).where(
        LicensedItem.id.in_(licensed))


_USER_EXISTS_QUERY = sa.select(User.id).where(User.id == sa.bindparam("user_id"))


class AvailableLicenses:
    """What an owner may use: one query for the licenses with their licensed items and owners
    (and one for the translations of the items' names, when a language is asked for), however
    many licenses there are."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def for_user(self, user_id: uuid.UUID, *, languages: Iterable[str] = (),
                 include_expired: bool = False) -> list[AvailableLicense]:
        """The user's personal licenses and those of every organization they belong to."""
        licenses = self._list("user", include_expired, user_id, languages)
        # Without licenses, the user may not exist: asked only then, saving a query per call.
        if not licenses and self.session.execute(
                _USER_EXISTS_QUERY, {"user_id": user_id}).first() is None:
            raise UserNotFound(f"no user with id {user_id}")
        return licenses

    def for_organization(self, organization: Organization, *, languages: Iterable[str] = (),
                         include_expired: bool = False) -> list[AvailableLicense]:
        return self._list("organization", include_expired, organization.id, languages)

    def _list(self, owner: str, include_expired: bool, owner_id: uuid.UUID,
              languages: Iterable[str]) -> list[AvailableLicense]:
        now = utcnow()
        # Plain rows of columns: run on the session's connection, past the ORM's result
        # handling (a fifth of this call's time for 100 licenses).
        connection = self.session.connection()
        rows = connection.execute(_available_query(owner, include_expired),
                                  {"owner_id": owner_id, "now": now}).all()
        languages = tuple(languages)
        # Translations only when a language is asked for, once per licensed item.
        translations = {}
        if languages and rows:
            translations = dict(connection.execute(_translations_query(owner),
                                                   {"owner_id": owner_id}).all())
        # Licensed items and owners repeat: one object for each, so that it is also rendered
        # once.
        items: dict[str, LicensedItemRef] = {}
        owners: dict[str, OwnerRef] = {}
        result = []
        for (license_id, valid_from, valid_until, suspended_at, entitlement_id, seats_total,
             item_id, item_name, display_name, row_owner_id, organization_name, first_name,
             last_name, user_display) in rows:
            item = items.get(item_id)
            if item is None:
                item = items[item_id] = LicensedItemRef(item_id, item_name, pick_display_name(
                    display_name, translations.get(item_id), languages))
            owner_ref = owners.get(row_owner_id)
            if owner_ref is None:
                # A user's name as User.name gives it, from the row's columns.
                owner_ref = owners[row_owner_id] = OwnerRef(row_owner_id, organization_name or (
                    user_display or f"{first_name} {last_name}".strip()))
            result.append(AvailableLicense(
                license_id, valid_from, valid_until,
                suspended_at is None and valid_from <= now
                and (valid_until is None or now < valid_until),
                entitlement_id, item, License.seats_taken, seats_total, owner_ref))
        return result


# --- demo data --------------------------------------------------------------------------------

DEMO_ITEMS = (
    {"name": "demo-editor", "display_name": "Demo Editor",
     "display_names": {"fi": "Demo-editori", "sv": "Demoredigerare"}},
    {"name": "demo-export", "display_name": "Demo Export",
     "display_names": {"fi": "Demo-vienti", "sv": "Demoexport"}},
)
DEMO_MODEL = {"name": "demo-named-user", "seat_counting": "namedUsers",
              "max_lease_seconds": 3600, "max_offline_seconds": 7 * 24 * 3600,
              "cooldown_seconds": 0}
DEMO_PACKAGE = {"name": "demo-suite", "display_name": "Demo Suite"}


def seed_demo_catalog(session: Session) -> dict:
    """The demo catalog (two licensed items, a license model, a package), created once; returns
    what to show: the package id is the `productId` a demo order uses."""
    catalog = CatalogService(session)

    def existing(model, name):
        return session.scalar(sa.select(model).where(model.name == name))

    items = [existing(LicensedItem, data["name"]) or catalog.create_licensed_item(data)
             for data in DEMO_ITEMS]
    model = (existing(LicenseModel, DEMO_MODEL["name"])
             or catalog.create_license_model(dict(DEMO_MODEL)))
    package = existing(ProductPackage, DEMO_PACKAGE["name"]) or catalog.create_product_package(
        {**DEMO_PACKAGE, "license_model_id": model.id,
         "licensed_item_ids": [item.id for item in items]})
    return {"productPackageId": str(package.id), "productPackage": package.name}

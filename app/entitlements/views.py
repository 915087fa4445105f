"""Entitlement Management API (`/api/entitlement/v1`): the catalog, license transactions and
available licenses, for users (`me` allowed) and organizations."""

from __future__ import annotations

import functools

from flask import Response, request, url_for
from flask.views import MethodView

from app.api import Blueprint, PageArgsSchema
from app.db import db, read_only_request
from app.entitlements.schemas import (
    AvailableLicensesArgsSchema, AvailableLicensesSchema, LicensedItemPageSchema,
    LicensedItemSchema, LicensedItemUpdateSchema, LicenseModelPageSchema, LicenseModelSchema,
    LicenseTransactionPageSchema, LicenseTransactionSchema, ProductPackagePageSchema,
    ProductPackageSchema, TransactionQueryArgsSchema, TransactionRequestSchema,
    TransactionUpdateRequestSchema, available_licenses_json,
)
from app.entitlements.services import (
    Access, AvailableLicenses, CatalogService, EntitlementService,
)
from app.idempotency import idempotent
from app.oidc.bearer import current_principal, require_scopes
from app.users.models import User

blp = Blueprint("entitlements", __name__, url_prefix="/api/entitlement/v1",
                description="Entitlements: the catalog (licensed items, license models, product "
                            "packages), license transactions that provision licenses to users "
                            "and organizations, and the licenses they may use. A client needs "
                            "`entitlement:provision` to provision and `entitlement:read` (or "
                            "`entitlement:provision`) to read any user or organization; the "
                            "catalog is changed with `admin`. A user's own token reaches `me` "
                            "(and the user's own id) only: another user's id is 403 `forbidden`.")

USER_PATH = "/users/<user_id>"
ORGANIZATION_PATH = "/organizations/<uuid:organization_id>"
USER_ID_PARAMETER = {"in": "path", "name": "user_id", "required": True,
                     "schema": {"type": "string"},
                     "description": "A user id, or `me` with the user's own access token."}


def catalog() -> CatalogService:
    return CatalogService(db.session)


def entitlements() -> EntitlementService:
    return EntitlementService(db.session)


def owner_from_path(*, write: bool = False, load_user: bool = True, users_may: bool = True):
    """Replace the path's `user_id` or `organization_id` by the owner, after checking that the
    caller may reach it: refusals come before the body is read, as with `require_scopes`.

    `load_user=False` passes on the user's id only, for a service that reads the user itself;
    `users_may=False` refuses users' own tokens (see `Access.user_id`).
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            access = Access(db.session, current_principal())
            if "user_id" in kwargs:
                ref = kwargs.pop("user_id")
                owner = (access.user(ref, write=write, users_may=users_may) if load_user
                         else access.user_id(ref, write=write, users_may=users_may))
            else:
                owner = access.organization(kwargs.pop("organization_id"), write=write)
            return view(*args, owner=owner, **kwargs)

        return wrapper

    return decorator


def transaction_url(owner, transaction) -> str:
    if isinstance(owner, User):
        return url_for("entitlements.UserLicenseTransactionsById", user_id=owner.id,
                       transaction_id=transaction.id)
    return url_for("entitlements.OrganizationLicenseTransactionsById",
                   organization_id=owner.id, transaction_id=transaction.id)


def preferred_languages() -> list[str]:
    """The `locale` header (10Duke style) if sent, else Accept-Language, best first."""
    locale = request.headers.get("locale", "").strip()
    if locale:
        return [locale]
    return [language for language, _quality in request.accept_languages if language != "*"]


# --- the catalog ------------------------------------------------------------------------------


@blp.route("/licensed-items")
class LicensedItems(MethodView):
    @require_scopes("entitlement:read")
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, LicensedItemPageSchema)
    def get(self, args):
        """Licensed items, by name; paginated."""
        return catalog().licensed_items(offset=args["offset"], limit=args["limit"])

    @require_scopes("admin")
    @blp.arguments(LicensedItemSchema)
    @blp.response(201, LicensedItemSchema)
    def post(self, data):
        """Add a licensed item; its name is unique (409 `licensed_item.name_taken`)."""
        item = catalog().create_licensed_item(data)
        return item, {"Location": url_for("entitlements.LicensedItemsById", item_id=item.id)}


@blp.route("/licensed-items/<uuid:item_id>")
class LicensedItemsById(MethodView):
    @require_scopes("entitlement:read")
    @blp.response(200, LicensedItemSchema)
    def get(self, item_id):
        """One licensed item."""
        return catalog().licensed_item(item_id)

    @require_scopes("admin")
    @blp.arguments(LicensedItemUpdateSchema)
    @blp.response(200, LicensedItemSchema)
    def patch(self, data, item_id):
        """Rename, or change the display name; `displayNames` replaces all translations."""
        service = catalog()
        return service.update_licensed_item(service.licensed_item(item_id), data)


@blp.route("/license-models")
class LicenseModels(MethodView):
    @require_scopes("entitlement:read")
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, LicenseModelPageSchema)
    def get(self, args):
        """License models, by name; paginated."""
        return catalog().license_models(offset=args["offset"], limit=args["limit"])

    @require_scopes("admin")
    @blp.arguments(LicenseModelSchema)
    @blp.response(201, LicenseModelSchema)
    def post(self, data):
        """Add a license model.

        Seat counting (`namedUsers` or `concurrent`); the longest online lease, the longest
        offline checkout and the cooldown are whole seconds.
        """
        return catalog().create_license_model(data)


@blp.route("/product-packages")
class ProductPackages(MethodView):
    @require_scopes("entitlement:read")
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, ProductPackagePageSchema)
    def get(self, args):
        """Product packages, by name, with their licensed items and license model; paginated."""
        return catalog().product_packages(offset=args["offset"], limit=args["limit"])

    @require_scopes("admin")
    @blp.arguments(ProductPackageSchema)
    @blp.response(201, ProductPackageSchema)
    def post(self, data):
        """Add a product package: what a transaction item's `productId` names.

        Its licensed items and license model must exist (422 `catalog.unknown_reference`).
        """
        package = catalog().create_product_package(data)
        return package, {"Location": url_for("entitlements.ProductPackagesById",
                                             package_id=package.id)}


@blp.route("/product-packages/<uuid:package_id>")
class ProductPackagesById(MethodView):
    @require_scopes("entitlement:read")
    @blp.response(200, ProductPackageSchema)
    def get(self, package_id):
        """One product package."""
        return catalog().product_package(package_id)


# --- license transactions -------------------------------------------------------------------


@blp.route(USER_PATH + "/license-transactions", endpoint="UserLicenseTransactions",
           parameters=[USER_ID_PARAMETER])
@blp.route(ORGANIZATION_PATH + "/license-transactions",
           endpoint="OrganizationLicenseTransactions")
class LicenseTransactions(MethodView):
    @require_scopes()
    @owner_from_path()
    @blp.arguments(TransactionQueryArgsSchema, location="query")
    @blp.response(200, LicenseTransactionPageSchema)
    def get(self, args, owner):
        """The owner's license transactions, oldest first; `externalId` finds one order."""
        return entitlements().transactions(owner, external_id=args.get("external_id"),
                                           offset=args["offset"], limit=args["limit"])

    @require_scopes()
    @idempotent
    @owner_from_path(write=True)
    @blp.arguments(TransactionRequestSchema)
    @blp.response(201, LicenseTransactionSchema)
    @blp.alt_response(200, schema=LicenseTransactionSchema,
                      description="A retry: the transaction with this externalId, unchanged.")
    def post(self, data, owner):
        """Provision an order (a license transaction).

        One license per licensed item of each item's product package, with `quantity` seats,
        into the user's personal (or the organization's default) entitlement, created on first
        use. Users need not be activated yet.

        The same `externalId` again, with items already in the transaction unchanged, is a
        retry: 200 with the existing transaction, nothing provisioned. Different content is 409
        `license_transaction.conflict` (add items with PUT).
        """
        transaction, created = entitlements().provision(owner, data["transaction"])
        if not created:
            return transaction, 200
        return transaction, {"Location": transaction_url(owner, transaction)}


@blp.route(USER_PATH + "/license-transactions/<uuid:transaction_id>",
           endpoint="UserLicenseTransactionsById", parameters=[USER_ID_PARAMETER])
@blp.route(ORGANIZATION_PATH + "/license-transactions/<uuid:transaction_id>",
           endpoint="OrganizationLicenseTransactionsById")
class LicenseTransactionsById(MethodView):
    @require_scopes()
    @owner_from_path()
    @blp.response(200, LicenseTransactionSchema)
    def get(self, owner, transaction_id):
        """One transaction with its items and their licenses."""
        return entitlements().transaction(owner, transaction_id)

    @require_scopes()
    @owner_from_path(write=True)
    @blp.arguments(TransactionUpdateRequestSchema)
    @blp.response(200, LicenseTransactionSchema)
    def put(self, data, owner, transaction_id):
        """Add items to the transaction.

        Items are matched by their `externalId`: an identical item again changes nothing; a
        different one with the same `externalId` is 409 `license_transaction.item_conflict`.
        """
        service = entitlements()
        transaction = service.transaction(owner, transaction_id, for_update=True)
        return service.add_items(transaction, data["transaction"])


@blp.route(USER_PATH + "/license-transactions/<uuid:transaction_id>/suspend-licenses",
           endpoint="UserSuspendLicenses", parameters=[USER_ID_PARAMETER])
@blp.route(ORGANIZATION_PATH + "/license-transactions/<uuid:transaction_id>/suspend-licenses",
           endpoint="OrganizationSuspendLicenses")
class SuspendLicenses(MethodView):
    @require_scopes()
    @owner_from_path(write=True, users_may=False)
    @blp.response(200, LicenseTransactionSchema)
    def put(self, owner, transaction_id):
        """Suspend all the transaction's licenses.

        They stay listed, with `active: false`, until resumed. For clients only: a user's own
        token is refused (403 `forbidden`), whatever its scopes.
        """
        service = entitlements()
        return service.suspend(service.transaction(owner, transaction_id, for_update=True))


@blp.route(USER_PATH + "/license-transactions/<uuid:transaction_id>/resume-licenses",
           endpoint="UserResumeLicenses", parameters=[USER_ID_PARAMETER])
@blp.route(ORGANIZATION_PATH + "/license-transactions/<uuid:transaction_id>/resume-licenses",
           endpoint="OrganizationResumeLicenses")
class ResumeLicenses(MethodView):
    @require_scopes()
    @owner_from_path(write=True, users_may=False)
    @blp.response(200, LicenseTransactionSchema)
    def put(self, owner, transaction_id):
        """Resume all the transaction's suspended licenses (clients only, as suspending)."""
        service = entitlements()
        return service.resume(service.transaction(owner, transaction_id, for_update=True))


# --- available licenses ---------------------------------------------------------------------


LOCALE_HEADER = {"in": "header", "name": "locale", "required": False,
                 "schema": {"type": "string"},
                 "description": "Language of display names (e.g. `fi`); else Accept-Language."}


def available_options(args) -> dict:
    return {"languages": preferred_languages(), "include_expired": args["include_expired"]}


# The header is documented on the path: a `doc(parameters=…)` on the operation would replace
# the query parameters that `arguments` documents.
@blp.route(USER_PATH + "/available-licenses", parameters=[USER_ID_PARAMETER, LOCALE_HEADER])
class UserAvailableLicenses(MethodView):
    @read_only_request
    @require_scopes()
    @owner_from_path(load_user=False)
    @blp.arguments(AvailableLicensesArgsSchema, location="query")
    @blp.response(200, AvailableLicensesSchema)
    def get(self, args, owner):
        """The licenses the user may use: their own and their organizations'.

        Each is marked with its owner (the user, or the organization). Display names follow
        the `locale` header, else `Accept-Language`. Expired licenses only with
        `includeExpired=true`; suspended and not-yet-valid ones are listed with `active: false`.
        """
        licenses = AvailableLicenses(db.session).for_user(owner, **available_options(args))
        # The shape AvailableLicensesSchema documents, without marshmallow's cost per field.
        return Response(available_licenses_json(licenses), mimetype="application/json")


@blp.route(ORGANIZATION_PATH + "/available-licenses", parameters=[LOCALE_HEADER])
class OrganizationAvailableLicenses(MethodView):
    @read_only_request
    @require_scopes()
    @owner_from_path()
    @blp.arguments(AvailableLicensesArgsSchema, location="query")
    @blp.response(200, AvailableLicensesSchema)
    def get(self, args, owner):
        """The organization's licenses.

        Display names follow the `locale` header, else `Accept-Language`. Expired licenses only
        with `includeExpired=true`; suspended and not-yet-valid ones are listed with
        `active: false`.
        """
        licenses = AvailableLicenses(db.session).for_organization(
            owner, **available_options(args))
        return Response(available_licenses_json(licenses), mimetype="application/json")

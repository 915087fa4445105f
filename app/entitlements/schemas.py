"""Wire shapes of the Entitlement Management API (camelCase, unknown fields rejected).
Durations are whole seconds (`maxLeaseSeconds`, …): unambiguous, unlike months in ISO 8601."""

import json
from datetime import UTC

import marshmallow as ma
from marshmallow import fields, validate

from app.api import PageArgsSchema, PageSchema, Schema
from app.db import utcnow
from app.entitlements.models import SEAT_COUNTING, TRANSACTION_TYPES
from app.users.schemas import LOCALE, Name

MACHINE_NAME = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$",
    error="Use 1 to 100 letters, digits and . _ : - (starting with a letter or digit).")
EXTERNAL_ID = validate.Length(min=1, max=200)
MAX_DURATION = 10 * 366 * 24 * 3600


def _seconds(description: str, **kwargs) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_DURATION),
                          metadata={"description": description + " (seconds)"}, **kwargs)


class UTCTimestamp(fields.AwareDateTime):
    """An ISO 8601 timestamp, in UTC (the API's zone) from here on; one without a zone is UTC."""

    def __init__(self, **kwargs):
        super().__init__(default_timezone=UTC, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).astimezone(UTC)


def _timestamp(description: str) -> UTCTimestamp:
    return UTCTimestamp(allow_none=True, metadata={"description": description})


def _translations() -> fields.Dict:
    return fields.Dict(
        keys=fields.String(validate=LOCALE), values=Name(200),
        metadata={"description": 'Translations of displayName by language tag, e.g. '
                                 '{"fi": "…"}; picked by the `locale` or `Accept-Language` '
                                 "header where licenses are listed."})


# --- the catalog ------------------------------------------------------------------------------


class LicensedItemSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(required=True, validate=MACHINE_NAME,
                         metadata={"description": "What applications check licenses for; unique."})
    display_name = Name(200, required=True)
    display_names = _translations()
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class LicensedItemUpdateSchema(Schema):
    name = fields.String(validate=MACHINE_NAME)
    display_name = Name(200)
    display_names = _translations()


class LicenseModelSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(required=True, validate=MACHINE_NAME)
    seat_counting = fields.String(
        required=True, validate=validate.OneOf(SEAT_COUNTING),
        metadata={"description": "namedUsers: a seat is a person; concurrent: a seat is a "
                                 "session in use at the moment."})
    max_lease_seconds = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=60, max=MAX_DURATION),
        metadata={"description": "Longest online lease before an application must renew "
                                 "(seconds)."})
    max_offline_seconds = _seconds("Longest offline checkout; 0 means no offline use",
                                   load_default=0)
    cooldown_seconds = _seconds("How long a released seat stays with its last holder before "
                                "another may take it", load_default=0)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class LicensedItemRefSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    display_name = fields.String()


class ProductPackageSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(required=True, validate=MACHINE_NAME)
    display_name = Name(200, allow_none=True)
    license_model_id = fields.UUID(required=True)
    licensed_item_ids = fields.List(fields.UUID(), required=True, load_only=True,
                                    validate=validate.Length(min=1, max=100))
    license_model = fields.Nested(LicenseModelSchema, dump_only=True)
    licensed_items = fields.List(fields.Nested(LicensedItemRefSchema), dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class LicensedItemPageSchema(PageSchema):
    items = fields.List(fields.Nested(LicensedItemSchema))


class LicenseModelPageSchema(PageSchema):
    items = fields.List(fields.Nested(LicenseModelSchema))


class ProductPackagePageSchema(PageSchema):
    items = fields.List(fields.Nested(ProductPackageSchema))


# --- license transactions -------------------------------------------------------------------


class TransactionItemSchema(Schema):
    external_id = fields.String(required=True, validate=EXTERNAL_ID,
                                metadata={"description": "The order line's id; unique within "
                                                         "the transaction."})
    product_id = fields.UUID(required=True, metadata={"description": "A product package id."})
    quantity = fields.Integer(required=True, strict=True,
                              validate=validate.Range(min=1, max=1_000_000),
                              metadata={"description": "Seats in each license."})
    license_valid_from = _timestamp("When the licenses start; default: when provisioned.")
    license_valid_until = _timestamp("When the licenses end; none: perpetual.")


class TransactionSchema(Schema):
    type = fields.String(load_default="Order", validate=validate.OneOf(TRANSACTION_TYPES))
    external_id = fields.String(required=True, validate=EXTERNAL_ID,
                                metadata={"description": "The shop's order id; unique per owner."})
    items = fields.List(fields.Nested(TransactionItemSchema), required=True,
                        validate=validate.Length(min=1, max=100))

    @ma.validates_schema
    def _distinct_items(self, data, **_kwargs):
        seen = set()
        for index, item in enumerate(data.get("items") or ()):
            if item["external_id"] in seen:
                raise ma.ValidationError({str(index): {"externalId": [
                    "Appears twice in this transaction."]}}, "items")
            seen.add(item["external_id"])


class TransactionUpdateSchema(TransactionSchema):
    external_id = fields.String(validate=EXTERNAL_ID,
                                metadata={"description": "If given, the transaction's own."})


class TransactionRequestSchema(Schema):
    transaction = fields.Nested(TransactionSchema, required=True)


class TransactionUpdateRequestSchema(Schema):
    transaction = fields.Nested(TransactionUpdateSchema, required=True)


class OwnerSchema(Schema):
    id = fields.UUID()
    name = fields.String()


class LicenseSchema(Schema):
    id = fields.UUID()
    licensed_item = fields.Nested(LicensedItemRefSchema)
    seats_total = fields.Integer()
    valid_from = fields.DateTime()
    valid_until = fields.DateTime(allow_none=True)
    active = fields.Function(lambda lic: lic.is_active(utcnow()), metadata={
        "description": "Not suspended, and valid now."})


class TransactionItemOutSchema(TransactionItemSchema):
    product_id = fields.UUID(attribute="product_package_id")
    licenses = fields.List(fields.Nested(LicenseSchema))


class LicenseTransactionSchema(Schema):
    id = fields.UUID()
    type = fields.String()
    external_id = fields.String()
    entitlement_id = fields.UUID()
    owner = fields.Nested(OwnerSchema)
    items = fields.List(fields.Nested(TransactionItemOutSchema))
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class LicenseTransactionPageSchema(PageSchema):
    items = fields.List(fields.Nested(LicenseTransactionSchema))


class TransactionQueryArgsSchema(PageArgsSchema):
    external_id = fields.String(validate=EXTERNAL_ID)


# --- available licenses ---------------------------------------------------------------------


class AvailableLicenseSchema(Schema):
    id = fields.UUID()
    valid_from = fields.DateTime()
    valid_until = fields.DateTime(allow_none=True)
    active = fields.Boolean(metadata={"description": "Not suspended, and valid now."})
    entitlement_id = fields.UUID()
    licensed_item = fields.Nested(LicensedItemRefSchema)
    seats_taken = fields.Integer()
    seats_total = fields.Integer()
    owner = fields.Nested(OwnerSchema, metadata={
        "description": "The user, or the organization whose member the user is."})


class AvailableLicensesSchema(Schema):
    items = fields.List(fields.Nested(AvailableLicenseSchema))


# One license as AvailableLicenseSchema renders it. Every value put in is JSON already: ids,
# timestamps, booleans and numbers as they are, names through json.dumps.
_LICENSE_JSON = ('{"id":"%s","validFrom":"%s","validUntil":%s,"active":%s,"entitlementId":"%s",'
                 '"licensedItem":%s,"seatsTaken":%d,"seatsTotal":%d,"owner":%s}')


def available_licenses_json(licenses) -> str:
    """The JSON text of AvailableLicensesSchema for these licenses (a test holds the two equal),
    written directly: applications read this list on every start, and for 100 licenses
    marshmallow and the encoder cost twice what the query does."""
    rendered: dict[int, str] = {}

    def once(value, text):
        # Licensed items and owners repeat across licenses (the service shares one object for
        # each): each is rendered once.
        found = rendered.get(id(value))
        if found is None:
            found = rendered[id(value)] = text(value)
        return found

    def item_json(item):
        return json.dumps({"id": item.id, "name": item.name, "displayName": item.display_name})

    def owner_json(owner):
        return json.dumps({"id": owner.id, "name": owner.name})

    return '{"items":[' + ",".join(_LICENSE_JSON % (
        lic.id, lic.valid_from.isoformat(),
        f'"{lic.valid_until.isoformat()}"' if lic.valid_until else "null",
        "true" if lic.active else "false", lic.entitlement_id,
        once(lic.licensed_item, item_json), lic.seats_taken, lic.seats_total,
        once(lic.owner, owner_json),
    ) for lic in licenses) + "]}"


class AvailableLicensesArgsSchema(Schema):
    include_expired = fields.Boolean(load_default=False)

"""Wire shapes of the activation code endpoints (camelCase, unknown fields rejected)."""

from __future__ import annotations

from marshmallow import fields, post_dump, validate

from app.activation_codes.models import ORDER_REF_LENGTH
from app.activation_codes.services import MAX_BATCH_SIZE
from app.api import PageSchema, Schema
from app.entitlements.schemas import AvailableLicenseSchema, UTCTimestamp

MAX_WATER_MARK = 10_000_000
MAX_IMPORT = 25_000
CODE = fields.String(required=True, validate=validate.Length(min=1, max=100),
                     metadata={"description": "As typed: case, spaces and hyphens do not matter.",
                               "example": "ABCDE-FGHJK-LMNPQ-RSTUV-WXYZ2"})


def _timestamp(description: str) -> UTCTimestamp:
    return UTCTimestamp(allow_none=True, metadata={"description": description})


def _water_mark(description: str, **kwargs) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_WATER_MARK),
                          metadata={"description": description}, **kwargs)


LOW_WATER_MARK = ("When available stock falls to this many codes, "
                  "`activation_codes.stock_low` is emitted, once; 0: never.")
HIGH_WATER_MARK = ("stock_low can fire again only after a restock brings available stock above "
                   "this many codes. Default: lowWaterMark.")


class CodeConfigSchema(Schema):
    id = fields.UUID(dump_only=True)
    product_package_id = fields.UUID(required=True, metadata={
        "description": "The product package a redemption provisions."})
    seats = fields.Integer(load_default=1, strict=True,
                           validate=validate.Range(min=1, max=1_000_000),
                           metadata={"description": "Seats in each license granted."})
    license_valid_from = _timestamp("Fixed start of the licenses; none: at redemption.")
    license_valid_until = _timestamp("Fixed end of the licenses; none: perpetual (or see "
                                     "licenseDuration).")
    license_duration = fields.String(
        allow_none=True, validate=validate.Length(max=40),
        metadata={"description": "ISO 8601 duration counted from redemption (P1Y, P6M, P30D, "
                                 "PT12H), instead of fixed dates; months and years follow the "
                                 "calendar.", "example": "P1Y"})
    redeemable_from = _timestamp("Codes redeem from this moment on; none: at once.")
    redeemable_until = _timestamp("Codes redeem until this moment; none: for ever.")
    reseller = fields.String(allow_none=True, validate=validate.Length(max=200),
                             metadata={"description": "Who sells these codes (a label)."})
    low_water_mark = _water_mark(LOW_WATER_MARK, load_default=0)
    high_water_mark = _water_mark(HIGH_WATER_MARK)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class CodeConfigUpdateSchema(Schema):
    redeemable_from = _timestamp("Codes redeem from this moment on; none: at once.")
    redeemable_until = _timestamp("Codes redeem until this moment; none: for ever.")
    reseller = fields.String(allow_none=True, validate=validate.Length(max=200))
    low_water_mark = _water_mark(LOW_WATER_MARK)
    high_water_mark = _water_mark(HIGH_WATER_MARK)


class CodeConfigPageSchema(PageSchema):
    items = fields.List(fields.Nested(CodeConfigSchema))


class CodeBatchSchema(Schema):
    number = fields.Integer(metadata={"description": "The batch number every code carries "
                                                     "(1 to 65535)."})
    config_id = fields.UUID()
    offline = fields.Boolean(metadata={"description": "Its key has left the service: created "
                                                      "empty for offline minting, or exported."})
    revoked_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class CodeBatchListSchema(Schema):
    items = fields.List(fields.Nested(CodeBatchSchema))


class CodeBatchCreateSchema(Schema):
    count = fields.Integer(required=True, strict=True,
                           validate=validate.Range(min=0, max=MAX_BATCH_SIZE),
                           metadata={"description": "Codes to mint into stock; 0 makes an empty "
                                                    "batch to mint offline and import."})


class CodeBatchCreatedSchema(Schema):
    batch = fields.Nested(CodeBatchSchema)
    codes = fields.List(fields.String(), metadata={
        "description": "The new codes, shown this once (the service keeps only a hash of each)."})


class CodeImportSchema(Schema):
    # 25,000 codes fit in the default request size limit (GATEHOUSE_MAX_CONTENT_LENGTH, 1 MiB).
    codes = fields.List(fields.String(validate=validate.Length(max=100)), required=True,
                        validate=validate.Length(min=1, max=MAX_IMPORT),
                        metadata={"description": f"Up to {MAX_IMPORT:,} codes a request."})


class RejectedCodeSchema(Schema):
    index = fields.Integer(metadata={"description": "Position in the request's `codes`."})
    reason = fields.String()


class CodeImportReportSchema(Schema):
    imported = fields.Integer(metadata={"description": "Codes added to stock."})
    duplicates = fields.Integer(metadata={"description": "Codes already in stock (or given "
                                                         "twice): not added again."})
    rejected = fields.List(fields.Nested(RejectedCodeSchema))


class CodeStockSchema(Schema):
    config_id = fields.UUID()
    available = fields.Integer()
    allocated = fields.Integer()
    redeemed = fields.Integer()
    void = fields.Integer()
    total = fields.Integer()


class CodeAllocationRequestSchema(Schema):
    order_ref = fields.String(required=True, validate=validate.Length(min=1,
                                                                       max=ORDER_REF_LENGTH),
                              metadata={"description": "The shop's order id: the same one again "
                                                       "returns the same codes."})
    quantity = fields.Integer(required=True, strict=True,
                              validate=validate.Range(min=1, max=1000))


class CodeAllocationSchema(Schema):
    config_id = fields.UUID()
    order_ref = fields.String()
    quantity = fields.Integer()
    codes = fields.List(fields.String())
    created_at = fields.DateTime()


class CodeRequestSchema(Schema):
    code = CODE


class GrantedPackageSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    display_name = fields.String(allow_none=True)


class CodeCheckSchema(Schema):
    well_formed = fields.Boolean(metadata={"description": "Typed right (length, symbols, check "
                                                          "symbol)."})
    genuine = fields.Boolean(metadata={"description": "Minted by this service and in its "
                                                      "stock."})
    redeemable = fields.Boolean(metadata={"description": "Redeeming it now would succeed."})
    reason = fields.String(metadata={"description": "When not redeemable: the error code "
                                                    "redeeming would answer with."})
    detail = fields.String(metadata={"description": "When not redeemable: why, in words for the "
                                                    "code's holder."})
    product_package = fields.Nested(GrantedPackageSchema, metadata={
        "description": "When redeemable: what it grants."})

    @post_dump
    def _only_what_applies(self, data, **_kwargs):
        return {key: value for key, value in data.items() if value is not None}


class VoidedCodeSchema(Schema):
    batch = fields.Integer()
    state = fields.String()
    order_ref = fields.String(allow_none=True)
    voided_at = fields.DateTime()


class CodeRedemptionSchema(Schema):
    transaction_id = fields.UUID(metadata={"description": "The license transaction the code "
                                                          "provisioned."})
    redeemed_at = fields.DateTime()
    licenses = fields.List(fields.Nested(AvailableLicenseSchema), metadata={
        "description": "The licenses granted, shaped as in available-licenses."})

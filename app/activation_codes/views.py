"""Activation codes in the Entitlement Management API (`/api/entitlement/v1`): configurations,
batches, the stock and allocations to orders, and checking, voiding and redeeming one code."""

from __future__ import annotations

import csv
import io

from flask import Response, request, url_for
from flask.views import MethodView

from app.activation_codes import errors
from app.activation_codes.attempts import api_attempts, note_rejected
from app.activation_codes.schemas import (
    CodeAllocationRequestSchema, CodeAllocationSchema, CodeBatchCreatedSchema,
    CodeBatchCreateSchema, CodeBatchListSchema, CodeBatchSchema, CodeCheckSchema,
    CodeConfigPageSchema, CodeConfigSchema, CodeConfigUpdateSchema, CodeImportReportSchema,
    CodeImportSchema, CodeRedemptionSchema, CodeRequestSchema, CodeStockSchema, VoidedCodeSchema,
)
from app.activation_codes.services import (
    AllocationService, BatchService, ConfigService, RedemptionService, redeeming_user,
    require_code_scope,
)
from app.api import Blueprint, PageArgsSchema
from app.db import db
from app.entitlements.views import preferred_languages
from app.oidc.bearer import current_principal, require_scopes

blp = Blueprint("activation-codes", __name__, url_prefix="/api/entitlement/v1",
                description="Activation codes: configurations (what a code grants) and batches "
                            "(`activation-codes:manage`), the stock the shop draws codes from "
                            "per order (`activation-codes:allocate`), and redeeming a code into a "
                            "user's personal entitlement, by the user's own token or by a client "
                            "with `activation-codes:redeem`. Failed attempts at codes are "
                            "rate-limited.")

MANAGE = "activation-codes:manage"
ALLOCATE = "activation-codes:allocate"
CONFIG_PATH = "/activation-code-configs/<uuid:config_id>"
# Instances, for the busiest calls: given a class, webargs builds a schema on every request.
ALLOCATION_REQUEST = CodeAllocationRequestSchema()
CODE_REQUEST = CodeRequestSchema()
USER_ID_PARAMETER = {"in": "path", "name": "user_id", "required": True,
                     "schema": {"type": "string"},
                     "description": "A user id, or `me` with the user's own access token."}


def config(config_id):
    return ConfigService(db.session).get(config_id)


# --- configurations ---------------------------------------------------------------------------


@blp.route("/activation-code-configs")
class Configs(MethodView):
    @require_scopes(MANAGE)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, CodeConfigPageSchema)
    def get(self, args):
        """Activation code configurations, oldest first; paginated."""
        return ConfigService(db.session).search(offset=args["offset"], limit=args["limit"])

    @require_scopes(MANAGE)
    @blp.arguments(CodeConfigSchema)
    @blp.response(201, CodeConfigSchema)
    def post(self, data):
        """Add a configuration: what its codes grant and when they may be redeemed.

        License validity is fixed dates (`licenseValidFrom`, `licenseValidUntil`) or an ISO 8601
        `licenseDuration` counted from redemption, not both. The water marks drive the stock
        alerts.
        """
        created = ConfigService(db.session).create(data)
        return created, {"Location": url_for("activation-codes.ConfigsById",
                                             config_id=created.id)}


@blp.route(CONFIG_PATH)
class ConfigsById(MethodView):
    @require_scopes(MANAGE)
    @blp.response(200, CodeConfigSchema)
    def get(self, config_id):
        """One configuration."""
        return config(config_id)

    @require_scopes(MANAGE)
    @blp.arguments(CodeConfigUpdateSchema)
    @blp.response(200, CodeConfigSchema)
    def patch(self, data, config_id):
        """Change the redemption period, the reseller or the water marks.

        What a code grants stays as it was when its codes were made.
        """
        return ConfigService(db.session).update(config(config_id), data)


# --- batches ----------------------------------------------------------------------------------


MINTED = "The batch and its codes, shown this once; with `Accept: text/csv`, the codes as CSV."


def _csv(codes: list[str]) -> Response:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(["code"])
    writer.writerows([code] for code in codes)
    response = Response(text.getvalue(), status=201, mimetype="text/csv")
    response.headers["Content-Disposition"] = "attachment; filename=activation-codes.csv"
    return response


@blp.route(CONFIG_PATH + "/batches")
class Batches(MethodView):
    @require_scopes(MANAGE)
    @blp.response(200, CodeBatchListSchema)
    def get(self, config_id):
        """The configuration's batches."""
        return {"items": BatchService(db.session).batches(config(config_id))}

    @require_scopes(MANAGE)
    @blp.arguments(CodeBatchCreateSchema)
    @blp.response(201, CodeBatchCreatedSchema, description=MINTED)
    @blp.alt_response(201, schema={"type": "string"}, content_type="text/csv", success=True,
                      example="code\r\nABCDE-FGHJK-LMNPQ-RSTUV-WXYZ2\r\n", description=MINTED)
    def post(self, data, config_id):
        """Mint a batch of codes into stock; they are returned this once (as CSV with
        `Accept: text/csv`).

        The service keeps a keyed hash of each code, never the code. `count` 0 makes an empty
        batch: export its key (`codes export-key`), mint offline (`codes mint`) and import.
        """
        batch, codes = BatchService(db.session).create(config(config_id), data["count"])
        if request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv":
            return _csv(codes)
        return {"batch": batch, "codes": codes}


@blp.route(CONFIG_PATH + "/batches/<int:number>/import")
class BatchImport(MethodView):
    @require_scopes(MANAGE)
    @blp.arguments(CodeImportSchema)
    @blp.response(200, CodeImportReportSchema)
    def post(self, data, config_id, number):
        """Put offline-minted codes of this batch into stock.

        Each must be well-formed, carry this batch's number and be made with its key; codes
        already in stock are counted as duplicates. Rejected ones are listed by position.
        """
        service = BatchService(db.session)
        return service.import_codes(service.batch(config(config_id), number), data["codes"])


@blp.route(CONFIG_PATH + "/batches/<int:number>/revoke")
class BatchRevoke(MethodView):
    @require_scopes(MANAGE)
    @blp.response(200, CodeBatchSchema)
    def post(self, config_id, number):
        """Revoke a batch: its codes stop redeeming (410 `activation_code.revoked`).

        Its codes still in stock leave it, so no order gets them.
        """
        service = BatchService(db.session)
        return service.revoke(service.batch(config(config_id), number))


# --- stock and allocations --------------------------------------------------------------------


@blp.route(CONFIG_PATH + "/stock")
class Stock(MethodView):
    @require_scopes(MANAGE, ALLOCATE)
    @blp.response(200, CodeStockSchema)
    def get(self, config_id):
        """The configuration's codes, counted by state."""
        return BatchService(db.session).stock(config(config_id))


@blp.route(CONFIG_PATH + "/allocations")
class Allocations(MethodView):
    @require_scopes(ALLOCATE)
    @blp.arguments(ALLOCATION_REQUEST)
    @blp.response(201, CodeAllocationSchema)
    @blp.alt_response(200, schema=CodeAllocationSchema,
                      description="A retry: the codes this orderRef was given before.")
    def post(self, data, config_id):
        """Draw codes from stock for an order, all or none.

        The same `orderRef` again returns the same codes (200), so a retried checkout never
        burns stock; with another `quantity` it is 409 `activation_code.allocation_conflict`.
        Too few codes in stock: 409 `activation_code.out_of_stock`.
        """
        try:
            result, created = AllocationService(db.session).allocate(
                config_id, data["order_ref"], data["quantity"])
        except errors.OutOfStock:
            db.keep_on_error()  # the stock alert it may have raised is kept
            raise
        return result, 201 if created else 200


@blp.route(CONFIG_PATH + "/allocations/<path:order_ref>")
class AllocationsByOrderRef(MethodView):
    @require_scopes(ALLOCATE)
    @blp.response(204)
    def delete(self, config_id, order_ref):
        """Return an order's codes to stock (a checkout aborted before they were shown).

        409 `activation_code.allocation_not_releasable` if any has been redeemed or voided.
        """
        AllocationService(db.session).release(config(config_id), order_ref)


# --- one code ---------------------------------------------------------------------------------


@blp.route("/activation-codes/check")
class CodeCheck(MethodView):
    @require_scopes()
    @api_attempts
    @blp.arguments(CodeRequestSchema)
    @blp.response(200, CodeCheckSchema)
    def post(self, data):
        """Whether a code would redeem now, without redeeming it.

        For a user's own token, or a client with an `activation-codes:` scope. A code that
        would not redeem counts as a failed attempt.
        """
        require_code_scope(current_principal())
        result = RedemptionService(db.session).check(data["code"])
        if not result.redeemable:
            note_rejected()
        return result


@blp.route("/activation-codes/void")
class CodeVoid(MethodView):
    @require_scopes(ALLOCATE, MANAGE)
    @blp.arguments(CodeRequestSchema)
    @blp.response(200, VoidedCodeSchema)
    def post(self, data):
        """Make an unredeemed code unusable for good (a refund): 410 `activation_code.void` when
        redeemed afterwards. Voiding again changes nothing; a redeemed code is 409."""
        return RedemptionService(db.session).void(data["code"])


@blp.route("/users/<user_id>/activation-codes/redeem", parameters=[USER_ID_PARAMETER])
class Redeem(MethodView):
    @require_scopes()
    @api_attempts
    @blp.arguments(CODE_REQUEST)
    @blp.response(200, CodeRedemptionSchema)
    def post(self, data, user_id):
        """Redeem a code: its licenses into the user's personal entitlement, exactly once.

        By the user's own token (`me` or their id), or by a client with
        `activation-codes:redeem` for any user id; users not yet activated may redeem. The same
        user redeeming again gets the original result; anyone else 409
        `activation_code.already_redeemed`. 422 `activation_code.malformed` (with a hint) or
        `activation_code.invalid`; 410 `activation_code.revoked`, `activation_code.expired`
        (outside the redemption period) or `activation_code.void`. Failed attempts are
        rate-limited per user and IP address, or per client.
        """
        user = redeeming_user(db.session, current_principal(), user_id)
        return RedemptionService(db.session).redeem(user, data["code"],
                                                    languages=preferred_languages())

"""The REST API's bases: `Api`, `Blueprint` and `Schema`, subclassed once for every domain.

Errors are problem+json (app.errors); schemas speak camelCase and reject unknown fields;
list endpoints share one pagination shape (`offset`, `limit` ≤ 100, `total`).
"""

from __future__ import annotations

import http

import flask_smorest
import marshmallow as ma
from email_validator import EmailNotValidError, validate_email
from flask_smorest.utils import prepare_response
from marshmallow import fields, validate

from app import errors

API_INFO = (
    "Gatehouse: identity and licensing for vendors who sell software online. Every call carries "
    "`Authorization: Bearer <JWT>` from `POST /user/oauth20/token`; each operation names the "
    "scopes it needs. Errors are `application/problem+json` with a stable `code`."
)


def camelcase(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class Schema(ma.Schema):
    """camelCase on the wire, snake_case in Python; unknown fields are an error (marshmallow's
    default RAISE, stated here so nobody loosens it by accident)."""

    class Meta:
        unknown = ma.RAISE
        ordered = True

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        field_obj.data_key = camelcase(field_obj.data_key or field_name)


class Email(fields.String):
    """An email address: validated (syntax only, no DNS), normalized and lower-cased, so that
    equality is the exact, case-insensitive comparison lookups and uniqueness rely on."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        return normalize_email(text)


def normalize_email(text: str) -> str:
    try:
        checked = validate_email(text.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ma.ValidationError(f"Not a valid email address: {exc}") from None
    return checked.normalized.lower()


class ProblemSchema(ma.Schema):
    """Documentation of the problem+json body (RFC 9457)."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    code = fields.String(metadata={"description": "stable machine-readable error code"})
    errors = fields.Dict(metadata={"description": "field errors (validation only)"})


class PageArgsSchema(Schema):
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class PageSchema(Schema):
    """A page of a list: subclasses add `items`."""

    total = fields.Integer(metadata={"description": "how many match, over all pages"})
    offset = fields.Integer()
    limit = fields.Integer()


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self):
        """Document error responses as what they are: application/problem+json."""
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec,
                             errors.PROBLEM_JSON if status >= 400 else "application/json")
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Error (problem+json)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, errors.PROBLEM_JSON)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)

    def _register_error_handlers(self):
        errors.register_error_handlers(self._app)

    def handle_http_exception(self, error):  # pragma: no cover - replaced by app.errors
        return errors.handle_http_exception(error)

    def register_blueprint(self, blp, **options):
        # Bearer tokens, not cookies, authenticate the API: CSRF checks are for pages.
        from app import csrf

        csrf.exempt(blp)
        super().register_blueprint(blp, **options)


class Blueprint(flask_smorest.Blueprint):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(self._prepare_idempotency_doc)

    @staticmethod
    def _prepare_idempotency_doc(doc, doc_info, **_kwargs):
        """Views under @idempotent document the Idempotency-Key header next to their other
        parameters (a manual `doc(parameters=...)` would replace those)."""
        if doc_info.get("idempotency_key"):
            from app.idempotency import HEADER_PARAMETER

            doc.setdefault("parameters", []).append(HEADER_PARAMETER)
        return doc


def make_api(app) -> Api:
    """One Api per app (tests build several apps; the domain blueprints are shared)."""
    api = Api(
        app,
        spec_kwargs={
            "info": {"description": API_INFO},
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                }
            },
        },
    )
    app.extensions["gatehouse.api"] = api
    return api

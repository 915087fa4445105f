"""The domain error tree and its problem+json (RFC 9457) rendering.

Services raise these; they carry a stable machine `code` and the HTTP status the entry point maps
them to. Domain packages subclass them (`users.errors.EmailTaken(Conflict)`). Titles a page can
show are marked `N_`: English in the API, translated on the page (`app.web.i18n.error_text`).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from app.messages import N_

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:gatehouse:problem:"


class GatehouseError(Exception):
    status = 400
    code = "bad_request"
    title = N_("Bad request")

    def __init__(self, detail: str | None = None, *, errors: dict | None = None, **extra: Any):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.extra = extra
        self.headers: dict[str, str] = {}


class BadRequest(GatehouseError):
    pass


class Unauthorized(GatehouseError):
    status = 401
    code = "unauthorized"
    title = N_("Authentication required")


class Forbidden(GatehouseError):
    status = 403
    code = "forbidden"
    title = N_("Forbidden")


class NotFound(GatehouseError):
    status = 404
    code = "not_found"
    title = N_("Not found")


class Conflict(GatehouseError):
    status = 409
    code = "conflict"
    title = N_("Conflict")


class Gone(GatehouseError):
    status = 410
    code = "gone"
    title = N_("Gone")


class Unprocessable(GatehouseError):
    status = 422
    code = "validation_error"
    title = N_("Unprocessable request")


class TooManyRequests(GatehouseError):
    status = 429
    code = "rate_limited"
    title = N_("Too many requests")


# Stable codes for plain HTTP errors raised by the framework (routing, parsing, limits).
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
}


def problem(
    status: int,
    code: str,
    title: str | None = None,
    detail: str | None = None,
    *,
    errors: dict | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
):
    """A Flask response tuple carrying a problem document."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail or title or HTTPStatus(status).phrase,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    response = current_app.json.response(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _wants_html() -> bool:
    """Browsers on pages get an HTML error page; everything else gets problem+json."""
    if request.path.startswith(("/api/", "/health", "/.well-known/")):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes[best] > request.accept_mimetypes[
        "application/json"
    ]


# An HTML error page's words. Werkzeug's descriptions are English only: an English page shows
# them, a page in another language the translation of these.
PAGE_WORDS = {
    400: (N_("Bad Request"), N_("The request could not be handled. Go back, reload the page and "
                                "try again.")),
    401: (N_("Unauthorized"), N_("Sign in first, then try again.")),
    403: (N_("Forbidden"), N_("You may not open this page.")),
    404: (N_("Not Found"), N_("There is no page at this address. Check the address, or start "
                              "again from the application that sent you here.")),
    405: (N_("Method Not Allowed"), N_("This page cannot be used that way.")),
    409: (N_("Conflict"), N_("Something changed meanwhile. Reload the page and try again.")),
    410: (N_("Gone"), N_("This page is no longer available.")),
    413: (N_("Request Entity Too Large"), N_("What you sent is too large.")),
    422: (N_("Unprocessable Entity"), N_("Some of what you sent is not valid.")),
    429: (N_("Too Many Requests"), N_("Too many attempts in a short time. Wait a few minutes, "
                                      "then try again.")),
    500: (N_("Internal Server Error"), N_("Please try again in a moment.")),
}
CSRF_WORDS = N_("The form has expired or did not come from this site. Reload the page and try "
                "again.")
UNEXPECTED = (N_("Something went wrong"), N_("Please try again in a moment."))
UNAVAILABLE = (N_("Service unavailable"), N_("Please try again in a moment."))


def _html(status: int, title: str, detail: str, otherwise: str = ""):
    """The error page in the page's language: `detail` is English (as the API's); a page in
    another language shows `otherwise` instead, translated."""
    from app.web.i18n import service_text, translate  # the web layer imports this module

    return render_template("error.html", status=status, title=translate(title),
                           detail=service_text(detail, translate(otherwise))), status


def _flatten_validation(messages: dict) -> dict:
    """webargs groups messages by location (json, query, ...); clients want fields."""
    flat: dict = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def handle_http_exception(error: HTTPException):
    status = error.code or 500
    code = HTTP_CODES.get(status, "http_error")
    title = HTTPStatus(status).phrase
    detail = error.description if status < 500 else "The server failed to handle the request."
    headers: dict[str, str] = {}
    errors = None
    data = getattr(error, "data", None) or {}
    if "messages" in data:
        errors = _flatten_validation(data["messages"])
        if status == 400:
            detail = "The request body is not valid JSON."
        else:
            detail = "The request has invalid fields; see errors."
    headers.update(data.get("headers") or {})
    if status == 405 and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    if status == 429:
        detail = f"Too many requests ({error.description}); see Retry-After."
    if _wants_html():
        page_title, otherwise = PAGE_WORDS.get(status, (title, ""))
        return _html(status, page_title, detail,
                     CSRF_WORDS if isinstance(error, CSRFError) else otherwise)
    return problem(status, code, title, detail, errors=errors, headers=headers)


def handle_domain_error(error: GatehouseError):
    if _wants_html():
        return _html(error.status, error.title, error.detail)
    return problem(
        error.status,
        error.code,
        error.title,
        error.detail,
        errors=error.errors,
        headers=error.headers,
        **error.extra,
    )


def handle_unexpected(error: Exception):
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        # The database dropped a pooled connection (restart, failover); the pool has been
        # refreshed, so the client's retry will find a new one. Nothing was committed.
        log.warning("database connection lost on %s %s", request.method, request.path)
        headers = {"Retry-After": "1"}
        if _wants_html():
            page, status = _html(503, *UNAVAILABLE)
            return page, status, headers
        return problem(503, "database_unavailable", "Service Unavailable",
                       "The database connection was lost; retry the request.", headers=headers)
    log.exception("unhandled error on %s %s", request.method, request.path)
    if _wants_html():
        return _html(500, *UNEXPECTED)
    return problem(500, "internal_error", "Internal Server Error",
                   "The server failed to handle the request.")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(GatehouseError, handle_domain_error)
    app.register_error_handler(Exception, handle_unexpected)

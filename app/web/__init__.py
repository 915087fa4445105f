"""Shared page layout, static CSS, security headers, the pages' language, and links into the
pages."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, request

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")


def absolute_url(endpoint: str, **values) -> str:
    """A link for mail and redirects, on the public issuer URL; works outside requests too."""
    adapter = current_app.url_map.bind("gatehouse", url_scheme="https")
    return current_app.config["ISSUER"] + adapter.build(endpoint, values)


@bp.after_app_request
def security_headers(response):
    if response.mimetype == "text/html":
        headers = response.headers
        headers.setdefault("Content-Security-Policy",
                           "default-src 'self'; frame-ancestors 'none'; form-action 'self' "
                           "http: https:; base-uri 'none'")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        # Links carry tokens in their path: never hand them on as a referrer.
        headers.setdefault("Referrer-Policy", "no-referrer")
        if request.path.startswith("/user/"):
            response.cache_control.no_store = True
    return response


def init_app(app: Flask) -> None:
    from app.web import i18n, pages  # imports the domains, which import this module

    i18n.init_app(app)
    app.register_blueprint(bp)
    app.register_blueprint(pages.bp)

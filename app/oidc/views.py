"""OAuth/OIDC endpoints: token, JWKS and discovery. They answer in OAuth's own formats."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from app.oidc.keys import keystore
from app.oidc.models import API_SCOPES
from app.oidc.server import TOKEN_AUTH_METHODS, authorization_server

bp = Blueprint("oidc", __name__)


@bp.post("/user/oauth20/token")
def token():
    return authorization_server().create_token_response()


@bp.get("/.well-known/jwks.json")
def jwks():
    response = jsonify(keystore().jwks())
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response


def discovery_document() -> dict:
    """What this server offers, as RFC 8414 / OIDC Discovery metadata."""
    issuer = current_app.config["ISSUER"]
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/user/oauth20/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
        "scopes_supported": list(API_SCOPES),
        "response_types_supported": [],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [current_app.config["SIGNING_ALG"]],
        "service_documentation": f"{issuer}/api/openapi.json",
    }


@bp.get("/.well-known/openid-configuration")
@bp.get("/user/.well-known/openid-configuration")
@bp.get("/.well-known/oauth-authorization-server")
def discovery():
    response = jsonify(discovery_document())
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response

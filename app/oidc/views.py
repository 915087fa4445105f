"""OAuth/OIDC endpoints: token, userinfo, introspection, revocation, JWKS and discovery.
They answer in OAuth's own formats."""

from __future__ import annotations

import uuid

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, current_app, jsonify, request

from app.db import db, utcnow
from app.oidc.bearer import validate_access_token
from app.oidc.claims import user_claims
from app.oidc.errors import InvalidToken
from app.oidc.grants import REFRESH_PURPOSE, revoke_grant
from app.oidc.keys import keystore
from app.oidc.models import API_SCOPES, USER_SCOPES, RefreshToken
from app.oidc.server import TOKEN_AUTH_METHODS, authorization_server
from app.security.hashing import keyed_hash
from app.users.models import User
from app.web.i18n import supported_languages

bp = Blueprint("oidc", __name__)


@bp.post("/user/oauth20/token")
def token():
    # Load (or create) the signing key before the request's own transaction begins: on SQLite
    # that transaction holds the write lock, which creating the first key would wait on.
    keystore().signing_key()
    return authorization_server().create_token_response()


def _bearer_error(description: str):
    response = jsonify(error="invalid_token", error_description=description)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = (
        f'Bearer error="invalid_token", error_description="{description}"')
    return response


@bp.route("/user/info", methods=["GET", "POST"])
@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo():
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        response = _bearer_error("access token required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="gatehouse"'
        return response
    try:
        principal = validate_access_token(token.strip())
    except InvalidToken as error:
        return _bearer_error(error.detail)
    if "openid" not in principal.scopes or not principal.is_user:
        response = jsonify(error="insufficient_scope", error_description="needs openid")
        response.status_code = 403
        response.headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope", scope="openid"'
        return response
    user = db.session.get(User, _uuid(principal.sub))
    if user is None or user.status != "active":
        return _bearer_error("the user cannot sign in any more")
    return jsonify(user_claims(user, " ".join(principal.scopes)))


def _uuid(value: str):
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _authenticated_client(endpoint: str):
    server = authorization_server()
    oauth_request = server.create_oauth2_request(request)
    return server.authenticate_client(oauth_request, [*TOKEN_AUTH_METHODS, "none"], endpoint)


def _refresh_token_row(token: str) -> RefreshToken | None:
    return db.session.get(RefreshToken, keyed_hash(REFRESH_PURPOSE, token))


@bp.post("/user/oauth20/introspect")
def introspect():
    """RFC 7662, for confidential clients (resource servers, the shop's back end)."""
    try:
        client = _authenticated_client("introspection")
    except OAuth2Error as error:
        return authorization_server().handle_response(*error())
    if client.public:
        return jsonify(error="unauthorized_client",
                       error_description="public clients cannot introspect"), 401
    token = request.form.get("token", "")
    inactive = jsonify(active=False)
    if request.form.get("token_type_hint") != "refresh_token" and token.count(".") == 2:
        try:
            principal = validate_access_token(token)
        except InvalidToken:
            return inactive
        claims = principal.claims
        return jsonify(active=True, token_type="Bearer", scope=claims.get("scope", ""),
                       client_id=claims["client_id"], sub=claims["sub"], exp=claims["exp"],
                       iat=claims.get("iat"), iss=claims["iss"], aud=claims["aud"],
                       jti=claims.get("jti"))
    row = _refresh_token_row(token)
    if (row is None or row.grant.client_id != client.client_id or row.rotated_at is not None
            or row.grant.revoked_at is not None or row.expires_at <= utcnow()):
        return inactive
    return jsonify(active=True, token_type="refresh_token", scope=row.grant.scope,
                   client_id=row.grant.client_id, sub=str(row.grant.user_id),
                   exp=int(row.expires_at.timestamp()), iat=int(row.issued_at.timestamp()))


@bp.post("/user/oauth20/revoke")
def revoke():
    """RFC 7009: a refresh token, or a user access token, revokes its whole grant."""
    try:
        client = _authenticated_client("revocation")
    except OAuth2Error as error:
        return authorization_server().handle_response(*error())
    token = request.form.get("token")
    if not token:
        return jsonify(error="invalid_request", error_description="token is required"), 400
    row = _refresh_token_row(token)
    if row is not None and row.grant.client_id == client.client_id:
        revoke_grant(row.grant_id, "revoked by client")
    elif token.count(".") == 2:
        try:
            principal = validate_access_token(token)
        except InvalidToken:
            principal = None
        if principal and principal.client_id == client.client_id and "gid" in principal.claims:
            revoke_grant(_uuid(principal.claims["gid"]), "revoked by client")
    # Unknown, foreign or already revoked tokens get the same answer (RFC 7009 2.2).
    return "", 200


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
        "authorization_endpoint": f"{issuer}/user/oauth20/authz",
        "token_endpoint": f"{issuer}/user/oauth20/token",
        "userinfo_endpoint": f"{issuer}/user/info",
        "introspection_endpoint": f"{issuer}/user/oauth20/introspect",
        "revocation_endpoint": f"{issuer}/user/oauth20/revoke",
        "end_session_endpoint": f"{issuer}/user/oauth20/signout",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "scopes_supported": [*USER_SCOPES, *API_SCOPES],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [*TOKEN_AUTH_METHODS, "none"],
        "introspection_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": [*TOKEN_AUTH_METHODS, "none"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "prompt_values_supported": ["none", "login", "consent", "create"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "amr",
            "azp", "name", "given_name", "family_name", "preferred_username", "locale",
            "updated_at", "email", "email_verified", "phone_number", "phone_number_verified",
        ],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "ui_locales_supported": supported_languages(),  # English and every catalog
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

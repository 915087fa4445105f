"""The Authlib authorization server: grants, client lookup and JWT access tokens (RFC 9068)."""

from __future__ import annotations

import secrets
import time

import sqlalchemy as sa
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from flask import Flask, current_app, g

from app.cache import TTLCache, process_cache
from app.db import db
from app.oidc.grants import (
    TOKEN_AUTH_METHODS, AuthorizationCodeGrant, OpenIDCode, PKCE, RefreshTokenGrant,
    new_refresh_token,
)
from app.oidc.keys import sign_jwt
from app.oidc.models import Client


class JWTAccessTokenGenerator(BearerTokenGenerator):
    """Access tokens as JWTs (RFC 9068, `typ: at+jwt`) signed with the current key."""

    def __init__(self) -> None:
        super().__init__(self.access_token, refresh_token_generator=new_refresh_token,
                         expires_generator=self.expires_in)

    @staticmethod
    def expires_in(client: Client, grant_type: str) -> int:
        return current_app.config["ACCESS_TOKEN_TTL"]

    def access_token(self, client: Client, grant_type: str, user, scope: str) -> str:
        config = current_app.config
        now = int(time.time())
        claims = {
            "iss": config["ISSUER"],
            "sub": str(user.get_user_id()) if user else client.client_id,
            "aud": config["API_AUDIENCE"],
            "client_id": client.client_id,
            "iat": now,
            "exp": now + self.expires_in(client, grant_type),
            "jti": secrets.token_urlsafe(16),
            "scope": scope or "",
        }
        if user is not None:
            # The grant the token belongs to: revoking it (logout of the family, replay,
            # reuse) makes the token fail where it is checked (userinfo, introspection, me).
            claims["gid"] = str(g.oauth_grant.id)
        return sign_jwt(claims, typ="at+jwt")


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """client_credentials, limited to the client's allowed scopes.

    No scope asked for means every scope the client is allowed; a scope beyond those is refused
    (invalid_scope) rather than silently dropped, so an integration learns of it at once.
    """

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def validate_token_request(self) -> None:
        super().validate_token_request()
        client: Client = self.request.client
        requested = (self.request.payload.scope or "").split()
        refused = [scope for scope in requested if scope not in client.scopes]
        if refused:
            raise InvalidScopeError(f"scope not allowed for this client: {' '.join(refused)}")
        self.granted_scope = " ".join(requested or client.scopes)

    def create_token_response(self):
        token = self.generate_token(scope=self.granted_scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


CLIENT_CACHE_SECONDS = 30.0


def client_cache() -> TTLCache:
    """Registered clients by client_id (app.cache): the token endpoint looks one up on every
    request, and clients change rarely."""
    return process_cache("clients", CLIENT_CACHE_SECONDS)


def _load_client(client_id: str) -> Client | None:
    client = db.session.scalar(sa.select(Client).where(Client.client_id == client_id))
    if client is not None:
        db.session.expunge(client)
    return client


def query_client(client_id: str) -> Client | None:
    return client_cache().get(client_id, lambda: _load_client(client_id))


def save_token(token: dict, request) -> None:
    """JWT access tokens are self-contained; refresh tokens are stored by their grants."""


def init_app(app: Flask) -> None:
    from app.oidc.bearer import TokenCache

    app.extensions["gatehouse.tokens"] = TokenCache()
    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_token_generator("default", JWTAccessTokenGenerator())
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(AuthorizationCodeGrant, [PKCE(required=True), OpenIDCode()])
    server.register_grant(RefreshTokenGrant)
    app.extensions["gatehouse.authorization"] = server


def authorization_server() -> AuthorizationServer:
    return current_app.extensions["gatehouse.authorization"]

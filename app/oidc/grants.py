"""Authorization code (with PKCE and OpenID Connect) and refresh token grants, with persistence.

Codes and refresh tokens are stored as keyed hashes and spent with a conditional UPDATE, so two
requests racing with the same one cannot both win. Presenting a spent code or a rotated refresh
token again means it leaked: the grant it belongs to is revoked, and that revocation is kept
although the request itself answers with an error.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode as _OpenIDCode
from authlib.oidc.core.util import create_half_hash
from flask import current_app, g

from app.db import db, utcnow
from app.oidc.claims import user_claims
from app.oidc.keys import keystore, sign_jwt
from app.oidc.models import AuthorizationCode, Grant, RefreshToken
from app.security.hashing import keyed_hash
from app.users.models import User

CODE_TTL = timedelta(seconds=60)
REFRESH_TOKEN_TTL = timedelta(days=30)
TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
CODE_PURPOSE = "authorization-code"
REFRESH_PURPOSE = "refresh-token"


def revoke_grant(grant_id: uuid.UUID | None, reason: str) -> None:
    """Revoke a grant; it holds even when the request answers with an error."""
    if grant_id is None:
        return
    db.session.execute(sa.update(Grant).where(Grant.id == grant_id, Grant.revoked_at.is_(None))
                       .values(revoked_at=utcnow(), revoked_reason=reason))
    db.keep_on_error()


def _active(user: User | None) -> User | None:
    """The user, if they may still sign in."""
    return user if user is not None and user.status == "active" else None


def _start_grant(request, user: User, scope: str, auth_time: datetime,
                 session_id: str | None) -> Grant:
    grant = Grant(client_id=request.client.client_id, user_id=user.id, scope=scope,
                  auth_time=auth_time, session_id=session_id)
    db.session.add(grant)
    db.session.flush()
    # The access-token generator reads it to put `gid` into user tokens.
    g.oauth_grant = grant
    return grant


# The refresh grant's statements, built once: constructing them costs more than running them.
_REFRESH_TOKENS = RefreshToken.__table__
_STORE_REFRESH_TOKEN = _REFRESH_TOKENS.insert()
_ROTATE = (_REFRESH_TOKENS.update()
           .where(_REFRESH_TOKENS.c.token_hash == sa.bindparam("hash"),
                  _REFRESH_TOKENS.c.rotated_at.is_(None))
           .values(rotated_at=sa.bindparam("now", type_=_REFRESH_TOKENS.c.rotated_at.type))
           .returning(_REFRESH_TOKENS.c.grant_id, _REFRESH_TOKENS.c.expires_at))
_GRANT_OF = (sa.select(_REFRESH_TOKENS.c.grant_id)
             .where(_REFRESH_TOKENS.c.token_hash == sa.bindparam("hash")))
_GRANT_AND_USER = (sa.select(Grant, User).join(User, User.id == Grant.user_id)
                   .where(Grant.id == sa.bindparam("grant_id")))
# PostgreSQL: both in one statement (the rotation in a WITH); no row: nothing was rotated.
_ROTATED = _ROTATE.cte("rotated")
_ROTATE_WITH_GRANT_AND_USER = (
    sa.select(_ROTATED.c.grant_id, _ROTATED.c.expires_at, Grant, User)
    .select_from(_ROTATED)
    .outerjoin(Grant, Grant.id == _ROTATED.c.grant_id)
    .outerjoin(User, User.id == Grant.user_id))


# The code grant's: spending a code (single use, by its client), and the nonce-reuse check.
_CODES = AuthorizationCode.__table__
_SPEND_CODE = (_CODES.update()
               .where(_CODES.c.code_hash == sa.bindparam("hash"),
                      _CODES.c.client_id == sa.bindparam("client"), _CODES.c.used_at.is_(None))
               .values(used_at=sa.bindparam("now", type_=_CODES.c.used_at.type)))
_NONCE_USED = (sa.select(sa.literal_column("1")).select_from(_CODES)
               .where(_CODES.c.client_id == sa.bindparam("client"),
                      _CODES.c.nonce == sa.bindparam("nonce")).limit(1))


def store_refresh_token(token: dict, grant: Grant) -> None:
    if "refresh_token" in token:
        now = utcnow()
        db.session.execute(_STORE_REFRESH_TOKEN, {
            "token_hash": keyed_hash(REFRESH_PURPOSE, token["refresh_token"]),
            "grant_id": grant.id, "issued_at": now, "expires_at": now + REFRESH_TOKEN_TTL,
            "rotated_at": None})


@dataclass
class PresentedRefreshToken:
    """A refresh token that was just rotated, with its grant and user: what Authlib's
    refresh-token grant asks of a token."""

    grant: Grant
    user: User

    def check_client(self, client) -> bool:
        return self.grant.client_id == client.client_id

    def get_scope(self) -> str:
        return self.grant.scope


def _wants_refresh_token(client, scope: str) -> bool:
    return client.check_grant_type("refresh_token") and "offline_access" in scope.split()


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*TOKEN_AUTH_METHODS, "none"]

    def save_authorization_code(self, code: str, request) -> None:
        login = g.login  # set by the authorization page: who, in which session, since when
        payload = request.payload
        db.session.add(AuthorizationCode(
            code_hash=keyed_hash(CODE_PURPOSE, code),
            client_id=request.client.client_id,
            user_id=request.user.id,
            session_id=login.session_id,
            redirect_uri=payload.redirect_uri or request.client.get_default_redirect_uri(),
            scope=request.scope,
            nonce=payload.data.get("nonce"),
            auth_time=login.auth_time,
            code_challenge=payload.data.get("code_challenge"),
            code_challenge_method=payload.data.get("code_challenge_method"),
            expires_at=utcnow() + CODE_TTL,
        ))

    def query_authorization_code(self, code: str, client) -> AuthorizationCode | None:
        code_hash = keyed_hash(CODE_PURPOSE, code)
        spent = db.session.execute(_SPEND_CODE, {"hash": code_hash, "client": client.client_id,
                                                 "now": utcnow()}).rowcount
        row = db.session.get(AuthorizationCode, code_hash)
        if row is None or row.client_id != client.client_id:
            return None
        if not spent:  # presented before: refuse, and revoke what the first exchange issued
            revoke_grant(row.grant_id, "authorization code replayed")
            return None
        if row.expires_at <= utcnow():
            return None
        return row

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Spent already (query_authorization_code); the row stays to recognise a replay."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> User | None:
        return _active(db.session.get(User, authorization_code.user_id))

    @hooked
    def create_token_response(self):
        request = self.request
        code: AuthorizationCode = request.authorization_code
        user = self.authenticate_user(code)
        if user is None:
            raise InvalidGrantError("The user cannot sign in any more.")
        request.user = user
        grant = _start_grant(request, user, code.scope, code.auth_time, code.session_id)
        code.grant_id = grant.id
        token = self.generate_token(user=user, scope=code.scope,
                                    include_refresh_token=_wants_refresh_token(request.client,
                                                                               code.scope))
        store_refresh_token(token, grant)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*TOKEN_AUTH_METHODS, "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> PresentedRefreshToken | None:
        token_hash = keyed_hash(REFRESH_PURPOSE, refresh_token)
        now = utcnow()
        parameters = {"hash": token_hash, "now": now}
        # The rotation, the grant and its user: this runs on every refresh, so in one round
        # trip on PostgreSQL, two on SQLite (no UPDATE in a WITH there).
        if db.dialect == "postgresql":
            rotated = found = db.session.execute(_ROTATE_WITH_GRANT_AND_USER, parameters).first()
        else:
            rotated = db.session.execute(_ROTATE, parameters).first()
            found = rotated and db.session.execute(
                _GRANT_AND_USER, {"grant_id": rotated.grant_id}).first()
        if rotated is None:
            grant_id = db.session.scalar(_GRANT_OF, {"hash": token_hash})
            # A rotated token came back: the family is compromised. (None: never issued.)
            revoke_grant(grant_id, "refresh token reused")
            return None
        if rotated.expires_at <= now or found is None or found.Grant is None:
            return None
        if found.Grant.revoked_at is not None:
            return None
        return PresentedRefreshToken(grant=found.Grant, user=found.User)

    def authenticate_user(self, refresh_token: PresentedRefreshToken) -> User | None:
        return _active(refresh_token.user)

    @hooked
    def create_token_response(self):
        request = self.request
        presented: PresentedRefreshToken = request.refresh_token
        user = self.authenticate_user(presented)
        if user is None:
            raise InvalidGrantError("The user cannot sign in any more.")
        request.user = user
        grant = presented.grant
        g.oauth_grant = grant
        scope = request.payload.scope or grant.scope
        token = self.generate_token(user=user, scope=scope, include_refresh_token=True)
        store_refresh_token(token, grant)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class PKCE(CodeChallenge):
    """S256 only; and a public client must use it (checked at the authorization request, so
    the user is not sent through a login for a request that can never succeed)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if grant.request.client.public and not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256)",
                                      redirect_uri=redirect_uri)
        if data.get("code_challenge") and data.get("code_challenge_method", "plain") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256",
                                      redirect_uri=redirect_uri)
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: AuthorizationCode):
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: AuthorizationCode):
        return authorization_code.code_challenge_method


class OpenIDCode(_OpenIDCode):
    """ID tokens for the code flow, signed with the current key."""

    def __init__(self) -> None:
        super().__init__(require_nonce=False)

    def exists_nonce(self, nonce: str, request) -> bool:
        return db.session.scalar(_NONCE_USED, {"client": request.payload.client_id,
                                                "nonce": nonce}) is not None

    def encode_id_token(self, token: dict, request) -> str:
        config = current_app.config
        code: AuthorizationCode = request.authorization_code
        now = int(time.time())
        claims = {
            "iss": config["ISSUER"],
            "sub": str(request.user.id),
            "aud": request.client.client_id,
            "iat": now,
            "exp": now + config["ID_TOKEN_TTL"],
            "auth_time": code.get_auth_time(),
            "amr": code.get_amr(),
            "azp": request.client.client_id,
        }
        if code.nonce:
            claims["nonce"] = code.nonce
        if code.session_id:
            claims["sid"] = code.session_id
        alg = keystore().signing_key().alg
        claims["at_hash"] = create_half_hash(token["access_token"], alg).decode()
        claims.update(user_claims(request.user, token["scope"]))
        return sign_jwt(claims)


def new_refresh_token(*_args, **_kwargs) -> str:
    return secrets.token_urlsafe(32)

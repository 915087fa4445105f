"""Bearer protection for the REST APIs: validate the JWT access token, then check scopes.

    @blp.route("/users")
    class Users(MethodView):
        @require_scopes("idp:users:read")     # outermost: 401/403 before any body is read
        @blp.response(200, UserSchema)
        def get(self): ...

Several scopes mean any one of them is enough; `admin` is enough everywhere.
"""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

import sqlalchemy as sa
from flask import current_app, g, request
from flask_smorest import Blueprint as _SmorestBlueprint
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry
from joserfc.util import urlsafe_b64decode

from app.db import db
from app.oidc.errors import InsufficientScope, InvalidToken, MissingToken
from app.oidc.keys import keystore
from app.oidc.models import Grant

ADMIN_SCOPE = "admin"
ACCEPTED_ALGS = ["RS256", "ES256"]
REALM = "gatehouse"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a client on its own behalf, or a user through a client."""

    sub: str
    client_id: str
    scopes: frozenset[str]
    claims: dict = field(repr=False)

    @property
    def is_user(self) -> bool:
        return self.sub != self.client_id

    def has_any(self, scopes: tuple[str, ...]) -> bool:
        return ADMIN_SCOPE in self.scopes or any(s in self.scopes for s in scopes)


def _kid(token: str) -> str | None:
    try:
        header = json.loads(urlsafe_b64decode(token.split(".", 1)[0].encode()))
    except (ValueError, UnicodeDecodeError):
        return None
    return header.get("kid") if isinstance(header, dict) else None


class TokenCache:
    """Tokens that validated lately, per process: checking an RS256 signature costs more than
    the rest of a simple API call. An entry lives at most CACHE_SECONDS and never past its
    token's expiry; grant revocation (user tokens) is still checked on every call."""

    CACHE_SECONDS = 30.0
    SIZE = 4096

    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry[0] <= time.time():
            with self._lock:
                self._entries.pop(token, None)
            return None
        return entry[1]

    def put(self, token: str, principal: Principal) -> None:
        until = min(time.time() + self.CACHE_SECONDS, float(principal.claims["exp"]))
        with self._lock:
            self._entries[token] = (until, principal)
            while len(self._entries) > self.SIZE:
                self._entries.popitem(last=False)


def validate_access_token(token: str) -> Principal:
    """Signature (against the published keys), `typ`, `iss`, `aud`, `exp`, and for user tokens
    a grant that is not revoked; or InvalidToken."""
    cache: TokenCache = current_app.extensions["gatehouse.tokens"]
    principal = cache.get(token)
    if principal is None:
        principal = _validate(token)
        cache.put(token, principal)
    if "gid" in principal.claims and not _grant_alive(principal.claims["gid"]):
        raise InvalidToken("the access token has been revoked")
    return principal


def _validate(token: str) -> Principal:
    config = current_app.config
    keys = keystore().verification_keys(_kid(token))
    try:
        decoded = jwt.decode(token, keys, algorithms=ACCEPTED_ALGS)
        if decoded.header.get("typ", "").lower() not in ("at+jwt", "application/at+jwt"):
            raise InvalidToken("the token is not an access token")
        JWTClaimsRegistry(
            leeway=30,
            iss={"essential": True, "value": config["ISSUER"]},
            aud={"essential": True, "value": config["API_AUDIENCE"]},
            exp={"essential": True},
            sub={"essential": True},
            client_id={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        raise InvalidToken(f"the access token is not valid ({exc.__class__.__name__})") from None
    claims = decoded.claims
    return Principal(
        sub=str(claims["sub"]),
        client_id=str(claims["client_id"]),
        scopes=frozenset(str(claims.get("scope", "")).split()),
        claims=claims,
    )


def _grant_alive(grant_id: object) -> bool:
    """User tokens belong to a grant; logging out the family or detecting theft revokes it."""
    try:
        gid = uuid.UUID(str(grant_id))
    except ValueError:
        return False
    row = db.session.execute(sa.select(Grant.revoked_at).where(Grant.id == gid)).first()
    return row is not None and row.revoked_at is None


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingToken("send an access token: Authorization: Bearer <token>")
    return token.strip()


def _challenge(error: Exception, scopes: tuple[str, ...]) -> str:
    if isinstance(error, MissingToken):
        return f'Bearer realm="{REALM}"'
    if isinstance(error, InsufficientScope):
        return f'Bearer realm="{REALM}", error="insufficient_scope", scope="{" ".join(scopes)}"'
    return f'Bearer realm="{REALM}", error="invalid_token"'


def current_principal() -> Principal:
    principal = g.get("principal")
    if principal is None:
        raise RuntimeError("no principal: the view is not protected by require_scopes")
    return principal


def require_scopes(*scopes: str, or_user: bool = False) -> Callable:
    """Protect a view: a valid access token holding one of `scopes` (or `admin`).

    `or_user=True` also lets any user's token through: the view must then decide what that
    user may do (a supervisor and their own organization, say)."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                principal = validate_access_token(_bearer_token())
                if scopes and not principal.has_any(scopes) and not (or_user and principal.is_user):
                    raise InsufficientScope(f"this call needs the scope {' or '.join(scopes)}")
            except (MissingToken, InvalidToken, InsufficientScope) as error:
                error.headers["WWW-Authenticate"] = _challenge(error, scopes)
                raise
            g.principal = principal
            return view(*args, **kwargs)

        return _SmorestBlueprint.doc(security=[{"bearerAuth": list(scopes)}])(wrapper)

    return decorator

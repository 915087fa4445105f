"""Token-signing keys: stored in the database, created on first use, rotated by `keys rotate`.

Every instance reads the keys from the database and keeps them for a short while, so several
instances agree on the key set without talking to each other. After a rotation, instances pick up
the new key within `REFRESH_SECONDS`; until then they sign with the previous key, which is still
published, so nothing they issue fails to verify.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import timedelta

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask, current_app
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy.orm import Session

from app.db import db, utcnow
from app.oidc.models import SigningKey
from app.security.hashing import derive_key

REFRESH_SECONDS = 30.0


def _pem_password(app: Flask) -> bytes:
    return derive_key(app.config["SECRET_KEY"], "signing-key-encryption").hex().encode()


def _generate_pem(alg: str, password: bytes) -> str:
    if alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    ).decode()


def _import(row: SigningKey, password: bytes) -> RSAKey | ECKey:
    private = serialization.load_pem_private_key(row.private_pem.encode(), password)
    params = {"kid": row.kid, "alg": row.alg, "use": "sig"}
    key_type = ECKey if row.alg == "ES256" else RSAKey
    return key_type.import_key(private, parameters=params)


class KeyStore:
    """The app's view of the signing keys: the one that signs, and the set that verifies."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._imported: dict[str, RSAKey | ECKey] = {}
        self._signing: RSAKey | ECKey | None = None
        self._published: KeySet = KeySet([])
        self._loaded_at = float("-inf")

    @property
    def publish_window(self) -> timedelta:
        """How long a retired key stays published: until the last token it signed expires."""
        config = self.app.config
        return timedelta(
            seconds=max(config["ACCESS_TOKEN_TTL"], config["ID_TOKEN_TTL"]) + 2 * REFRESH_SECONDS
        )

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = float("-inf")

    def _load(self) -> None:
        password = _pem_password(self.app)
        with db.transaction(write=False) as session:
            rows = self._published_rows(session)
        if not any(row.retired_at is None for row in rows):
            with db.transaction() as session:
                rows.append(self._create(session))
        keys = []
        for row in rows:
            if row.kid not in self._imported:
                self._imported[row.kid] = _import(row, password)
            keys.append(self._imported[row.kid])
        active = [row for row in rows if row.retired_at is None]
        newest = max(active, key=lambda row: (row.created_at, row.kid))
        self._signing = self._imported[newest.kid]
        self._published = KeySet(keys)
        self._loaded_at = time.monotonic()

    def _published_rows(self, session: Session) -> list[SigningKey]:
        cutoff = utcnow() - self.publish_window
        query = sa.select(SigningKey).where(
            sa.or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > cutoff)
        )
        return list(session.scalars(query.order_by(SigningKey.created_at)))

    def _create(self, session: Session) -> SigningKey:
        alg = self.app.config["SIGNING_ALG"]
        row = SigningKey(
            kid=secrets.token_urlsafe(12), alg=alg, private_pem=_generate_pem(alg, _pem_password(self.app))
        )
        session.add(row)
        session.flush()
        return row

    def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at > REFRESH_SECONDS:
            with self._lock:
                if time.monotonic() - self._loaded_at > REFRESH_SECONDS:
                    self._load()

    def signing_key(self) -> RSAKey | ECKey:
        self._fresh()
        assert self._signing is not None
        return self._signing

    def verification_keys(self, kid: str | None = None) -> KeySet:
        """The published keys; a kid we do not know yet makes us look again (a rotation on
        another instance), at most once per second."""
        self._fresh()
        if kid and kid not in self._imported and time.monotonic() - self._loaded_at > 1.0:
            with self._lock:
                self._load()
        return self._published

    def jwks(self) -> dict:
        return self.verification_keys().as_dict(private=False)

    def rotate(self, session: Session) -> SigningKey:
        """Retire the signing key(s) and add a new one (in the caller's transaction)."""
        now = utcnow()
        session.execute(
            sa.update(SigningKey).where(SigningKey.retired_at.is_(None)).values(retired_at=now)
        )
        row = self._create(session)
        self.invalidate()
        return row


def keystore() -> KeyStore:
    return current_app.extensions["gatehouse.keys"]


def sign_jwt(claims: dict, typ: str = "JWT") -> str:
    """Sign with the current key; the header names it (kid) so verifiers pick the right one."""
    key = keystore().signing_key()
    return jwt.encode({"alg": key.alg, "typ": typ, "kid": key.kid}, claims, key)

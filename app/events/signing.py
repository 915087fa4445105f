"""Webhook secrets: generated, encrypted at rest, and used to sign deliveries Stripe-style
(`Gatehouse-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

from app.security.hashing import derive_key

SECRET_PREFIX = "whsec_"
SEALED_PREFIX = "v1."
SIGNATURE_VERSION = "v1"


class SecretUnavailable(Exception):
    """The stored secret cannot be decrypted: the service's secret key is not the one it was
    encrypted under (GATEHOUSE_SECRET_KEY changed). Rotating the webhook's secret cures it."""


def new_secret() -> str:
    """256 random bits; the prefix tells a reader (and a secret scanner) what it is."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _cipher() -> AESGCM:
    return AESGCM(derive_key(current_app.config["SECRET_KEY"], "webhook-secret-encryption"))


def seal(secret: str, subscription_id: uuid.UUID) -> str:
    """AES-256-GCM under a key derived from the service's secret key. The subscription id is
    authenticated data, so a sealed secret copied onto another subscription does not open."""
    nonce = os.urandom(12)
    sealed = _cipher().encrypt(nonce, secret.encode(), subscription_id.bytes)
    return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(sealed: str, subscription_id: uuid.UUID) -> str:
    try:
        if not sealed.startswith(SEALED_PREFIX):
            raise ValueError("unknown format")
        raw = base64.urlsafe_b64decode(sealed[len(SEALED_PREFIX):])
        return _cipher().decrypt(raw[:12], raw[12:], subscription_id.bytes).decode()
    except (InvalidTag, ValueError) as exc:
        raise SecretUnavailable("the webhook's signing secret cannot be decrypted with the "
                                "current secret key; rotate the webhook's secret") from exc


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>`, keyed with the secret as UTF-8."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},{SIGNATURE_VERSION}={signature(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """What a receiver does: the timestamp is recent and one `v1` signature matches.

    Gatehouse does not need this itself; it documents the check (README) and the tests use it.
    """
    parts = [item.partition("=") for item in header.split(",")]
    timestamps = [value for key, _, value in parts if key == "t"]
    candidates = [value for key, _, value in parts if key == SIGNATURE_VERSION]
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not candidates:
        return False
    timestamp = int(timestamps[0])
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)

"""Signed link tokens for mailed links: one salt and one lifetime per purpose, single-use.

A token carries a fingerprint of the state it may change (e.g. the user's password hash); once
that state changes, the fingerprint no longer matches and the link is spent. Nothing is stored.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app.errors import Gone, Unprocessable
from app.messages import N_
from app.security.hashing import keyed_hash

# purpose -> the setting holding its lifetime in seconds
PURPOSES = {
    "activation": "ACTIVATION_LINK_TTL",
    "password_reset": "RESET_LINK_TTL",
    "email_verification": "ACTIVATION_LINK_TTL",
    "invitation": "INVITATION_TTL",
}


class LinkInvalid(Unprocessable):
    code = "link.invalid"
    title = N_("This link is not valid")


class LinkExpired(Gone):
    code = "link.expired"
    title = N_("This link has expired")

    def __init__(self, payload: Any) -> None:
        super().__init__()
        self.payload = payload


class LinkUsed(Gone):
    code = "link.used"
    title = N_("This link has already been used")


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown link purpose {purpose!r}")
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"gatehouse.{purpose}")


def fingerprint(*state: object) -> str:
    """A short keyed digest of the state a link may change once."""
    return keyed_hash("link-fingerprint", "|".join("" if s is None else str(s) for s in state))[:16]


def dump(purpose: str, payload: dict) -> str:
    return _serializer(purpose).dumps(payload)


def load(purpose: str, token: str, max_age: int | None = None) -> dict:
    """The payload of a valid, unexpired token; LinkExpired carries the payload of an expired
    one (so the page can offer a fresh link), LinkInvalid means forged, mangled or another kind.
    `max_age` replaces the purpose's lifetime where a record knows its own (invitations)."""
    max_age = max_age or current_app.config[PURPOSES[purpose]]
    serializer = _serializer(purpose)
    try:
        payload = serializer.loads(token, max_age=max_age)
    except SignatureExpired as exc:
        # The signature was good, only old: its payload can be trusted to name whom to re-send to.
        raise LinkExpired(serializer.load_payload(exc.payload)) from None
    except BadSignature:
        raise LinkInvalid() from None
    if not isinstance(payload, dict):
        raise LinkInvalid()
    return payload

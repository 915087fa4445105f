"""`Idempotency-Key` for calls a shop may retry: a retry gets the first response back.

The key is claimed (inserted) before the work runs, in the request's own transaction, so a
concurrent retry waits on the unique index until the first request commits, then replays its
response. A failed request rolls back its claim, so a retry after an error runs again. The same
key with a different request is a 422.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from datetime import datetime

import sqlalchemy as sa
from flask import current_app, request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, db, utcnow
from app.errors import Conflict, Unprocessable
from app.oidc.bearer import current_principal
from app.security.hashing import keyed_hash

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


class IdempotencyKeyReused(Unprocessable):
    code = "idempotency_key.reused"
    title = "Idempotency key already used for another request"


class IdempotencyKeyInvalid(Unprocessable):
    code = "idempotency_key.invalid"
    title = "Invalid idempotency key"


class IdempotencyKeyInProgress(Conflict):
    code = "idempotency_key.in_progress"
    title = "A request with this idempotency key is still being processed"


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("client_id", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # The caller (see _caller): a client id, or a digest of client and user.
    client_id: Mapped[str] = mapped_column(sa.String(64))
    key: Mapped[str] = mapped_column(sa.String(MAX_KEY_LENGTH))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int | None]
    response_body: Mapped[dict | list | None] = mapped_column(sa.JSON)
    location: Mapped[str | None] = mapped_column(sa.String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


def _request_hash() -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.query_string, request.get_data()):
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _replay(record: IdempotencyRecord):
    response = current_app.json.response(record.response_body)
    response.status_code = record.status_code
    if record.location:
        response.headers["Location"] = record.location
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _claim(client_id: str, key: str, request_hash: str) -> IdempotencyRecord | _Replay:
    """Insert our claim, or return the earlier request's finished record (replay)."""
    session = db.session
    record = IdempotencyRecord(client_id=client_id, key=key, request_hash=request_hash)
    try:
        with session.begin_nested():
            session.add(record)
            # flush now: a concurrent holder of the key makes this wait, then fail, here.
            session.flush()
        return record
    except IntegrityError:
        pass
    earlier = session.scalar(sa.select(IdempotencyRecord).where(
        IdempotencyRecord.client_id == client_id, IdempotencyRecord.key == key))
    if earlier is None or earlier.status_code is None:
        raise IdempotencyKeyInProgress("retry in a moment")
    if earlier.request_hash != request_hash:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was sent before with a different request; use a new key")
    return _Replay(earlier)


class _Replay:
    def __init__(self, record: IdempotencyRecord) -> None:
        self.record = record


def _caller() -> str:
    """Whose keys these are: the client, or for a user's token that user through that client
    (so two users of one public application never see each other's replies). The column holds
    64 characters: a user's scope is stored as a keyed digest."""
    principal = current_principal()
    if not principal.is_user:
        return principal.client_id
    return keyed_hash("idempotency-caller", f"{principal.client_id}\n{principal.sub}")


def idempotent(view):
    """Honour `Idempotency-Key` on a view; place it right under `require_scopes`."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            raise IdempotencyKeyInvalid(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters")
        claim = _claim(_caller(), key, _request_hash())
        if isinstance(claim, _Replay):
            return _replay(claim.record)
        response = view(*args, **kwargs)
        if response.status_code < 400:
            claim.status_code = response.status_code
            claim.response_body = response.get_json(silent=True)
            claim.location = response.headers.get("Location")
        return response

    # app.api.Blueprint adds the header to the operation's documented parameters.
    wrapper._apidoc = {**getattr(wrapper, "_apidoc", {}), "idempotency_key": True}
    return wrapper


HEADER_PARAMETER = {
    "in": "header", "name": HEADER, "required": False,
    "schema": {"type": "string", "maxLength": MAX_KEY_LENGTH},
    "description": "A retry with the same key returns the first response; the same key with a "
                   "different request is a 422 idempotency_key.reused.",
}

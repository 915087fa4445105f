"""OAuth clients and token-signing keys."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, TimestampMixin, utcnow
from app.security.hashing import keyed_hash_matches

API_SCOPES = (
    "idp:users:read",
    "idp:users:write",
    "idp:invitations",
    "idp:organizations",
    "idp:registrations",
    "entitlement:read",
    "entitlement:provision",
    "activation-codes:manage",
    "activation-codes:allocate",
    "activation-codes:redeem",
    "events:read",
    "webhooks:manage",
    "admin",
)
USER_SCOPES = ("openid", "profile", "email", "address", "phone", "offline_access", "organization")
GRANT_TYPES = ("client_credentials", "authorization_code", "refresh_token")


class Client(Base, TimestampMixin):
    """A registered OAuth client: a shop back end, an ERP integration or an application."""

    __tablename__ = "clients"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    client_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # HMAC-SHA256 of the secret (app.oidc.services.hash_client_secret); None for public clients.
    secret_hash: Mapped[str | None] = mapped_column(sa.String(128))
    name: Mapped[str] = mapped_column(sa.String(200))
    grant_types: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    scopes: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # "Login callback URLs" in 10Duke's words.
    redirect_uris: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    public: Mapped[bool] = mapped_column(default=False)
    first_party: Mapped[bool] = mapped_column(default=False)

    # --- what Authlib's ClientMixin asks of a client ---------------------------------------

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        requested = (scope or "").split()
        return " ".join(s for s in requested if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self.secret_hash is not None and keyed_hash_matches(
            "client-secret", client_secret, self.secret_hash
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "client_credentials" and self.public:
            return False
        return grant_type in self.grant_types


class SigningKey(Base):
    """A private key that signs tokens. The newest unretired key signs; retired keys stay in the
    JWKS until every token they signed has expired."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(sa.String(16))
    # PKCS#8 PEM, encrypted with a key derived from the secret key.
    private_pem: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]

"""OAuth clients and token-signing keys."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
    # The B2B registration template its registration page runs (None: the default one), and
    # whether an authorization request may pick another with `registrationTemplate=`.
    registration_template: Mapped[str | None] = mapped_column(sa.String(64))
    allow_template_choice: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

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


class UserSession(Base):
    """A browser's login at Gatehouse (the OP session). The cookie carries only its id."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                               index=True)
    auth_time: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


class AuthorizationCode(Base):
    """A code handed to a client's redirect URI; single-use, short-lived, stored hashed."""

    __tablename__ = "authorization_codes"
    __table_args__ = (
        # Every authorization request with a nonce asks whether the client used it before.
        sa.Index("ix_authorization_codes_client_id_nonce", "client_id", "nonce",
                 sqlite_where=sa.text("nonce IS NOT NULL"),
                 postgresql_where=sa.text("nonce IS NOT NULL")),
    )

    code_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(64))
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                               index=True)
    session_id: Mapped[str | None] = mapped_column(sa.String(64))
    redirect_uri: Mapped[str] = mapped_column(sa.String(2000))
    scope: Mapped[str] = mapped_column(sa.Text)
    nonce: Mapped[str | None] = mapped_column(sa.String(512))
    auth_time: Mapped[datetime]
    code_challenge: Mapped[str | None] = mapped_column(sa.String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(sa.String(10))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    # The grant its exchange created: revoked if the code is ever presented again.
    grant_id: Mapped[uuid.UUID | None]

    # --- Authlib's AuthorizationCodeMixin ---------------------------------------------------

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.auth_time.timestamp())

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str]:
        return ["pwd"]


class Grant(Base):
    """What one code exchange started: its refresh tokens (a rotating family) and the user
    access tokens they carry (`gid` claim). Revoking the grant revokes all of them."""

    __tablename__ = "grants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    client_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                               index=True)
    scope: Mapped[str] = mapped_column(sa.Text)
    auth_time: Mapped[datetime]
    session_id: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(sa.String(64))


class RefreshToken(Base):
    """An opaque refresh token, stored as a keyed hash; rotated on every use."""

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    grant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("grants.id", ondelete="CASCADE"),
                                                index=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    # Set when exchanged for a new one; presenting it again means it was stolen.
    rotated_at: Mapped[datetime | None]

    grant: Mapped[Grant] = relationship(lazy="joined")


class Consent(Base):
    """Scopes a user has allowed a (third-party) client."""

    __tablename__ = "consents"
    __table_args__ = (sa.UniqueConstraint("user_id", "client_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(sa.String(64))
    scopes: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

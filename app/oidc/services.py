"""Client registry rules: which grants, scopes and redirect URIs a client may have."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.oidc import errors
from app.oidc.models import API_SCOPES, GRANT_TYPES, USER_SCOPES, Client
from app.organizations.models import RegistrationTemplate
from app.security.hashing import keyed_hash

SECRET_PURPOSE = "client-secret"


@dataclass
class NewClient:
    client: Client
    secret: str | None  # shown once, never stored


def _check_uri(uri: str) -> None:
    parts = urlsplit(uri)
    if parts.scheme not in {"http", "https"} and "." not in parts.scheme:
        # Private-use schemes (RFC 8252, reverse domain: com.example.app:/cb) are allowed.
        raise errors.InvalidClient(f"{uri!r} is not an absolute http(s) or private-use URI")
    if parts.fragment:
        raise errors.InvalidClient(f"{uri!r} must not have a fragment")


class ClientService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def create(
        self,
        *,
        name: str,
        grant_types: list[str],
        scopes: list[str] | None = None,
        redirect_uris: list[str] | None = None,
        post_logout_redirect_uris: list[str] | None = None,
        public: bool = False,
        first_party: bool = False,
        client_id: str | None = None,
        registration_template: str | None = None,
        allow_template_choice: bool = False,
    ) -> NewClient:
        grant_types = list(dict.fromkeys(grant_types))
        scopes = list(dict.fromkeys(scopes or []))
        redirect_uris = list(dict.fromkeys(redirect_uris or []))
        post_logout_redirect_uris = list(dict.fromkeys(post_logout_redirect_uris or []))
        if not name.strip():
            raise errors.InvalidClient("a client needs a name")
        if not grant_types:
            raise errors.InvalidClient("a client needs at least one grant type")
        unknown = [g for g in grant_types if g not in GRANT_TYPES]
        if unknown:
            raise errors.InvalidClient(f"unknown grant type(s): {', '.join(unknown)}")
        if public and "client_credentials" in grant_types:
            raise errors.InvalidClient("a public client cannot use client_credentials")
        if "authorization_code" in grant_types and not redirect_uris:
            raise errors.InvalidClient("authorization_code needs at least one redirect URI")
        unknown = [s for s in scopes if s not in API_SCOPES + USER_SCOPES]
        if unknown:
            raise errors.InvalidClient(f"unknown scope(s): {', '.join(unknown)}")
        for uri in redirect_uris + post_logout_redirect_uris:
            _check_uri(uri)
        if registration_template is not None and self.session.get(
                RegistrationTemplate, registration_template) is None:
            raise errors.InvalidClient(f"no registration template {registration_template!r}")
        client_id = client_id or secrets.token_urlsafe(18)
        if self.session.scalar(sa.select(Client.id).where(Client.client_id == client_id)):
            raise errors.InvalidClient(f"client id {client_id!r} is taken")

        secret = None if public else secrets.token_urlsafe(32)
        client = Client(
            client_id=client_id,
            secret_hash=keyed_hash(SECRET_PURPOSE, secret) if secret else None,
            name=name.strip(),
            grant_types=grant_types,
            scopes=scopes,
            redirect_uris=redirect_uris,
            post_logout_redirect_uris=post_logout_redirect_uris,
            public=public,
            first_party=first_party,
            registration_template=registration_template,
            allow_template_choice=allow_template_choice,
        )
        self.session.add(client)
        self.session.flush()
        return NewClient(client, secret)

    def delete(self, client: Client) -> None:
        from app.oidc.server import client_cache

        self.session.delete(client)
        self.session.flush()
        client_cache().forget(client.client_id)

    def by_client_id(self, client_id: str) -> Client | None:
        return self.session.scalar(sa.select(Client).where(Client.client_id == client_id))

    def require_redirect_uri(self, client_id: str, uri: str, field: str) -> str:
        """`uri` must be exactly one of the client's registered redirect (login callback) URIs."""
        client = self.by_client_id(client_id)
        if client is None or uri not in client.redirect_uris:
            raise errors.RedirectUriNotRegistered(
                f"{field} must be one of the calling client's registered redirect URIs",
                errors={field: ["Not a registered redirect URI of this client."]},
            )
        return uri

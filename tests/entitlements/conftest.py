"""Entitlement test fixtures: a small catalog, tokens for shops and for users (a real login)."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from app.db import db
from app.entitlements.models import Entitlement, License, LicenseTransaction
from app.entitlements.services import CatalogService
from app.events.models import Event
from app.organizations.models import Membership, Organization
from app.security.passwords import hash_password
from app.users.models import User
from tests.conftest import basic_auth, bearer
from tests.oidc.flow import CALLBACK, PASSWORD, authorize_url, follow_to_callback, query_of

API = "/api/entitlement/v1"


@pytest.fixture
def catalog(app):
    """Two licensed items (one translated), a license model, and two packages."""
    with app.app_context(), db.transaction() as session:
        service = CatalogService(session)
        editor = service.create_licensed_item({
            "name": "editor", "display_name": "Editor",
            "display_names": {"fi": "Editori", "sv-SE": "Redigerare"}})
        export = service.create_licensed_item({"name": "export", "display_name": "Export"})
        model = service.create_license_model({
            "name": "named-user", "seat_counting": "namedUsers", "max_lease_seconds": 3600,
            "max_offline_seconds": 86400, "cooldown_seconds": 0})
        suite = service.create_product_package({
            "name": "suite", "license_model_id": model.id,
            "licensed_item_ids": [editor.id, export.id]})
        editor_only = service.create_product_package({
            "name": "editor-only", "license_model_id": model.id,
            "licensed_item_ids": [editor.id]})
        return SimpleNamespace(editor=str(editor.id), export=str(export.id),
                               model=str(model.id), suite=str(suite.id),
                               editor_only=str(editor_only.id))


@pytest.fixture
def shop(api_token):
    """The shop's back end: provisions and reads."""
    return bearer(api_token("entitlement:provision", "entitlement:read"))


def add_user(app, email, *, active=False) -> str:
    with app.app_context(), db.transaction() as session:
        user = User(email=email, first_name=email.split("@")[0].title(), last_name="Tester",
                    status="active" if active else "pendingActivation", email_verified=active,
                    password_hash=hash_password(PASSWORD) if active else None)
        session.add(user)
        session.flush()
        return str(user.id)


def add_organization(app, name, *, members=()) -> str:
    with app.app_context(), db.transaction() as session:
        organization = Organization(name=name)
        session.add(organization)
        session.flush()
        for user_id in members:
            session.add(Membership(organization_id=organization.id, user_id=uuid.UUID(user_id)))
        return str(organization.id)


@pytest.fixture
def login(app, make_client):
    """`login(email, scope=…)`: the user's access token from the authorization code flow,
    through the login page, in a browser (test client) of their own."""
    client_id, secret = make_client(
        scopes=["openid", "profile", "email", "entitlement:provision"],
        grants=["authorization_code"], redirect_uris=[CALLBACK], first_party=True)

    def token_for(email: str, scope: str = "openid profile email") -> str:
        browser = app.test_client()
        response = follow_to_callback(browser, authorize_url(client_id, scope=scope), email=email)
        code = query_of(response.headers["Location"])["code"]
        tokens = browser.post("/user/oauth20/token", headers=basic_auth(client_id, secret),
                              data={"grant_type": "authorization_code", "code": code,
                                    "redirect_uri": CALLBACK})
        assert tokens.status_code == 200, tokens.get_json()
        return tokens.get_json()["access_token"]

    return token_for


def order(external_id, *items, **extra) -> dict:
    """A 10Duke license-transaction body."""
    return {"transaction": {"type": "Order", "externalId": external_id, "items": list(items),
                            **extra}}


def item(external_id, product_id, quantity=1, **extra) -> dict:
    return {"externalId": external_id, "productId": product_id, "quantity": quantity, **extra}


def count(app, model, *conditions) -> int:
    with app.app_context(), db.transaction() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model).where(*conditions))


def state(app) -> tuple[int, int, int]:
    """(entitlements, transactions, licenses): what provisioning leaves behind."""
    return (count(app, Entitlement), count(app, LicenseTransaction), count(app, License))


def events(app, type) -> list[Event]:
    with app.app_context(), db.transaction() as session:
        return list(session.scalars(sa.select(Event).where(Event.type == type)
                                    .order_by(Event.seq)))

"""Activation code fixtures: the entitlement catalog, tokens for the back office, the shop and
users, and helpers that make configurations and stock through the API."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.db import db
from app.events.models import Event
from tests.conftest import bearer
from tests.entitlements.conftest import add_user, catalog, login  # noqa: F401 (fixtures)

API = "/api/entitlement/v1"
MANAGE = "activation-codes:manage"
ALLOCATE = "activation-codes:allocate"
REDEEM = "activation-codes:redeem"


@pytest.fixture
def manager(api_token):
    """The back office: configurations and batches."""
    return bearer(api_token(MANAGE))


@pytest.fixture
def shop(api_token):
    """The shop's back end: draws codes from stock, voids and releases them."""
    return bearer(api_token(ALLOCATE))


@pytest.fixture
def redeemer(api_token):
    """A server redeeming codes for users."""
    return bearer(api_token(REDEEM))


@pytest.fixture
def make_config(client, manager, catalog):  # noqa: F811 (the fixture)
    """`make_config(**fields)`: a configuration of the `suite` package (two licensed items)."""

    def make(**fields) -> dict:
        body = {"productPackageId": catalog.suite, **fields}
        response = client.post(f"{API}/activation-code-configs", json=body, headers=manager)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


@pytest.fixture
def mint(client, manager):
    """`mint(config, count)`: a new batch of `count` codes in stock; returns the codes."""

    def make(config: dict, count: int) -> list[str]:
        response = client.post(f"{API}/activation-code-configs/{config['id']}/batches",
                               json={"count": count}, headers=manager)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["codes"]

    return make


@pytest.fixture
def allocate(client, shop):
    """`allocate(config, order_ref, quantity=1)`: the response of drawing codes for an order."""

    def draw(config: dict, order_ref: str, quantity: int = 1):
        return client.post(f"{API}/activation-code-configs/{config['id']}/allocations",
                           json={"orderRef": order_ref, "quantity": quantity}, headers=shop)

    return draw


def redeem(client, code: str, headers: dict, user: str = "me"):
    return client.post(f"{API}/users/{user}/activation-codes/redeem", json={"code": code},
                       headers=headers)


def stock(client, config: dict, headers: dict) -> dict:
    response = client.get(f"{API}/activation-code-configs/{config['id']}/stock", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def events(app, type: str) -> list[Event]:
    with app.app_context(), db.transaction() as session:
        return list(session.scalars(sa.select(Event).where(Event.type == type)
                                    .order_by(Event.seq)))

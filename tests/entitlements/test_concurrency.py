"""Provisioning races with real commits: a webhook delivered twice at once provisions once, and
first provisionings create one entitlement (PostgreSQL in CI; SQLite serializes writers)."""

import pytest

from tests.conftest import race
from tests.entitlements.conftest import API, add_organization, add_user, item, order, state

pytestmark = pytest.mark.committed


def test_the_same_order_twice_at_once_is_provisioned_once(app, shop, catalog):
    user_id = add_user(app, "race@example.com")  # no entitlement yet: both race to create it
    body = order("order-42", item("line-1", catalog.suite, quantity=5))
    responses = race(app, 2, lambda c, _i: c.post(f"{API}/users/{user_id}/license-transactions",
                                              json=body, headers=shop))
    assert sorted(r.status_code for r in responses) == [200, 201], [r.get_json()
                                                                    for r in responses]
    assert len({r.get_json()["id"] for r in responses}) == 1
    assert state(app) == (1, 1, 2)


def test_first_orders_of_an_organization_share_one_default_entitlement(app, shop, catalog):
    organization_id = add_organization(app, "Race Oy")
    responses = race(app, 3, lambda c, _i: c.post(
        f"{API}/organizations/{organization_id}/license-transactions", headers=shop,
        json=order(f"po-{id(c)}", item("line-1", catalog.editor_only))))
    assert [r.status_code for r in responses] == [201] * 3, [r.get_json() for r in responses]
    assert len({r.get_json()["entitlementId"] for r in responses}) == 1
    assert state(app) == (1, 3, 3)

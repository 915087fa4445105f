"""The shop's path from purchase to first use: create the customer, provision before they
activate, and the customer sees the licenses with their own token from a real login."""

import sqlalchemy as sa

from app.db import db
from app.entitlements.models import Entitlement
from tests.conftest import bearer, csrf_from, link_in
from tests.entitlements.conftest import API, count, item, order
from tests.oidc.flow import PASSWORD


def test_provision_before_activation_then_the_user_sees_them_through_me(
        app, client, api_token, catalog, login, outbox):
    shop = bearer(api_token("idp:users:write", "entitlement:provision"))
    created = client.post("/api/idp/v1/users?sendActivationEmail=true", headers=shop,
                          json={"email": "carol@example.com", "firstName": "Carol",
                                "lastName": "Buyer"})
    assert created.status_code == 201
    user_id = created.get_json()["id"]
    assert created.get_json()["status"] == "pendingActivation"
    assert count(app, Entitlement) == 0

    response = client.post(f"{API}/users/{user_id}/license-transactions", headers=shop,
                           json=order("order-1001", item("line-1", catalog.suite, quantity=3)))
    assert response.status_code == 201, response.get_json()
    transaction = response.get_json()
    assert response.headers["Location"].endswith(
        f"{API}/users/{user_id}/license-transactions/{transaction['id']}")
    assert transaction["externalId"] == "order-1001"
    assert transaction["owner"] == {"id": user_id, "name": "Carol Buyer"}
    [line] = transaction["items"]
    assert line["productId"] == catalog.suite and line["quantity"] == 3
    assert sorted(lic["licensedItem"]["name"] for lic in line["licenses"]) == ["editor", "export"]
    with app.app_context(), db.transaction() as session:
        [entitlement] = session.scalars(sa.select(Entitlement)).all()
        assert str(entitlement.user_id) == user_id and entitlement.organization_id is None
    assert transaction["entitlementId"] == str(entitlement.id)

    # The customer activates the account from the mailed link, then logs in to the application.
    activation = link_in(outbox()[-1].text_body).split("gatehouse.test", 1)[1]
    page = client.get(activation)
    client.post(activation, data={"csrf_token": csrf_from(page), "password": PASSWORD,
                                  "passwordConfirmation": PASSWORD})
    token = login("carol@example.com")

    listed = client.get(f"{API}/users/me/available-licenses", headers=bearer(token))
    assert listed.status_code == 200, listed.get_json()
    licenses = listed.get_json()["items"]
    assert [lic["licensedItem"]["name"] for lic in licenses] == ["editor", "export"]
    for lic in licenses:
        assert lic["active"] is True and lic["validUntil"] is None
        assert lic["seatsTotal"] == 3 and lic["seatsTaken"] == 0
        assert lic["entitlementId"] == str(entitlement.id)
        assert lic["owner"] == {"id": user_id, "name": "Carol Buyer"}
        assert set(lic) == {"id", "validFrom", "validUntil", "active", "entitlementId",
                            "licensedItem", "seatsTaken", "seatsTotal", "owner"}
    # Their own id works as well as `me`.
    by_id = client.get(f"{API}/users/{user_id}/available-licenses", headers=bearer(token))
    assert by_id.get_json() == listed.get_json()

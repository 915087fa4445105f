"""License transactions: provisioning once per externalId, adding items, suspend and resume,
organizations, and every refusal leaving nothing behind."""

import uuid

import pytest
import sqlalchemy as sa

from app.db import db
from app.entitlements.models import Entitlement, License, LicenseTransaction
from tests.conftest import bearer
from tests.entitlements.conftest import (
    API, add_organization, add_user, count, events, item, order, state,
)


@pytest.fixture
def user_id(app):
    return add_user(app, "dave@example.com")


def provision(client, headers, owner_path, body, **kwargs):
    return client.post(f"{API}/{owner_path}/license-transactions", json=body, headers=headers,
                       **kwargs)


def test_the_same_order_again_is_the_same_transaction(app, client, shop, catalog, user_id):
    body = order("order-7", item("line-1", catalog.suite, quantity=2))
    first = provision(client, shop, f"users/{user_id}", body)
    again = provision(client, shop, f"users/{user_id}", body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert "Location" not in again.headers
    assert state(app) == (1, 1, 2)
    [event] = events(app, "license_transaction.provisioned")
    assert event.subject_id == first.get_json()["id"]
    assert event.data["ownerId"] == user_id and event.data["itemExternalIds"] == ["line-1"]


def test_the_same_external_id_with_other_content_is_a_conflict(app, client, shop, catalog,
                                                               user_id):
    provision(client, shop, f"users/{user_id}", order("order-7", item("line-1", catalog.suite)))
    for changed in (order("order-7", item("line-1", catalog.suite, quantity=5)),
                    order("order-7", item("line-1", catalog.editor_only)),
                    order("order-7", item("line-1", catalog.suite),
                          item("line-2", catalog.suite))):
        response = provision(client, shop, f"users/{user_id}", changed)
        assert response.status_code == 409
        assert response.get_json()["code"] == "license_transaction.conflict"
    assert state(app) == (1, 1, 2)


def test_external_ids_are_unique_per_owner_only(app, client, shop, catalog, user_id):
    other = add_user(app, "erin@example.com")
    body = order("order-7", item("line-1", catalog.editor_only))
    assert provision(client, shop, f"users/{user_id}", body).status_code == 201
    assert provision(client, shop, f"users/{other}", body).status_code == 201
    assert state(app) == (2, 2, 2)


def test_idempotency_key_replays_the_first_response(app, client, shop, catalog, user_id):
    headers = {**shop, "Idempotency-Key": "webhook-1"}
    body = order("order-8", item("line-1", catalog.suite))
    first = provision(client, headers, f"users/{user_id}", body)
    replay = provision(client, headers, f"users/{user_id}", body)
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == first.get_json()
    reused = provision(client, headers, f"users/{user_id}",
                       order("order-9", item("line-1", catalog.suite)))
    assert reused.status_code == 422 and reused.get_json()["code"] == "idempotency_key.reused"
    assert state(app) == (1, 1, 2)


def test_validity_defaults_to_now_and_forever(client, shop, catalog, user_id):
    response = provision(client, shop, f"users/{user_id}", order(
        "order-1", item("perpetual", catalog.editor_only),
        item("yearly", catalog.editor_only, licenseValidFrom="2030-01-01T00:00:00Z",
             licenseValidUntil="2031-01-01T00:00:00+02:00")))
    assert response.status_code == 201, response.get_json()
    perpetual, yearly = response.get_json()["items"]
    assert perpetual["licenseValidFrom"] is None and perpetual["licenseValidUntil"] is None
    [lic] = perpetual["licenses"]
    assert lic["validFrom"] and lic["validUntil"] is None and lic["active"] is True
    [lic] = yearly["licenses"]
    assert lic["validFrom"] == "2030-01-01T00:00:00+00:00"
    assert lic["validUntil"] == "2030-12-31T22:00:00+00:00"
    assert lic["active"] is False  # not yet valid


def test_put_adds_items_once(app, client, shop, catalog, user_id):
    created = provision(client, shop, f"users/{user_id}",
                        order("order-7", item("line-1", catalog.editor_only))).get_json()
    url = f"{API}/users/{user_id}/license-transactions/{created['id']}"
    body = {"transaction": {"items": [item("line-1", catalog.editor_only),
                                      item("line-2", catalog.suite, quantity=4)]}}
    response = client.put(url, json=body, headers=shop)
    assert response.status_code == 200, response.get_json()
    assert [i["externalId"] for i in response.get_json()["items"]] == ["line-1", "line-2"]
    assert state(app) == (1, 1, 3)

    again = client.put(url, json=body, headers=shop)
    assert again.status_code == 200 and again.get_json()["items"] == response.get_json()["items"]
    conflict = client.put(url, headers=shop, json={"transaction": {
        "items": [item("line-2", catalog.suite, quantity=5)]}})
    assert conflict.status_code == 409
    assert conflict.get_json()["code"] == "license_transaction.item_conflict"
    other_order = client.put(url, headers=shop, json={"transaction": {
        "externalId": "order-8", "items": [item("line-3", catalog.suite)]}})
    assert other_order.status_code == 409
    assert state(app) == (1, 1, 3)
    assert len(events(app, "license_transaction.provisioned")) == 2

    # The original webhook, retried after the PUT, is still a retry.
    retry = provision(client, shop, f"users/{user_id}",
                      order("order-7", item("line-1", catalog.editor_only)))
    assert retry.status_code == 200 and len(retry.get_json()["items"]) == 2


def test_provisioned_transaction_reads_back_as_answered(client, shop, catalog, user_id):
    """The answer to a provisioning is built from what was inserted; reading the transaction
    back from the database gives the same thing."""
    created = provision(client, shop, f"users/{user_id}", order(
        "order-7", item("line-1", catalog.suite, quantity=3),
        item("line-2", catalog.editor_only))).get_json()
    read = client.get(f"{API}/users/{user_id}/license-transactions/{created['id']}",
                      headers=shop).get_json()
    assert read == created
    assert [[lic["licensedItem"]["name"] for lic in line["licenses"]]
            for line in created["items"]] == [sorted(["editor", "export"], key=lambda name: {
                "editor": catalog.editor, "export": catalog.export}[name]), ["editor"]]


def test_a_large_order_provisions_every_license(app, client, shop, catalog, user_id):
    """An order of many items goes in by other statements than a small one (see
    ONE_STATEMENT_ROWS); the result is the same, and it reads back as answered."""
    lines = [item(f"line-{n}", catalog.suite, quantity=n + 1) for n in range(40)]
    created = provision(client, shop, f"users/{user_id}", order("big-order", *lines))
    assert created.status_code == 201
    body = created.get_json()
    assert [len(line["licenses"]) for line in body["items"]] == [2] * 40
    assert [line["licenses"][0]["seatsTotal"] for line in body["items"]] == list(range(1, 41))
    assert state(app) == (1, 1, 80)
    read = client.get(f"{API}/users/{user_id}/license-transactions/{body['id']}",
                      headers=shop).get_json()
    assert read == body


def test_a_renamed_licensed_item_shows_in_the_next_provisioning(client, api_token, shop,
                                                                  catalog, user_id):
    admin = bearer(api_token("admin"))
    provision(client, shop, f"users/{user_id}", order("order-7", item("line-1", catalog.suite)))
    renamed = client.patch(f"{API}/licensed-items/{catalog.export}", headers=admin,
                           json={"name": "exporter", "displayName": "Exporter"})
    assert renamed.status_code == 200, renamed.get_json()
    created = provision(client, shop, f"users/{user_id}",
                        order("order-8", item("line-1", catalog.suite))).get_json()
    names = {lic["licensedItem"]["name"] for lic in created["items"][0]["licenses"]}
    assert names == {"editor", "exporter"}


def test_suspend_and_resume(app, client, shop, catalog, user_id):
    created = provision(client, shop, f"users/{user_id}",
                        order("order-7", item("line-1", catalog.suite))).get_json()
    url = f"{API}/users/{user_id}/license-transactions/{created['id']}"
    available = f"{API}/users/{user_id}/available-licenses"

    suspended = client.put(url + "/suspend-licenses", headers=shop)
    assert suspended.status_code == 200
    assert [lic["active"] for lic in suspended.get_json()["items"][0]["licenses"]] == [False] * 2
    listed = client.get(available, headers=shop).get_json()["items"]
    assert [lic["active"] for lic in listed] == [False, False]  # still listed, inactive
    client.put(url + "/suspend-licenses", headers=shop)  # again: nothing more happens
    assert len(events(app, "licenses.suspended")) == 1

    resumed = client.put(url + "/resume-licenses", headers=shop)
    assert resumed.status_code == 200
    listed = client.get(available, headers=shop).get_json()["items"]
    assert [lic["active"] for lic in listed] == [True, True]
    [event] = events(app, "licenses.resumed")
    assert event.subject_id == created["id"] and len(event.data["licenseIds"]) == 2


def test_get_and_list_transactions(client, shop, catalog, user_id):
    first = provision(client, shop, f"users/{user_id}",
                      order("order-1", item("a", catalog.suite))).get_json()
    second = provision(client, shop, f"users/{user_id}",
                       order("order-2", item("a", catalog.editor_only))).get_json()
    base = f"{API}/users/{user_id}/license-transactions"
    page = client.get(base, headers=shop).get_json()
    assert page["total"] == 2 and [t["id"] for t in page["items"]] == [first["id"], second["id"]]
    found = client.get(base + "?externalId=order-2", headers=shop).get_json()
    assert [t["id"] for t in found["items"]] == [second["id"]]
    assert client.get(f"{base}/{first['id']}", headers=shop).get_json() == first

    other = add_user(client.application, "erin@example.com")
    response = client.get(f"{API}/users/{other}/license-transactions/{first['id']}",
                          headers=shop)
    assert response.status_code == 404
    assert response.get_json()["code"] == "license_transaction.not_found"


def test_organization_gets_a_default_entitlement(app, client, shop, catalog):
    organization_id = add_organization(app, "Acme Oy")
    path = f"organizations/{organization_id}"
    first = provision(client, shop, path, order("po-1", item("a", catalog.suite, quantity=10)))
    second = provision(client, shop, path, order("po-2", item("a", catalog.editor_only)))
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.headers["Location"].endswith(
        f"{API}/organizations/{organization_id}/license-transactions/{first.get_json()['id']}")
    assert first.get_json()["owner"] == {"id": organization_id, "name": "Acme Oy"}
    assert first.get_json()["entitlementId"] == second.get_json()["entitlementId"]
    with app.app_context(), db.transaction() as session:
        [entitlement] = session.scalars(sa.select(Entitlement)).all()
        assert entitlement.is_default and str(entitlement.organization_id) == organization_id

    listed = client.get(f"{API}/{path}/available-licenses", headers=shop).get_json()["items"]
    assert sorted((lic["licensedItem"]["name"], lic["seatsTotal"]) for lic in listed) == [
        ("editor", 1), ("editor", 10), ("export", 10)]
    assert {lic["owner"]["name"] for lic in listed} == {"Acme Oy"}

    suspended = client.put(
        f"{API}/{path}/license-transactions/{first.get_json()['id']}/suspend-licenses",
        headers=shop)
    assert suspended.status_code == 200
    assert count(app, License, License.suspended_at.is_not(None)) == 2


def test_deleting_a_user_takes_their_licenses_along(app, client, api_token, shop, catalog,
                                                    user_id):
    provision(client, shop, f"users/{user_id}", order("order-1", item("a", catalog.suite)))
    response = client.delete(f"/api/idp/v1/users/{user_id}",
                             headers=bearer(api_token("idp:users:write")))
    assert response.status_code == 204
    assert state(app) == (0, 0, 0)


# --- refusals: a clear problem, and nothing changed ------------------------------------------


def bad_bodies(catalog):
    now_item = {"externalId": "a", "productId": catalog.suite, "quantity": 1}
    return {
        "unknown package": (422, "license_transaction.unknown_product",
                            order("o", {**now_item, "productId": str(uuid.uuid4())})),
        "zero quantity": (422, "validation_error", order("o", {**now_item, "quantity": 0})),
        "negative quantity": (422, "validation_error", order("o", {**now_item, "quantity": -2})),
        "quantity as text": (422, "validation_error", order("o", {**now_item, "quantity": "2"})),
        "until before from": (422, "validation_error", order("o", {
            **now_item, "licenseValidFrom": "2030-01-02T00:00:00Z",
            "licenseValidUntil": "2030-01-01T00:00:00Z"})),
        "until already past": (422, "validation_error", order("o", {
            **now_item, "licenseValidUntil": "2001-01-01T00:00:00Z"})),
        "not a timestamp": (422, "validation_error", order("o", {
            **now_item, "licenseValidFrom": "next tuesday"})),
        "unknown item field": (422, "validation_error", order("o", {**now_item, "sku": "X"})),
        "unknown transaction field": (422, "validation_error",
                                      order("o", now_item, customer="me")),
        "unknown top-level field": (422, "validation_error", {**order("o", now_item), "x": 1}),
        "unknown type": (422, "validation_error", order("o", now_item, type="Refund")),
        "no items": (422, "validation_error", order("o")),
        "item twice": (422, "validation_error", order("o", now_item, now_item)),
        "no transaction": (422, "validation_error", {"externalId": "o"}),
        "not JSON": (400, "bad_request", None),
    }


@pytest.mark.parametrize("case", [
    "unknown package", "zero quantity", "negative quantity", "quantity as text",
    "until before from", "until already past", "not a timestamp", "unknown item field",
    "unknown transaction field", "unknown top-level field", "unknown type", "no items",
    "item twice", "no transaction", "not JSON"])
def test_bad_input_is_refused_and_changes_nothing(app, client, shop, catalog, user_id, case):
    status, code, body = bad_bodies(catalog)[case]
    if body is None:
        response = client.post(f"{API}/users/{user_id}/license-transactions", headers=shop,
                               data="{not json", content_type="application/json")
    else:
        response = provision(client, shop, f"users/{user_id}", body)
    assert response.status_code == status, response.get_json()
    problem = response.get_json()
    assert response.mimetype == "application/problem+json"
    assert problem["code"] == code and problem["status"] == status
    if code == "validation_error" or code == "license_transaction.unknown_product":
        assert problem["errors"]
    assert state(app) == (0, 0, 0)


def test_field_errors_point_at_the_item(client, shop, catalog, user_id):
    response = provision(client, shop, f"users/{user_id}", order(
        "o", item("a", catalog.suite), item("b", str(uuid.uuid4()))))
    assert response.get_json()["errors"] == {
        "transaction": {"items": {"1": {"productId": ["No product package with this id."]}}}}


@pytest.mark.parametrize("path, code", [
    (f"users/{uuid.UUID(int=1)}", "user.not_found"),
    ("users/not-a-uuid", "user.not_found"),
    (f"organizations/{uuid.UUID(int=1)}", "organization.not_found"),
])
def test_unknown_owner_is_404(app, client, shop, catalog, path, code):
    body = order("o", item("a", catalog.suite))
    for response in (provision(client, shop, path, body),
                     client.get(f"{API}/{path}/available-licenses", headers=shop),
                     client.get(f"{API}/{path}/license-transactions", headers=shop)):
        assert response.status_code == 404
        assert response.get_json()["code"] == code
    assert state(app) == (0, 0, 0)


def test_scopes(app, client, api_token, catalog, user_id):
    body = order("o", item("a", catalog.suite))
    url = f"{API}/users/{user_id}/license-transactions"
    missing = client.post(url, json=body)
    assert missing.status_code == 401 and missing.get_json()["code"] == "token.missing"
    assert client.post(url, json=body, headers=bearer("not.a.jwt")).status_code == 401

    reader = bearer(api_token("entitlement:read"))
    refused = client.post(url, json=body, headers=reader)
    assert refused.status_code == 403 and refused.get_json()["code"] == "insufficient_scope"
    assert 'scope="entitlement:provision"' in refused.headers["WWW-Authenticate"]
    # The scope is checked before the body: a bad body is still a 403.
    assert client.post(url, json={"x": 1}, headers=reader).status_code == 403

    unrelated = bearer(api_token("idp:users:read"))
    for response in (client.get(f"{API}/users/{user_id}/available-licenses", headers=unrelated),
                     client.get(url, headers=unrelated),
                     client.post(url, json=body, headers=unrelated)):
        assert response.status_code == 403 and response.get_json()["code"] == "insufficient_scope"
    assert client.get(f"{API}/users/{user_id}/available-licenses",
                      headers=reader).status_code == 200
    assert state(app) == (0, 0, 0)

    # A client has no `me`.
    me = client.get(f"{API}/users/me/available-licenses", headers=reader)
    assert me.status_code == 403 and me.get_json()["code"] == "forbidden"


def test_admin_may_provision(app, client, api_token, catalog, user_id):
    response = provision(client, bearer(api_token("admin")), f"users/{user_id}",
                         order("o", item("a", catalog.suite)))
    assert response.status_code == 201
    assert count(app, LicenseTransaction) == 1

"""Configurations: what a code grants, when it redeems, and the stock's water marks."""

import pytest

from tests.activation_codes.conftest import API
from tests.conftest import bearer

CONFIGS = f"{API}/activation-code-configs"


def test_create_with_a_duration(client, manager, catalog):
    response = client.post(CONFIGS, headers=manager, json={
        "productPackageId": catalog.suite, "licenseDuration": "p1y", "seats": 3,
        "reseller": "Reseller Oy", "lowWaterMark": 100, "highWaterMark": 500,
        "redeemableUntil": "2030-01-01T00:00:00Z"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/activation-code-configs/{body['id']}")
    assert body["licenseDuration"] == "P1Y" and body["seats"] == 3
    assert body["reseller"] == "Reseller Oy"
    assert (body["lowWaterMark"], body["highWaterMark"]) == (100, 500)
    assert body["redeemableUntil"].startswith("2030-01-01T00:00:00")
    assert client.get(f"{CONFIGS}/{body['id']}", headers=manager).get_json() == body


def test_defaults(make_config):
    config = make_config()
    assert config["seats"] == 1 and config["licenseDuration"] is None
    assert config["licenseValidFrom"] is None and config["licenseValidUntil"] is None
    assert (config["lowWaterMark"], config["highWaterMark"]) == (0, 0)


def test_high_water_mark_defaults_to_the_low_one(make_config):
    config = make_config(lowWaterMark=25)
    assert config["highWaterMark"] == 25


@pytest.mark.parametrize("fields, field", [
    ({"licenseDuration": "P1Y", "licenseValidUntil": "2031-01-01T00:00:00Z"}, "licenseDuration"),
    ({"licenseDuration": "one year"}, "licenseDuration"),
    ({"licenseDuration": "P0D"}, "licenseDuration"),
    ({"licenseValidFrom": "2031-01-01T00:00:00Z", "licenseValidUntil": "2030-01-01T00:00:00Z"},
     "licenseValidUntil"),
    ({"redeemableFrom": "2031-01-01T00:00:00Z", "redeemableUntil": "2031-01-01T00:00:00Z"},
     "redeemableUntil"),
    ({"lowWaterMark": 10, "highWaterMark": 5}, "highWaterMark"),
    ({"productPackageId": "00000000-0000-0000-0000-000000000000"}, "productPackageId"),
])
def test_invalid_configurations(client, manager, catalog, fields, field):
    body = {"productPackageId": catalog.suite, **fields}
    response = client.post(CONFIGS, headers=manager, json=body)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["code"] == "validation_error"
    assert field in response.get_json()["errors"]


def test_list_and_update(client, manager, make_config):
    first, second = make_config(), make_config(reseller="B")
    listed = client.get(CONFIGS, headers=manager).get_json()
    assert listed["total"] == 2 and [c["id"] for c in listed["items"]] == [first["id"],
                                                                           second["id"]]
    response = client.patch(f"{CONFIGS}/{first['id']}", headers=manager, json={
        "lowWaterMark": 5, "highWaterMark": 50, "reseller": None})
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["lowWaterMark"], response.get_json()["highWaterMark"]) == (5, 50)
    # What a code grants is not editable.
    refused = client.patch(f"{CONFIGS}/{first['id']}", headers=manager, json={"seats": 9})
    assert refused.status_code == 422


def test_unknown_configuration(client, manager):
    response = client.get(f"{CONFIGS}/00000000-0000-0000-0000-000000000000", headers=manager)
    assert response.status_code == 404
    assert response.get_json()["code"] == "activation_code_config.not_found"


def test_configurations_need_the_manage_scope(client, api_token, catalog):
    body = {"productPackageId": catalog.suite}
    assert client.post(CONFIGS, json=body).status_code == 401
    for scope in ("activation-codes:allocate", "activation-codes:redeem", "entitlement:provision"):
        response = client.post(CONFIGS, json=body, headers=bearer(api_token(scope)))
        assert response.status_code == 403, scope
        assert response.get_json()["code"] == "insufficient_scope"
    assert client.post(CONFIGS, json=body, headers=bearer(api_token("admin"))).status_code == 201


def test_a_bad_duration_says_what_to_write(client, manager, catalog):
    response = client.post(CONFIGS, headers=manager, json={
        "productPackageId": catalog.suite, "licenseDuration": "one year"})
    assert response.get_json()["errors"]["licenseDuration"] == [
        "Use an ISO 8601 duration such as P1Y, P6M, P30D or PT12H."]

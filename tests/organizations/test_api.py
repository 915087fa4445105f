"""Organizations API: the ERP's upsert, addresses, members, roles."""

import uuid

import pytest

from app.db import db
from app.users.models import User
from tests.conftest import bearer

ORGS = "/api/idp/v1/organizations"


@pytest.fixture
def erp(api_token):
    return bearer(api_token("idp:organizations", "idp:users:write"))


def make_user(app, email="emp@example.com"):
    with app.app_context(), db.transaction() as session:
        user = User(email=email, first_name="E", last_name="Mployee", status="active")
        session.add(user)
        session.flush()
        return str(user.id)


def test_upsert_by_external_id_is_idempotent(client, erp):
    body = {"name": "Acme Oy", "vatNumber": "FI12345678", "paymentMode": "onAccount"}
    created = client.put(f"{ORGS}/byExternalId/C-1001", json=body, headers=erp)
    assert created.status_code == 201
    again = client.put(f"{ORGS}/byExternalId/C-1001", json={**body, "name": "Acme Ltd"},
                       headers=erp)
    assert again.status_code == 200
    assert again.get_json()["id"] == created.get_json()["id"]
    assert again.get_json()["name"] == "Acme Ltd"
    assert client.get(f"{ORGS}?query=acme", headers=erp).get_json()["total"] == 1
    fetched = client.get(f"{ORGS}/byExternalId/C-1001", headers=erp).get_json()
    assert fetched["externalId"] == "C-1001"


def test_external_id_is_unique_and_changeable(client, erp):
    a = client.post(ORGS, json={"name": "A", "externalId": "E-1"}, headers=erp).get_json()
    client.post(ORGS, json={"name": "B", "externalId": "E-2"}, headers=erp)
    taken = client.patch(f"{ORGS}/{a['id']}", json={"externalId": "E-2"}, headers=erp)
    assert taken.status_code == 409
    assert taken.get_json()["code"] == "organization.external_id_taken"
    moved = client.patch(f"{ORGS}/{a['id']}", json={"externalId": "E-3"}, headers=erp)
    assert moved.status_code == 200 and moved.get_json()["externalId"] == "E-3"
    dup = client.post(ORGS, json={"name": "C", "externalId": "E-3"}, headers=erp)
    assert dup.status_code == 409


def test_addresses_with_one_default_per_kind(client, erp):
    org = client.post(ORGS, json={"name": "Acme"}, headers=erp).get_json()
    url = f"{ORGS}/{org['id']}/addresses"
    first = client.post(url, json={"street": "Main 1", "postalCode": "00100", "city": "Helsinki",
                                   "country": "fi"}, headers=erp).get_json()
    assert first["country"] == "FI"
    assert first["isDefaultInvoice"] and first["isDefaultDelivery"]
    second = client.post(url, json={"street": "Dock 2", "postalCode": "00200",
                                    "city": "Espoo", "country": "FI", "isInvoice": False,
                                    "isDefaultDelivery": True}, headers=erp).get_json()
    assert second["isDefaultDelivery"] and not second["isDefaultInvoice"]
    listed = {a["id"]: a for a in client.get(url, headers=erp).get_json()}
    assert not listed[first["id"]]["isDefaultDelivery"]
    assert listed[first["id"]]["isDefaultInvoice"]
    bad = client.post(url, json={"street": "X", "postalCode": "1", "city": "Y",
                                 "country": "XX"}, headers=erp)
    assert bad.status_code == 422 and "country" in bad.get_json()["errors"]


def test_members_and_roles(app, client, erp):
    org = client.post(ORGS, json={"name": "Acme"}, headers=erp).get_json()
    user_id = make_user(app)
    url = f"{ORGS}/{org['id']}/members"
    added = client.post(url, json={"userId": user_id, "role": "buyer"}, headers=erp)
    assert added.status_code == 201
    assert added.get_json()["role"] == "buyer" and added.get_json()["email"] == "emp@example.com"
    changed = client.patch(f"{url}/{user_id}", json={"role": "supervisor"}, headers=erp)
    assert changed.get_json()["role"] == "supervisor"
    unknown_role = client.patch(f"{url}/{user_id}", json={"role": "emperor"}, headers=erp)
    assert unknown_role.status_code == 422
    unknown_user = client.post(url, json={"userId": str(uuid.uuid4())}, headers=erp)
    assert unknown_user.status_code == 404
    assert client.delete(f"{url}/{user_id}", headers=erp).status_code == 204
    assert client.get(url, headers=erp).get_json() == []
    roles = client.get("/api/idp/v1/roles", headers=erp).get_json()
    assert [r["name"] for r in roles] == ["viewer", "buyer", "purchaser", "supervisor"]


def test_scope_and_bad_input(client, api_token, erp):
    other = bearer(api_token("idp:users:read"))
    assert client.get(ORGS, headers=other).status_code == 403
    assert client.post(ORGS, json={"name": "A", "color": "red"}, headers=erp).status_code == 422
    assert client.post(ORGS, json={"name": " "}, headers=erp).status_code == 422
    assert client.post(ORGS, json={"name": "A", "status": "zombie"},
                       headers=erp).status_code == 422
    assert client.get(f"{ORGS}/{uuid.uuid4()}", headers=erp).get_json()["code"] == \
        "organization.not_found"

"""The catalog: licensed items, license models and product packages; changed with `admin`,
read with `entitlement:read` too."""

import uuid

import pytest
import sqlalchemy as sa

from app.db import db
from app.entitlements.models import LicensedItem, LicenseModel, ProductPackage
from app.entitlements.services import seed_demo_catalog
from tests.conftest import bearer
from tests.entitlements.conftest import API, count


@pytest.fixture
def admin(api_token):
    return bearer(api_token("admin"))


@pytest.fixture
def reader(api_token):
    return bearer(api_token("entitlement:read"))


MODEL = {"name": "floating", "seatCounting": "concurrent", "maxLeaseSeconds": 900,
         "maxOfflineSeconds": 0, "cooldownSeconds": 60}


def test_licensed_items(app, client, admin, reader):
    response = client.post(f"{API}/licensed-items", headers=admin, json={
        "name": "pro-editor", "displayName": "Pro Editor", "displayNames": {"fi": "Pro-editori"}})
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert response.headers["Location"].endswith(f"{API}/licensed-items/{created['id']}")
    assert created["displayNames"] == {"fi": "Pro-editori"}

    page = client.get(f"{API}/licensed-items", headers=reader).get_json()
    assert page["total"] == 1 and page["items"] == [created]
    assert client.get(f"{API}/licensed-items/{created['id']}", headers=reader).get_json() == \
        created

    changed = client.patch(f"{API}/licensed-items/{created['id']}", headers=admin, json={
        "displayName": "Editor Pro", "displayNames": {"sv": "Redigerare Pro"}})
    assert changed.status_code == 200
    assert changed.get_json()["displayName"] == "Editor Pro"
    assert changed.get_json()["displayNames"] == {"sv": "Redigerare Pro"}
    assert changed.get_json()["name"] == "pro-editor"

    taken = client.post(f"{API}/licensed-items", headers=admin,
                        json={"name": "pro-editor", "displayName": "Again"})
    assert taken.status_code == 409 and taken.get_json()["code"] == "licensed_item.name_taken"
    missing = client.get(f"{API}/licensed-items/{uuid.uuid4()}", headers=reader)
    assert missing.status_code == 404 and missing.get_json()["code"] == "licensed_item.not_found"
    assert count(app, LicensedItem) == 1


@pytest.mark.parametrize("body", [
    {"name": "x", "displayName": "X", "displayNames": {"not a locale": "X"}},
    {"name": "has space", "displayName": "X"},
    {"name": "x", "displayName": "   "},
    {"name": "x"},
    {"name": "x", "displayName": "X", "description": "unknown field"},
])
def test_licensed_item_validation(app, client, admin, body):
    response = client.post(f"{API}/licensed-items", headers=admin, json=body)
    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_error" and response.get_json()["errors"]
    assert count(app, LicensedItem) == 0


def test_license_models(app, client, admin, reader):
    response = client.post(f"{API}/license-models", headers=admin, json=MODEL)
    assert response.status_code == 201, response.get_json()
    assert {k: response.get_json()[k] for k in MODEL} == MODEL
    defaults = client.post(f"{API}/license-models", headers=admin, json={
        "name": "named", "seatCounting": "namedUsers", "maxLeaseSeconds": 3600}).get_json()
    assert defaults["maxOfflineSeconds"] == 0 and defaults["cooldownSeconds"] == 0
    listed = client.get(f"{API}/license-models", headers=reader).get_json()
    assert [m["name"] for m in listed["items"]] == ["floating", "named"]

    for bad in ({**MODEL, "name": "b", "seatCounting": "perDevice"},
                {**MODEL, "name": "b", "maxLeaseSeconds": "PT1H"},
                {**MODEL, "name": "b", "maxLeaseSeconds": 0},
                {**MODEL, "name": "b", "cooldownSeconds": -1}):
        refused = client.post(f"{API}/license-models", headers=admin, json=bad)
        assert refused.status_code == 422, bad
    taken = client.post(f"{API}/license-models", headers=admin, json=MODEL)
    assert taken.status_code == 409 and taken.get_json()["code"] == "license_model.name_taken"
    assert count(app, LicenseModel) == 2


def test_product_packages(app, client, admin, reader, catalog):
    body = {"name": "pro", "displayName": "Pro", "licenseModelId": catalog.model,
            "licensedItemIds": [catalog.export, catalog.editor]}
    response = client.post(f"{API}/product-packages", headers=admin, json=body)
    assert response.status_code == 201, response.get_json()
    package = response.get_json()
    assert [i["name"] for i in package["licensedItems"]] == ["editor", "export"]
    assert package["licenseModel"]["id"] == catalog.model
    assert package["licenseModel"]["seatCounting"] == "namedUsers"
    assert client.get(response.headers["Location"], headers=reader).get_json() == package
    listed = client.get(f"{API}/product-packages?limit=2", headers=reader).get_json()
    assert listed["total"] == 3 and len(listed["items"]) == 2

    unknown_item = client.post(f"{API}/product-packages", headers=admin, json={
        **body, "name": "other", "licensedItemIds": [catalog.editor, str(uuid.uuid4())]})
    assert unknown_item.status_code == 422
    assert unknown_item.get_json()["code"] == "catalog.unknown_reference"
    assert "licensedItemIds" in unknown_item.get_json()["errors"]
    unknown_model = client.post(f"{API}/product-packages", headers=admin, json={
        **body, "name": "other", "licenseModelId": str(uuid.uuid4())})
    assert unknown_model.status_code == 422
    assert "licenseModelId" in unknown_model.get_json()["errors"]
    empty = client.post(f"{API}/product-packages", headers=admin,
                        json={**body, "name": "other", "licensedItemIds": []})
    assert empty.status_code == 422
    taken = client.post(f"{API}/product-packages", headers=admin, json=body)
    assert taken.status_code == 409 and taken.get_json()["code"] == "product_package.name_taken"
    missing = client.get(f"{API}/product-packages/{uuid.uuid4()}", headers=reader)
    assert missing.status_code == 404
    assert missing.get_json()["code"] == "product_package.not_found"
    assert count(app, ProductPackage) == 3


def test_changing_the_catalog_needs_admin(app, client, api_token, reader, catalog):
    provisioner = bearer(api_token("entitlement:provision"))
    for headers in (reader, provisioner):
        for path, body in ((f"{API}/licensed-items", {"name": "x", "displayName": "X"}),
                           (f"{API}/license-models", MODEL)):
            response = client.post(path, headers=headers, json=body)
            assert response.status_code == 403
            assert response.get_json()["code"] == "insufficient_scope"
        response = client.patch(f"{API}/licensed-items/{catalog.editor}", headers=headers,
                                json={"displayName": "Hacked"})
        assert response.status_code == 403
    assert client.get(f"{API}/licensed-items", headers=provisioner).status_code == 403
    assert client.get(f"{API}/product-packages").status_code == 401
    assert count(app, LicensedItem) == 2 and count(app, LicenseModel) == 1


def test_demo_catalog_is_seeded_once(app):
    with app.app_context(), db.transaction() as session:
        first = seed_demo_catalog(session)
    with app.app_context(), db.transaction() as session:
        second = seed_demo_catalog(session)
        package = session.get(ProductPackage, uuid.UUID(first["productPackageId"]))
        assert [i.name for i in package.licensed_items] == ["demo-editor", "demo-export"]
        assert package.license_model.seat_counting == "namedUsers"
        assert session.scalar(sa.select(sa.func.count()).select_from(LicensedItem)) == 2
    assert first == second

"""A supervisor's own token reaches their organization's users through the API — never
another organization's, and never with a role stronger than their own."""

import pytest
import sqlalchemy as sa

from app.db import db
from app.oidc.services import ClientService
from app.users.models import User
from tests.conftest import basic_auth, bearer
from tests.oidc.flow import CALLBACK, authorize_url, follow_to_callback, query_of
from tests.organizations.test_account import PASSWORD, tenants  # noqa: F401 (fixture)

ORGS = "/api/idp/v1/organizations"


@pytest.fixture
def token_of(app, client):
    with app.app_context(), db.transaction() as session:
        created = ClientService(session).create(
            name="Shop", first_party=True, grant_types=["authorization_code"],
            scopes=["openid", "organization"], redirect_uris=[CALLBACK])
    client_id, secret = created.client.client_id, created.secret

    def login(email):
        browser = app.test_client()
        landed = follow_to_callback(browser, authorize_url(client_id, scope="openid organization"),
                                    email=email, password=PASSWORD)
        tokens = browser.post("/user/oauth20/token", headers=basic_auth(client_id, secret), data={
            "grant_type": "authorization_code", "code": query_of(landed.headers["Location"])["code"],
            "redirect_uri": CALLBACK}).get_json()
        return bearer(tokens["access_token"])

    return login


def test_supervisor_manages_their_own_organization(app, client, tenants, token_of,  # noqa: F811
                                                   outbox):
    sue = token_of("sue@alpha.example")
    members = client.get(f"{ORGS}/{tenants['a']}/members", headers=sue)
    assert members.status_code == 200
    assert {m["email"] for m in members.get_json()} == {"sue@alpha.example", "pam@alpha.example"}

    created = client.post(f"{ORGS}/{tenants['a']}/employees", headers=sue, json={
        "email": "hire@alpha.example", "firstName": "H", "lastName": "Ire", "role": "buyer"})
    assert created.status_code == 201 and created.get_json()["role"] == "buyer"
    assert outbox()[-1].recipient == "hire@alpha.example"

    role = client.patch(f"{ORGS}/{tenants['a']}/members/{tenants['pam']}", headers=sue,
                        json={"role": "buyer"})
    assert role.status_code == 200 and role.get_json()["role"] == "buyer"
    off = client.post(f"{ORGS}/{tenants['a']}/members/{tenants['pam']}/deactivate", headers=sue)
    assert off.status_code == 200 and off.get_json()["status"] == "suspended"


def test_no_reach_into_another_organization(app, client, tenants, token_of, outbox):  # noqa: F811
    sue = token_of("sue@alpha.example")
    b = tenants["b"]
    assert client.get(f"{ORGS}/{b}/members", headers=sue).status_code == 404
    assert client.post(f"{ORGS}/{b}/employees", headers=sue, json={
        "email": "x@beta.example", "firstName": "X", "lastName": "Y",
        "role": "viewer"}).status_code == 404
    assert client.patch(f"{ORGS}/{b}/members/{tenants['bob']}", headers=sue,
                        json={"role": "viewer"}).status_code == 404
    assert client.post(f"{ORGS}/{b}/members/{tenants['bob']}/deactivate",
                       headers=sue).status_code == 404
    # a member of B, addressed through A
    assert client.post(f"{ORGS}/{tenants['a']}/members/{tenants['bob']}/deactivate",
                       headers=sue).status_code == 404
    # and the organization API itself stays closed to user tokens
    assert client.get(f"{ORGS}/{tenants['a']}", headers=sue).status_code == 403
    with app.app_context(), db.transaction() as session:
        assert session.get(User, tenants["bob"]).status == "active"
        assert session.scalar(sa.select(User).where(User.email == "x@beta.example")) is None
    assert outbox() == []


def test_no_role_stronger_than_ones_own(app, client, tenants, token_of):  # noqa: F811
    from app.organizations.models import Role

    with app.app_context(), db.transaction() as session:
        session.add(Role(name="owner", display_name="Owner", rank=99, permissions=["canOrder"]))
    sue = token_of("sue@alpha.example")
    stronger = client.patch(f"{ORGS}/{tenants['a']}/members/{tenants['pam']}", headers=sue,
                            json={"role": "owner"})
    assert stronger.status_code == 403 and stronger.get_json()["code"] == "role.too_strong"
    created = client.post(f"{ORGS}/{tenants['a']}/employees", headers=sue, json={
        "email": "boss@alpha.example", "firstName": "B", "lastName": "Oss", "role": "owner"})
    assert created.status_code == 403


def test_members_are_not_supervisors(app, client, tenants, token_of):  # noqa: F811
    pam = token_of("pam@alpha.example")
    assert client.get(f"{ORGS}/{tenants['a']}/members", headers=pam).status_code == 404

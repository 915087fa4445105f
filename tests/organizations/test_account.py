"""My account: a supervisor manages the users of their own organization, never another's,
and grants no role stronger than their own."""

import uuid

import pytest
import sqlalchemy as sa

from app.db import db
from app.organizations.models import Membership, Organization
from app.security.passwords import hash_password
from app.users.models import User
from tests.conftest import csrf_from

PASSWORD = "correct horse battery staple"


@pytest.fixture
def tenants(app):
    """Two organizations, A and B; Sue supervises A, Bob is a buyer in B, Pam purchases in A."""
    with app.app_context(), db.transaction() as session:
        a, b = Organization(name="Alpha Oy"), Organization(name="Beta Oy")
        session.add_all([a, b])
        users = {}
        for email, org, role in [("sue@alpha.example", a, "purchaser"),
                                 ("pam@alpha.example", a, "purchaser"),
                                 ("bob@beta.example", b, "buyer")]:
            user = User(email=email, first_name=email[:3].title(), last_name="X",
                        status="active", email_verified=True,
                        password_hash=hash_password(PASSWORD))
            session.add(user)
            session.flush()
            session.add(Membership(organization_id=org.id, user_id=user.id, role_name=role,
                                   is_default=True))
            users[email[:3]] = user.id
        session.flush()
        session.execute(sa.update(Membership).where(Membership.user_id == users["sue"])
                        .values(role_name="supervisor"))
        return {"a": a.id, "b": b.id, **users}


def signed_in(app, email):
    browser = app.test_client()
    page = browser.get(browser.get("/account").headers["Location"])
    response = browser.post(page.request.path + "?" + page.request.query_string.decode(),
                            data={"csrf_token": csrf_from(page), "email": email,
                                  "password": PASSWORD})
    assert response.headers["Location"] == "/account"
    return browser


def test_supervisor_sees_and_creates_users_of_their_organization(app, tenants, outbox):
    sue = signed_in(app, "sue@alpha.example")
    page = sue.get("/account")
    html = page.get_data(as_text=True)
    assert "Users of Alpha Oy" in html and "pam@alpha.example" in html
    assert "bob@beta.example" not in html
    prefix = str(tenants["a"])
    created = sue.post(f"/account/organizations/{tenants['a']}/employees", data={
        f"{prefix}-csrf_token": csrf_from(page), f"{prefix}-email": "new@alpha.example",
        f"{prefix}-firstName": "New", f"{prefix}-lastName": "Hire", f"{prefix}-role": "buyer"})
    assert created.status_code == 303
    assert outbox()[-1].recipient == "new@alpha.example"
    assert outbox()[-1].template == "activation"
    with app.app_context(), db.transaction() as session:
        hire = session.scalar(sa.select(User).where(User.email == "new@alpha.example"))
        membership = session.scalar(sa.select(Membership).where(Membership.user_id == hire.id))
        assert membership.organization_id == tenants["a"] and membership.role_name == "buyer"


def test_supervisor_deactivates_and_reactivates_their_employee(app, tenants):
    sue = signed_in(app, "sue@alpha.example")
    token = csrf_from(sue.get("/account"))
    url = f"/account/organizations/{tenants['a']}/employees/{tenants['pam']}"
    assert sue.post(f"{url}/deactivate", data={"csrf_token": token}).status_code == 303
    with app.app_context(), db.transaction() as session:
        assert session.get(User, tenants["pam"]).status == "suspended"
    assert sue.post(f"{url}/reactivate", data={"csrf_token": token}).status_code == 303
    with app.app_context(), db.transaction() as session:
        assert session.get(User, tenants["pam"]).status == "active"


def test_no_reach_into_another_organization(app, tenants, outbox):
    sue = signed_in(app, "sue@alpha.example")
    token = csrf_from(sue.get("/account"))
    other = sue.post(f"/account/organizations/{tenants['b']}/employees/{tenants['bob']}/deactivate",
                     data={"csrf_token": token})
    assert other.status_code == 404
    prefix = str(tenants["b"])
    create = sue.post(f"/account/organizations/{tenants['b']}/employees", data={
        f"{prefix}-csrf_token": token, f"{prefix}-email": "x@beta.example",
        f"{prefix}-firstName": "X", f"{prefix}-lastName": "Y", f"{prefix}-role": "viewer"})
    assert create.status_code == 404
    # a user of A who is not a member of A's org... is refused as well
    stranger = sue.post(f"/account/organizations/{tenants['a']}/employees/{tenants['bob']}"
                        "/deactivate", data={"csrf_token": token})
    assert stranger.status_code == 404
    with app.app_context(), db.transaction() as session:
        assert session.get(User, tenants["bob"]).status == "active"
    assert outbox() == []


def test_no_role_stronger_than_ones_own(app, tenants):
    with app.app_context(), db.transaction() as session:
        session.execute(sa.update(Membership).where(Membership.user_id == tenants["sue"])
                        .values(role_name="supervisor"))
    sue = signed_in(app, "sue@alpha.example")
    page = sue.get("/account")
    prefix = str(tenants["a"])
    # raise Sue's own role check: make a stronger role exist and try to grant it
    with app.app_context(), db.transaction() as session:
        from app.organizations.models import Role

        session.add(Role(name="owner", display_name="Owner", rank=99,
                         permissions=["canOrder", "canManageUsers"]))
    strong = sue.post(f"/account/organizations/{tenants['a']}/employees", data={
        f"{prefix}-csrf_token": csrf_from(page), f"{prefix}-email": "boss@alpha.example",
        f"{prefix}-firstName": "B", f"{prefix}-lastName": "Oss", f"{prefix}-role": "owner"})
    assert strong.status_code == 422  # not among the grantable choices
    with app.app_context(), db.transaction() as session:
        assert session.scalar(sa.select(User).where(User.email == "boss@alpha.example")) is None


def test_non_supervisors_manage_nobody(app, tenants):
    pam = signed_in(app, "pam@alpha.example")
    page = pam.get("/account")
    assert "Users of" not in page.get_data(as_text=True)
    token = csrf_from(pam.get("/user/password/forgot"))  # the session's token, from any form
    refused = pam.post(f"/account/organizations/{tenants['a']}/employees/{tenants['sue']}"
                       "/deactivate", data={"csrf_token": token})
    assert refused.status_code == 404


def test_my_account_lists_my_licenses(app, tenants):
    from app.entitlements.services import EntitlementService, seed_demo_catalog

    with app.app_context(), db.transaction() as session:
        catalog = seed_demo_catalog(session)
        EntitlementService(session).provision(session.get(User, tenants["pam"]), {
            "type": "Order", "external_id": "order-1",
            "items": [{"external_id": "1", "product_id": uuid.UUID(catalog["productPackageId"]),
                       "quantity": 3}]})
    page = signed_in(app, "pam@alpha.example").get("/account").get_data(as_text=True)
    assert "No licenses yet" not in page
    assert "0 / 3" in page and "no end date" in page

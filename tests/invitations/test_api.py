"""Invitations API and the invitation page, in-process."""

import uuid
from datetime import datetime, timedelta, timezone
from unittest import mock
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from app.db import db
from app.events.models import Event
from app.organizations.models import Membership, Organization
from app.security.passwords import hash_password
from app.users.models import User
from tests.conftest import basic_auth, bearer, csrf_from, link_in

INVITATIONS = "/api/idp/v1/invitations"
SHOP = "https://shop.example/welcome"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def shop(client, make_client):
    client_id, secret = make_client(scopes=["idp:invitations"],
                                    grants=["client_credentials", "authorization_code"],
                                    redirect_uris=[SHOP], name="Example Shop")
    response = client.post("/user/oauth20/token", data={"grant_type": "client_credentials"},
                           headers=basic_auth(client_id, secret))
    return bearer(response.get_json()["access_token"])


@pytest.fixture
def organization(app):
    with app.app_context(), db.transaction() as session:
        organization = Organization(name="Acme Oy")
        session.add(organization)
        session.flush()
        return organization.id


def invite(client, shop, **body):
    return client.post(INVITATIONS, json={"email": "Invitee@Example.com", "redirectUri": SHOP,
                                          **body}, headers=shop)


def page_path(outbox):
    return urlsplit(link_in(outbox()[-1].text_body)).path


def rows(app, model, **filters):
    with app.app_context(), db.transaction() as session:
        return list(session.scalars(sa.select(model).filter_by(**filters)))


def test_create_mails_the_invitation(app, client, shop, outbox):
    response = invite(client, shop, message="Welcome aboard!")
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "pending" and body["email"] == "invitee@example.com"
    assert body["sentCount"] == 1
    assert response.headers["Location"].endswith(body["id"])
    [mail] = outbox()
    assert mail.recipient == "invitee@example.com"
    assert "Example Shop invites you" in mail.subject
    assert "Welcome aboard!" in mail.text_body
    types = [e.type for e in rows(app, Event, subject_id=body["id"])]
    assert types == ["invitation.created", "invitation.sent"]


def test_one_open_invitation_per_address_and_organization(client, shop, organization):
    assert invite(client, shop).status_code == 201
    second = invite(client, shop)
    assert second.status_code == 409 and second.get_json()["code"] == "invitation.exists"
    # another scope is another invitation
    assert invite(client, shop, organizationId=str(organization)).status_code == 201
    # after revoking, a new one may be made
    first = client.get(f"{INVITATIONS}?status=pending&email=invitee@example.com",
                       headers=shop).get_json()["items"][0]
    assert client.post(f"{INVITATIONS}/{first['id']}/revoke", headers=shop).status_code == 200
    assert invite(client, shop).status_code == 201


def test_refusals(client, shop, organization, outbox):
    bad_uri = invite(client, shop, redirectUri="https://evil.example/")
    assert bad_uri.status_code == 422 and bad_uri.get_json()["code"] == "redirect_uri.not_registered"
    no_org = invite(client, shop, organizationId=str(uuid.uuid4()))
    assert no_org.status_code == 404 and no_org.get_json()["code"] == "organization.not_found"
    role_alone = invite(client, shop, role="supervisor")
    assert role_alone.status_code == 422
    bad_role = invite(client, shop, organizationId=str(organization), role="emperor")
    assert bad_role.status_code == 422 and bad_role.get_json()["code"] == "organization.unknown_role"
    past = invite(client, shop, validUntil="2020-01-01T00:00:00Z")
    assert past.status_code == 422
    assert invite(client, shop, email="nope").status_code == 422
    assert outbox() == []


def test_resend_revoke_delete(client, shop, outbox):
    created = invite(client, shop).get_json()
    url = f"{INVITATIONS}/{created['id']}"
    resent = client.post(f"{url}/resend", headers=shop)
    assert resent.status_code == 200 and resent.get_json()["sentCount"] == 2
    assert len(outbox()) == 2 and outbox()[-1].recipient == "invitee@example.com"
    assert client.post(f"{url}/revoke", headers=shop).get_json()["status"] == "revoked"
    again = client.post(f"{url}/resend", headers=shop)
    assert again.status_code == 409 and again.get_json()["code"] == "invitation.not_pending"
    assert client.delete(url, headers=shop).status_code == 204
    assert client.get(url, headers=shop).status_code == 404


def test_resend_after_expiry_is_refused(client, shop, outbox):
    created = invite(client, shop).get_json()
    later = datetime.now(timezone.utc) + timedelta(days=4)
    with mock.patch("app.invitations.models.utcnow", return_value=later), \
            mock.patch("app.invitations.services.utcnow", return_value=later):
        response = client.post(f"{INVITATIONS}/{created['id']}/resend", headers=shop)
        assert response.status_code == 410
        assert response.get_json()["code"] == "invitation.expired"
        listed = client.get(f"{INVITATIONS}?status=expired", headers=shop).get_json()
        assert [i["id"] for i in listed["items"]] == [created["id"]]
    assert len(outbox()) == 1


def test_scope_is_required(client, api_token):
    response = client.post(INVITATIONS, json={"email": "a@example.com"},
                           headers=bearer(api_token("idp:users:write")))
    assert response.status_code == 403


def test_new_person_registers_and_lands_in_the_shop(app, client, shop, outbox, organization):
    invite(client, shop, organizationId=str(organization), role="supervisor")
    path = page_path(outbox)
    page = client.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Example Shop invites" in html and "join Acme Oy" in html
    assert 'name="firstName"' in html and "invitee@example.com" in html
    client.get(path)  # opening twice consumes nothing
    assert rows(app, Membership) == []

    response = client.post(path, data={"csrf_token": csrf_from(page), "action": "register",
                                       "firstName": "Ivy", "lastName": "Invitee",
                                       "password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == SHOP
    [user] = rows(app, User)
    assert user.status == "active" and user.email_verified
    [membership] = rows(app, Membership)
    assert membership.user_id == user.id and membership.role_name == "supervisor"
    assert membership.organization_id == organization
    assert len(outbox()) == 1  # no second verification mail
    # the link is spent
    assert client.get(path).status_code == 410


def test_existing_user_signs_in(app, client, shop, outbox):
    with app.app_context(), db.transaction() as session:
        session.add(User(email="invitee@example.com", first_name="I", last_name="V",
                         status="active", email_verified=True,
                         password_hash=hash_password(PASSWORD)))
    invite(client, shop)
    path = page_path(outbox)
    page = client.get(path)
    assert 'autocomplete="current-password"' in page.get_data(as_text=True)
    wrong = client.post(path, data={"csrf_token": csrf_from(page), "action": "sign-in",
                                    "password": "not my password"})
    assert wrong.status_code == 401
    ok = client.post(path, data={"csrf_token": csrf_from(page), "action": "sign-in",
                                 "password": PASSWORD})
    assert ok.status_code == 303 and ok.headers["Location"] == SHOP


def test_signed_in_as_someone_else_is_asked_which_account(app, client, shop, outbox):
    from tests.oidc.flow import CALLBACK, authorize_url, follow_to_callback

    with app.app_context(), db.transaction() as session:
        session.add(User(email="other@example.com", first_name="O", last_name="T",
                         status="active", email_verified=True,
                         password_hash=hash_password(PASSWORD)))
    from app.oidc.services import ClientService

    with app.app_context(), db.transaction() as session:
        app_client = ClientService(session).create(
            name="App", grant_types=["authorization_code"], scopes=["openid"],
            redirect_uris=[CALLBACK], first_party=True).client.client_id
    follow_to_callback(client, authorize_url(app_client, scope="openid"),
                       email="other@example.com")
    invite(client, shop)
    path = page_path(outbox)
    page = client.get(path)
    html = page.get_data(as_text=True)
    assert "You are signed in as <strong>other@example.com</strong>" in html
    assert "Use invitee@example.com instead" in html
    switched = client.post(path, data={"csrf_token": csrf_from(page), "action": "switch"})
    assert 'name="firstName"' in switched.get_data(as_text=True)


def test_decline_and_revoked_and_tampered_links(app, client, shop, outbox):
    created = invite(client, shop).get_json()
    path = page_path(outbox)
    page = client.get(path)
    declined = client.post(path, data={"csrf_token": csrf_from(page), "action": "decline"})
    assert "declined" in declined.get_data(as_text=True)
    assert client.get(f"{INVITATIONS}/{created['id']}", headers=shop).get_json()["status"] \
        == "declined"

    invite(client, shop)
    second = outbox()[-1]
    second_path = urlsplit(link_in(second.text_body)).path
    listed = client.get(f"{INVITATIONS}?status=pending", headers=shop).get_json()["items"][0]
    client.post(f"{INVITATIONS}/{listed['id']}/revoke", headers=shop)
    revoked = client.get(second_path)
    assert revoked.status_code == 410 and "withdrawn" in revoked.get_data(as_text=True)
    assert client.get(second_path[:-4] + "AAAA").status_code == 422
    assert rows(app, User) == []


def test_expired_link_lets_the_invitee_ask_again(app, client, shop, outbox):
    created = invite(client, shop).get_json()
    path = page_path(outbox)
    later = datetime.now(timezone.utc) + timedelta(days=4)
    with mock.patch("app.invitations.models.utcnow", return_value=later), \
            mock.patch("app.invitations.services.utcnow", return_value=later):
        page = client.get(path)
        assert page.status_code == 410 and "expired" in page.get_data(as_text=True)
        asked = client.post(path + "/renew", data={"csrf_token": csrf_from(page)})
    assert asked.status_code == 200
    types = [e.type for e in rows(app, Event, subject_id=created["id"])]
    assert "invitation.renewal_requested" in types and "invitation.expired" in types

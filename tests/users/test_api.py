"""Identity Management API: users."""

import uuid

import pytest
import sqlalchemy as sa

from app.db import db
from app.events.models import Event
from app.users.models import User
from tests.conftest import bearer

USERS = "/api/idp/v1/users"
SHOP_CALLBACK = "https://shop.example/after-activation"
ALICE = {"email": "Alice.Smith@Example.COM", "firstName": "Alice", "lastName": "Smith"}


@pytest.fixture
def shop(client, make_client):
    """A shop client with user scopes and a registered login callback URL; returns its token."""
    from tests.conftest import basic_auth

    client_id, secret = make_client(scopes=["idp:users:read", "idp:users:write"],
                                    grants=["client_credentials", "authorization_code"],
                                    redirect_uris=[SHOP_CALLBACK])
    response = client.post("/user/oauth20/token", data={"grant_type": "client_credentials"},
                           headers=basic_auth(client_id, secret))
    return bearer(response.get_json()["access_token"])


def users_in_db(app):
    with app.app_context(), db.transaction() as session:
        return list(session.scalars(sa.select(User)))


def events_of(app, type):
    with app.app_context(), db.transaction() as session:
        return list(session.scalars(sa.select(Event).where(Event.type == type)))


def test_create_user_without_password(app, client, shop, outbox):
    response = client.post(USERS, json={**ALICE, "locale": "en-GB", "phoneNumber": "+358 40 123"},
                           headers=shop)
    assert response.status_code == 201
    user = response.get_json()
    assert response.headers["Location"].endswith(f"{USERS}/{user['id']}")
    assert user["email"] == "alice.smith@example.com"
    assert user["status"] == "pendingActivation"
    assert user["emailVerified"] is False
    assert user["activationEmail"] is None
    assert user["locale"] == "en-GB" and user["phoneNumber"] == "+358 40 123"
    assert "password" not in str(user).lower()
    assert outbox() == []  # no email unless asked for
    assert [e.subject_id for e in events_of(app, "user.created")] == [user["id"]]


def test_create_with_activation_email(client, shop, outbox):
    response = client.post(f"{USERS}?sendActivationEmail=true"
                           f"&activationRedirectUri={SHOP_CALLBACK}", json=ALICE, headers=shop)
    assert response.status_code == 201
    state = response.get_json()["activationEmail"]
    assert state["status"] == "pending" and state["attempts"] == 0
    [message] = outbox()
    assert message.recipient == "alice.smith@example.com"
    assert message.template == "activation"
    assert "/user/activate/" in message.text_body
    assert "Alice" in message.text_body


def test_unregistered_redirect_uri_creates_nothing(app, client, shop, outbox):
    response = client.post(f"{USERS}?sendActivationEmail=true"
                           "&activationRedirectUri=https://evil.example/steal", json=ALICE,
                           headers=shop)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "redirect_uri.not_registered"
    assert "activationRedirectUri" in body["errors"]
    assert users_in_db(app) == [] and outbox() == []


def test_duplicate_email_is_a_conflict_case_insensitively(client, shop):
    assert client.post(USERS, json=ALICE, headers=shop).status_code == 201
    response = client.post(USERS, json={**ALICE, "email": "ALICE.SMITH@example.com"},
                           headers=shop)
    assert response.status_code == 409
    assert response.get_json()["code"] == "user.email_taken"


def test_idempotency_key_replays_the_first_response(app, client, shop, outbox):
    headers = {**shop, "Idempotency-Key": "order-1001"}
    url = f"{USERS}?sendActivationEmail=true"
    first = client.post(url, json=ALICE, headers=headers)
    again = client.post(url, json=ALICE, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(users_in_db(app)) == 1 and len(outbox()) == 1


def test_idempotency_key_with_another_body_is_refused(app, client, shop):
    headers = {**shop, "Idempotency-Key": "order-1002"}
    assert client.post(USERS, json=ALICE, headers=headers).status_code == 201
    response = client.post(USERS, json={**ALICE, "email": "bob@example.com"}, headers=headers)
    assert response.status_code == 422
    assert response.get_json()["code"] == "idempotency_key.reused"
    assert [u.email for u in users_in_db(app)] == ["alice.smith@example.com"]


def test_a_failed_request_does_not_spend_its_idempotency_key(client, shop):
    headers = {**shop, "Idempotency-Key": "order-1003"}
    bad = client.post(USERS, json={"email": "nope"}, headers=headers)
    assert bad.status_code == 422
    good = client.post(USERS, json={"email": "nope"}, headers=headers)
    assert good.status_code == 422  # ran again, not replayed
    assert "Idempotent-Replayed" not in good.headers


def test_lookup_by_email(client, shop):
    created = client.post(USERS, json=ALICE, headers=shop).get_json()
    response = client.post(f"{USERS}/byEmail", json={"email": "ALICE.smith@example.com"},
                           headers=shop)
    assert response.status_code == 200
    assert response.get_json()["id"] == created["id"]
    missing = client.post(f"{USERS}/byEmail", json={"email": "alice@example.com"}, headers=shop)
    assert missing.status_code == 404
    assert missing.get_json()["code"] == "user.not_found"


def test_list_search_filter_and_paginate(client, shop):
    for i in range(5):
        client.post(USERS, json={"email": f"user{i}@example.com", "firstName": f"F{i}",
                                 "lastName": "Tester" if i % 2 else "Other"}, headers=shop)
    page = client.get(f"{USERS}?limit=2&offset=1", headers=shop).get_json()
    assert page["total"] == 5 and page["offset"] == 1 and page["limit"] == 2
    assert [u["email"] for u in page["items"]] == ["user1@example.com", "user2@example.com"]
    found = client.get(f"{USERS}?query=tester", headers=shop).get_json()
    assert {u["email"] for u in found["items"]} == {"user1@example.com", "user3@example.com"}
    assert client.get(f"{USERS}?query=100%25", headers=shop).get_json()["total"] == 0
    assert client.get(f"{USERS}?status=active", headers=shop).get_json()["total"] == 0
    assert client.get(f"{USERS}?limit=101", headers=shop).status_code == 422
    assert client.get(f"{USERS}?status=sleeping", headers=shop).status_code == 422


def test_get_patch_delete(app, client, shop):
    user = client.post(USERS, json=ALICE, headers=shop).get_json()
    url = f"{USERS}/{user['id']}"
    assert client.get(url, headers=shop).get_json()["email"] == "alice.smith@example.com"

    changed = client.patch(url, json={"lastName": " Jones ", "displayName": "AJ"}, headers=shop)
    assert changed.status_code == 200
    assert changed.get_json()["lastName"] == "Jones"
    assert changed.get_json()["displayName"] == "AJ"

    refused = client.patch(url, json={"status": "active"}, headers=shop)
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "user.invalid_status_change"

    assert client.delete(url, headers=shop).status_code == 204
    assert client.get(url, headers=shop).status_code == 404
    assert client.delete(url, headers=shop).status_code == 404
    assert [e.subject_id for e in events_of(app, "user.deleted")] == [user["id"]]


def test_patch_to_a_taken_email_is_a_conflict(client, shop):
    client.post(USERS, json=ALICE, headers=shop)
    bob = client.post(USERS, json={**ALICE, "email": "bob@example.com"}, headers=shop).get_json()
    response = client.patch(f"{USERS}/{bob['id']}", json={"email": "alice.smith@example.com"},
                            headers=shop)
    assert response.status_code == 409


def test_resend_activation_email(client, shop, outbox):
    user = client.post(USERS, json=ALICE, headers=shop).get_json()
    response = client.post(f"{USERS}/{user['id']}/activation-email", headers=shop)
    assert response.status_code == 202
    assert response.get_json()["status"] == "pending"
    assert len(outbox()) == 1
    detail = client.get(f"{USERS}/{user['id']}", headers=shop).get_json()
    assert detail["activationEmail"]["id"] == response.get_json()["id"]


def test_resend_to_an_active_user_is_a_conflict(app, client, shop, outbox):
    user = client.post(USERS, json=ALICE, headers=shop).get_json()
    with app.app_context(), db.transaction() as session:
        session.get(User, uuid.UUID(user["id"])).status = "active"
    response = client.post(f"{USERS}/{user['id']}/activation-email", headers=shop)
    assert response.status_code == 409
    assert response.get_json()["code"] == "user.already_active"
    assert outbox() == []


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"email": "not-an-email", "firstName": "A", "lastName": "B"}, {"email"}),
        ({"email": "a@example.com"}, {"firstName", "lastName"}),
        ({"email": "a@example.com", "firstName": "  ", "lastName": "B"}, {"firstName"}),
        ({**ALICE, "password": "hunter2hunter2"}, {"password"}),
        ({**ALICE, "status": "active"}, {"status"}),
        ({**ALICE, "locale": "english please"}, {"locale"}),
        ({**ALICE, "phoneNumber": "call me"}, {"phoneNumber"}),
    ],
)
def test_bad_input_is_a_422_and_changes_nothing(app, client, shop, outbox, body, fields):
    response = client.post(USERS, json=body, headers=shop)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert set(response.get_json()["errors"]) == fields
    assert users_in_db(app) == [] and outbox() == []


def test_unknown_user_ids(client, shop):
    assert client.get(f"{USERS}/{uuid.uuid4()}", headers=shop).status_code == 404
    assert client.get(f"{USERS}/not-a-uuid", headers=shop).status_code == 404


def test_scopes_are_enforced(app, client, api_token):
    read_only = bearer(api_token("idp:users:read"))
    response = client.post(USERS, json=ALICE, headers=read_only)
    assert response.status_code == 403
    assert response.get_json()["code"] == "insufficient_scope"
    other = bearer(api_token("entitlement:read"))
    assert client.get(USERS, headers=other).status_code == 403
    assert client.post(USERS, json=ALICE).status_code == 401
    assert users_in_db(app) == []

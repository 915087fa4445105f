"""Webhook subscriptions: create (the secret shown once), read, change, rotate, delete."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from app.db import db
from app.events.models import WebhookDelivery, WebhookSubscription
from tests.conftest import bearer
from tests.events.conftest import RECEIVER, WEBHOOKS


def test_create_returns_the_secret_once(client, manager):
    response = client.post(WEBHOOKS, headers=manager, json={
        "url": RECEIVER, "eventTypes": ["user.*", " invitation.created", "user.*"],
        "description": "CRM sync"})
    assert response.status_code == 201
    created = response.get_json()
    assert response.headers["Location"].endswith(f"{WEBHOOKS}/{created['id']}")
    assert created["url"] == RECEIVER
    assert created["eventTypes"] == ["user.*", "invitation.created"]
    assert created["active"] is True and created["description"] == "CRM sync"
    assert created["clientId"]
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40

    shown = client.get(f"{WEBHOOKS}/{created['id']}", headers=manager).get_json()
    assert "secret" not in shown
    assert shown == {key: value for key, value in created.items() if key != "secret"}
    listing = client.get(WEBHOOKS, headers=manager).get_json()
    assert listing["total"] == 1 and "secret" not in listing["items"][0]
    assert created["secret"] not in str(listing)


def test_the_secret_is_stored_encrypted(app, subscribe):
    created = subscribe()
    with app.app_context(), db.transaction() as session:
        row = session.get(WebhookSubscription, uuid.UUID(created["id"]))
        assert created["secret"] not in row.encrypted_secret
        columns = session.execute(sa.select(WebhookSubscription.__table__)).one()
    assert created["secret"] not in str(tuple(columns))


def test_defaults_every_event_and_active(subscribe):
    created = subscribe()
    assert created["eventTypes"] == [] and created["active"] is True
    assert created["description"] is None


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/hook", "http://localhost/hook",
                                 "http://[::1]:8080/", "https://10.1.2.3/hook"])
def test_https_anywhere_http_only_on_loopback(subscribe, url):
    assert subscribe(url=url)["url"] == url


@pytest.mark.parametrize("body, code, field", [
    ({"url": "http://hooks.example/gatehouse"}, "webhook.invalid_url", "url"),
    ({"url": "ftp://hooks.example/x"}, "webhook.invalid_url", "url"),
    ({"url": "hooks.example/gatehouse"}, "webhook.invalid_url", "url"),
    ({"url": "https://user:pw@hooks.example/"}, "webhook.invalid_url", "url"),
    ({"url": "https://hooks.example:99999/"}, "webhook.invalid_url", "url"),
    ({"url": "https://hooks.example/a b"}, "webhook.invalid_url", "url"),
    ({"url": RECEIVER, "eventTypes": ["user created"]}, "event.invalid_type", "eventTypes"),
    ({"url": RECEIVER, "eventTypes": "user.*"}, "validation_error", "eventTypes"),
    ({"url": RECEIVER, "secret": "mine"}, "validation_error", "secret"),
    ({"url": RECEIVER, "callback": "x"}, "validation_error", "callback"),
    ({}, "validation_error", "url"),
])
def test_bad_input_is_a_problem_with_a_stable_code(app, client, manager, body, code, field):
    response = client.post(WEBHOOKS, json=body, headers=manager)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == code and field in problem["errors"]
    with app.app_context(), db.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(WebhookSubscription)) == 0


def test_scopes(client, api_token, subscribe):
    created = subscribe()
    paths = [WEBHOOKS, f"{WEBHOOKS}/{created['id']}", f"{WEBHOOKS}/{created['id']}/deliveries"]
    reader = bearer(api_token("events:read"))
    for path in paths:
        response = client.get(path)
        assert response.status_code == 401 and response.get_json()["code"] == "token.missing"
        response = client.get(path, headers=reader)
        assert response.status_code == 403
        assert response.get_json()["code"] == "insufficient_scope"
    for method, path in [("post", WEBHOOKS), ("patch", paths[1]), ("delete", paths[1]),
                         ("post", f"{paths[1]}/rotate-secret")]:
        response = getattr(client, method)(path, json={"url": RECEIVER}, headers=reader)
        assert response.status_code == 403
    response = client.post(WEBHOOKS, json={"url": "https://bad"}, headers=reader)
    assert response.status_code == 403  # the token is checked before the body
    admin = bearer(api_token("admin"))
    assert client.get(WEBHOOKS, headers=admin).get_json()["total"] == 1


def test_patch_changes_what_is_given(client, manager, subscribe):
    created = subscribe(eventTypes=["user.*"], description="CRM")
    path = f"{WEBHOOKS}/{created['id']}"
    response = client.patch(path, json={"active": False, "eventTypes": ["invitation.*"]},
                            headers=manager)
    assert response.status_code == 200
    changed = response.get_json()
    assert changed["active"] is False and changed["eventTypes"] == ["invitation.*"]
    assert changed["url"] == RECEIVER and changed["description"] == "CRM"
    assert "secret" not in changed

    response = client.patch(path, json={"url": "https://new.example/hook", "description": None},
                            headers=manager)
    assert response.get_json()["url"] == "https://new.example/hook"
    assert response.get_json()["description"] is None


@pytest.mark.parametrize("body, code", [
    ({"url": "http://hooks.example/"}, "webhook.invalid_url"),
    ({"eventTypes": ["*.user"]}, "event.invalid_type"),
    ({"secret": "whsec_mine"}, "validation_error"),
    ({"active": "maybe"}, "validation_error"),
])
def test_patch_refuses_bad_input_and_changes_nothing(client, manager, subscribe, body, code):
    created = subscribe()
    path = f"{WEBHOOKS}/{created['id']}"
    response = client.patch(path, json=body, headers=manager)
    assert response.status_code == 422 and response.get_json()["code"] == code
    assert client.get(path, headers=manager).get_json()["url"] == RECEIVER


def test_unknown_subscription_is_a_404(client, manager):
    path = f"{WEBHOOKS}/{uuid.uuid4()}"
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(path, json={}, headers=manager)
        assert response.status_code == 404
        assert response.get_json()["code"] == "webhook.not_found"
    response = client.post(f"{path}/rotate-secret", headers=manager)
    assert response.status_code == 404
    response = client.get(f"{path}/deliveries", headers=manager)
    assert response.status_code == 404


def test_rotate_secret_returns_a_new_one_once(client, manager, subscribe):
    created = subscribe()
    response = client.post(f"{WEBHOOKS}/{created['id']}/rotate-secret", headers=manager)
    assert response.status_code == 200
    rotated = response.get_json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    assert rotated["secretRotatedAt"] >= created["secretRotatedAt"]
    assert "secret" not in client.get(f"{WEBHOOKS}/{created['id']}", headers=manager).get_json()


def test_delete_drops_the_subscription_and_its_deliveries(app, client, manager, subscribe,
                                                          record, stored):
    created = subscribe()
    record("user.created")
    assert len(stored(created["id"])) == 1
    response = client.delete(f"{WEBHOOKS}/{created['id']}", headers=manager)
    assert response.status_code == 204
    assert client.get(f"{WEBHOOKS}/{created['id']}", headers=manager).status_code == 404
    with app.app_context(), db.transaction() as session:
        assert session.scalars(sa.select(WebhookDelivery)).all() == []


def test_list_pages(client, manager, subscribe):
    ids = [subscribe(description=f"n{n}")["id"] for n in range(3)]
    page = client.get(WEBHOOKS, query_string={"offset": 1, "limit": 1},
                      headers=manager).get_json()
    assert page["total"] == 3 and page["offset"] == 1 and page["limit"] == 1
    assert [item["id"] for item in page["items"]] == ids[1:2]

"""Races between requests, with real commits (PostgreSQL in CI; SQLite serializes them)."""

import pytest
import sqlalchemy as sa

from app.db import db
from app.users.models import User
from tests.conftest import basic_auth, bearer, race

pytestmark = pytest.mark.committed


@pytest.fixture
def token(app, client, make_client):
    client_id, secret = make_client(scopes=["idp:users:write"])
    response = client.post("/user/oauth20/token", data={"grant_type": "client_credentials"},
                           headers=basic_auth(client_id, secret))
    return bearer(response.get_json()["access_token"])


def count_users(app):
    with app.app_context(), db.transaction() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(User))


def test_two_creates_with_the_same_email(app, token):
    body = {"email": "race@example.com", "firstName": "R", "lastName": "Ace"}
    responses = race(app, 2, lambda c, _i: c.post("/api/idp/v1/users", json=body, headers=token))
    assert sorted(r.status_code for r in responses) == [201, 409]
    conflict = next(r for r in responses if r.status_code == 409)
    assert conflict.get_json()["code"] == "user.email_taken"
    assert count_users(app) == 1


def test_parallel_retries_with_one_idempotency_key(app, token):
    body = {"email": "retry@example.com", "firstName": "R", "lastName": "Etry"}
    headers = {**token, "Idempotency-Key": "checkout-77"}
    responses = race(app, 4, lambda c, _i: c.post("/api/idp/v1/users?sendActivationEmail=true",
                                              json=body, headers=headers))
    created = [r for r in responses if r.status_code == 201]
    # Every retry either replays the first response or is told to retry in a moment.
    assert {r.status_code for r in responses} <= {201, 409}
    assert created and len({r.get_json()["id"] for r in created}) == 1
    for r in responses:
        if r.status_code == 409:
            assert r.get_json()["code"] == "idempotency_key.in_progress"
    assert count_users(app) == 1
    from app.mail.models import OutboxMessage

    with app.app_context(), db.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 1

"""Every API error is problem+json with a stable code; nothing a client sends yields a 500."""

import pytest
import sqlalchemy as sa

from tests.conftest import bearer
from tests.probe import assert_problem

def test_unknown_route(client):
    assert_problem(client.get("/api/idp/v1/nothing-here"), 404, "not_found")


def test_wrong_method(client):
    response = client.delete("/health/live")
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_valid_request_passes(probe, write_token):
    response = probe.post("/api/probe/things", json={"email": "a@example.com",
                                                     "displayName": "A"},
                          headers=bearer(write_token))
    assert response.status_code == 201
    assert response.get_json() == {"email": "a@example.com", "displayName": "A"}


def test_malformed_json(probe, write_token):
    response = probe.post("/api/probe/things", data="{not json",
                          content_type="application/json", headers=bearer(write_token))
    assert_problem(response, 400, "bad_request")


def test_unknown_fields_are_rejected(probe, write_token):
    response = probe.post("/api/probe/things", json={"email": "a@example.com", "isAdmin": True},
                          headers=bearer(write_token))
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"] == {"isAdmin": ["Unknown field."]}


def test_field_errors_use_wire_names(probe, write_token):
    response = probe.post("/api/probe/things", json={"email": "nope", "displayName": 5},
                          headers=bearer(write_token))
    body = assert_problem(response, 422, "validation_error")
    assert set(body["errors"]) == {"email", "displayName"}


def test_oversized_body(probe, write_token):
    response = probe.post("/api/probe/things", data="x" * (1024 * 1024 + 1),
                          content_type="application/json", headers=bearer(write_token))
    assert_problem(response, 413, "payload_too_large")


def test_json_that_is_not_an_object(probe, write_token):
    response = probe.post("/api/probe/things", json=[1, 2], headers=bearer(write_token))
    assert_problem(response, 422, "validation_error")


def test_unexpected_failure_hides_internals(probe, caplog):
    response = probe.get("/api/probe/boom")
    body = assert_problem(response, 500, "internal_error")
    assert "hunter2" not in response.get_data(as_text=True)
    assert "RuntimeError" not in response.get_data(as_text=True)
    assert body["detail"] == "The server failed to handle the request."


def test_browsers_get_an_html_error_page(client):
    response = client.get("/user/nowhere", headers={"Accept": "text/html,*/*;q=0.8"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "<h1>Not Found</h1>" in response.get_data(as_text=True)


@pytest.mark.committed
def test_lost_database_connection_is_a_503_and_the_next_request_works(app, client, api_token):
    """Pooled connections are not pinged before use (a round trip per request): when the
    database drops them (restart, failover), one request gets a 503 to retry, and the pool is
    refreshed so the retry succeeds."""
    if app.extensions["gatehouse.db"].engine.dialect.name != "postgresql":
        pytest.skip("needs a server that can drop connections (PostgreSQL)")
    token = api_token("idp:users:read")
    lookup = {"email": "nobody@example.com"}
    headers = bearer(token)
    assert client.post("/api/idp/v1/users/byEmail", json=lookup,
                       headers=headers).status_code == 404
    outsider = sa.create_engine(app.config["DATABASE_URL"], poolclass=sa.pool.NullPool)
    with outsider.connect() as admin:  # not from the app's pool: it would kill itself
        dropped = admin.scalar(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    assert dropped >= 1

    response = client.post("/api/idp/v1/users/byEmail", json=lookup, headers=headers)
    assert_problem(response, 503, "database_unavailable")
    assert response.headers["Retry-After"] == "1"
    assert client.post("/api/idp/v1/users/byEmail", json=lookup,
                       headers=headers).status_code == 404

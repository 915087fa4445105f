"""Every API error is problem+json with a stable code; nothing a client sends yields a 500."""

import pytest
from flask.views import MethodView
from marshmallow import fields

from app import create_app
from app.api import Blueprint, Schema
from app.db import db
from app.oidc.bearer import require_scopes
from tests.conftest import bearer, settings_for_tests

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}

blp = Blueprint("probe", __name__, url_prefix="/api/probe")


class ProbeSchema(Schema):
    email = fields.Email(required=True)
    display_name = fields.String()


@blp.route("/things")
class Things(MethodView):
    @require_scopes("idp:users:write")
    @blp.arguments(ProbeSchema)
    @blp.response(201, ProbeSchema)
    def post(self, data):
        return data


@blp.route("/boom")
class Boom(MethodView):
    def get(self):
        raise RuntimeError("secret internals: password=hunter2")


@pytest.fixture(scope="module")
def probe_app(tmp_path_factory, database_url, app):
    probe = create_app(settings_for_tests(tmp_path_factory.mktemp("probe"), database_url))
    probe.extensions["gatehouse.api"].register_blueprint(blp)
    return probe


@pytest.fixture
def probe(probe_app, db_connection):
    db.bind_to(probe_app, db_connection)
    yield probe_app.test_client()
    db.bind_to(probe_app, None)


@pytest.fixture
def write_token(probe, make_client, probe_app):
    from tests.conftest import basic_auth

    client_id, secret = make_client(scopes=["idp:users:write"])
    response = probe.post("/user/oauth20/token", data={"grant_type": "client_credentials"},
                          headers=basic_auth(client_id, secret))
    return response.get_json()["access_token"]


def assert_problem(response, status, code):
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert PROBLEM_KEYS <= set(body)
    assert body["status"] == status and body["code"] == code
    return body


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

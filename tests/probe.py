"""A probe API registered on its own app, to exercise the framework (errors, parsing,
bearer protection) independently of any domain's endpoints."""

import pytest
from flask.views import MethodView
from marshmallow import fields

from app import create_app
from app.api import Blueprint, Schema
from app.db import db
from app.oidc.bearer import require_scopes
from tests.conftest import basic_auth, settings_for_tests

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

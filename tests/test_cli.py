"""The commands API.md documents."""

import json

from app.db import db
from app.oidc.services import ClientService
from tests.conftest import basic_auth


def test_clients_create_json_prints_a_working_secret(app, client, runner):
    result = runner.invoke(args=[
        "clients", "create", "--name", "Shop", "--grant", "client_credentials",
        "--scope", "idp:users:read idp:users:write", "--json"])
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert set(created) == {"clientId", "clientSecret"}
    response = client.post("/user/oauth20/token", data={"grant_type": "client_credentials"},
                           headers=basic_auth(created["clientId"], created["clientSecret"]))
    assert response.get_json()["scope"] == "idp:users:read idp:users:write"


def test_public_clients_get_no_secret(app, runner):
    result = runner.invoke(args=[
        "clients", "create", "--name", "App", "--grant", "authorization_code",
        "--grant", "refresh_token", "--redirect-uri", "http://127.0.0.1/callback",
        "--post-logout-redirect-uri", "http://127.0.0.1/bye",
        "--public", "--first-party", "--json"])
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["clientSecret"] is None
    with app.app_context(), db.transaction() as session:
        stored = ClientService(session).by_client_id(created["clientId"])
        assert stored.public and stored.first_party and stored.secret_hash is None
        assert stored.redirect_uris == ["http://127.0.0.1/callback"]
        assert stored.post_logout_redirect_uris == ["http://127.0.0.1/bye"]


def test_bad_client_registrations_are_usage_errors(runner):
    cases = [
        ["--grant", "client_credentials", "--scope", "idp:everything"],
        ["--grant", "client_credentials", "--public"],
        ["--grant", "authorization_code"],
        ["--grant", "authorization_code", "--redirect-uri", "https://shop/cb#frag"],
    ]
    for extra in cases:
        result = runner.invoke(args=["clients", "create", "--name", "X", *extra, "--json"])
        assert result.exit_code == 2, (extra, result.output)


def test_client_secrets_are_stored_hashed(app, runner):
    result = runner.invoke(args=["clients", "create", "--name", "S", "--grant",
                                 "client_credentials", "--json"])
    created = json.loads(result.output)
    with app.app_context(), db.transaction() as session:
        stored = ClientService(session).by_client_id(created["clientId"])
        assert created["clientSecret"] not in stored.secret_hash
        assert len(stored.secret_hash) == 64


def test_demo_seed_is_idempotent_and_reprints_the_same_secret(app, client, runner):
    first = runner.invoke(args=["demo", "seed"])
    second = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == second.exit_code == 0, first.output
    assert first.output == second.output
    secret = next(line.split()[-1] for line in first.output.splitlines()
                  if "client secret" in line)
    response = client.post("/user/oauth20/token", data={"grant_type": "client_credentials"},
                           headers=basic_auth("demo-shop", secret))
    assert response.status_code == 200
    assert "admin" in response.get_json()["scope"].split()
    assert "curl -s -u demo-shop:" in first.output

"""The token endpoint's client-credentials grant."""

import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from app.oidc.models import API_SCOPES
from tests.conftest import basic_auth

TOKEN = "/user/oauth20/token"


def verify(client, token):
    keys = KeySet.import_key_set(client.get("/.well-known/jwks.json").get_json())
    return jwt.decode(token, keys, algorithms=["RS256", "ES256"])


def test_basic_auth_issues_an_rfc9068_access_token(client, make_client):
    client_id, secret = make_client(scopes=["idp:users:read", "idp:users:write"])
    response = client.post(TOKEN, data={"grant_type": "client_credentials",
                                        "scope": "idp:users:read"},
                           headers=basic_auth(client_id, secret))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "idp:users:read"
    assert "refresh_token" not in body

    decoded = verify(client, body["access_token"])
    assert decoded.header["typ"] == "at+jwt"
    assert decoded.header["alg"] == "RS256"
    claims = decoded.claims
    assert claims["iss"] == "http://gatehouse.test"
    assert claims["aud"] == "http://gatehouse.test/api"
    assert claims["sub"] == claims["client_id"] == client_id
    assert claims["scope"] == "idp:users:read"
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - time.time()) < 10
    assert claims["jti"]


def test_post_auth_and_no_scope_means_all_allowed(client, make_client):
    client_id, secret = make_client(scopes=["entitlement:read", "events:read"])
    response = client.post(TOKEN, data={"grant_type": "client_credentials",
                                        "client_id": client_id, "client_secret": secret})
    assert response.status_code == 200
    assert response.get_json()["scope"] == "entitlement:read events:read"


def test_each_token_is_unique(client, make_client):
    client_id, secret = make_client(scopes=["admin"])
    tokens = {
        client.post(TOKEN, data={"grant_type": "client_credentials"},
                    headers=basic_auth(client_id, secret)).get_json()["access_token"]
        for _ in range(3)
    }
    assert len(tokens) == 3


@pytest.mark.parametrize(
    ("data", "auth", "status", "error"),
    [
        ({"grant_type": "client_credentials"}, "wrong-secret", 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, "unknown-client", 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, None, 401, "invalid_client"),
        ({"grant_type": "password", "username": "a", "password": "b"}, "ok", 400,
         "unsupported_grant_type"),
        ({}, "ok", 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials", "scope": "idp:users:read admin"}, "ok", 400,
         "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": "openid"}, "ok", 400, "invalid_scope"),
    ],
)
def test_refusals_issue_nothing(client, make_client, data, auth, status, error):
    client_id, secret = make_client(scopes=["idp:users:read"])
    headers = {
        "ok": basic_auth(client_id, secret),
        "wrong-secret": basic_auth(client_id, secret + "x"),
        "unknown-client": basic_auth("nobody", secret),
        None: {},
    }[auth]
    response = client.post(TOKEN, data=data, headers=headers)
    assert response.status_code == status
    body = response.get_json()
    assert body["error"] == error
    assert "access_token" not in body


def test_a_client_without_the_grant_is_refused(client, make_client):
    client_id, secret = make_client(
        scopes=["openid"], grants=["authorization_code"], redirect_uris=["https://shop/cb"]
    )
    response = client.post(TOKEN, data={"grant_type": "client_credentials"},
                           headers=basic_auth(client_id, secret))
    assert response.status_code == 400
    assert response.get_json()["error"] == "unauthorized_client"


def test_discovery_lists_what_exists_at_both_paths(client):
    for path in ("/.well-known/openid-configuration", "/user/.well-known/openid-configuration"):
        document = client.get(path).get_json()
        assert document["issuer"] == "http://gatehouse.test"
        assert document["token_endpoint"] == "http://gatehouse.test/user/oauth20/token"
        assert document["jwks_uri"] == "http://gatehouse.test/.well-known/jwks.json"
        assert "client_credentials" in document["grant_types_supported"]
        assert set(document["token_endpoint_auth_methods_supported"]) == {
            "client_secret_basic", "client_secret_post", "none"}
        assert document["authorization_endpoint"].endswith("/user/oauth20/authz")
        assert document["code_challenge_methods_supported"] == ["S256"]
        assert "create" in document["prompt_values_supported"]
        assert set(API_SCOPES) <= set(document["scopes_supported"])


def test_jwks_publishes_public_parts_only(client):
    keys = client.get("/.well-known/jwks.json").get_json()["keys"]
    assert keys
    for key in keys:
        assert {"kid", "kty", "alg", "use"} <= set(key)
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)

"""Bearer protection: token validity first (401), then scope (403)."""

import time

import pytest

from app.oidc.keys import sign_jwt
from tests.conftest import bearer
from tests.probe import assert_problem

URL = "/api/probe/things"
BODY = {"email": "a@example.com"}


def claims(**overrides):
    now = int(time.time())
    base = {"iss": "http://gatehouse.test", "aud": "http://gatehouse.test/api",
            "sub": "c1", "client_id": "c1", "iat": now, "exp": now + 60, "jti": "j",
            "scope": "idp:users:write"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def forged(probe_app, typ="at+jwt", **overrides):
    with probe_app.app_context():
        return sign_jwt(claims(**overrides), typ=typ)


def test_no_token_is_401_with_a_challenge(probe):
    response = probe.post(URL, json=BODY)
    assert_problem(response, 401, "token.missing")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="gatehouse"'


def test_wrong_scheme_is_401(probe):
    response = probe.post(URL, json=BODY, headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert_problem(response, 401, "token.missing")


@pytest.mark.parametrize(
    ("typ", "overrides"),
    [
        ("at+jwt", {"exp": int(time.time()) - 120}),
        ("at+jwt", {"iss": "https://elsewhere.example"}),
        ("at+jwt", {"aud": "https://other-api.example"}),
        ("at+jwt", {"client_id": None}),
        ("JWT", {}),  # an ID token or other JWT is not an access token
    ],
)
def test_invalid_tokens_are_401(probe, probe_app, typ, overrides):
    response = probe.post(URL, json=BODY, headers=bearer(forged(probe_app, typ, **overrides)))
    assert_problem(response, 401, "token.invalid")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_garbage_and_tampered_tokens_are_401(probe, probe_app):
    good = forged(probe_app)
    head, payload, signature = good.split(".")
    tampered = ".".join([head, payload[:-4] + "AAAA", signature])
    for token in ("garbage", "a.b.c", tampered, good[:-10]):
        assert_problem(probe.post(URL, json=BODY, headers=bearer(token)), 401, "token.invalid")


def test_missing_scope_is_403_and_reads_no_body(probe, probe_app):
    token = forged(probe_app, scope="idp:users:read")
    response = probe.post(URL, data="{broken", content_type="application/json",
                          headers=bearer(token))
    assert_problem(response, 403, "insufficient_scope")
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert 'scope="idp:users:write"' in response.headers["WWW-Authenticate"]


def test_admin_scope_reaches_everything(probe, probe_app):
    response = probe.post(URL, json=BODY, headers=bearer(forged(probe_app, scope="admin")))
    assert response.status_code == 201


def test_a_real_token_from_the_token_endpoint_works(probe, probe_app, make_client):
    from tests.conftest import basic_auth

    client_id, secret = make_client(scopes=["idp:users:write"])
    token = probe.post("/user/oauth20/token", data={"grant_type": "client_credentials"},
                       headers=basic_auth(client_id, secret)).get_json()["access_token"]
    assert probe.post(URL, json=BODY, headers=bearer(token)).status_code == 201

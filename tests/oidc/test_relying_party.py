"""Gatehouse as an OpenID provider for a real relying-party library (Authlib's Flask client),
over HTTP: discovery → authorize → login → callback → token → ID token → userinfo → refresh →
logout."""

from urllib.parse import parse_qs, urlsplit

import pytest

from app.db import db
from app.oidc.services import ClientService
from app.security.passwords import hash_password
from app.users.models import User
from tests.live import RP_AFTER_LOGOUT, RP_CALLBACK, Browser, make_relying_party

pytestmark = pytest.mark.committed
PASSWORD = "correct horse battery staple"


def register_client(app, *, public=False, first_party=True):
    with app.app_context(), db.transaction() as session:
        created = ClientService(session).create(
            name="Web shop", grant_types=["authorization_code", "refresh_token"],
            scopes=["openid", "profile", "email", "offline_access"],
            redirect_uris=[RP_CALLBACK], post_logout_redirect_uris=[RP_AFTER_LOGOUT],
            public=public, first_party=first_party)
        return created.client.client_id, created.secret


def add_user(app, email="ann@example.com"):
    with app.app_context(), db.transaction() as session:
        user = User(email=email, first_name="Ann", last_name="Lee", status="active",
                    email_verified=True, password_hash=hash_password(PASSWORD))
        session.add(user)
        session.flush()
        return str(user.id)


def rp_login(rp_client, browser, **params):
    start = rp_client.get("/login", query_string=params)
    assert start.status_code == 302
    return browser.go(start.headers["Location"])


def callback(rp_client, url):
    parts = urlsplit(url)
    assert url.startswith(RP_CALLBACK), url
    return rp_client.get("/callback?" + parts.query)


@pytest.mark.parametrize("public", [False, True], ids=["confidential", "public+pkce"])
def test_login_refresh_logout(live_server, public):
    client_id, secret = register_client(live_server.app, public=public)
    user_id = add_user(live_server.app)
    rp = make_relying_party(live_server.url, client_id, secret).test_client()
    browser = Browser(live_server.url)

    stopped = rp_login(rp, browser)
    assert "/user/login" in stopped
    assert 'autocomplete="current-password"' in browser.page.text
    landed = browser.submit({"email": "ann@example.com", "password": PASSWORD})

    result = callback(rp, landed)
    assert result.status_code == 200, result.get_data(as_text=True)
    body = result.get_json()
    claims = body["id_token_claims"]  # validated by Authlib: signature, iss, aud, nonce, at_hash
    assert claims["sub"] == user_id and claims["iss"] == live_server.url
    assert claims["aud"] == client_id and claims["at_hash"] and claims["nonce"]
    assert claims["email"] == "ann@example.com"
    assert body["userinfo"]["given_name"] == "Ann"
    assert body["userinfo"]["sub"] == user_id

    refreshed = rp.get("/refresh")
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    assert refreshed.get_json()["refresh_token"] != body["token"]["refresh_token"]

    # A returning user skips the form while the session lasts.
    again = rp_login(rp, browser)
    assert again.startswith(RP_CALLBACK)

    # RP-initiated logout
    end = browser.go(f"{live_server.url}/user/oauth20/signout?id_token_hint="
                     f"{body['token']['id_token']}&post_logout_redirect_uri={RP_AFTER_LOGOUT}"
                     "&state=bye")
    assert end == RP_AFTER_LOGOUT + "?state=bye"
    # ... and the session is gone: the next login shows the form again
    assert "/user/login" in rp_login(rp, browser)
    # prompt=none now answers login_required
    silent = rp_login(rp, browser, prompt="none")
    assert parse_qs(urlsplit(silent).query)["error"] == ["login_required"]

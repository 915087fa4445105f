"""The authorization code flow in-process: pages, codes, tokens, refusals."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import KeySet

from app.db import db, utcnow
from app.oidc.models import RefreshToken
from app.security.passwords import hash_password
from app.users.models import User
from tests.conftest import basic_auth, bearer, csrf_from
from tests.oidc.flow import CALLBACK, PASSWORD, authorize_url, follow_to_callback, pkce_pair, query_of

TOKEN = "/user/oauth20/token"


@pytest.fixture
def user(app):
    with app.app_context(), db.transaction() as session:
        user = User(email="ann@example.com", first_name="Ann", last_name="Lee", status="active",
                    email_verified=True, password_hash=hash_password(PASSWORD))
        session.add(user)
        session.flush()
        return user.id


@pytest.fixture
def shop(make_client):
    return make_client(scopes=["openid", "profile", "email", "offline_access"],
                       grants=["authorization_code", "refresh_token"], redirect_uris=[CALLBACK],
                       first_party=True)


@pytest.fixture
def public_app(make_client):
    client_id, _ = make_client(scopes=["openid", "profile", "offline_access"],
                               grants=["authorization_code", "refresh_token"],
                               redirect_uris=[CALLBACK], public=True, first_party=True)
    return client_id


def exchange(client, code, client_id, secret=None, **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, **extra}
    headers = basic_auth(client_id, secret) if secret else {}
    if not secret:
        data["client_id"] = client_id
    return client.post(TOKEN, data=data, headers=headers)


def test_code_flow_with_login(client, user, shop):
    client_id, secret = shop
    response = follow_to_callback(client, authorize_url(client_id, nonce="n0nce"),
                                  email="ann@example.com")
    params = query_of(response.headers["Location"])
    assert params["state"] == "st4te"
    tokens = exchange(client, params["code"], client_id, secret)
    assert tokens.status_code == 200, tokens.get_json()
    body = tokens.get_json()
    assert {"access_token", "id_token", "refresh_token", "expires_in"} <= set(body)
    keys = KeySet.import_key_set(client.get("/.well-known/jwks.json").get_json())
    id_token = jwt.decode(body["id_token"], keys, algorithms=["RS256"]).claims
    assert id_token["aud"] == client_id and id_token["nonce"] == "n0nce"
    assert id_token["email"] == "ann@example.com" and id_token["sub"] == str(user)
    info = client.get("/user/info", headers=bearer(body["access_token"]))
    assert info.status_code == 200 and info.get_json()["given_name"] == "Ann"

    refreshed = client.post(TOKEN, data={"grant_type": "refresh_token",
                                         "refresh_token": body["refresh_token"]},
                            headers=basic_auth(client_id, secret))
    assert refreshed.status_code == 200, refreshed.get_json()
    assert refreshed.get_json()["refresh_token"] != body["refresh_token"]


def test_public_client_needs_pkce(client, user, public_app):
    response = client.get(authorize_url(public_app))
    assert response.status_code == 302
    assert query_of(response.headers["Location"])["error"] == "invalid_request"

    verifier, challenge = pkce_pair()
    response = follow_to_callback(client, authorize_url(
        public_app, code_challenge=challenge, code_challenge_method="S256"),
        email="ann@example.com")
    code = query_of(response.headers["Location"])["code"]
    wrong = exchange(client, code, public_app, code_verifier=pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.get_json()["error"] == "invalid_grant"
    ok = exchange(client, code, public_app, code_verifier=verifier)
    assert ok.status_code == 200, ok.get_json()


def test_code_replay_is_refused_and_revokes(client, user, shop):
    client_id, secret = shop
    response = follow_to_callback(client, authorize_url(client_id), email="ann@example.com")
    code = query_of(response.headers["Location"])["code"]
    first = exchange(client, code, client_id, secret).get_json()
    replay = exchange(client, code, client_id, secret)
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    info = client.get("/user/info", headers=bearer(first["access_token"]))
    assert info.status_code == 401
    refreshed = client.post(TOKEN, data={"grant_type": "refresh_token",
                                         "refresh_token": first["refresh_token"]},
                            headers=basic_auth(client_id, secret))
    assert refreshed.status_code == 400


def test_refresh_token_reuse_revokes_the_family(client, user, shop):
    client_id, secret = shop
    response = follow_to_callback(client, authorize_url(client_id), email="ann@example.com")
    first = exchange(client, query_of(response.headers["Location"])["code"], client_id,
                     secret).get_json()
    rotate = lambda token: client.post(TOKEN, data={"grant_type": "refresh_token",  # noqa: E731
                                                    "refresh_token": token},
                                       headers=basic_auth(client_id, secret))
    second = rotate(first["refresh_token"]).get_json()
    reuse = rotate(first["refresh_token"])
    assert reuse.status_code == 400
    assert rotate(second["refresh_token"]).status_code == 400
    assert client.get("/user/info", headers=bearer(second["access_token"])).status_code == 401


def _refresh(client, token, client_id, secret, **form):
    return client.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": token,
                                    **form}, headers=basic_auth(client_id, secret))


def test_refresh_rotates_and_keeps_the_grant(client, user, shop):
    client_id, secret = shop
    response = follow_to_callback(client, authorize_url(client_id), email="ann@example.com")
    tokens = exchange(client, query_of(response.headers["Location"])["code"], client_id,
                      secret).get_json()
    for _ in range(3):
        refreshed = _refresh(client, tokens["refresh_token"], client_id, secret)
        assert refreshed.status_code == 200, refreshed.get_json()
        assert refreshed.get_json()["refresh_token"] != tokens["refresh_token"]
        tokens = refreshed.get_json()
    assert set(tokens["scope"].split()) == {"openid", "profile", "email", "offline_access"}
    info = client.get("/user/info", headers=bearer(tokens["access_token"]))
    assert info.status_code == 200 and info.get_json()["sub"] == str(user)
    narrower = _refresh(client, tokens["refresh_token"], client_id, secret, scope="openid")
    assert narrower.status_code == 200 and narrower.get_json()["scope"] == "openid"


def test_refresh_refusals(app, client, user, shop, make_client):
    client_id, secret = shop
    other_id, other_secret = make_client(scopes=["openid", "offline_access"],
                                         grants=["authorization_code", "refresh_token"],
                                         redirect_uris=[CALLBACK], first_party=True)

    def fresh():
        response = follow_to_callback(client, authorize_url(client_id), email="ann@example.com")
        return exchange(client, query_of(response.headers["Location"])["code"], client_id,
                        secret).get_json()["refresh_token"]

    def refused(response):
        return response.status_code == 400 and response.get_json()["error"] == "invalid_grant"

    assert refused(_refresh(client, "never-issued", client_id, secret))
    assert refused(_refresh(client, fresh(), other_id, other_secret))  # someone else's

    expired = fresh()
    with app.app_context(), db.transaction() as session:
        session.execute(sa.update(RefreshToken).values(expires_at=utcnow() - timedelta(1)))
    assert refused(_refresh(client, expired, client_id, secret))

    token = fresh()
    with app.app_context(), db.transaction() as session:
        session.execute(sa.update(User).where(User.id == user).values(status="suspended"))
    assert refused(_refresh(client, token, client_id, secret))


def test_unregistered_redirect_uri_is_an_error_page(client, shop):
    client_id, _ = shop
    response = client.get(authorize_url(client_id, redirect_uri="https://evil.example/cb"))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "not valid" in response.get_data(as_text=True)


def test_prompt_none_without_session(client, shop):
    client_id, _ = shop
    response = client.get(authorize_url(client_id, prompt="none"))
    assert response.status_code == 302
    params = query_of(response.headers["Location"])
    assert params["error"] == "login_required" and params["state"] == "st4te"


def test_wrong_password_does_not_say_whether_the_email_exists(client, user, shop):
    client_id, _ = shop
    page = client.get(client.get(authorize_url(client_id)).headers["Location"])
    url = page.request.path + "?" + page.request.query_string.decode()
    known = client.post(url, data={"csrf_token": csrf_from(page), "email": "ann@example.com",
                                   "password": "wrong password!!"})
    unknown = client.post(url, data={"csrf_token": csrf_from(page), "email": "bob@example.com",
                                     "password": "wrong password!!"})
    assert known.status_code == unknown.status_code == 401
    assert "The email or password is not right." in known.get_data(as_text=True)
    assert "The email or password is not right." in unknown.get_data(as_text=True)


def login_page(client, client_id, **params):
    page = client.get(client.get(authorize_url(client_id, **params)).headers["Location"])
    return page, page.request.path + "?" + page.request.query_string.decode()


def test_lockout_grows_and_says_when_to_retry(client, user, shop):
    client_id, _ = shop
    page, url = login_page(client, client_id)
    token = csrf_from(page)
    statuses = [client.post(url, data={"csrf_token": token, "email": "ann@example.com",
                                       "password": f"wrong password {i}"}).status_code
                for i in range(5)]
    assert statuses == [401, 401, 401, 401, 401]
    locked = client.post(url, data={"csrf_token": token, "email": "ann@example.com",
                                    "password": PASSWORD})
    assert locked.status_code == 429
    assert "Try again in 1 minute" in locked.get_data(as_text=True)
    # unknown addresses lock the same way: the lock says nothing about existence
    for i in range(5):
        client.post(url, data={"csrf_token": token, "email": "ghost@example.com",
                               "password": f"wrong password {i}"})
    ghost = client.post(url, data={"csrf_token": token, "email": "ghost@example.com",
                                   "password": PASSWORD})
    assert ghost.status_code == 429


def test_lockout_back_off_doubles(app):
    from datetime import timedelta

    from app.db import utcnow
    from app.security.lockout import Lockout

    with app.app_context(), db.transaction() as session:
        lockout = Lockout(session)
        spans = []
        for _ in range(8):
            lockout.failed("x@example.com")
            until = lockout.locked_until("x@example.com")
            spans.append(round((until - utcnow()).total_seconds()) if until else 0)
        assert spans[:4] == [0, 0, 0, 0]
        assert spans[4:] == [30, 60, 120, 240]
        lockout.succeeded("x@example.com")
        assert lockout.locked_until("x@example.com") is None
        for _ in range(30):
            lockout.failed("y@example.com")
        longest = lockout.locked_until("y@example.com") - utcnow()
        assert timedelta(minutes=14) < longest <= timedelta(minutes=15)


def test_prompt_login_and_max_age_ask_again(client, user, shop):
    client_id, _ = shop
    follow_to_callback(client, authorize_url(client_id), email="ann@example.com")
    assert client.get(authorize_url(client_id)).headers["Location"].startswith(CALLBACK)
    forced = client.get(authorize_url(client_id, prompt="login"))
    assert "/user/login" in forced.headers["Location"]
    back = follow_to_callback(client, authorize_url(client_id, prompt="login"),
                              email="ann@example.com")
    assert back.headers["Location"].startswith(CALLBACK)
    import time

    time.sleep(1.1)
    assert "/user/login" in client.get(authorize_url(client_id, max_age="0")).headers["Location"]


def test_consent_for_third_party_clients_is_asked_once(client, user, make_client):
    client_id, secret = make_client(scopes=["openid", "email"], grants=["authorization_code"],
                                    redirect_uris=[CALLBACK], name="Partner app")
    url = authorize_url(client_id, scope="openid email")
    response = follow_to_callback(client, url, email="ann@example.com")
    assert "/user/oauth20/consent" in response.request.path
    page = response.get_data(as_text=True)
    assert "Partner app" in page and "Your email address" in page
    consent_url = response.request.path + "?" + response.request.query_string.decode()
    denied = client.post(consent_url, data={"csrf_token": csrf_from(response),
                                            "decision": "deny"})
    assert query_of(denied.headers["Location"])["error"] == "access_denied"
    allowed = client.post(consent_url, data={"csrf_token": csrf_from(response),
                                             "decision": "allow"})
    done = follow_to_callback(client, allowed.headers["Location"])
    assert "code" in query_of(done.headers["Location"])
    # remembered: no consent page the next time
    assert client.get(url).headers["Location"].startswith(CALLBACK)


def test_expired_code_and_wrong_secret(app, client, user, shop):
    client_id, secret = shop
    response = follow_to_callback(client, authorize_url(client_id), email="ann@example.com")
    code = query_of(response.headers["Location"])["code"]
    bad_secret = exchange(client, code, client_id, secret + "x")
    assert bad_secret.status_code == 401 and bad_secret.get_json()["error"] == "invalid_client"
    from datetime import timedelta
    from unittest import mock

    from app.db import utcnow

    with mock.patch("app.oidc.grants.utcnow", return_value=utcnow() + timedelta(minutes=2)):
        expired = exchange(client, code, client_id, secret)
    assert expired.status_code == 400 and expired.get_json()["error"] == "invalid_grant"


def test_introspection_and_revocation(client, user, shop, make_client):
    client_id, secret = shop
    response = follow_to_callback(client, authorize_url(client_id), email="ann@example.com")
    tokens = exchange(client, query_of(response.headers["Location"])["code"], client_id,
                      secret).get_json()
    auth = basic_auth(client_id, secret)
    active = client.post("/user/oauth20/introspect", data={"token": tokens["access_token"]},
                         headers=auth).get_json()
    assert active["active"] is True and active["client_id"] == client_id
    refresh = client.post("/user/oauth20/introspect", headers=auth, data={
        "token": tokens["refresh_token"], "token_type_hint": "refresh_token"}).get_json()
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"
    assert client.post("/user/oauth20/introspect", data={"token": "nonsense"},
                       headers=auth).get_json() == {"active": False}
    assert client.post("/user/oauth20/introspect",
                       data={"token": tokens["access_token"]}).status_code == 401

    # another client cannot revoke these
    other_id, other_secret = make_client(scopes=["openid"], grants=["authorization_code"],
                                         redirect_uris=[CALLBACK])
    client.post("/user/oauth20/revoke", data={"token": tokens["refresh_token"]},
                headers=basic_auth(other_id, other_secret))
    assert client.get("/user/info", headers=bearer(tokens["access_token"])).status_code == 200

    assert client.post("/user/oauth20/revoke", data={"token": tokens["refresh_token"]},
                       headers=auth).status_code == 200
    assert client.get("/user/info", headers=bearer(tokens["access_token"])).status_code == 401
    assert client.post("/user/oauth20/introspect", data={"token": tokens["access_token"]},
                       headers=auth).get_json() == {"active": False}


def test_client_credentials_tokens_do_not_reach_userinfo(client, api_token):
    response = client.get("/user/info", headers=bearer(api_token("idp:users:read")))
    assert response.status_code == 403


def test_suspended_user_tokens_stop_working(app, client, user, shop):
    client_id, secret = shop
    response = follow_to_callback(client, authorize_url(client_id), email="ann@example.com")
    tokens = exchange(client, query_of(response.headers["Location"])["code"], client_id,
                      secret).get_json()
    with app.app_context(), db.transaction() as session:
        session.get(User, user).status = "suspended"
    assert client.get("/user/info", headers=bearer(tokens["access_token"])).status_code == 401
    refreshed = client.post(TOKEN, data={"grant_type": "refresh_token",
                                         "refresh_token": tokens["refresh_token"]},
                            headers=basic_auth(client_id, secret))
    assert refreshed.status_code == 400

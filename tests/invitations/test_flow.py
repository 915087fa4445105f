"""Invitation end to end over HTTP: mail through loopback SMTP, the page in a browser, and the
shop's next OIDC request (Authlib's client) completing without a login form."""

import pytest

from app.db import db
from app.mail.worker import deliver_pending
from app.oidc.services import ClientService
from tests.conftest import basic_auth
from tests.live import RP_AFTER_LOGOUT, RP_CALLBACK, Browser, make_relying_party
from tests.oidc.test_relying_party import PASSWORD, add_user, callback, rp_login
from tests.smtp_server import first_link

pytestmark = pytest.mark.committed
WELCOME = "http://rp.test/welcome"


@pytest.fixture
def shop(live_server, smtp_server):
    """The shop: a client with the invitations scope that also logs users in."""
    live_server.app.config["MAIL_URL"] = smtp_server.url
    with live_server.app.app_context(), db.transaction() as session:
        created = ClientService(session).create(
            name="Example Shop", first_party=True,
            grant_types=["client_credentials", "authorization_code", "refresh_token"],
            scopes=["idp:invitations", "openid", "profile", "email", "offline_access"],
            redirect_uris=[RP_CALLBACK, WELCOME], post_logout_redirect_uris=[RP_AFTER_LOGOUT])
    client_id, secret = created.client.client_id, created.secret
    api = live_server.app.test_client()
    token = api.post("/user/oauth20/token", data={"grant_type": "client_credentials",
                                                  "scope": "idp:invitations"},
                     headers=basic_auth(client_id, secret)).get_json()["access_token"]
    rp = make_relying_party(live_server.url, client_id, secret).test_client()
    return api, {"Authorization": f"Bearer {token}"}, rp


def invite_and_open(live_server, smtp_server, shop, email):
    api, headers, _rp = shop
    response = api.post("/api/idp/v1/invitations", headers=headers,
                        json={"email": email, "redirectUri": WELCOME})
    assert response.status_code == 201, response.get_json()
    with live_server.app.app_context():
        deliver_pending()
    [mail] = smtp_server.wait_for(1)
    browser = Browser(live_server.url)
    browser.go(first_link(mail))
    return browser


def test_new_address_registers_and_the_shop_login_needs_no_form(live_server, smtp_server, shop):
    browser = invite_and_open(live_server, smtp_server, shop, "ivy@example.com")
    assert 'name="firstName"' in browser.page.text
    landed = browser.submit({"action": "register", "firstName": "Ivy", "lastName": "Invitee",
                             "password": PASSWORD})
    assert landed == WELCOME

    _api, _headers, rp = shop
    at = rp_login(rp, browser)
    assert at.startswith(RP_CALLBACK)  # straight back: the browser is signed in
    claims = callback(rp, at).get_json()["id_token_claims"]
    assert claims["email"] == "ivy@example.com" and claims["email_verified"] is True


def test_existing_user_signs_in_instead(live_server, smtp_server, shop):
    user_id = add_user(live_server.app, email="ann@example.com")
    browser = invite_and_open(live_server, smtp_server, shop, "ann@example.com")
    assert 'autocomplete="current-password"' in browser.page.text
    landed = browser.submit({"action": "sign-in", "password": PASSWORD})
    assert landed == WELCOME

    _api, _headers, rp = shop
    at = rp_login(rp, browser)
    assert at.startswith(RP_CALLBACK)
    assert callback(rp, at).get_json()["id_token_claims"]["sub"] == user_id

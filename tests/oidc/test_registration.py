"""Registration during purchase: prompt=create / flow=register, email verification by code or
by link (opened in any browser), and no enumeration of existing accounts. Mail goes through a
real SMTP server on loopback."""

import re

import pytest
import sqlalchemy as sa

from app.db import db
from app.mail.worker import deliver_pending
from app.users.models import User
from tests.live import RP_CALLBACK, Browser, make_relying_party
from tests.oidc.test_relying_party import PASSWORD, add_user, callback, register_client, rp_login
from tests.smtp_server import first_link, text_body

pytestmark = pytest.mark.committed
NEW = {"email": "new.customer@example.com", "firstName": "Nia", "lastName": "New",
       "password": PASSWORD}


@pytest.fixture
def shop(live_server, smtp_server):
    live_server.app.config["MAIL_URL"] = smtp_server.url
    client_id, secret = register_client(live_server.app)
    return make_relying_party(live_server.url, client_id, secret).test_client()


def deliver(live_server):
    with live_server.app.app_context():
        return deliver_pending()


def users(app):
    with app.app_context(), db.transaction() as session:
        return {u.email: u for u in session.scalars(sa.select(User))}


def test_register_and_verify_with_the_code(live_server, smtp_server, shop):
    browser = Browser(live_server.url)
    at = rp_login(shop, browser, prompt="create", login_hint=NEW["email"])
    assert "/user/register" in at
    assert f'value="{NEW["email"]}"' in browser.page.text  # login_hint pre-fills

    browser.submit(NEW)
    assert "Check your email" in browser.page.text
    assert users(live_server.app)[NEW["email"]].status == "pendingActivation"

    deliver(live_server)
    [mail] = smtp_server.wait_for(1)
    assert mail["To"] == NEW["email"]
    code = re.search(r"^\s+(\d{6})\s*$", text_body(mail), re.M).group(1)

    wrong = browser.submit({"code": "000000" if code != "000000" else "111111"})
    assert "not right" in browser.page.text and wrong.endswith("/user/verify-email")
    landed = browser.submit({"code": code})
    assert landed.startswith(RP_CALLBACK)
    claims = callback(shop, landed).get_json()["id_token_claims"]
    assert claims["email"] == NEW["email"] and claims["email_verified"] is True
    assert users(live_server.app)[NEW["email"]].status == "active"


def test_link_opened_in_another_browser_lets_the_first_tab_continue(live_server, smtp_server,
                                                                     shop):
    tab = Browser(live_server.url)
    rp_login(shop, tab, flow="register")
    tab.submit(NEW)
    deliver(live_server)
    [mail] = smtp_server.wait_for(1)

    phone = Browser(live_server.url)  # the mail app on another device
    phone.go(first_link(mail))
    assert "Email address confirmed" in phone.page.text

    landed = tab.go(f"{live_server.url}/user/verify-email")
    assert landed.startswith(RP_CALLBACK)
    assert callback(shop, landed).status_code == 200


def test_registering_a_taken_address_looks_the_same_and_mails_the_owner(live_server,
                                                                         smtp_server, shop):
    add_user(live_server.app, email=NEW["email"])
    browser = Browser(live_server.url)
    rp_login(shop, browser, prompt="create")
    browser.submit({**NEW, "firstName": "Mallory"})
    assert "Check your email" in browser.page.text
    assert len(users(live_server.app)) == 1

    deliver(live_server)
    [mail] = smtp_server.wait_for(1)
    assert mail["To"] == NEW["email"]
    assert "already has an account" in text_body(mail)
    assert "Mallory" not in text_body(mail)
    # no code in that mail can verify anything for the stranger
    browser.submit({"code": "123456"})
    assert "not right" in browser.page.text or "expired" in browser.page.text


def test_unverified_users_are_told_to_check_their_mail_only_after_the_right_password(
        live_server, smtp_server, shop):
    browser = Browser(live_server.url)
    rp_login(shop, browser, prompt="create")
    browser.submit(NEW)

    other = Browser(live_server.url)
    rp_login(shop, other)
    other.submit({"email": NEW["email"], "password": "not the password"})
    assert "not right" in other.page.text
    rp_login(shop, other)
    other.submit({"email": NEW["email"], "password": PASSWORD})
    assert "Check your email" in other.page.text


def test_weak_password_on_registration_creates_nothing(live_server, shop):
    browser = Browser(live_server.url)
    rp_login(shop, browser, prompt="create")
    browser.submit({**NEW, "password": "password123"})
    assert browser.page.status_code == 422
    assert "too common" in browser.page.text
    assert users(live_server.app) == {}

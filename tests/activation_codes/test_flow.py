"""End to end over HTTP: a purchase draws a code from stock, the customer gets it by email,
opens /redeem, creates an account on the way (verifying the address with the mailed code) and
sees the licenses; and a desktop application, logged in with PKCE as a public client, redeems a
code with the user's own token."""

import re
from urllib.parse import urljoin

import pytest
import requests
import sqlalchemy as sa

from app.db import db
from app.mail.worker import deliver_pending
from app.users.models import User
from tests.activation_codes.conftest import API
from tests.conftest import basic_auth
from tests.live import RP_CALLBACK, Browser, make_relying_party
from tests.oidc.test_relying_party import PASSWORD, add_user, callback, register_client, rp_login
from tests.smtp_server import text_body

pytestmark = pytest.mark.committed
SHOP = "https://shop.example/account"


def shop_session(live_server, make_client) -> requests.Session:
    """The shop's back end: a client-credentials token for allocating and reading licenses."""
    client_id, secret = make_client(
        scopes=["activation-codes:allocate", "entitlement:read"], redirect_uris=[SHOP])
    token = requests.post(f"{live_server.url}/user/oauth20/token",
                          data={"grant_type": "client_credentials"},
                          headers=basic_auth(client_id, secret), timeout=10).json()
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token['access_token']}"
    return http


def link(browser: Browser, text: str) -> str:
    match = re.search(r'<a href="([^"]+)">' + re.escape(text) + "</a>", browser.page.text)
    assert match, f"no link {text!r} on {browser.page.url}"
    return urljoin(browser.page.url, match.group(1).replace("&amp;", "&"))


def test_purchase_email_redeem_page_registration_licenses(live_server, smtp_server, make_client,
                                                          make_config, mint):
    live_server.app.config["MAIL_URL"] = smtp_server.url
    config = make_config(licenseDuration="P1Y", seats=1)
    mint(config, 5)
    shop = shop_session(live_server, make_client)

    # Checkout: the shop draws a code for the order and mails it with a link to /redeem.
    drawn = shop.post(f"{live_server.url}{API}/activation-code-configs/{config['id']}/allocations",
                      json={"orderRef": "web-1001", "quantity": 1}, timeout=10)
    assert drawn.status_code == 201, drawn.text
    [code] = drawn.json()["codes"]
    email = f"Thank you! Your code: {code}\nRedeem it at {live_server.url}/redeem?returnUrl={SHOP}"

    # The customer follows the link and types the code in.
    browser = Browser(live_server.url)
    browser.go(re.search(r"https?://\S+", email).group(0))
    typed = re.search(r"Your code: (\S+)", email).group(1).lower()
    browser.submit({"code": typed})
    assert "This code gives you" in browser.page.text

    # No account yet: create one; the code waits.
    browser.go(link(browser, "Create an account"))
    assert "/user/register" in browser.page.url
    browser.submit({"email": "nina@example.com", "firstName": "Nina", "lastName": "New",
                    "password": PASSWORD})
    assert "Check your email" in browser.page.text
    with live_server.app.app_context():
        deliver_pending()
    [mail] = smtp_server.wait_for(1)
    assert mail["To"] == "nina@example.com"
    six_digits = re.search(r"^\s+(\d{6})\s*$", text_body(mail), re.MULTILINE).group(1)
    landed = browser.submit({"code": six_digits})
    assert landed.endswith("/redeem"), landed
    assert f'value="{code}"' in browser.page.text and "Signed in as nina@example.com" in \
        browser.page.text

    # Redeem: the licenses are hers, and the page links back to the shop.
    browser.submit({"code": code})
    page = browser.page.text
    assert "Your code is redeemed" in page and page.count("<strong>new</strong>") == 2
    assert f'href="{SHOP}"' in page

    with live_server.app.app_context(), db.transaction() as session:
        nina = session.scalar(sa.select(User).where(User.email == "nina@example.com"))
        assert nina.status == "active" and nina.email_verified
        user_id = nina.id
    licenses = shop.get(f"{live_server.url}{API}/users/{user_id}/available-licenses",
                        timeout=10).json()["items"]
    assert sorted(lic["licensedItem"]["name"] for lic in licenses) == ["editor", "export"]
    assert all(lic["active"] for lic in licenses)
    # The code is spent: the page says so to anyone else.
    other = Browser(live_server.url)
    other.go(f"{live_server.url}/redeem")
    other.submit({"code": code})
    assert "already been redeemed" in other.page.text


def test_an_application_redeems_with_the_users_token(live_server, make_config, mint, allocate):
    config = make_config(licenseDuration="P6M")
    mint(config, 1)
    [code] = allocate(config, "app-order").get_json()["codes"]
    user_id = add_user(live_server.app, "ann@example.com")
    client_id, secret = register_client(live_server.app, public=True)
    assert secret is None
    application = make_relying_party(live_server.url, client_id, None).test_client()

    browser = Browser(live_server.url)
    rp_login(application, browser)
    landed = browser.submit({"email": "ann@example.com", "password": PASSWORD})
    assert landed.startswith(RP_CALLBACK)
    token = callback(application, landed).get_json()["token"]["access_token"]

    url = f"{live_server.url}{API}/users/me/activation-codes/redeem"
    headers = {"Authorization": f"Bearer {token}"}
    first = requests.post(url, json={"code": code}, headers=headers, timeout=10)
    assert first.status_code == 200, first.text
    assert {lic["owner"]["id"] for lic in first.json()["licenses"]} == {user_id}
    again = requests.post(url, json={"code": code}, headers=headers, timeout=10)
    assert again.status_code == 200 and again.json() == first.json()
    mine = requests.get(f"{live_server.url}{API}/users/me/available-licenses", headers=headers,
                        timeout=10).json()["items"]
    assert {lic["id"] for lic in mine} == {lic["id"] for lic in first.json()["licenses"]}

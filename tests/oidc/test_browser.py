"""One run through registration and login in a real headless browser (Playwright driving
Debian's Chromium): the pages work for a person, not only for scripts."""

import os
import re
import shutil
from urllib.parse import parse_qs, urlsplit

import pytest

from app.db import db
from app.mail.worker import deliver_pending
from app.oidc.services import ClientService
from tests.oidc.flow import authorize_url, pkce_pair
from tests.smtp_server import text_body

pytestmark = pytest.mark.committed
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "a quiet orange bicycle"


def _browser_or_skip():
    """CI (GATEHOUSE_REQUIRE_BROWSER=1) must run this test; elsewhere a missing browser skips."""
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "playwright is not installed"
    if missing is None and not os.path.exists(CHROMIUM):
        missing = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if missing:
        if os.environ.get("GATEHOUSE_REQUIRE_BROWSER") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    return sync_playwright


@pytest.fixture
def chromium():
    sync_playwright = _browser_or_skip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


def test_register_verify_and_log_in_with_a_real_browser(live_server, smtp_server, chromium,
                                                        tmp_path):
    live_server.app.config["MAIL_URL"] = smtp_server.url
    callback = f"{live_server.url}/health/live"  # any page of ours can stand in for the app
    with live_server.app.app_context(), db.transaction() as session:
        client_id = ClientService(session).create(
            name="Desktop app", public=True, first_party=True,
            grant_types=["authorization_code", "refresh_token"], scopes=["openid", "email"],
            redirect_uris=[callback]).client.client_id

    _verifier, challenge = pkce_pair()

    def url(prompt):
        return live_server.url + authorize_url(
            client_id, redirect_uri=callback, scope="openid email", prompt=prompt,
            code_challenge=challenge, code_challenge_method="S256")

    page = chromium.new_page()
    page.goto(url("create"))
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == \
        "rgb(244, 246, 250)"  # the stylesheet loaded
    assert page.title().startswith("Create an account")
    page.fill("input[name=email]", "pat@example.com")
    page.fill("input[name=firstName]", "Pat")
    page.fill("input[name=lastName]", "Person")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Create account')")
    page.wait_for_selector("text=Check your email")

    with live_server.app.app_context():
        deliver_pending()
    [mail] = smtp_server.wait_for(1)
    code = re.search(r"^\s+(\d{6})\s*$", text_body(mail), re.M).group(1)
    page.fill("input[name=code]", code)
    page.click("button:has-text('Confirm')")
    page.wait_for_url(callback + "*")
    landed = parse_qs(urlsplit(page.url).query)
    assert landed["state"] == ["st4te"] and landed["code"]
    page.screenshot(path=str(tmp_path / "registered.png"))

    # A new browser profile: log in with the password just chosen.
    fresh = chromium.new_context().new_page()
    fresh.goto(url("login"))
    assert fresh.title().startswith("Sign in")
    fresh.fill("input[name=email]", "pat@example.com")
    fresh.fill("input[name=password]", PASSWORD)
    fresh.click("button:has-text('Sign in')")
    fresh.wait_for_url(callback + "*")
    assert parse_qs(urlsplit(fresh.url).query)["code"]

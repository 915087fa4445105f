"""The redeem page: the code checked on the server, kept through signing in, redeemed, and the
licenses shown; the as-you-type check endpoint; links back to shops only if registered."""

import re

import pytest

from tests.activation_codes.conftest import API
from tests.conftest import csrf_from
from tests.entitlements.conftest import add_user
from tests.oidc.flow import PASSWORD

SHOP = "https://shop.example/thanks"


@pytest.fixture
def sold(make_config, mint, allocate):
    config = make_config(licenseDuration="P1Y")
    mint(config, 3)
    return allocate(config, "order-1", 3).get_json()["codes"]


@pytest.fixture
def shop_client(make_client):
    """A client whose registered redirect URI the page may link back to."""
    return make_client(scopes=["openid"], grants=["authorization_code"], redirect_uris=[SHOP])


def submit(browser, code, page=None):
    page = page or browser.get("/redeem")
    return browser.post("/redeem", data={"csrf_token": csrf_from(page), "code": code})


def sign_in(browser, email):
    page = browser.get("/user/login?next=/redeem")
    response = browser.post("/user/login?next=/redeem", data={
        "csrf_token": csrf_from(page), "email": email, "password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/redeem"


def test_the_page(client):
    page = client.get("/redeem")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="code"' in html and 'name="csrf_token"' in html
    assert '<script src="/static/activation-codes/redeem.js" defer></script>' in html
    assert "<script>" not in html  # no inline script: CSP is default-src 'self'
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    script = client.get("/static/activation-codes/redeem.js")
    assert script.status_code == 200 and "javascript" in script.mimetype
    assert "checkSymbol" in script.get_data(as_text=True)


def test_signed_out_the_code_is_checked_and_kept_through_signing_in(app, client, sold):
    add_user(app, "ann@example.com", active=True)
    code = sold[0]
    page = submit(client, code.lower().replace("-", " "))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "This code gives you" in html and "suite" in html
    assert 'href="/user/login?next=/redeem"' in html
    assert 'href="/user/register?next=/redeem"' in html
    cookie = page.headers["Set-Cookie"]
    assert "gatehouse_redeem=" in cookie and "HttpOnly" in cookie and "Path=/redeem" in cookie
    assert "Max-Age=3600" in cookie and "SameSite=Lax" in cookie

    sign_in(client, "ann@example.com")  # a fresh session: Flask's session is emptied
    back = client.get("/redeem")
    html = back.get_data(as_text=True)
    assert f'value="{code}"' in html and ">Redeem</button>" in html
    assert "Signed in as ann@example.com" in html

    done = submit(client, code, page=back)
    assert done.status_code == 200
    html = done.get_data(as_text=True)
    assert "Your code is redeemed" in html
    assert html.count("<strong>new</strong>") == 2 and "Editor" in html and "Export" in html
    assert 'gatehouse_redeem=;' in done.headers["Set-Cookie"]  # forgotten
    licenses = client.get(f"{API}/users/me/available-licenses")
    assert licenses.status_code == 401  # (the API wants a token; the page showed them)


def test_refusals_are_shown_on_the_page(app, client, sold):
    assert "Codes never contain zero (0)" in submit(client, "0" + sold[0][1:]).get_data(
        as_text=True)
    unknown = submit(client, sold[0][:-1] + ("A" if sold[0][-1] != "A" else "B"))
    assert unknown.status_code == 422 and "typo" in unknown.get_data(as_text=True)
    assert "Set-Cookie" not in unknown.headers
    empty = submit(client, "")
    assert empty.status_code == 422 and "Enter the code" in empty.get_data(as_text=True)

    add_user(app, "ann@example.com", active=True)
    add_user(app, "ben@example.com", active=True)
    sign_in(client, "ann@example.com")
    assert submit(client, sold[1]).status_code == 200
    other = app.test_client()
    sign_in(other, "ben@example.com")
    taken = submit(other, sold[1])
    assert taken.status_code == 409
    assert "already been redeemed" in taken.get_data(as_text=True)


def test_a_post_without_csrf_token_changes_nothing(app, client, sold):
    add_user(app, "ann@example.com", active=True)
    sign_in(client, "ann@example.com")
    response = client.post("/redeem", data={"code": sold[0]})
    assert response.status_code == 400
    assert submit(client, sold[0]).status_code == 200  # still redeemable


def test_back_to_the_shop_only_if_registered(app, client, sold, shop_client):
    add_user(app, "ann@example.com", active=True)
    page = client.get(f"/redeem?returnUrl={SHOP}")
    assert f'href="{SHOP}"' in page.get_data(as_text=True)
    sign_in(client, "ann@example.com")
    done = submit(client, sold[0])
    assert f'href="{SHOP}"' in done.get_data(as_text=True)

    stranger = app.test_client()
    for url in ("https://evil.example/", SHOP + "/../x", "javascript:alert(1)"):
        html = stranger.get("/redeem", query_string={"returnUrl": url}).get_data(as_text=True)
        assert "Back to the shop" not in html


def test_the_as_you_type_check(client, sold):
    page = client.get("/redeem")
    headers = {"X-CSRFToken": csrf_from(page)}
    good = client.post("/redeem/check", json={"code": sold[0]}, headers=headers)
    assert good.status_code == 200
    assert good.get_json()["redeemable"] is True
    assert good.get_json()["productPackage"]["name"] == "suite"
    bad = client.post("/redeem/check", json={"code": "1" + sold[0][1:]}, headers=headers)
    assert bad.get_json()["reason"] == "activation_code.malformed"
    assert "one (1)" in bad.get_json()["detail"]
    assert client.post("/redeem/check", json={"code": sold[0]}).status_code == 400  # no CSRF
    assert client.post("/redeem/check", json={"nope": 1}, headers=headers).status_code == 400


def test_the_remembered_code_is_dropped_once_it_no_longer_redeems(app, client, sold, redeemer):
    submit(client, sold[0])
    user_id = add_user(app, "ben@example.com")
    client.application.test_client().post(
        f"{API}/users/{user_id}/activation-codes/redeem", json={"code": sold[0]},
        headers=redeemer)
    page = client.get("/redeem")
    html = page.get_data(as_text=True)
    assert "This code gives you" not in html
    assert re.search(r'<input [^>]*id="code"[^>]*value=""', html)


def test_a_german_page_says_it_in_german(client, sold):
    german = {"Accept-Language": "de"}
    page = client.get("/redeem", headers=german)
    html = page.get_data(as_text=True)
    assert '<html lang="de">' in html and "Aktivierungscode einlösen" in html
    assert "{count} von {length} Zeichen" in html  # the as-you-type check's words
    # The service's detail is English (the API's); a German page says what its title says.
    refused = client.post("/redeem", data={"csrf_token": csrf_from(page),
                                           "code": "0" + sold[0][1:]}, headers=german)
    assert refused.status_code == 422
    assert "Das ist kein Aktivierungscode" in refused.get_data(as_text=True)
    check = client.post("/redeem/check", json={"code": "1" + sold[0][1:]},
                        headers={"X-CSRFToken": csrf_from(page), **german})
    assert check.get_json()["reason"] == "activation_code.malformed"
    assert check.get_json()["detail"] == "Das ist kein Aktivierungscode"

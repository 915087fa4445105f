"""Page languages (issue 4): `ui_locales`, the user's own locale and Accept-Language choose
German where there is a catalog, for the whole login or registration; the mail follows the
user's locale; the API stays English; the German catalog is complete and compiled."""

import html
import re
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from app.db import db
from app.mail.services import TEMPLATES_DIR, render
from app.security.passwords import hash_password
from app.users.models import User
from tests.conftest import bearer, csrf_from, link_in
from tests.mail.test_services import SHIPPED
from tests.oidc.flow import CALLBACK, PASSWORD, authorize_url

ROOT = Path(__file__).resolve().parents[2]
CATALOGS = ROOT / "app" / "translations"
GERMAN = {"Accept-Language": "de-DE,de;q=0.9"}
USERS = "/api/idp/v1/users"
NIA = {"email": "nia@example.com", "firstName": "Nia", "lastName": "Neu", "password": PASSWORD}


@pytest.fixture
def shop(make_client):
    client_id, _secret = make_client(scopes=["openid", "profile", "email"],
                                     grants=["authorization_code"], redirect_uris=[CALLBACK],
                                     first_party=True)
    return client_id


def add_user(app, email="ann@example.com", locale=None):
    with app.app_context(), db.transaction() as session:
        session.add(User(email=email, first_name="Ann", last_name="Lee", status="active",
                         email_verified=True, password_hash=hash_password(PASSWORD),
                         locale=locale))


def user_row(app, email):
    with app.app_context(), db.transaction() as session:
        return session.scalar(sa.select(User).where(User.email == email))


def text(response) -> str:
    return response.get_data(as_text=True)


def language_of(response) -> str:
    return re.search(r'<html lang="([^"]+)">', text(response)).group(1)


def url_of(response) -> str:
    """Where a page was requested, query included: its forms post back there."""
    return response.request.path + "?" + response.request.query_string.decode()


def authorize(client, client_id, **params):
    """The authorization request; returns the page it sends the browser to."""
    response = client.get(authorize_url(client_id, **params))
    assert response.status_code == 302
    return client.get(response.headers["Location"])


def sign_in(client, page, email="ann@example.com", password=PASSWORD):
    return client.post(url_of(page), data={"csrf_token": csrf_from(page), "email": email,
                                           "password": password})


# --- choosing the language -------------------------------------------------------------------

def test_ui_locales_makes_the_login_german_and_it_stays_german(app, client, shop):
    add_user(app)
    login = authorize(client, shop, ui_locales="de")
    assert login.request.path == "/user/login" and language_of(login) == "de"
    assert "<h1>Anmelden</h1>" in text(login)
    assert '<label for="email">E-Mail-Adresse</label>' in text(login)
    assert "Passwort vergessen?" in text(login)

    wrong = sign_in(client, login, password="not the password")
    assert wrong.status_code == 401 and language_of(wrong) == "de"
    assert "E-Mail-Adresse oder Passwort ist nicht richtig." in text(wrong)

    empty = sign_in(client, login, email="", password="")
    assert empty.status_code == 422
    assert "Dieses Feld wird benötigt." in text(empty)  # WTForms' own catalog

    register_link = html.unescape(re.search(r'href="(/user/register\?[^"]+)"',
                                            text(login)).group(1))
    register = client.get(register_link)
    assert language_of(register) == "de" and "<h1>Konto anlegen</h1>" in text(register)
    assert "Vorname" in text(register) and "Mindestens 10 Zeichen" in text(register)

    # Off the authorization request's path: the session remembers the choice.
    assert language_of(client.get("/user/password/forgot")) == "de"

    signed_in = sign_in(client, login)
    assert signed_in.status_code == 303
    assert client.get(signed_in.headers["Location"]).headers["Location"].startswith(CALLBACK)


def test_the_choice_lasts_for_its_flow_only(app, client, shop):
    add_user(app)
    sign_in(client, client.get("/user/login"))
    answered = client.get(authorize_url(shop, ui_locales="de"))  # signed in: straight back
    assert answered.headers["Location"].startswith(CALLBACK)
    assert language_of(client.get("/user/password/forgot")) == "en"


def test_accept_language_picks_german(client):
    page = client.get("/user/login", headers=GERMAN)
    assert language_of(page) == "de" and "<title>Anmelden · Gatehouse</title>" in text(page)


def test_ui_locales_wins_and_its_first_supported_tag_counts(client, shop):
    page = authorize(client, shop, ui_locales="xx en")
    assert language_of(page) == "en" and "<h1>Sign in</h1>" in text(page)
    assert language_of(client.get(url_of(page), headers=GERMAN)) == "en"
    # A region without a catalog of its own gets its language's.
    assert language_of(authorize(client, shop, ui_locales="de-AT")) == "de"


@pytest.mark.parametrize("accept", ["fr-FR,fr;q=0.9,es;q=0.5", "xx", ""])
def test_languages_without_a_catalog_get_english(client, accept):
    page = client.get("/user/login", headers={"Accept-Language": accept} if accept else {})
    assert language_of(page) == "en" and "<h1>Sign in</h1>" in text(page)


def test_a_signed_in_users_locale_beats_accept_language(app, client):
    add_user(app, locale="de-AT")
    page = client.get("/user/login?next=/account")
    assert sign_in(client, page).headers["Location"] == "/account"
    account = client.get("/account", headers={"Accept-Language": "en"})
    assert language_of(account) == "de" and "<h1>Mein Konto</h1>" in text(account)


def test_discovery_lists_the_languages_with_a_catalog(client):
    supported = client.get("/.well-known/openid-configuration").get_json()[
        "ui_locales_supported"]
    assert supported[0] == "en" and "de" in supported


# --- registering in German -------------------------------------------------------------------

def test_a_german_registration_stores_de_and_mails_in_german(app, client, shop, outbox):
    page = authorize(client, shop, ui_locales="de", prompt="create")
    assert page.request.path == "/user/register" and language_of(page) == "de"

    weak = client.post(url_of(page), data={**NIA, "password": "password123",
                                           "csrf_token": csrf_from(page)})
    assert weak.status_code == 422
    assert "Dieses Passwort ist zu gebräuchlich" in text(weak)
    assert user_row(app, NIA["email"]) is None

    done = client.post(url_of(page), data={**NIA, "csrf_token": csrf_from(page)})
    assert done.status_code == 303 and done.headers["Location"] == "/user/verify-email"
    assert user_row(app, NIA["email"]).locale == "de"
    [mail] = outbox(template="verify_email")
    assert mail.locale == "de" and mail.subject.startswith("Ihr Bestätigungscode:")
    assert mail.text_body.startswith("Hallo Nia,") and 'lang="de"' in mail.html_body

    verify = client.get("/user/verify-email")  # no authorization request in this address
    assert language_of(verify) == "de" and "Prüfen Sie Ihr E-Mail-Postfach" in text(verify)
    wrong = client.post("/user/verify-email", data={"csrf_token": csrf_from(verify),
                                                    "code": "not a code"})
    assert wrong.status_code == 422 and "Dieser Code ist nicht richtig" in text(wrong)


def test_a_german_users_activation_mail_and_page_are_german_and_the_api_stays_english(
        app, client, api_token, outbox):
    token = bearer(api_token("idp:users:read", "idp:users:write"))
    created = client.post(f"{USERS}?sendActivationEmail=true",
                          json={"email": NIA["email"], "firstName": "Nia", "lastName": "Neu",
                                "locale": "de"}, headers=token)
    assert created.status_code == 201, created.get_json()
    [mail] = outbox(template="activation")
    assert mail.locale == "de" and mail.subject == "Aktivieren Sie Ihr Konto"

    page = client.get(link_in(mail.text_body).removeprefix("http://gatehouse.test"))
    assert language_of(page) == "de" and "Willkommen, Nia." in text(page)  # no header needed

    missing = client.get(f"{USERS}/{uuid.uuid4()}", headers={**token, **GERMAN})
    assert missing.status_code == 404 and missing.get_json()["title"] == "User not found"


def test_error_pages_speak_german(client):
    missing = client.get("/no-such-page", headers={**GERMAN, "Accept": "text/html"})
    assert missing.status_code == 404 and language_of(missing) == "de"
    assert "Seite nicht gefunden" in text(missing)
    forged = client.post("/user/login", data={"email": "a@example.com", "password": "x"},
                         headers={**GERMAN, "Accept": "text/html"})
    assert forged.status_code == 400 and "Das Formular ist abgelaufen" in text(forged)
    english = client.post("/user/login", data={}, headers={"Accept": "text/html"})
    assert "The CSRF token is missing." in text(english)


# --- the catalog and the mail templates ------------------------------------------------------

def extracted() -> set:
    """What `make translations` extracts: the same babel.cfg, from the same folder."""
    with open(ROOT / "babel.cfg") as mapping:
        method_map, options_map = parse_mapping_cfg(mapping)
    return {message for _file, _line, message, _comments, _context
            in extract_from_dir(str(ROOT), method_map, options_map)}


def catalog(path: Path):
    with open(path, "rb") as file:
        return read_mo(file) if path.suffix == ".mo" else read_po(file, locale=path.parts[-3])


def translations(messages) -> dict:
    """What a catalog translates; plural forms as tuples (the .mo reader gives lists)."""
    def plain(value):
        return tuple(value) if isinstance(value, (list, tuple)) else value
    return {(plain(m.id), m.context): plain(m.string) for m in messages if m.id and not m.fuzzy}


@pytest.fixture(scope="module")
def messages() -> set:
    return extracted()


@pytest.mark.parametrize("language", ["de"])
def test_every_page_string_is_translated(messages, language):
    po = catalog(CATALOGS / language / "LC_MESSAGES" / "messages.po")
    untranslated = []
    for msgid in messages:
        entry = po.get(msgid)
        strings = entry.string if entry is not None and isinstance(entry.string, tuple) else (
            [entry.string] if entry is not None else [])
        if entry is None or entry.fuzzy or not all(strings):
            untranslated.append(msgid)
    assert untranslated == [], "run `make translations`, then translate these"
    assert not [(m.id, errors) for m, errors in po.check()]  # placeholders, plural forms
    for entry in po:
        if entry.id and not isinstance(entry.id, tuple):  # {names} filled in by the page's script
            assert set(re.findall(r"{\w+}", entry.id)) == set(re.findall(r"{\w+}", entry.string))


def test_the_committed_template_and_compiled_catalogs_are_current(messages):
    template = catalog(CATALOGS / "messages.pot")
    assert {m.id for m in template if m.id} == messages, "run `make translations`"
    for po_path in CATALOGS.glob("*/LC_MESSAGES/messages.po"):
        compiled = po_path.with_suffix(".mo")
        assert compiled.exists(), f"run `make translations` ({compiled} is missing)"
        assert translations(catalog(compiled)) == translations(catalog(po_path)), (
            f"run `make translations` ({compiled} is stale)")


def test_every_mail_template_has_a_german_version():
    for english in sorted(TEMPLATES_DIR.glob("mail/*/en")):
        german = english.parent / "de"
        assert sorted(p.name for p in german.iterdir()) == sorted(
            p.name for p in english.iterdir()), english.parent.name


@pytest.mark.parametrize("template", sorted(SHIPPED))
def test_german_mail_renders_every_link(template):
    context = SHIPPED[template]
    mail = render(template, context, "de-DE")
    assert mail.locale == "de" and mail.subject != render(template, context).subject
    assert mail.text.startswith("Hallo Ann,") and 'lang="de"' in mail.html
    assert "Falls die Schaltfläche nicht funktioniert" in mail.html
    for name, link in context.items():
        if "link" in name:
            assert link in mail.text and f'href="{link}"' in mail.html


def test_the_german_invitation_words_what_the_service_passes_in_english():
    context = {"inviter": "Example Shop", "message": None, "link": "https://gatehouse.test/i/t",
               "valid_until": "01 March 2027, 12:00 UTC"}
    joining = render("invitation", {**context, "target": "join Acme Oy"}, "de")
    assert joining.subject == "Example Shop lädt Sie ein, Acme Oy beizutreten"
    assert "gültig bis 01. März 2027, 12:00 UTC" in joining.text
    own = render("invitation", {**context, "target": "create your Example Shop account"}, "de")
    assert own.subject == "Example Shop lädt Sie ein, ein Konto bei Example Shop anzulegen"

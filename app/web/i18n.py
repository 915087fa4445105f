"""The pages' language: Flask-Babel with the catalogs in app/translations, and the one rule that
picks a language for a request (OIDC `ui_locales`, the user's own, Accept-Language, English)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import Babel, LazyString, get_locale, gettext, refresh
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import LanguageAccept

from app.errors import GatehouseError
from app.messages import Message
from app.oidc.sessions import current_login

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"
SOURCE_LANGUAGE = "en"  # the language the pages and services are written in
# Where a `ui_locales` choice waits for the rest of its login or registration: the verification
# page and the links off the login page carry no authorization request. Signing in starts an
# empty session, and the authorization response forgets it (`forget_ui_locales`).
REMEMBERED = "ui_locale"

babel = Babel()


def catalog_languages(directory: Path = TRANSLATIONS_DIR) -> list[str]:
    """The languages that have a compiled catalog, as BCP 47 tags ("de", "pt-BR")."""
    return sorted(mo.parent.parent.name.replace("_", "-")
                  for mo in directory.glob("*/LC_MESSAGES/messages.mo"))


def supported_languages() -> list[str]:
    """English first, then every language with a catalog (what discovery calls
    `ui_locales_supported`)."""
    return current_app.extensions["gatehouse.languages"]


def _first_supported(tags: Iterable[str | None]) -> str | None:
    """The first tag we have pages for, matched as Accept-Language is ("de-AT" is "de")."""
    supported = supported_languages()
    for tag in tags:
        if tag and (match := LanguageAccept([(tag, 1)]).best_match(supported)):
            return match
    return None


def _requested() -> list[str]:
    """This request's `ui_locales` (OIDC Core: space-separated, best first)."""
    return request.args.get("ui_locales", "").split()


def _users_own() -> str | None:
    """The locale of the person the page is for: the one the page names (`speak_to`), else the
    signed-in user's."""
    if g.get("page_person_locale"):
        return g.page_person_locale
    try:
        login = current_login()
    except SQLAlchemyError:
        # An error page for a failed transaction: its language is not worth a second failure.
        return None
    return login.user.locale if login is not None else None


def preferred_languages() -> list[str]:
    """Every language the request asks for, best first: its `ui_locales`, or the choice
    remembered from earlier in the same flow; the user's `locale` (signed in, or the one a
    mailed link is for: `speak_to`); Accept-Language.
    The page takes the first it has a catalog for; names from data (licensed items) may have
    others."""
    wishes = [*_requested(), session.get(REMEMBERED), _users_own(),
              *(tag for tag, _quality in request.accept_languages)]
    return list(dict.fromkeys(tag for tag in wishes if tag))


def select_language() -> str:
    """The page language: the first preferred one that has a catalog, else English."""
    if not has_request_context():
        return SOURCE_LANGUAGE
    language = _first_supported(preferred_languages()) or SOURCE_LANGUAGE
    return language.replace("-", "_")  # Babel's spelling of the tag


def _remember_ui_locales() -> None:
    """A request that names `ui_locales` starts (or restarts) a flow in that language."""
    if "ui_locales" in request.args:
        requested = _first_supported(_requested())
        if requested:
            session[REMEMBERED] = requested
        else:
            session.pop(REMEMBERED, None)


def speak_to(locale: str | None) -> None:
    """This page is for a known person who need not be signed in (a mailed link names them, or
    the invitation says their language): their locale counts as a signed-in user's would."""
    g.page_person_locale = locale
    refresh()  # in case something on the way asked for the language already


def forget_ui_locales() -> None:
    """The flow is over (the application has its answer): the user's own language again."""
    session.pop(REMEMBERED, None)


def current_language() -> str:
    """The page language as a BCP 47 tag, for `<html lang>` and for what a registration stores."""
    locale = get_locale()
    return str(locale).replace("_", "-") if locale is not None else SOURCE_LANGUAGE


def in_source_language() -> bool:
    """Whether the page is English, the language services and libraries write in."""
    locale = get_locale()
    return locale is None or locale.language == SOURCE_LANGUAGE


# --- the services' words on a page -----------------------------------------------------------

def translate(text: str) -> str:
    """Words from domain code, in the page's language: a marked `Message` through the catalog,
    anything else as it is."""
    if isinstance(text, Message):
        return gettext(text.msgid, **text.values)
    return text


def lazy(text: str) -> LazyString:
    """`translate`, put off until shown (form labels and hints are made at import time)."""
    return LazyString(translate, text)


def service_text(text: str, otherwise: str) -> str:
    """Unmarked English from a service or library (the API's words too): as it is on an English
    page; on another, `otherwise`, the catalog's less detailed words for the same thing."""
    if isinstance(text, Message) or in_source_language():
        return translate(text)
    return otherwise


def error_text(error: GatehouseError) -> str:
    """A domain error's detail on a page; in another language its title, which names the same
    thing and is marked for the catalog where pages can meet it."""
    return service_text(error.detail, translate(error.title))


def field_errors(error: GatehouseError, field: str) -> list[str]:
    """A domain error's messages for one form field (its `errors`), in the page's language."""
    return [translate(message) for message in error.errors[field]]


def init_app(app: Flask) -> None:
    languages = catalog_languages()
    app.extensions["gatehouse.languages"] = [
        SOURCE_LANGUAGE, *(tag for tag in languages if tag != SOURCE_LANGUAGE)]
    babel.init_app(app, default_locale=SOURCE_LANGUAGE,
                   default_translation_directories=str(TRANSLATIONS_DIR),
                   locale_selector=select_language)
    app.before_request(_remember_ui_locales)
    app.jinja_env.globals["page_language"] = current_language

"""Enqueueing: what the mail will say is decided in the transaction of the change that causes it."""

from __future__ import annotations

import shutil
import uuid
from datetime import timedelta
from pathlib import Path

import jinja2
import pytest
import sqlalchemy as sa

from app.db import db
from app.mail.models import MessageStatus, OutboxMessage
from app.mail.services import MailService, UnknownTemplate, locale_candidates, render
from tests.mail.conftest import ACTIVATION

# Every template the users issue relies on, with the context it documents.
SHIPPED = {
    "activation": ACTIVATION,
    "password_reset": {"first_name": "Ann", "link": "https://gatehouse.test/user/password/reset/t",
                       "expires_minutes": 60},
    "verify_email": {"first_name": "Ann", "link": "https://gatehouse.test/user/verify-email/t",
                     "code": "K7Q-4MZ"},
    "account_exists": {"first_name": "Ann", "login_link": "https://gatehouse.test/user/login",
                       "reset_link": "https://gatehouse.test/user/password/forgot"},
}


def count_messages(app) -> int:
    with app.app_context(), db.transaction() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))


def test_enqueue_stores_the_rendered_message_as_pending(enqueue, stored):
    user_id = uuid.uuid4()
    message = stored(enqueue(to="Ann@Example.com", user_id=user_id))
    assert message.recipient == "Ann@Example.com"
    assert message.subject == "Activate your account"
    assert "Hello Ann," in message.text_body
    assert "https://gatehouse.test/user/activate/tok-1" in message.text_body
    assert "72 hours" in message.text_body
    assert 'href="https://gatehouse.test/user/activate/tok-1"' in message.html_body
    assert (message.status, message.attempts, message.channel) == ("pending", 0, "email")
    assert message.locale == "en" and message.user_id == user_id
    assert abs(message.next_attempt_at - message.created_at) < timedelta(seconds=1)  # due now
    assert message.sent_at is None and message.last_error is None


@pytest.mark.parametrize("template", sorted(SHIPPED))
def test_shipped_templates_render_every_link_in_text_and_html(template):
    context = SHIPPED[template]
    mail = render(template, context)
    assert mail.subject and "\n" not in mail.subject
    assert "Hello Ann," in mail.text
    links = [value for name, value in context.items() if "link" in name]
    for link in links:
        assert link in mail.text
        assert f'href="{link}"' in mail.html
    assert mail.html.lstrip().startswith("<!DOCTYPE html>")
    assert 'lang="en"' in mail.html


def test_verification_code_is_in_subject_and_bodies():
    mail = render("verify_email", SHIPPED["verify_email"])
    assert "K7Q-4MZ" in mail.subject and "K7Q-4MZ" in mail.text and "K7Q-4MZ" in mail.html


def test_html_escapes_what_users_typed_but_text_keeps_it():
    mail = render("activation", {**ACTIVATION, "first_name": "<b>Ann</b> & co",
                                 "link": "https://gatehouse.test/a?x=1&y=2"})
    assert "&lt;b&gt;Ann&lt;/b&gt; &amp; co" in mail.html and "<b>Ann</b>" not in mail.html
    assert 'href="https://gatehouse.test/a?x=1&amp;y=2"' in mail.html
    assert "Hello <b>Ann</b> & co," in mail.text
    assert "https://gatehouse.test/a?x=1&y=2" in mail.text


def test_a_missing_name_still_reads_well():
    assert render("activation", {**ACTIVATION, "first_name": ""}).text.startswith("Hello,\n")


def test_missing_context_fails_the_enqueue_instead_of_mailing_a_broken_message(app):
    with app.app_context(), db.transaction() as session:
        with pytest.raises(jinja2.UndefinedError):
            MailService(session).enqueue(to="ann@example.com", template="activation",
                                         context={"first_name": "Ann"})
    assert count_messages(app) == 0


def test_unknown_templates_and_bad_addresses_are_refused(app):
    with app.app_context(), db.transaction() as session:
        service = MailService(session)
        with pytest.raises(UnknownTemplate):
            service.enqueue(to="ann@example.com", template="no_such_mail", context={})
        with pytest.raises(UnknownTemplate):
            service.enqueue(to="ann@example.com", template="../activation", context=ACTIVATION)
        for address in ("", "a@", "@example.com", "not-an-address", "Ann <ann@example.com>",
                        "a@example.com, b@example.com",
                        "ann@example.com\r\nBcc: eve@example.com"):
            with pytest.raises(ValueError):
                service.enqueue(to=address, template="activation", context=ACTIVATION)
    assert count_messages(app) == 0


def test_a_rolled_back_change_leaves_no_message(app):
    with app.app_context():
        with pytest.raises(RuntimeError):
            with db.transaction() as session:
                MailService(session).enqueue(to="ann@example.com", template="activation",
                                             context=ACTIVATION)
                raise RuntimeError("the change that caused the mail failed")
    assert count_messages(app) == 0


def test_in_a_request_the_message_is_flushed_and_committed_with_the_request(app):
    with app.test_request_context():
        message = MailService(db.session).enqueue(to="ann@example.com", template="activation",
                                                  context=ACTIVATION)
        assert message.id is not None  # flushed: the caller can report it at once
        db.session.commit()
    assert count_messages(app) == 1


def test_latest_for_user_is_the_newest_of_that_kind(app, enqueue):
    user_id = uuid.uuid4()
    enqueue(user_id=user_id)
    newest = enqueue(user_id=user_id, context={**ACTIVATION, "link": "https://gatehouse.test/2"})
    enqueue(user_id=user_id, template="password_reset", context=SHIPPED["password_reset"])
    enqueue(user_id=uuid.uuid4())
    with app.app_context(), db.transaction() as session:
        service = MailService(session)
        latest = service.latest_for_user(user_id, "activation")
        assert latest.id == newest and latest.status == MessageStatus.PENDING
        assert service.latest_for_user(user_id, "verify_email") is None


# --- locales ---------------------------------------------------------------------------------

@pytest.fixture
def german_activation(app):
    """A deployment's own translation, dropped into the instance folder."""
    root = Path(app.instance_path) / "templates"
    folder = root / "mail" / "activation" / "de"
    folder.mkdir(parents=True)
    (folder / "subject.txt").write_text("Aktivieren Sie Ihr Konto\n")
    (folder / "body.txt").write_text("Hallo {{ first_name }},\n\n{{ link }}\n")
    (folder / "body.html").write_text(
        '{% extends "mail/layout.html" %}'
        '{% block content %}<a href="{{ link }}">Konto aktivieren</a>{% endblock %}')
    yield
    shutil.rmtree(root)


@pytest.mark.parametrize("asked, used, subject", [
    ("de-AT", "de", "Aktivieren Sie Ihr Konto"),
    ("de_at", "de", "Aktivieren Sie Ihr Konto"),
    ("de", "de", "Aktivieren Sie Ihr Konto"),
    ("fr-CA", "en", "Activate your account"),
    (None, "en", "Activate your account"),
    ("../../etc", "en", "Activate your account"),
])
def test_locale_falls_back_from_region_to_language_to_english(
        german_activation, enqueue, stored, asked, used, subject):
    message = stored(enqueue(locale=asked))
    assert (message.locale, message.subject) == (used, subject)
    assert f'lang="{used}"' in message.html_body
    if used == "de":
        assert message.text_body.startswith("Hallo Ann,")


def test_templates_without_a_translation_fall_back_to_english(german_activation):
    assert render("password_reset", SHIPPED["password_reset"], "sv-SE").locale == "en"
    assert render("password_reset", SHIPPED["password_reset"], "de-AT").locale == "de"


def test_locale_candidates():
    assert locale_candidates("de-AT") == ["de-AT", "de", "en"]
    assert locale_candidates("ZH-hant-tw") == ["zh-Hant-TW", "zh", "en"]
    assert locale_candidates("en-GB") == ["en-GB", "en"]
    assert locale_candidates("") == ["en"]

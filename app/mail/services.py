"""Enqueue mail: render a template in the recipient's locale and add it to the outbox in the
caller's transaction, so the message exists exactly when the change that caused it does."""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass
from email.errors import MessageError
from email.headerregistry import Address
from pathlib import Path
from typing import Any, Mapping

import jinja2
import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from app.mail.models import EMAIL, OutboxMessage

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
DEFAULT_LOCALE = "en"

# Locales and template names become template paths: only plain tags and names get that far.
_LOCALE = re.compile(r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$")
_TEMPLATE = re.compile(r"^[a-z][a-z0-9_]*$")


class UnknownTemplate(LookupError):
    """No such mail template (in any locale): a programming error, not a user's."""


@dataclass(frozen=True)
class RenderedMail:
    locale: str
    subject: str
    text: str
    html: str


@functools.cache
def _environment(override_dir: Path | None) -> jinja2.Environment:
    folders = [override_dir, TEMPLATES_DIR] if override_dir else [TEMPLATES_DIR]
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folders),
        autoescape=jinja2.select_autoescape(["html"]),
        # A context missing a variable fails the enqueue (and so the request), instead of
        # mailing "Hello ," or an empty link.
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def locale_candidates(locale: str | None) -> list[str]:
    """The locales to try, best first: exact ("de-AT"), language ("de"), then English."""
    candidates = []
    if locale and _LOCALE.match(locale):
        language, *rest = locale.replace("_", "-").split("-")
        language = language.lower()
        # BCP 47 casing, which is also how the template folders are named: de-AT, zh-Hant.
        subtags = [s.upper() if len(s) == 2 else s.title() if len(s) == 4 else s.lower()
                   for s in rest]
        candidates = ["-".join([language, *subtags]), language]
    return list(dict.fromkeys([*candidates, DEFAULT_LOCALE]))


def _override_dir() -> Path | None:
    """`instance/templates/mail/<template>/<locale>/…` wins over the built-in templates: a
    deployment adds translations or its own wording without a fork."""
    if has_app_context():
        return Path(current_app.instance_path) / "templates"
    return None


def render(template: str, context: Mapping[str, Any], locale: str | None = None) -> RenderedMail:
    """Render subject, text and HTML of `template` in the best available locale (which the
    templates see as `locale`)."""
    if not _TEMPLATE.match(template):
        raise UnknownTemplate(f"{template!r} is not a mail template name")
    environment = _environment(_override_dir())
    for candidate in locale_candidates(locale):
        folder = f"mail/{template}/{candidate}"
        try:
            subject = environment.get_template(f"{folder}/subject.txt")
        except jinja2.TemplateNotFound:
            continue
        values = {**context, "locale": candidate}
        return RenderedMail(
            locale=candidate,
            # A subject is one header line, however the template wraps it.
            subject=" ".join(subject.render(values).split()),
            text=environment.get_template(f"{folder}/body.txt").render(values),
            html=environment.get_template(f"{folder}/body.html").render(values),
        )
    raise UnknownTemplate(f"no mail template {template!r} (not even in {DEFAULT_LOCALE!r})")


def _check_address(address: str) -> str:
    try:
        return Address(addr_spec=address.strip()).addr_spec
    except (ValueError, IndexError, MessageError):  # the parser's ways of saying no
        raise ValueError(f"{address!r} is not a single email address") from None


class MailService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def enqueue(
        self,
        *,
        to: str,
        template: str,
        context: Mapping[str, Any],
        locale: str | None = None,
        user_id: uuid.UUID | None = None,
    ) -> OutboxMessage:
        """Render `template` for `to` and add it to the outbox, in the caller's transaction."""
        recipient = _check_address(to)
        mail = render(template, context, locale)
        message = OutboxMessage(
            channel=EMAIL,
            template=template,
            recipient=recipient,
            subject=mail.subject,
            text_body=mail.text,
            html_body=mail.html,
            locale=mail.locale,
            user_id=user_id,
        )
        self.session.add(message)
        # Flushed now so that the caller can report the message's id and state, and a database
        # error fails the change it belongs to rather than surfacing at commit.
        self.session.flush()
        return message

    def latest_for_user(self, user_id: uuid.UUID, template: str) -> OutboxMessage | None:
        """The user's most recent message of this kind (e.g. "activation"), for delivery state."""
        return self.session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.user_id == user_id, OutboxMessage.template == template)
            .order_by(OutboxMessage.created_at.desc())
            .limit(1)
        ).first()

"""Fixtures for the outbox: enqueue as a service caller would, deliver as the worker would."""

from __future__ import annotations

import uuid

import pytest

from app.db import db
from app.mail.models import OutboxMessage
from app.mail.senders import make_sender
from app.mail.services import MailService
from app.mail.worker import PassCounts, deliver_pending

ACTIVATION = {"first_name": "Ann", "link": "https://gatehouse.test/user/activate/tok-1",
              "expires_hours": 72}


@pytest.fixture
def enqueue(app):
    """Enqueue in a transaction of its own (committed, or a savepoint in the test's transaction)."""

    def enqueue(to="ann@example.com", template="activation", context=None, **kwargs) -> uuid.UUID:
        with app.app_context(), db.transaction() as session:
            message = MailService(session).enqueue(
                to=to, template=template, context=ACTIVATION if context is None else context,
                **kwargs)
            return message.id

    return enqueue


@pytest.fixture
def stored(app):
    def stored(message_id: uuid.UUID) -> OutboxMessage | None:
        with app.app_context(), db.transaction() as session:
            return session.get(OutboxMessage, message_id)

    return stored


@pytest.fixture
def smtp_sender(app, smtp_server):
    return make_sender(smtp_server.url, app.config["MAIL_FROM"])


@pytest.fixture
def deliver(app, smtp_sender):
    """One worker pass, through the loopback SMTP server unless another sender is given."""

    def deliver(**kwargs) -> PassCounts:
        kwargs.setdefault("sender", smtp_sender)
        with app.app_context():
            return deliver_pending(**kwargs)

    return deliver

"""Fixtures for the events API: tokens, recorded events, subscriptions, a mocked receiver and
worker passes with a movable clock."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import responses
import sqlalchemy as sa

from app.db import db, utcnow
from app.events import delivery
from app.events.models import Event, WebhookDelivery
from app.events.services import SETTLE_WINDOW, EventLog
from tests.conftest import bearer

EVENTS = "/api/events/v1/events"
WEBHOOKS = "/api/events/v1/webhooks"
RECEIVER = "https://hooks.example/gatehouse?token=receiver-token-123"


def settled(seconds: float = 1):
    """A clock just past the settle window of everything recorded until now."""
    moment = utcnow() + SETTLE_WINDOW + timedelta(seconds=seconds)
    return lambda: moment


@pytest.fixture
def reader(api_token):
    return bearer(api_token("events:read"))


@pytest.fixture
def manager(api_token):
    return bearer(api_token("webhooks:manage"))


@pytest.fixture
def record(app):
    """Record an event as a service would, in a transaction of its own; `age` backdates it
    (as if recorded that long ago). Returns (seq, id)."""

    def record(type="user.created", subject_id=None, *, age: timedelta | None = None, **data):
        with app.app_context(), db.transaction() as session:
            event = EventLog(session).record(type, subject_id or uuid.uuid4(), **data)
            if age is not None:
                event.occurred_at = utcnow() - age
            session.flush()
            return event.seq, event.id

    return record


@pytest.fixture
def subscribe(client, manager):
    """Create a subscription through the API; returns its JSON (with the secret)."""

    def subscribe(url=RECEIVER, **body):
        response = client.post(WEBHOOKS, json={"url": url, **body}, headers=manager)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return subscribe


@pytest.fixture
def receiver():
    """The receiving end: `responses` answers requests' calls (nothing reaches the network)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def deliver(app):
    """One webhook pass; by default with the clock past the settle window."""

    def deliver(**kwargs):
        kwargs.setdefault("clock", settled())
        with app.app_context():
            return delivery.deliver_pending(**kwargs)

    return deliver


@pytest.fixture
def stored(app):
    """The deliveries of a subscription (by its id string), oldest event first."""

    def stored(subscription_id: str) -> list[WebhookDelivery]:
        with app.app_context(), db.transaction() as session:
            return list(session.scalars(
                sa.select(WebhookDelivery)
                .where(WebhookDelivery.subscription_id == uuid.UUID(subscription_id))
                .order_by(WebhookDelivery.event_seq)))

    return stored


@pytest.fixture
def events_of(app):
    def events_of(type: str) -> list[Event]:
        with app.app_context(), db.transaction() as session:
            return list(session.scalars(sa.select(Event).where(Event.type == type)
                                        .order_by(Event.seq)))

    return events_of

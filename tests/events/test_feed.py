"""The event feed: cursor paging, type filters, and the settle window that keeps a poller from
skipping an event whose transaction committed late."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.db import db, utcnow
from app.events.models import Event
from app.events.services import SETTLE_WINDOW, EventFeed, EventLog
from tests.events.conftest import EVENTS

OLD = timedelta(minutes=1)


def read(client, headers, **params):
    response = client.get(EVENTS, query_string=params, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def seqs(page):
    return [item["seq"] for item in page["items"]]


def test_pages_oldest_first_with_the_cursor(client, reader, record):
    recorded = [str(record("user.created", age=OLD)[0]) for _ in range(5)]

    first = read(client, reader, limit=2)
    assert seqs(first) == recorded[:2]
    assert first["nextCursor"] == recorded[1]
    second = read(client, reader, after=first["nextCursor"], limit=2)
    assert seqs(second) == recorded[2:4]
    third = read(client, reader, after=second["nextCursor"], limit=2)
    assert seqs(third) == recorded[4:]
    assert third["nextCursor"] == recorded[4]

    empty = read(client, reader, after=third["nextCursor"])
    assert empty == {"items": [], "nextCursor": recorded[4]}


def test_an_event_as_integrations_see_it(client, reader, api_token):
    # Caused by an API call: the calling client is named.
    response = client.post("/api/idp/v1/users", headers={
        "Authorization": f"Bearer {api_token('idp:users:write')}"},
        json={"email": "ann@example.com", "firstName": "Ann", "lastName": "Lee"})
    user = response.get_json()
    page = read(client, reader, type="user.created")
    assert page["items"] == []  # recorded just now: not settled yet

    with client.application.app_context(), db.transaction() as session:
        session.execute(sa.update(Event).values(occurred_at=utcnow() - OLD))
    [event] = read(client, reader, type="user.created")["items"]
    assert set(event) == {"id", "seq", "type", "subjectId", "data", "clientId", "occurredAt"}
    assert event["type"] == "user.created" and event["subjectId"] == user["id"]
    assert event["data"] == {"email": "ann@example.com", "status": "pendingActivation"}
    assert event["clientId"] and isinstance(event["seq"], str)
    uuid.UUID(event["id"])


def test_type_filter_exact_and_prefix(client, reader, record):
    user = record("user.created", age=OLD)[0]
    invited = record("invitation.created", age=OLD)[0]
    record("invitationx.created", age=OLD)
    sent = record("invitation.sent", age=OLD)[0]
    licensed = record("license_transaction.provisioned", age=OLD)[0]
    record("licenseXtransaction.provisioned", age=OLD)  # `_` is no wildcard
    record("Invitation.created", age=OLD)  # types are case-sensitive on every engine
    last = record("user.deleted", age=OLD)[0]

    assert seqs(read(client, reader, type="invitation.*")) == [str(invited), str(sent)]
    assert seqs(read(client, reader, type="user.created")) == [str(user)]
    assert seqs(read(client, reader, type="license_transaction.*")) == [str(licensed)]
    both = read(client, reader, type=["user.*", "invitation.sent"])
    assert seqs(both) == [str(user), str(sent), str(last)]
    assert seqs(read(client, reader, type="*")) == seqs(read(client, reader))


def test_a_filtered_poll_moves_past_what_did_not_match(client, reader, record):
    record("invitation.created", age=OLD)
    last = record("user.created", age=OLD)[0]
    page = read(client, reader, type="organization.*")
    assert page["items"] == []
    # Everything settled was looked at: the next poll need not look at it again.
    assert page["nextCursor"] == str(last)
    later = record("organization.member_added", age=OLD)[0]
    assert seqs(read(client, reader, type="organization.*", after=page["nextCursor"])) == [
        str(later)]


def test_a_full_filtered_page_ends_at_its_last_event(client, reader, record):
    first = record("user.created", age=OLD)[0]
    record("user.updated", age=OLD)
    record("invitation.created", age=OLD)
    page = read(client, reader, type="user.*", limit=2)
    assert len(page["items"]) == 2 and page["nextCursor"] == page["items"][-1]["seq"]
    assert page["items"][0]["seq"] == str(first)


@pytest.mark.parametrize("params, code", [
    ({"after": "abc"}, "event.invalid_cursor"),
    ({"after": "-1"}, "event.invalid_cursor"),
    ({"after": "99999999999999999999"}, "event.invalid_cursor"),
    ({"type": "user.**"}, "event.invalid_type"),
    ({"type": "user created"}, "event.invalid_type"),
    ({"limit": "0"}, "validation_error"),
    ({"limit": "101"}, "validation_error"),
])
def test_bad_parameters_are_a_problem_with_a_stable_code(client, reader, params, code):
    response = client.get(EVENTS, query_string=params, headers=reader)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == code


def test_the_feed_needs_the_events_scope(client, api_token):
    assert client.get(EVENTS).status_code == 401
    response = client.get(EVENTS, headers={
        "Authorization": f"Bearer {api_token('webhooks:manage')}"})
    assert response.status_code == 403 and response.get_json()["code"] == "insufficient_scope"
    assert client.get(EVENTS, headers={
        "Authorization": f"Bearer {api_token('admin')}"}).status_code == 200


# --- the settle window -----------------------------------------------------------------------

def feed(app, clock=utcnow, **kwargs):
    with app.app_context(), db.transaction() as session:
        page = EventFeed(session, clock=clock).read(**kwargs)
        return [event.seq for event in page.items], page.next_cursor


def test_events_are_served_once_they_have_settled(app, record):
    old = record(age=OLD)[0]
    fresh = record()[0]
    assert feed(app, after=None, limit=10) == ([old], str(old))
    just_before = lambda: utcnow() + SETTLE_WINDOW - timedelta(seconds=1)  # noqa: E731
    assert feed(app, clock=just_before, after=str(old), limit=10) == ([], str(old))
    after_window = lambda: utcnow() + SETTLE_WINDOW + timedelta(seconds=1)  # noqa: E731
    assert feed(app, clock=after_window, after=str(old), limit=10) == ([fresh], str(fresh))


def test_an_unsettled_event_holds_back_later_ones_however_old_they_look(app, record):
    # seq and occurred_at need not agree across concurrent transactions: the page ends at the
    # first unsettled seq, so nothing after it is served (and skipped) ahead of it.
    before = record(age=OLD)[0]
    record()  # recent
    record(age=OLD)  # a later seq that looks settled
    assert feed(app, after=None, limit=10) == ([before], str(before))
    assert feed(app, after=None, types=["user.*"], limit=10) == ([before], str(before))


@pytest.mark.committed
def test_a_transaction_that_commits_late_is_not_skipped(app, is_postgres):
    """seq 10 is taken by a transaction still open while seq 11 commits: a poller sees
    neither until 10 has committed and settled, then both, in order."""
    if not is_postgres:
        pytest.skip("SQLite writers take turns: its transactions cannot commit out of order")
    with app.app_context():
        with db.engine.connect() as connection, Session(bind=connection) as slow:
            early = EventLog(slow).record("user.created", uuid.uuid4())
            slow.flush()  # seq taken, not committed
            early_seq = early.seq
            with db.transaction() as session:
                late = EventLog(session).record("user.created", uuid.uuid4())
                session.flush()
                late_seq, recorded_at = late.seq, late.occurred_at
            assert late_seq > early_seq

            # Within the window the committed later event is not served: no cursor moves
            # past the open transaction's seq.
            assert feed(app, clock=lambda: recorded_at + timedelta(seconds=1),
                        after=None, limit=10) == ([], "0")
            slow.commit()
        settled = lambda: recorded_at + SETTLE_WINDOW + timedelta(seconds=1)  # noqa: E731
        assert feed(app, clock=settled, after=None, limit=10) == (
            [early_seq, late_seq], str(late_seq))

"""Webhook delivery: a change in the API reaches the receiver signed, once, in order, retried
when it fails and given up on loudly."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from datetime import timedelta

import pytest
import requests
import responses
import sqlalchemy as sa

from app.db import db, utcnow
from app.events import delivery
from app.events.models import WebhookDelivery
from app.events.services import SETTLE_WINDOW, EventLog, WebhookService
from app.events.signing import new_secret, seal, verify
from app.mail.worker import retry_delay
from tests.conftest import bearer
from tests.events.conftest import RECEIVER, WEBHOOKS, settled

USERS = "/api/idp/v1/users"
OTHER = "https://other.example/hook"


def later(row: WebhookDelivery, seconds: float = 1):
    """A clock just past the delivery's next attempt."""
    moment = row.next_attempt_at + timedelta(seconds=seconds)
    return lambda: moment


def bodies(receiver, url=RECEIVER):
    return [json.loads(call.request.body) for call in receiver.calls if call.request.url == url]


@pytest.fixture
def users_writer(api_token):
    return bearer(api_token("idp:users:write"))


def create_user(client, headers, email="ann@example.com"):
    response = client.post(USERS, json={"email": email, "firstName": "Ann", "lastName": "Lee"},
                           headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_user_created_through_the_api_reaches_the_receiver_signed(
        client, manager, users_writer, subscribe, receiver, deliver, stored):
    hook = subscribe(eventTypes=["user.*"])
    receiver.post(RECEIVER, status=204)
    user = create_user(client, users_writer)

    moment = utcnow() + SETTLE_WINDOW + timedelta(seconds=1)
    assert deliver(clock=lambda: moment).sent == 1

    [call] = receiver.calls
    request = call.request
    body = request.body
    event = json.loads(body)
    assert set(event) == {"id", "type", "subjectId", "data", "occurredAt"}
    assert event["type"] == "user.created" and event["subjectId"] == user["id"]
    assert event["data"] == {"email": "ann@example.com", "status": "pendingActivation"}
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Gatehouse-Event-Id"] == event["id"]
    assert request.headers["Gatehouse-Event-Type"] == "user.created"
    timestamp = request.headers["Gatehouse-Timestamp"]
    assert timestamp == str(int(moment.timestamp()))

    # What a receiver does, by hand: HMAC-SHA256 of "<t>.<body>" under the secret.
    expected = hmac.new(hook["secret"].encode(), f"{timestamp}.".encode() + body,
                        hashlib.sha256).hexdigest()
    assert request.headers["Gatehouse-Signature"] == f"t={timestamp},v1={expected}"
    assert verify(hook["secret"], request.headers["Gatehouse-Signature"], body,
                  now=int(moment.timestamp()))
    assert not verify("whsec_someone-else", request.headers["Gatehouse-Signature"], body,
                      now=int(moment.timestamp()))
    assert not verify(hook["secret"], request.headers["Gatehouse-Signature"], body,
                      now=int(moment.timestamp()) + 3600)  # a stale replay
    assert not verify(hook["secret"], request.headers["Gatehouse-Signature"], body + b" ",
                      now=int(moment.timestamp()))

    [row] = stored(hook["id"])
    assert (row.status, row.attempts, row.response_status) == ("delivered", 1, 204)
    page = client.get(f"{WEBHOOKS}/{hook['id']}/deliveries", headers=manager).get_json()
    assert page["total"] == 1
    [shown] = page["items"]
    assert shown["eventId"] == event["id"] and shown["eventType"] == "user.created"
    assert shown["status"] == "delivered" and shown["attempts"] == 1
    assert shown["responseStatus"] == 204 and shown["lastError"] is None
    assert shown["deliveredAt"] and shown["lastAttemptAt"] and shown["nextAttemptAt"] is None

    assert deliver(clock=lambda: moment + timedelta(days=1)).total == 0
    assert len(receiver.calls) == 1


def test_nothing_goes_out_before_the_event_has_settled(subscribe, record, receiver, deliver):
    subscribe()
    receiver.post(RECEIVER, status=200)
    record("user.created")
    assert deliver(clock=utcnow).total == 0
    assert len(receiver.calls) == 0
    assert deliver().sent == 1


def test_a_refused_change_produces_no_delivery(app, client, users_writer, subscribe, stored):
    hook = subscribe()
    create_user(client, users_writer)
    response = client.post(USERS, json={"email": "ANN@example.com", "firstName": "A",
                                        "lastName": "L"}, headers=users_writer)
    assert response.status_code == 409
    assert len(stored(hook["id"])) == 1  # the first user's event only


def test_500_then_200_is_delivered_once_after_a_retry(
        client, manager, subscribe, record, receiver, deliver, stored):
    hook = subscribe()
    receiver.post(RECEIVER, status=500)
    receiver.post(RECEIVER, status=200)
    record("user.created")

    before = settled()()
    counts = deliver(clock=lambda: before)
    assert (counts.sent, counts.retrying, counts.failed) == (0, 1, 0)
    [row] = stored(hook["id"])
    assert (row.status, row.attempts, row.response_status) == ("pending", 1, 500)
    assert "500" in row.last_error
    assert before + retry_delay(1) / 2 <= row.next_attempt_at  # backing off like mail
    shown = client.get(f"{WEBHOOKS}/{hook['id']}/deliveries", headers=manager).get_json()
    assert shown["items"][0]["status"] == "pending"
    assert shown["items"][0]["nextAttemptAt"] is not None

    assert deliver(clock=lambda: row.next_attempt_at - timedelta(seconds=1)).total == 0
    assert deliver(clock=later(row)).sent == 1
    assert deliver(clock=later(row, seconds=86400)).total == 0
    assert len(receiver.calls) == 2
    first, second = bodies(receiver)
    assert first == second  # the same event, the same body
    [row] = stored(hook["id"])
    assert (row.status, row.attempts, row.response_status, row.last_error) == (
        "delivered", 2, 200, None)


def test_within_a_subscription_a_failing_delivery_holds_back_later_ones(
        subscribe, record, receiver, deliver, stored):
    held = subscribe()
    subscribe(url=OTHER)  # a second subscription, which must not wait for the first
    receiver.post(RECEIVER, status=503)
    receiver.post(RECEIVER, status=200)
    receiver.post(OTHER, status=200)
    first = record("user.created")[1]
    second = record("user.updated")[1]
    third = record("user.deleted")[1]

    counts = deliver()
    # The other subscription does not wait for this one.
    assert (counts.sent, counts.retrying) == (3, 1)
    assert [b["id"] for b in bodies(receiver)] == [str(first)]
    assert [b["id"] for b in bodies(receiver, OTHER)] == [str(first), str(second), str(third)]
    rows = stored(held["id"])
    assert [(r.status, r.attempts) for r in rows] == [("pending", 1), ("pending", 0),
                                                      ("pending", 0)]

    assert deliver(clock=later(rows[0])).sent == 3
    assert [b["id"] for b in bodies(receiver)] == [str(first), str(first), str(second),
                                                   str(third)]
    assert [r.status for r in stored(held["id"])] == ["delivered"] * 3


def test_after_max_attempts_it_fails_and_releases_the_next(
        client, manager, subscribe, record, receiver, deliver, stored):
    hook = subscribe()
    receiver.post(RECEIVER, status=503)
    first = record("user.created")[1]
    second = record("user.updated")[1]

    clock = settled()
    for attempt in range(1, 4):
        counts = deliver(max_attempts=3, clock=clock)
        row = stored(hook["id"])[0]
        assert row.attempts == attempt
        clock = later(row)
    assert (row.status, row.response_status) == ("failed", 503)
    assert "503" in row.last_error
    # Given up for good: in the same pass the next event goes out (and fails its first try).
    assert (counts.failed, counts.retrying) == (1, 1)
    assert [b["id"] for b in bodies(receiver)] == [str(first)] * 3 + [str(second)]

    receiver.replace(responses.POST, RECEIVER, status=200)
    assert deliver(max_attempts=3, clock=later(stored(hook["id"])[1])).sent == 1
    assert deliver(max_attempts=3, clock=lambda: utcnow() + timedelta(days=30)).total == 0
    assert [b["id"] for b in bodies(receiver)] == [str(first)] * 3 + [str(second)] * 2
    page = client.get(f"{WEBHOOKS}/{hook['id']}/deliveries", query_string={"status": "failed"},
                      headers=manager).get_json()
    assert page["total"] == 1 and page["items"][0]["eventId"] == str(first)
    assert page["items"][0]["nextAttemptAt"] is None


def test_max_attempts_comes_from_the_setting(app, subscribe, record, receiver, deliver, stored,
                                             monkeypatch):
    monkeypatch.setitem(app.config, "OUTBOX_MAX_ATTEMPTS", 1)
    hook = subscribe()
    receiver.post(RECEIVER, status=500)
    record()
    assert deliver().failed == 1
    assert stored(hook["id"])[0].status == "failed"


def test_inactive_subscriptions_get_nothing(client, manager, subscribe, record, receiver,
                                            deliver, stored):
    paused = subscribe(active=False)
    receiver.post(RECEIVER, status=200)
    record("user.created")
    assert stored(paused["id"]) == []
    assert deliver().total == 0 and len(receiver.calls) == 0


def _change_elsewhere(app, statement):
    """A change another instance made: straight to the database, not through this process."""
    with app.app_context(), db.transaction() as session:
        session.execute(statement)


def test_subscriptions_changed_on_another_instance_apply_within_the_cache_window(
        app, subscribe, record, stored, monkeypatch):
    from app import cache
    from app.events import services
    from app.events.models import WebhookSubscription

    first = subscribe()
    record("user.created")  # this process now holds a snapshot with `first` in it
    other = subscribe()     # made through this process: applies at once
    record("user.created")
    assert [len(stored(s["id"])) for s in (first, other)] == [2, 1]

    # Paused and deleted elsewhere: the snapshot still lists them, but no delivery is written
    # for a subscription that is no longer there and active (and nothing fails).
    _change_elsewhere(app, sa.update(WebhookSubscription)
                      .where(WebhookSubscription.id == uuid.UUID(first["id"])).values(active=False))
    _change_elsewhere(app, sa.delete(WebhookSubscription)
                      .where(WebhookSubscription.id == uuid.UUID(other["id"])))
    record("user.created")
    assert len(stored(first["id"])) == 2 and stored(other["id"]) == []

    # Resumed elsewhere: it is still in the snapshot, so at once.
    _change_elsewhere(app, sa.update(WebhookSubscription)
                      .where(WebhookSubscription.id == uuid.UUID(first["id"])).values(active=True))
    record("user.created")
    assert len(stored(first["id"])) == 3

    # Created elsewhere: not in the snapshot, so from when it expires.
    created = uuid.uuid4()
    with app.app_context():
        sealed = seal(new_secret(), created)
    _change_elsewhere(app, sa.insert(WebhookSubscription).values(
        id=created, url=RECEIVER, event_types=[], active=True, encrypted_secret=sealed))
    record("user.created")
    assert stored(str(created)) == []
    clock = cache.time.monotonic() + services.SUBSCRIPTION_CACHE_SECONDS + 1
    monkeypatch.setattr(cache.time, "monotonic", lambda: clock)
    record("user.created")
    assert len(stored(str(created))) == 1 and len(stored(first["id"])) == 5


def test_deactivating_pauses_pending_deliveries_in_order(client, manager, subscribe, record,
                                                         receiver, deliver, stored):
    hook = subscribe()
    receiver.post(RECEIVER, status=200)
    first = record("user.created")[1]
    client.patch(f"{WEBHOOKS}/{hook['id']}", json={"active": False}, headers=manager)
    record("user.updated")  # recorded while paused: not for this subscription
    assert deliver().total == 0

    client.patch(f"{WEBHOOKS}/{hook['id']}", json={"active": True}, headers=manager)
    third = record("user.deleted")[1]
    assert deliver().sent == 2
    assert [b["id"] for b in bodies(receiver)] == [str(first), str(third)]


def test_only_the_types_a_subscription_asked_for(subscribe, record, receiver, deliver):
    subscribe(eventTypes=["invitation.*", "user.deleted"])
    receiver.post(RECEIVER, status=200)
    record("user.created")
    wanted = record("invitation.created")[1]
    deleted = record("user.deleted")[1]
    record("invitations.created")
    assert deliver().sent == 2
    assert [b["id"] for b in bodies(receiver)] == [str(wanted), str(deleted)]


def test_pending_deliveries_follow_a_new_url(client, manager, subscribe, record, receiver,
                                             deliver):
    hook = subscribe()
    receiver.post(OTHER, status=200)
    event = record()[1]
    client.patch(f"{WEBHOOKS}/{hook['id']}", json={"url": OTHER}, headers=manager)
    assert deliver().sent == 1
    assert [b["id"] for b in bodies(receiver, OTHER)] == [str(event)]


def test_after_rotation_the_new_secret_signs(client, manager, subscribe, record, receiver,
                                             deliver):
    hook = subscribe()
    rotated = client.post(f"{WEBHOOKS}/{hook['id']}/rotate-secret", headers=manager).get_json()
    receiver.post(RECEIVER, status=200)
    record()
    moment = settled()
    deliver(clock=moment)
    request = receiver.calls[0].request
    now = int(moment().timestamp())
    assert verify(rotated["secret"], request.headers["Gatehouse-Signature"], request.body, now=now)
    assert not verify(hook["secret"], request.headers["Gatehouse-Signature"], request.body,
                      now=now)


def test_no_answer_is_retried_and_the_error_keeps_the_url_token_out(
        subscribe, record, receiver, deliver, stored, caplog):
    hook = subscribe()
    receiver.post(RECEIVER, body=requests.ConnectTimeout("timed out: " + RECEIVER))
    record()
    assert deliver().retrying == 1
    [row] = stored(hook["id"])
    assert row.response_status is None and "timeout" in row.last_error
    assert "receiver-token-123" not in row.last_error

    receiver.replace(responses.POST, RECEIVER,
                     body=requests.ConnectionError(f"refused for url: {RECEIVER}"))
    assert deliver(clock=later(row)).retrying == 1
    [row] = stored(hook["id"])
    assert "could not connect" in row.last_error
    assert "receiver-token-123" not in row.last_error and row.attempts == 2
    assert "receiver-token-123" not in caplog.text and hook["secret"] not in caplog.text


def test_redirects_are_not_followed(subscribe, record, receiver, deliver, stored):
    hook = subscribe()
    receiver.post(RECEIVER, status=302, headers={"Location": "https://elsewhere.example/"})
    record()
    assert deliver().retrying == 1
    assert len(receiver.calls) == 1
    assert stored(hook["id"])[0].response_status == 302


def test_a_secret_that_no_longer_decrypts_fails_the_attempt(app, subscribe, record, receiver,
                                                            deliver, stored, monkeypatch):
    hook = subscribe()
    record()
    monkeypatch.setitem(app.config, "SECRET_KEY", "another-secret-key-entirely")
    assert deliver().retrying == 1
    assert len(receiver.calls) == 0
    assert "rotate" in stored(hook["id"])[0].last_error


class Killed(BaseException):
    """The worker process going away mid-request (not a failed attempt)."""


def test_a_worker_killed_mid_attempt_loses_nothing(app, subscribe, record, receiver, stored):
    hook = subscribe()
    receiver.post(RECEIVER, status=200)
    event = record()[1]

    class DyingSession(requests.Session):
        def post(self, *args, **kwargs):
            raise Killed

    moment = settled()
    with app.app_context(), pytest.raises(Killed):
        delivery.deliver_pending(http=DyingSession(), clock=moment)
    [row] = stored(hook["id"])
    # Claimed, so it holds back later deliveries and other workers leave it alone ...
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at == moment() + delivery.LEASE
    with app.app_context():
        assert delivery.deliver_pending(clock=moment).total == 0
        # ... until its lease runs out.
        assert delivery.deliver_pending(clock=later(row)).sent == 1
    assert [b["id"] for b in bodies(receiver)] == [str(event)]


def test_outbox_work_once_delivers_mail_and_webhooks(app, runner, subscribe, record, receiver,
                                                     stored):
    hook = subscribe()
    receiver.post(RECEIVER, status=200)
    record()
    with app.app_context(), db.transaction() as session:
        # Due now, so that the command's real clock finds it.
        session.execute(sa.update(WebhookDelivery).values(next_attempt_at=utcnow()))
    result = runner.invoke(args=["outbox", "work", "--once"])
    assert result.exit_code == 0, result.output
    assert result.output == "webhooks: 1 sent, 0 to retry, 0 failed\n"
    assert stored(hook["id"])[0].status == "delivered"
    assert runner.invoke(args=["outbox", "work", "--once"]).output == "outbox: nothing due\n"


@pytest.mark.committed
def test_two_workers_deliver_each_event_once_in_order(app):
    urls = [f"https://receiver{n}.example/hook" for n in range(3)]
    with app.app_context(), db.transaction() as session:
        for url in urls:
            WebhookService(session).create({"url": url}, client_id=None)
    with app.app_context(), db.transaction() as session:
        log = EventLog(session)
        ids = [str(log.record("user.updated", uuid.uuid4(), n=n).id) for n in range(12)]

    start = threading.Barrier(2)
    results, errors = [], []
    clock = settled()

    def worker():
        try:
            with app.app_context():
                start.wait()
                results.append(delivery.deliver_pending(clock=clock))
        except BaseException as error:  # surfaced below; a thread cannot fail the test itself
            errors.append(error)

    with responses.RequestsMock() as receiver:
        for url in urls:
            receiver.post(url, status=200)
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
        assert sum(r.sent for r in results) == 36 and sum(r.total for r in results) == 36
        for url in urls:
            assert [b["id"] for b in bodies(receiver, url)] == ids
    with app.app_context(), db.transaction() as session:
        rows = session.execute(sa.select(WebhookDelivery.status, WebhookDelivery.attempts)).all()
    assert sorted(rows) == [("delivered", 1)] * 36

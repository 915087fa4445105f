"""The stock: allocation to orders (all or none, retries replay), stock alerts, release, void."""

import uuid

import pytest
import sqlalchemy as sa

from app.activation_codes.models import VACUUM_OFTEN, Allocation
from app.activation_codes.services import _AVAILABLE_AT_MOST, _TAKE_BY_ID, _TAKE_COUNTING
from app.db import db, utcnow
from app.events.models import WebhookDelivery
from tests.activation_codes.conftest import API, events, redeem, stock
from tests.conftest import bearer
from tests.entitlements.conftest import add_user

VOID = f"{API}/activation-codes/void"


def allocations(config):
    return f"{API}/activation-code-configs/{config['id']}/allocations"


def test_allocate_and_retry(app, client, shop, make_config, mint, allocate):
    config = make_config()
    minted = mint(config, 5)
    first = allocate(config, "order-1", 3)
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["orderRef"] == "order-1" and body["quantity"] == 3
    assert body["codes"] == minted[:3]  # the oldest first

    retry = allocate(config, "order-1", 3)
    assert retry.status_code == 200
    assert retry.get_json() == body  # the same codes, the same createdAt
    assert stock(client, config, shop) == {"configId": config["id"], "available": 2,
                                           "allocated": 3, "redeemed": 0, "void": 0, "total": 5}
    [event] = events(app, "activation_codes.allocated")
    assert event.data == {"configId": config["id"], "orderRef": "order-1", "quantity": 3}

    conflict = allocate(config, "order-1", 2)
    assert conflict.status_code == 409
    assert conflict.get_json()["code"] == "activation_code.allocation_conflict"


def test_allocating_from_an_unknown_configuration(app, client, shop):
    response = client.post(allocations({"id": "00000000-0000-0000-0000-000000000000"}),
                           json={"orderRef": "order-1", "quantity": 1}, headers=shop)
    assert response.status_code == 404
    assert response.get_json()["code"] == "activation_code_config.not_found"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Allocation)) == 0


def test_oldest_codes_go_first(client, make_config, mint, allocate):
    config = make_config()
    older = mint(config, 2)
    mint(config, 2)
    assert set(allocate(config, "a", 2).get_json()["codes"]) == set(older)


def test_out_of_stock_is_all_or_nothing(client, shop, make_config, mint, allocate):
    config = make_config()
    mint(config, 2)
    response = allocate(config, "big-order", 3)
    assert response.status_code == 409
    assert response.get_json()["code"] == "activation_code.out_of_stock"
    assert stock(client, config, shop)["available"] == 2
    # Nothing of the refused attempt remains: the same orderRef may now ask for what there is.
    assert allocate(config, "big-order", 2).status_code == 201
    assert allocate(config, "next", 1).get_json()["code"] == "activation_code.out_of_stock"


def test_webhooks_hear_of_allocations_that_happened(app, client, api_token, make_config, mint,
                                                   allocate):
    """The `allocated` event goes in with the claim (PostgreSQL) or after the draw (SQLite);
    either way a subscriber gets a delivery for each allocation made, and none for a refusal."""
    hook = client.post("/api/events/v1/webhooks", headers=bearer(api_token("webhooks:manage")),
                       json={"url": "https://hooks.example/in",
                             "eventTypes": ["activation_codes.allocated"]})
    assert hook.status_code == 201, hook.get_json()
    config = make_config()
    mint(config, 1)
    assert allocate(config, "too-many", 2).status_code == 409
    assert allocate(config, "order-1").status_code == 201
    [event] = events(app, "activation_codes.allocated")
    assert event.data["orderRef"] == "order-1"
    with app.app_context():
        deliveries = db.session.execute(
            sa.select(WebhookDelivery.event_seq)
            .where(WebhookDelivery.subscription_id == uuid.UUID(hook.get_json()["id"]))).all()
    assert deliveries == [(event.seq,)]


def test_order_refs_belong_to_a_configuration(make_config, mint, allocate):
    first, second = make_config(), make_config()
    mint(first, 1)
    mint(second, 1)
    a, b = allocate(first, "order-9"), allocate(second, "order-9")
    assert a.status_code == b.status_code == 201
    assert a.get_json()["codes"] != b.get_json()["codes"]


def test_stock_low_once_and_rearmed_only_above_the_high_water_mark(app, make_config, mint,
                                                                   allocate):
    config = make_config(lowWaterMark=3, highWaterMark=6)
    mint(config, 10)

    def low_alerts():
        return [e.data["available"] for e in events(app, "activation_codes.stock_low")]

    for n in range(6):
        allocate(config, f"o{n}")
    assert low_alerts() == []  # 4 left
    allocate(config, "o6")
    assert low_alerts() == [3]
    allocate(config, "o7")
    assert low_alerts() == [3]  # once

    mint(config, 4)  # 6 available: not above the high-water mark
    allocate(config, "o8")
    assert low_alerts() == [3]
    mint(config, 1)  # 6 again: still not above
    allocate(config, "o9")
    assert low_alerts() == [3]
    mint(config, 3)  # 8: above, so re-armed
    for n in range(10, 15):
        allocate(config, f"o{n}")
    assert low_alerts() == [3, 3]
    [event] = events(app, "activation_codes.stock_low")[:1]
    assert event.subject_id == config["id"]
    assert event.data["lowWaterMark"] == 3 and event.data["highWaterMark"] == 6


def test_stock_exhausted_once_and_rearmed_by_a_restock(app, make_config, mint, allocate):
    config = make_config()

    def exhausted():
        return len(events(app, "activation_codes.stock_exhausted"))

    mint(config, 2)
    allocate(config, "a")
    assert exhausted() == 0
    allocate(config, "b")
    assert exhausted() == 1
    assert allocate(config, "c").status_code == 409
    assert exhausted() == 1
    mint(config, 1)
    allocate(config, "d")
    assert exhausted() == 2


def test_an_empty_stock_alerts_although_the_allocation_fails(app, make_config, allocate):
    config = make_config(lowWaterMark=10)
    response = allocate(config, "first-order")
    assert response.status_code == 409
    assert len(events(app, "activation_codes.stock_exhausted")) == 1
    assert len(events(app, "activation_codes.stock_low")) == 1
    assert events(app, "activation_codes.allocated") == []
    allocate(config, "second-order")
    assert len(events(app, "activation_codes.stock_exhausted")) == 1


def test_release_returns_the_codes_to_stock(app, client, shop, make_config, mint, allocate):
    config = make_config()
    mint(config, 3)
    codes = allocate(config, "aborted", 2).get_json()["codes"]
    response = client.delete(f"{allocations(config)}/aborted", headers=shop)
    assert response.status_code == 204
    assert stock(client, config, shop)["available"] == 3
    [event] = events(app, "activation_codes.allocation_released")
    assert event.data == {"configId": config["id"], "orderRef": "aborted", "quantity": 2}
    # First in line again; the orderRef is free for a new allocation.
    assert set(allocate(config, "next", 2).get_json()["codes"]) == set(codes)
    again = allocate(config, "aborted", 1)
    assert again.status_code == 201 and again.get_json()["codes"][0] not in codes

    missing = client.delete(f"{allocations(config)}/never", headers=shop)
    assert missing.status_code == 404
    assert missing.get_json()["code"] == "activation_code.allocation_not_found"


def test_order_refs_with_slashes(client, shop, make_config, mint, allocate):
    config = make_config()
    mint(config, 1)
    assert allocate(config, "2025/ORD/0001").status_code == 201
    assert client.delete(f"{allocations(config)}/2025/ORD/0001", headers=shop).status_code == 204


def test_no_release_once_a_code_was_redeemed_or_voided(app, client, shop, redeemer, make_config,
                                                       mint, allocate):
    config = make_config()
    mint(config, 4)
    redeemed, _kept = allocate(config, "paid", 2).get_json()["codes"]
    voided, _ = allocate(config, "refunded", 2).get_json()["codes"]
    user_id = add_user(app, "ben@example.com")
    assert redeem(client, redeemed, redeemer, user=user_id).status_code == 200
    assert client.post(VOID, json={"code": voided}, headers=shop).status_code == 200
    for order in ("paid", "refunded"):
        response = client.delete(f"{allocations(config)}/{order}", headers=shop)
        assert response.status_code == 409
        assert response.get_json()["code"] == "activation_code.allocation_not_releasable"
    assert stock(client, config, shop) == {"configId": config["id"], "available": 0,
                                           "allocated": 2, "redeemed": 1, "void": 1, "total": 4}
    assert events(app, "activation_codes.allocation_released") == []


def test_void(app, client, shop, redeemer, make_config, mint, allocate):
    config = make_config()
    mint(config, 3)
    refunded, paid = allocate(config, "order", 2).get_json()["codes"]
    response = client.post(VOID, json={"code": refunded.lower()}, headers=shop)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["state"] == "void" and body["orderRef"] == "order" and body["voidedAt"]
    assert client.post(VOID, json={"code": refunded}, headers=shop).get_json() == body
    [event] = events(app, "activation_code.voided")
    assert event.data["orderRef"] == "order" and event.data["previousState"] == "allocated"
    assert refunded.replace("-", "") not in str(event.data)

    user_id = add_user(app, "cy@example.com")
    refused = redeem(client, refunded, redeemer, user=user_id)
    assert refused.status_code == 410 and refused.get_json()["code"] == "activation_code.void"

    assert redeem(client, paid, redeemer, user=user_id).status_code == 200
    too_late = client.post(VOID, json={"code": paid}, headers=shop)
    assert too_late.status_code == 409
    assert too_late.get_json()["code"] == "activation_code.already_redeemed"

    forged = refunded[:-1] + ("A" if refunded[-1] != "A" else "B")
    assert client.post(VOID, json={"code": forged}, headers=shop).get_json()["code"] == \
        "activation_code.malformed"


def test_voiding_a_code_in_stock_can_empty_it(app, client, shop, make_config, mint):
    config = make_config()
    [code] = mint(config, 1)
    assert client.post(VOID, json={"code": code}, headers=shop).status_code == 200
    assert stock(client, config, shop)["void"] == 1
    assert len(events(app, "activation_codes.stock_exhausted")) == 1


def test_scopes(client, api_token, make_config, mint, allocate):
    config = make_config()
    [code] = mint(config, 1)
    manager = bearer(api_token("activation-codes:manage"))
    redeem_only = bearer(api_token("activation-codes:redeem"))
    body = {"orderRef": "x", "quantity": 1}
    assert client.post(allocations(config), json=body).status_code == 401
    assert client.post(allocations(config), json=body, headers=manager).status_code == 403
    assert client.delete(f"{allocations(config)}/x", headers=manager).status_code == 403
    assert client.get(f"{API}/activation-code-configs/{config['id']}/stock",
                      headers=redeem_only).status_code == 403
    assert client.post(VOID, json={"code": code}, headers=redeem_only).status_code == 403
    assert client.post(VOID, json={"code": code}, headers=manager).status_code == 200


def _plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from _plan_nodes(child)


@pytest.mark.parametrize("plan_cache_mode", ["force_custom_plan", "force_generic_plan"])
def test_a_draw_never_walks_past_the_codes_already_taken(app, is_postgres, make_config, mint,
                                                         allocate, plan_cache_mode):
    """PostgreSQL: the draw and the stock counts read the partial index of available codes (the
    draw from its oldest end, counts from its newest) and update the codes by primary key, in
    the plan for the request's parameters and in the generic plan PostgreSQL switches a
    prepared statement to. Once most of the table was taken, a sequential scan from its start
    (where the codes taken first lie) cost a draw more with every code handed out."""
    if not is_postgres:
        pytest.skip("SQLite plans its own way; the draw there is serialized anyway")
    config = make_config(lowWaterMark=5, highWaterMark=10)
    mint(config, 1000)
    with app.app_context():
        # Statistics that say "nearly all available", as after minting; then most codes go.
        db.session.execute(sa.text("ANALYZE activation_codes"))
        db.session.execute(sa.text(
            "UPDATE activation_codes SET state = 'allocated', order_ref = 'earlier' "
            "WHERE id IN (SELECT id FROM activation_codes ORDER BY id LIMIT 900)"))
        db.session.commit()
    parameters = {"config": config["id"], "config_id": config["id"], "quantity": 1,
                  "ref": "order", "taken_at": utcnow(), "count_to": 7, "at_most": 6,
                  "state": "allocated"}
    with app.app_context():
        session = db.session
        session.execute(sa.text(f"SET LOCAL plan_cache_mode = {plan_cache_mode}"))
        for statement in (_TAKE_BY_ID, _TAKE_COUNTING, _AVAILABLE_AT_MOST):
            compiled = statement.compile(dialect=session.get_bind().dialect)
            sql = "EXPLAIN (FORMAT JSON) " + str(compiled)
            [[plan]] = session.connection().exec_driver_sql(
                sql, {name: parameters[name] for name in compiled.params}).one()
            scans = {(node["Node Type"], node.get("Index Name"))
                     for node in _plan_nodes(plan["Plan"])
                     if node.get("Relation Name") == "activation_codes"
                     and node["Node Type"].endswith("Scan")}
            assert scans <= {("Index Scan", "ix_activation_codes_available"),
                             ("Index Only Scan", "ix_activation_codes_available"),
                             ("Index Scan", "pk_activation_codes")}, (statement, scans)
        session.rollback()
    # And the draw takes the oldest code left.
    response = allocate(config, "after", 1)
    assert response.status_code == 201


def test_postgresql_vacuums_the_codes_often(app, is_postgres):
    """The dead index entries each draw reads past go after a few thousand changes (migration
    0013 sets what the model says)."""
    if not is_postgres:
        pytest.skip("SQLite has no VACUUM settings per table")
    with app.app_context():
        options = db.session.scalar(sa.text(
            "SELECT reloptions FROM pg_class WHERE relname = 'activation_codes'"))
    assert sorted(options) == sorted(f"{name}={value}" for name, value in VACUUM_OFTEN.items())

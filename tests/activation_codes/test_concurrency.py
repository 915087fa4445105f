"""Races with real commits (PostgreSQL in CI, and SQLite, whose writers take turns): one code
redeemed by many at once, many orders drawing from one stock, one order retried at once."""

import threading
import time

import pytest
import sqlalchemy as sa

from app.activation_codes.models import ActivationCode, Allocation
from app.db import db
from app.entitlements.models import LicenseTransaction
from tests.activation_codes.conftest import API, events
from tests.conftest import race
from tests.entitlements.conftest import add_user, count

pytestmark = pytest.mark.committed


def test_fifty_redeem_one_code_at_once(app, redeemer, make_config, mint, allocate):
    config = make_config(licenseDuration="P1Y")
    mint(config, 1)
    [code] = allocate(config, "order-1").get_json()["codes"]
    users = [add_user(app, f"racer{i}@example.com") for i in range(50)]

    responses = race(app, 50, lambda c, i: c.post(
        f"{API}/users/{users[i]}/activation-codes/redeem", json={"code": code},
        headers=redeemer))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 49, statuses
    assert {r.get_json()["code"] for r in responses if r.status_code == 409} == {
        "activation_code.already_redeemed"}
    winner = next(r for r in responses if r.status_code == 200)
    assert count(app, LicenseTransaction) == 1
    with app.app_context(), db.transaction() as session:
        state, transaction_id = session.execute(
            sa.select(ActivationCode.state, ActivationCode.license_transaction_id)).one()
    assert state == "redeemed" and str(transaction_id) == winner.get_json()["transactionId"]
    assert len(events(app, "activation_code.redeemed")) == 1


def test_one_user_redeeming_twice_at_once_gets_one_transaction(app, redeemer, make_config, mint):
    config = make_config()
    [code] = mint(config, 1)
    user = add_user(app, "double@example.com")
    responses = race(app, 8, lambda c, i: c.post(
        f"{API}/users/{user}/activation-codes/redeem", json={"code": code}, headers=redeemer))
    assert [r.status_code for r in responses] == [200] * 8
    assert len({r.get_json()["transactionId"] for r in responses}) == 1
    assert count(app, LicenseTransaction) == 1


def test_twenty_allocators_draw_from_a_thousand_codes(app, shop, make_config, mint):
    config = make_config(lowWaterMark=100, highWaterMark=200)
    mint(config, 1000)
    url = f"{API}/activation-code-configs/{config['id']}/allocations"
    handed_out = []  # every 201's code, in completion order
    lock = threading.Lock()
    threads = 20

    def allocator(client, index):
        outcome = {"codes": [], "other": [], "handed_out_before_409": None}
        for n in range(1000):
            response = client.post(url, json={"orderRef": f"t{index}-{n}", "quantity": 1},
                                   headers=shop)
            if response.status_code == 201:
                [code] = response.get_json()["codes"]
                outcome["codes"].append(code)
                with lock:
                    handed_out.append(code)
            elif (response.status_code == 409
                  and response.get_json()["code"] == "activation_code.out_of_stock"):
                with lock:
                    outcome["handed_out_before_409"] = len(handed_out)
                return outcome
            else:
                outcome["other"].append((response.status_code, response.get_json()))
                return outcome
        return outcome

    started = time.monotonic()
    outcomes = race(app, threads, allocator)
    elapsed = time.monotonic() - started
    assert [o["other"] for o in outcomes] == [[]] * threads  # no errors while stock remained
    codes = [code for o in outcomes for code in o["codes"]]
    assert len(codes) == len(set(codes)) == 1000  # every code in exactly one order
    # Out of stock only at the end: when a thread was refused, every code was handed out or
    # being handed out by one of the other threads.
    assert min(o["handed_out_before_409"] for o in outcomes) >= 1000 - 2 * threads
    assert count(app, Allocation) == 1000
    assert count(app, ActivationCode, ActivationCode.state == "available") == 0
    assert len(events(app, "activation_codes.stock_low")) == 1
    assert len(events(app, "activation_codes.stock_exhausted")) == 1
    assert elapsed < 60


def test_one_order_retried_at_once_draws_once(app, shop, make_config, mint):
    config = make_config()
    mint(config, 10)
    url = f"{API}/activation-code-configs/{config['id']}/allocations"
    responses = race(app, 10, lambda c, i: c.post(
        url, json={"orderRef": "checkout-7", "quantity": 3}, headers=shop))
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({tuple(r.get_json()["codes"]) for r in responses}) == 1
    assert count(app, ActivationCode, ActivationCode.state == "allocated") == 3
    assert len(events(app, "activation_codes.allocated")) == 1

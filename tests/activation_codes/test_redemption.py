"""Redemption: exactly once into the user's personal entitlement, by the user's own token or a
server for any user; every way a code can be refused; checking without redeeming."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.activation_codes import format as codes
from app.activation_codes.durations import parse_duration
from app.activation_codes.services import batch_key, master_key
from app.db import db
from app.entitlements.models import LicenseTransaction
from tests.activation_codes.conftest import API, events, redeem
from tests.conftest import bearer
from tests.entitlements.conftest import add_user, count

CHECK = f"{API}/activation-codes/check"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def sold(make_config, mint, allocate):
    """A code of a one-year configuration, handed out to an order."""

    def make(**fields) -> str:
        config = make_config(**{"licenseDuration": "P1Y", **fields})
        mint(config, 1)
        return allocate(config, f"order-{id(config)}").get_json()["codes"][0]

    return make


def test_a_user_redeems_with_their_own_token(app, client, catalog, login, sold):
    user_id = add_user(app, "ann@example.com", active=True)
    token = bearer(login("ann@example.com"))
    code = sold(seats=2)
    response = redeem(client, code, token)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    redeemed_at = parse_time(body["redeemedAt"])
    assert sorted(lic["licensedItem"]["name"] for lic in body["licenses"]) == ["editor", "export"]
    for lic in body["licenses"]:
        assert lic["seatsTotal"] == 2 and lic["active"] is True
        assert lic["owner"]["id"] == user_id
        assert parse_time(lic["validFrom"]) == redeemed_at
        assert parse_time(lic["validUntil"]) == parse_duration("P1Y").after(redeemed_at)

    available = client.get(f"{API}/users/me/available-licenses", headers=token).get_json()
    assert {lic["id"] for lic in available["items"]} == {lic["id"] for lic in body["licenses"]}
    transactions = client.get(f"{API}/users/me/license-transactions", headers=token).get_json()
    [transaction] = transactions["items"]
    assert transaction["id"] == body["transactionId"] and transaction["type"] == "ActivationCode"

    [event] = events(app, "activation_code.redeemed")
    assert event.data["userId"] == user_id and event.data["transactionId"] == body["transactionId"]
    assert code.replace("-", "") not in str(event.data) and code not in str(event.data)


def test_the_same_user_retrying_gets_the_original_result(app, client, login, sold):
    user_id = add_user(app, "ann@example.com", active=True)
    token = bearer(login("ann@example.com"))
    code = sold()
    first = redeem(client, code, token)
    again = redeem(client, code.lower().replace("-", " "), token)
    by_id = redeem(client, code, token, user=user_id)
    assert first.status_code == again.status_code == by_id.status_code == 200
    assert again.get_json() == first.get_json() == by_id.get_json()
    assert count(app, LicenseTransaction) == 1
    assert len(events(app, "activation_code.redeemed")) == 1


def test_another_user_gets_a_conflict(app, client, redeemer, sold):
    ann, ben = add_user(app, "ann@example.com"), add_user(app, "ben@example.com")
    code = sold()
    assert redeem(client, code, redeemer, user=ann).status_code == 200
    response = redeem(client, code, redeemer, user=ben)
    assert response.status_code == 409
    assert response.get_json()["code"] == "activation_code.already_redeemed"
    assert count(app, LicenseTransaction) == 1


def test_a_server_redeems_for_a_user_not_yet_activated(app, client, redeemer, sold):
    user_id = add_user(app, "pending@example.com")  # pendingActivation, no password
    response = redeem(client, sold(), redeemer, user=user_id)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["licenses"][0]["owner"]["id"] == user_id


def test_display_names_follow_the_language(app, client, redeemer, sold):
    user_id = add_user(app, "fi@example.com")
    response = client.post(f"{API}/users/{user_id}/activation-codes/redeem",
                           json={"code": sold()}, headers={**redeemer, "Accept-Language": "fi"})
    names = {lic["licensedItem"]["name"]: lic["licensedItem"]["displayName"]
             for lic in response.get_json()["licenses"]}
    assert names == {"editor": "Editori", "export": "Export"}


def test_who_may_redeem_for_whom(app, client, api_token, login, sold):
    ann = add_user(app, "ann@example.com", active=True)
    ben = add_user(app, "ben@example.com")
    code = sold()
    ann_token = bearer(login("ann@example.com"))
    assert redeem(client, code, {}).status_code == 401
    assert redeem(client, code, {"Authorization": "Bearer not-a-token"}).status_code == 401
    assert redeem(client, code, ann_token, user=ben).status_code == 403  # not her account
    shop = bearer(api_token("activation-codes:allocate", "entitlement:provision"))
    assert redeem(client, code, shop, user=ann).status_code == 403  # needs the redeem scope
    redeemer = bearer(api_token("activation-codes:redeem"))
    assert redeem(client, code, redeemer).status_code == 403  # `me` is for users' tokens
    missing = redeem(client, code, redeemer, user="00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert count(app, LicenseTransaction) == 0


@pytest.mark.parametrize("mangle, hint", [
    (lambda c: "0" + c[1:], "zero"),
    (lambda c: c.replace("-", "")[:-3], "25 characters"),
    (lambda c: c[:3] + ("B" if c[3] != "B" else "C") + c[4:], "typo"),
    (lambda c: c[:-1] + "!", "'!' cannot appear"),
])
def test_malformed_codes_get_a_hint(app, client, redeemer, sold, mangle, hint):
    user_id = add_user(app, "ann@example.com")
    response = redeem(client, mangle(sold()), redeemer, user=user_id)
    assert response.status_code == 422
    assert response.get_json()["code"] == "activation_code.malformed"
    assert hint in response.get_json()["detail"]


def test_forged_and_unknown_codes_are_invalid(app, client, redeemer, sold, make_config, mint):
    user_id = add_user(app, "ann@example.com")
    genuine = codes.parse(sold())
    with app.app_context():
        key = batch_key(master_key(), genuine.batch)
    forged = codes.mint(b"f" * 32, genuine.batch)                     # the wrong key
    never_stocked = codes.mint(key, genuine.batch)                    # right key, not in stock
    unknown_batch = codes.mint(b"x" * 32, 60000)                      # no such batch
    for code in (forged, never_stocked, unknown_batch):
        response = redeem(client, code, redeemer, user=user_id)
        assert response.status_code == 422, code
        assert response.get_json()["code"] == "activation_code.invalid"
    assert count(app, LicenseTransaction) == 0


def test_redemption_period(app, client, redeemer, sold):
    user_id = add_user(app, "ann@example.com")
    now = datetime.now(UTC)
    early = sold(redeemableFrom=iso(now + timedelta(days=1)))
    late = sold(redeemableUntil=iso(now - timedelta(seconds=1)))
    current = sold(redeemableFrom=iso(now - timedelta(days=1)),
                   redeemableUntil=iso(now + timedelta(days=1)))
    for code, words in ((early, "can be redeemed from"), (late, "could be redeemed until")):
        response = redeem(client, code, redeemer, user=user_id)
        assert response.status_code == 410
        assert response.get_json()["code"] == "activation_code.expired"
        assert words in response.get_json()["detail"]
    assert redeem(client, current, redeemer, user=user_id).status_code == 200


def test_fixed_license_dates(app, client, redeemer, sold):
    user_id = add_user(app, "ann@example.com")
    code = sold(licenseDuration=None, licenseValidFrom="2030-01-01T00:00:00Z",
                licenseValidUntil="2031-01-01T00:00:00Z")
    licenses = redeem(client, code, redeemer, user=user_id).get_json()["licenses"]
    assert {(lic["validFrom"][:10], lic["validUntil"][:10], lic["active"])
            for lic in licenses} == {("2030-01-01", "2031-01-01", False)}

    ended = sold(licenseDuration=None, licenseValidUntil="2020-01-01T00:00:00Z")
    response = redeem(client, ended, redeemer, user=user_id)
    assert response.status_code == 410 and response.get_json()["code"] == "activation_code.expired"


def test_perpetual_licenses(app, client, redeemer, sold):
    user_id = add_user(app, "ann@example.com")
    licenses = redeem(client, sold(licenseDuration=None), redeemer,
                      user=user_id).get_json()["licenses"]
    assert {lic["validUntil"] for lic in licenses} == {None}


def test_duration_counts_from_redemption_on_the_calendar(app, client, redeemer, sold):
    user_id = add_user(app, "ann@example.com")
    body = redeem(client, sold(licenseDuration="P1M"), redeemer, user=user_id).get_json()
    redeemed_at = parse_time(body["redeemedAt"])
    assert {parse_time(lic["validUntil"]) for lic in body["licenses"]} == {
        parse_duration("P1M").after(redeemed_at)}


def test_check_without_redeeming(app, client, shop, redeemer, sold, catalog):
    user_id = add_user(app, "ann@example.com")
    code = sold()
    body = client.post(CHECK, json={"code": code}, headers=shop).get_json()
    assert body == {"wellFormed": True, "genuine": True, "redeemable": True,
                    "productPackage": {"id": catalog.suite, "name": "suite",
                                       "displayName": None}}
    assert count(app, LicenseTransaction) == 0

    def check(text):
        return client.post(CHECK, json={"code": text}, headers=shop).get_json()

    assert check("01234") == {
        "wellFormed": False, "genuine": False, "redeemable": False,
        "reason": "activation_code.malformed",
        "detail": "Codes never contain zero (0): check that character."}
    forged = check(codes.mint(b"f" * 32, 1))
    assert (forged["wellFormed"], forged["genuine"], forged["reason"]) == (
        True, False, "activation_code.invalid")
    redeem(client, code, redeemer, user=user_id)
    spent = check(code)
    assert (spent["genuine"], spent["redeemable"], spent["reason"]) == (
        True, False, "activation_code.already_redeemed")


def test_check_scopes(app, client, api_token, login, sold):
    add_user(app, "ann@example.com", active=True)
    code = sold()
    assert client.post(CHECK, json={"code": code}).status_code == 401
    other = bearer(api_token("idp:users:read"))
    assert client.post(CHECK, json={"code": code}, headers=other).status_code == 403
    user = bearer(login("ann@example.com"))
    assert client.post(CHECK, json={"code": code}, headers=user).get_json()["redeemable"]


def test_no_code_is_stored_or_logged(app, client, redeemer, sold, caplog):
    user_id = add_user(app, "ann@example.com")
    code = sold()
    with caplog.at_level("DEBUG"):
        redeem(client, code, redeemer, user=user_id)
        redeem(client, code[:-1] + "0", redeemer, user=user_id)
    plain = code.replace("-", "")
    assert plain not in caplog.text and code not in caplog.text
    with app.app_context(), db.transaction() as session:
        for table in ("activation_codes", "events", "license_transactions",
                      "license_transaction_items"):
            dump = str(session.execute(sa.text(f"SELECT * FROM {table}")).all())
            assert plain not in dump and code not in dump, table

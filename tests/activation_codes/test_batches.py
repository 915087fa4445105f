"""Batches: minting into stock (JSON or CSV), importing offline-minted codes, revoking."""

import csv
import io

import sqlalchemy as sa

from app.activation_codes import format as codes
from app.activation_codes.models import ActivationCode
from app.activation_codes.services import batch_key, master_key
from app.db import db
from app.security.hashing import keyed_hash
from tests.activation_codes.conftest import API, events, redeem, stock
from tests.conftest import bearer
from tests.entitlements.conftest import add_user


def batches(config):
    return f"{API}/activation-code-configs/{config['id']}/batches"


def test_mint_returns_the_codes_once_and_keeps_only_hashes(app, client, manager, make_config):
    config = make_config()
    response = client.post(batches(config), json={"count": 25}, headers=manager)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    batch = body["batch"]
    assert batch["configId"] == config["id"] and batch["offline"] is False
    assert batch["revokedAt"] is None and 1 <= batch["number"] <= 65535
    minted = body["codes"]
    assert len(set(minted)) == 25
    with app.app_context():
        key = batch_key(master_key(), batch["number"])
    for code in minted:
        assert codes.display(codes.normalize(code)) == code  # shown in groups of five
        parsed = codes.parse(code)
        assert parsed.batch == batch["number"]
        codes.verify(parsed, key)
    with app.app_context(), db.transaction() as session:
        rows = session.execute(sa.select(ActivationCode.__table__)).mappings().all()
    stored = " ".join(str(value) for row in rows for value in row.values())
    assert not any(code.replace("-", "") in stored or code in stored for code in minted)
    with app.app_context():
        assert {row["code_hash"] for row in rows} == {
            keyed_hash("activation-code", code.replace("-", "")) for code in minted}
    assert stock(client, config, manager) == {"configId": config["id"], "available": 25,
                                              "allocated": 0, "redeemed": 0, "void": 0,
                                              "total": 25}


def test_mint_as_csv(client, manager, make_config):
    config = make_config()
    response = client.post(batches(config), json={"count": 3}, headers={
        **manager, "Accept": "text/csv"})
    assert response.status_code == 201
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["code"] and len(rows) == 4
    assert all(codes.parse(row[0]) for row in rows[1:])
    assert stock(client, config, manager)["available"] == 3


def test_batch_numbers_and_listing(client, manager, make_config, mint):
    config, other = make_config(), make_config()
    mint(config, 1)
    mint(other, 1)
    empty = client.post(batches(config), json={"count": 0}, headers=manager).get_json()
    assert empty["codes"] == [] and empty["batch"]["offline"] is True
    listed = client.get(batches(config), headers=manager).get_json()["items"]
    numbers = [b["number"] for b in listed]
    assert len(numbers) == 2 and numbers == sorted(numbers)
    assert empty["batch"]["number"] == max(numbers)


def test_batch_size_is_bounded(client, manager, make_config):
    config = make_config()
    for count in (-1, 100_001, "10"):
        response = client.post(batches(config), json={"count": count}, headers=manager)
        assert response.status_code == 422, count


def offline_codes(number, count, key=None):
    key = key or batch_key(master_key(), number)
    return [codes.display(codes.mint(key, number)) for _ in range(count)]


def test_import_offline_minted_codes(app, client, manager, make_config):
    config = make_config()
    batch = client.post(batches(config), json={"count": 0}, headers=manager).get_json()["batch"]
    number = batch["number"]
    with app.app_context():
        good = offline_codes(number, 3)
        other_batch = offline_codes(number + 1, 1)
        forged = offline_codes(number, 1, key=b"k" * 32)
    body = {"codes": [*good, good[0].lower(), "HELLO", *other_batch, *forged]}
    url = f"{batches(config)}/{number}/import"
    response = client.post(url, json=body, headers=manager)
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert report["imported"] == 3 and report["duplicates"] == 1
    assert [(r["index"], r["reason"].split(":")[0]) for r in report["rejected"]] == [
        (4, "malformed"), (5, f"belongs to batch {number + 1}"), (6, "not genuine")]
    assert stock(client, config, manager)["available"] == 3

    again = client.post(url, json={"codes": good}, headers=manager).get_json()
    assert again == {"imported": 0, "duplicates": 3, "rejected": []}
    assert stock(client, config, manager)["available"] == 3


def test_import_into_another_configurations_batch_is_not_found(client, manager, make_config):
    config, other = make_config(), make_config()
    number = client.post(batches(other), json={"count": 0},
                         headers=manager).get_json()["batch"]["number"]
    response = client.post(f"{batches(config)}/{number}/import", json={"codes": ["X"]},
                           headers=manager)
    assert response.status_code == 404
    assert response.get_json()["code"] == "activation_code_batch.not_found"


def test_revoked_batch_stops_redeeming_and_leaves_the_stock(app, client, manager, make_config,
                                                            allocate, redeemer):
    config = make_config()
    response = client.post(batches(config), json={"count": 3}, headers=manager).get_json()
    number, minted = response["batch"]["number"], response["codes"]
    sold = allocate(config, "order-1").get_json()["codes"][0]
    user_id = add_user(app, "rita@example.com")

    revoked = client.post(f"{batches(config)}/{number}/revoke", headers=manager)
    assert revoked.status_code == 200 and revoked.get_json()["revokedAt"]
    assert client.post(f"{batches(config)}/{number}/revoke", headers=manager).get_json()[
        "revokedAt"] == revoked.get_json()["revokedAt"]
    assert [e.data["withdrawnFromStock"] for e in events(app, "activation_codes.batch_revoked")
            ] == [2]

    refused = redeem(client, sold, redeemer, user=user_id)
    assert refused.status_code == 410
    assert refused.get_json()["code"] == "activation_code.revoked"
    assert stock(client, config, manager) == {"configId": config["id"], "available": 0,
                                              "allocated": 1, "redeemed": 0, "void": 2,
                                              "total": 3}
    out = allocate(config, "order-2")
    assert out.status_code == 409 and out.get_json()["code"] == "activation_code.out_of_stock"
    # Nor can more codes of it be imported.
    with app.app_context():
        late = offline_codes(number, 1)
    refused = client.post(f"{batches(config)}/{number}/import", json={"codes": late},
                          headers=manager)
    assert refused.status_code == 409
    assert minted  # (the codes were shown once, at minting)


def test_batches_need_the_manage_scope(client, api_token, make_config):
    config = make_config()
    shop = bearer(api_token("activation-codes:allocate"))
    assert client.post(batches(config), json={"count": 1}, headers=shop).status_code == 403
    assert client.get(batches(config), headers=shop).status_code == 403
    assert client.post(batches(config), json={"count": 1}).status_code == 401

"""Offline minting: an admin exports one batch's key; a reseller mints that batch's codes with
the key file alone; the codes redeem once imported into stock, and not before."""

import json
import os
import stat
import subprocess
import sys

import pytest

from app import PROJECT_ROOT
from app.activation_codes import format as codes
from tests.activation_codes.conftest import API, redeem, stock
from tests.entitlements.conftest import add_user


@pytest.fixture
def offline_batch(client, manager, make_config):
    config = make_config()
    response = client.post(f"{API}/activation-code-configs/{config['id']}/batches",
                           json={"count": 0}, headers=manager)
    return config, response.get_json()["batch"]["number"]


def test_export_key_then_mint_offline_then_import(app, client, runner, manager, redeemer,
                                                  offline_batch, tmp_path):
    config, number = offline_batch
    key_file = tmp_path / "batch.key"
    result = runner.invoke(args=["codes", "export-key", "--batch", str(number),
                                 "--out", str(key_file)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    exported = json.loads(key_file.read_text())
    assert exported["version"] == 1 and exported["batch"] == number
    listed = client.get(f"{API}/activation-code-configs/{config['id']}/batches",
                        headers=manager).get_json()["items"]
    assert listed[0]["offline"] is True

    result = runner.invoke(args=["codes", "mint", "--batch-key-file", str(key_file),
                                 "--count", "3"])
    assert result.exit_code == 0, result.output
    minted = result.output.split()
    assert len(set(minted)) == 3
    assert all(codes.parse(code).batch == number and codes.display(codes.normalize(code)) == code
               for code in minted)

    user_id = add_user(app, "offline@example.com")
    before = redeem(client, minted[0], redeemer, user=user_id)
    assert before.status_code == 422
    assert before.get_json()["code"] == "activation_code.invalid"

    imported = client.post(f"{API}/activation-code-configs/{config['id']}/batches/{number}/import",
                           json={"codes": minted}, headers=manager)
    assert imported.get_json() == {"imported": 3, "duplicates": 0, "rejected": []}
    assert stock(client, config, manager)["available"] == 3
    after = redeem(client, minted[0], redeemer, user=user_id)
    assert after.status_code == 200, after.get_json()


def test_mint_to_a_file(runner, offline_batch, tmp_path):
    _config, number = offline_batch
    key_file, out = tmp_path / "batch.key", tmp_path / "codes.txt"
    runner.invoke(args=["codes", "export-key", "--batch", str(number), "--out", str(key_file)])
    result = runner.invoke(args=["codes", "mint", "--batch-key-file", str(key_file),
                                 "--count", "5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert len(out.read_text().splitlines()) == 5
    again = runner.invoke(args=["codes", "mint", "--batch-key-file", str(key_file),
                                "--count", "5", "--out", str(out)])
    assert again.exit_code != 0 and "exists" in again.output  # never overwrites codes


def test_export_key_refusals(runner, tmp_path, offline_batch, client, manager):
    config, number = offline_batch
    result = runner.invoke(args=["codes", "export-key", "--batch", "65000",
                                 "--out", str(tmp_path / "k")])
    assert result.exit_code != 0 and "no batch 65000" in result.output
    client.post(f"{API}/activation-code-configs/{config['id']}/batches/{number}/revoke",
                headers=manager)
    result = runner.invoke(args=["codes", "export-key", "--batch", str(number),
                                 "--out", str(tmp_path / "k")])
    assert result.exit_code != 0 and "revoked" in result.output
    assert not (tmp_path / "k").exists()


@pytest.mark.parametrize("content", ["", "{}", '{"version": 1, "batch": 3, "key": "AAAA"}',
                                     '{"version": 2, "batch": 3, "key": ""}', "[1]"])
def test_mint_refuses_a_bad_key_file(runner, tmp_path, content):
    key_file = tmp_path / "bad.key"
    key_file.write_text(content)
    result = runner.invoke(args=["codes", "mint", "--batch-key-file", str(key_file),
                                 "--count", "1"])
    assert result.exit_code != 0 and "not a batch key file" in result.output


def test_mint_needs_no_database(tmp_path):
    """A reseller's machine: no Gatehouse database, none reachable."""
    key_file = tmp_path / "batch.key"
    key_file.write_text(json.dumps({"version": 1, "batch": 77, "key": "a" * 43 + "="}))
    env = dict(os.environ, GATEHOUSE_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none",
               GATEHOUSE_INSTANCE_PATH=str(tmp_path / "instance"),
               GATEHOUSE_SECRET_KEY="a reseller's own secret, unrelated")
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "codes", "mint",
         "--batch-key-file", str(key_file), "--count", "2"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert [codes.parse(line).batch for line in done.stdout.split()] == [77, 77]

"""Failed attempts at codes are rate-limited: per user and per IP address for users' tokens, per
client for servers; successes, and calls without a valid token, never count."""

import pytest

from app import create_app
from app.db import db
from app.security.ratelimit import limiter
from tests.activation_codes.conftest import API
from tests.conftest import bearer, csrf_from, settings_for_tests
from tests.entitlements.conftest import add_user

LIMIT = 3


@pytest.fixture
def limited(app, tmp_path, database_url, db_connection):
    settings = settings_for_tests(tmp_path, database_url)
    settings.update(RATELIMIT_ENABLED=True, RATELIMIT_REDEEM=f"{LIMIT}/minute")
    limited_app = create_app(settings)
    db.bind_to(limited_app, db_connection)
    yield limited_app
    # Flask-Limiter keeps its switch and counters on the (shared) extension object.
    limiter.reset()
    limiter.enabled = app.config["RATELIMIT_ENABLED"]


def attempt(app, code, headers, user="me", ip="10.0.0.1"):
    return app.test_client().post(f"{API}/users/{user}/activation-codes/redeem",
                                  json={"code": code}, headers=headers,
                                  environ_base={"REMOTE_ADDR": ip})


def test_users_failed_attempts_count_per_user_and_per_ip(app, limited, login, make_config,
                                                         mint):
    config = make_config()
    good = mint(config, 3)
    add_user(app, "ann@example.com", active=True)
    add_user(app, "ben@example.com", active=True)
    ann, ben = bearer(login("ann@example.com")), bearer(login("ben@example.com"))

    # Successes are free.
    assert [attempt(limited, code, ann).status_code for code in good[:2]] == [200, 200]
    statuses = [attempt(limited, "NOT-A-CODE", ann).status_code for _ in range(LIMIT + 1)]
    assert statuses == [422] * LIMIT + [429]
    refused = attempt(limited, good[2], ann)
    assert refused.status_code == 429 and refused.get_json()["code"] == "rate_limited"
    assert "Retry-After" in refused.headers
    # Ann from another address: still Ann.
    assert attempt(limited, good[2], ann, ip="10.0.0.2").status_code == 429
    # Ben from Ann's address: the address is spent too.
    assert attempt(limited, good[2], ben).status_code == 429
    # Ben from his own address is not held back by Ann's mistakes.
    assert attempt(limited, good[2], ben, ip="10.0.0.3").status_code == 200


def test_servers_count_per_client_not_per_ip(app, limited, api_token, make_config, mint):
    config = make_config()
    [good] = mint(config, 1)
    user_id = add_user(app, "ann@example.com")
    first, second = (bearer(api_token("activation-codes:redeem")) for _ in range(2))
    statuses = [attempt(limited, "NOT-A-CODE", first, user=user_id).status_code
                for _ in range(LIMIT + 1)]
    assert statuses == [422] * LIMIT + [429]
    # Another shop behind the same address is not affected.
    assert attempt(limited, good, second, user=user_id).status_code == 200


def test_calls_without_a_valid_token_do_not_count(app, limited, login, make_config, mint):
    config = make_config()
    [good] = mint(config, 1)
    add_user(app, "ann@example.com", active=True)
    for _ in range(LIMIT + 2):
        assert attempt(limited, "NOT-A-CODE", {}).status_code == 401
        assert attempt(limited, "NOT-A-CODE", {"Authorization": "Bearer x.e30.y"}).status_code \
            == 401
    assert attempt(limited, good, bearer(login("ann@example.com"))).status_code == 200


def test_checks_that_find_nothing_count(limited, api_token, make_config, mint):
    mint(make_config(), 1)
    shop = bearer(api_token("activation-codes:allocate"))
    check = limited.test_client()
    statuses = [check.post(f"{API}/activation-codes/check", json={"code": "NOPE"},
                           headers=shop).status_code for _ in range(LIMIT + 1)]
    assert statuses == [200] * LIMIT + [429]


def test_the_page_check_is_limited_per_ip(limited, make_config, mint):
    config = make_config()
    [good] = mint(config, 1)
    browser = limited.test_client()
    token = csrf_from(browser.get("/redeem"))
    headers = {"X-CSRFToken": token}
    for _ in range(5):  # redeemable codes never count
        assert browser.post("/redeem/check", json={"code": good}, headers=headers).status_code \
            == 200
    statuses = [browser.post("/redeem/check", json={"code": "NOPE"}, headers=headers).status_code
                for _ in range(LIMIT + 1)]
    assert statuses == [200] * LIMIT + [429]
    page = browser.post("/redeem", data={"csrf_token": token, "code": good})
    assert page.status_code == 429

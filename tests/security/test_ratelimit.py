"""Rate limits on pages where guessing or mail-bombing is possible."""

import pytest

from app import create_app
from app.db import db
from app.security.ratelimit import limiter
from tests.conftest import csrf_from, settings_for_tests


@pytest.fixture
def limited(app, tmp_path, database_url, db_connection):
    settings = settings_for_tests(tmp_path, database_url)
    settings.update(RATELIMIT_ENABLED=True, RATELIMIT_MAIL="2/minute")
    limited_app = create_app(settings)
    db.bind_to(limited_app, db_connection)
    yield limited_app.test_client()
    # Flask-Limiter keeps its switch and counters on the (shared) extension object.
    limiter.reset()
    limiter.enabled = app.config["RATELIMIT_ENABLED"]


def test_forgot_password_is_rate_limited_per_ip(limited, outbox):
    page = limited.get("/user/password/forgot")
    token = csrf_from(page)
    statuses = [
        limited.post("/user/password/forgot",
                      data={"csrf_token": token, "email": f"n{i}@example.com"}).status_code
        for i in range(3)
    ]
    assert statuses == [200, 200, 429]
    refused = limited.post("/user/password/forgot",
                           data={"csrf_token": token, "email": "x@example.com"},
                           headers={"Accept": "application/json"})
    assert refused.status_code == 429
    assert refused.get_json()["code"] == "rate_limited"
    assert "Retry-After" in refused.headers


def test_limits_do_not_apply_to_reading_the_page(limited):
    for _ in range(5):
        assert limited.get("/user/password/forgot").status_code == 200

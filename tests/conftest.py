"""Shared fixtures.

`TEST_DATABASE_URL` picks the engine (SQLite in a temporary folder when unset). The schema is
built once per run by the migrations themselves. Each test runs inside a transaction that is
rolled back afterwards; a test marked `committed` gets real commits instead (concurrency, workers,
live servers) and the tables are emptied after it.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import create_app
from app.cache import forget_all
from app.db import Base, db

pytest_plugins = ["tests.smtp_server", "tests.live", "tests.probe"]

TEST_SECRET_KEY = "test-secret-key-not-for-production"


def settings_for_tests(tmp_path: Path, database_url: str) -> dict:
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET_KEY,
        "ISSUER": "http://gatehouse.test",
        "MAIL_URL": (tmp_path / "mail").as_uri(),
        # Cheap hashing keeps the suite fast; production parameters are tested on their own.
        "ARGON2_MEMORY_KIB": 1024,
        "ARGON2_TIME_COST": 1,
        "RATELIMIT_ENABLED": False,
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'gatehouse-test.db'}"


def _drop_everything(engine: sa.Engine) -> None:
    metadata = sa.MetaData()
    metadata.reflect(engine)
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        metadata.drop_all(connection)


@pytest.fixture(scope="session")
def app(tmp_path_factory, database_url):
    from flask_migrate import upgrade

    app = create_app(settings_for_tests(tmp_path_factory.mktemp("app"), database_url))
    with app.app_context():
        _drop_everything(db.engine)
        upgrade()
        # One signing key for the whole run, committed, so tests need not generate their own.
        app.extensions["gatehouse.keys"].signing_key()
    yield app
    with app.app_context():
        db.engine.dispose()


# Rows the migrations seed (and the run's signing key) survive between committed tests.
KEEP_TABLES = {"signing_keys", "roles", "registration_templates"}


def empty_tables() -> None:
    with db.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in KEEP_TABLES:
                connection.execute(table.delete())


@pytest.fixture(autouse=True)
def db_connection(request, app):
    """The connection whose transaction the test runs in (None for `committed` tests)."""
    keys = app.extensions["gatehouse.keys"]
    # Process caches outlive a test; its rows do not.
    request.addfinalizer(lambda: forget_all(app))
    if request.node.get_closest_marker("committed"):
        yield None
        with app.app_context():
            empty_tables()
        keys.invalidate()
        return
    with app.app_context():
        connection = db.engine.connect()
    transaction = connection.begin()
    db.bind_to(app, connection)
    try:
        yield connection
    finally:
        db.bind_to(app, None)
        transaction.rollback()
        connection.close()
        keys.invalidate()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def is_postgres(database_url) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture
def make_client(app):
    """Register an OAuth client; returns (client_id, secret)."""
    from app.oidc.services import ClientService

    def make(scopes=(), grants=("client_credentials",), **kwargs):
        with app.app_context(), db.transaction() as session:
            created = ClientService(session).create(
                name=kwargs.pop("name", "Test client"), grant_types=list(grants),
                scopes=list(scopes), **kwargs,
            )
            return created.client.client_id, created.secret

    return make


def basic_auth(client_id: str, secret: str) -> dict:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.fixture
def api_token(client, make_client):
    """A client-credentials access token carrying `scopes`."""

    def issue(*scopes: str) -> str:
        client_id, secret = make_client(scopes=scopes)
        response = client.post("/user/oauth20/token", data={"grant_type": "client_credentials"},
                               headers=basic_auth(client_id, secret))
        assert response.status_code == 200, response.get_json()
        return response.get_json()["access_token"]

    return issue


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def csrf_from(response) -> str:
    """The CSRF token of the (first) form on a page."""
    import re

    match = re.search(r'name="(?:[\w-]+-)?csrf_token" type="hidden" value="([^"]+)"',
                      response.get_data(as_text=True))
    assert match, "the page has no CSRF token"
    return match.group(1)


def link_in(text: str) -> str:
    import re

    match = re.search(r"https?://\S+", text)
    assert match, f"no link in {text!r}"
    return match.group(0)


@pytest.fixture
def outbox(app):
    """The messages in the outbox, oldest first (as the worker would see them)."""
    from app.mail.models import OutboxMessage

    def read(**filters):
        with app.app_context(), db.transaction() as session:
            query = sa.select(OutboxMessage).filter_by(**filters).order_by(OutboxMessage.created_at)
            return list(session.scalars(query))

    return read


def race(app, count: int, request) -> list:
    """Run `request(client, index)` in `count` threads released together (a barrier), each with
    its own test client; returns the results in index order. For `committed` tests."""
    import threading

    barrier = threading.Barrier(count)
    results = [None] * count

    def run(index):
        client = app.test_client()
        barrier.wait()
        results[index] = request(client, index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


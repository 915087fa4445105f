"""The request's session: read-only requests on PostgreSQL run without a transaction, and the
connection they used goes back to the pool ready for transactions again."""

import pytest
import sqlalchemy as sa

from app.db import db
from app.users.models import User


def _autocommit(session) -> bool:
    return session.connection().connection.dbapi_connection.autocommit


@pytest.mark.committed
def test_read_only_requests_skip_the_transaction_and_leave_none_behind(app):
    if db_dialect(app) != "postgresql":
        pytest.skip("SQLite has no round trips to save")
    with app.test_request_context("/", method="POST"):
        db.read_only()
        assert _autocommit(db.session)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
        app.process_response(app.response_class())  # the request boundary closes the session

    # The next request that writes, on the same pooled connection, is one transaction again:
    # its failure leaves nothing behind.
    with app.test_request_context("/", method="POST"):
        assert not _autocommit(db.session)
        db.session.add(User(email="a@example.com", first_name="A", last_name="B"))
        db.session.flush()
        response = app.response_class(status=500)
        app.process_response(response)
    with app.app_context(), db.transaction(write=False) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_read_only_after_a_query_changes_nothing(app):
    with app.test_request_context("/", method="POST"):
        session = db.session
        session.execute(sa.text("SELECT 1"))
        db.read_only()
        assert db.session is session


def db_dialect(app) -> str:
    with app.app_context():
        return db.dialect

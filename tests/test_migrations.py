"""The migrations are the schema: they match the models, and health says when they are behind."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from app.db import Base, db


def test_models_and_migrations_do_not_differ(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_liveness(client):
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready_when_database_is_at_head(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.get_json()["migrations"] == "at head"


def test_not_ready_when_migrations_are_behind(app, client):
    with app.app_context(), db.transaction() as session:
        session.execute(sa.text("UPDATE alembic_version SET version_num = 'older'"))
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.get_json()["migrations"]["current"] == ["older"]

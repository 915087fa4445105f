"""Alembic environment: the app's engine and models (run through Flask-Migrate)."""

from alembic import context
from flask import current_app

from app.db import Base, db

config = context.config


def run_migrations_offline() -> None:
    context.configure(
        url=str(db.engine.url), target_metadata=Base.metadata, literal_binds=True,
        render_as_batch=True, compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # tests hand in their own connection
        _run(connection)
        return
    with db.engine.connect() as connection:
        _run(connection)


def _run(connection) -> None:
    kwargs = current_app.extensions["migrate"].configure_args
    context.configure(connection=connection, target_metadata=Base.metadata, **kwargs)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

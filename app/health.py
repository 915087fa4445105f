"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from flask_migrate import Migrate

from app.db import db

bp = Blueprint("health", __name__, url_prefix="/health")


def migration_heads() -> set[str]:
    """The heads of the migration scripts shipped with this code (read once per process)."""
    heads = current_app.extensions.get("gatehouse.migration_heads")
    if heads is None:
        migrate: Migrate = current_app.extensions["migrate"].migrate
        config = migrate.get_config()
        heads = set(ScriptDirectory.from_config(config).get_heads())
        current_app.extensions["gatehouse.migration_heads"] = heads
    return heads


@bp.get("/live")
def live():
    return jsonify(status="ok")


@bp.get("/ready")
def ready():
    try:
        current = set(db.session.scalars(sa.text("SELECT version_num FROM alembic_version")))
    except sa.exc.SQLAlchemyError:
        return jsonify(status="unavailable", database="unreachable or not migrated"), 503
    expected = migration_heads()
    if current != expected:
        return jsonify(status="unavailable", database="reachable",
                       migrations={"current": sorted(current), "expected": sorted(expected)}), 503
    return jsonify(status="ok", database="reachable", migrations="at head")

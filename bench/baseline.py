"""The bench-only WSGI app: Gatehouse as `create_app()` builds it, plus two trivial routes.

    gunicorn bench.baseline:app

- `GET /bench/bare`: a plain Flask JSON response, no authentication. The floor: what a request
  costs in this app (Flask, middleware, hooks, gunicorn) before any work of its own.
- `GET /bench/protected`: the same JSON behind `require_scopes("idp:users:read")`, the decorator
  every bearer-protected API view uses: the JWT's signature is checked against the published
  keys, then `typ`, `iss`, `aud`, `exp` and the scope.

The difference between the two is the price of bearer authentication.

- `POST /bench/by-email-baseline` with `{"email": ...}`: the floor for a lookup by email, a bare
  indexed `SELECT ... FROM users WHERE email = :email` through a plain SQLAlchemy engine of its
  own (no ORM, no schema validation, no authentication), answered as JSON (404 if absent).

The routes exist only in this module; the service itself (`wsgi:app`) never has them.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Flask, jsonify, request

from app import create_app, csrf
from app.oidc.bearer import current_principal, require_scopes

PAYLOAD = {"status": "ok", "items": [], "total": 0}


def bare():
    return jsonify(PAYLOAD)


@require_scopes("idp:users:read")
def protected():
    current_principal()  # what a real view would look at
    return jsonify(PAYLOAD)


_BY_EMAIL = sa.text("SELECT id, email, first_name, last_name, status FROM users "
                    "WHERE email = :email")
_engine: sa.Engine | None = None


def by_email_baseline():
    global _engine
    if _engine is None:  # per worker, after the fork
        _engine = sa.create_engine(os.environ["GATEHOUSE_DATABASE_URL"])
    email = (request.get_json(silent=True) or {}).get("email", "")
    with _engine.connect() as conn:
        row = conn.execute(_BY_EMAIL, {"email": email}).first()
    if row is None:
        return jsonify(error="not found"), 404
    return jsonify(id=str(row.id), email=row.email, firstName=row.first_name,
                   lastName=row.last_name, status=row.status)


def create_bench_app() -> Flask:
    bench_app = create_app()
    bench_app.add_url_rule("/bench/bare", "bench_bare", bare, methods=["GET"])
    bench_app.add_url_rule("/bench/protected", "bench_protected", protected, methods=["GET"])
    csrf.exempt(by_email_baseline)  # a JSON API route, as the service's API blueprints are
    bench_app.add_url_rule("/bench/by-email-baseline", "bench_by_email_baseline",
                           by_email_baseline, methods=["POST"])
    return bench_app


app = create_bench_app()

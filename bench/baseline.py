"""The bench-only WSGI app: Gatehouse as `create_app()` builds it, plus two trivial routes.

    gunicorn bench.baseline:app

- `GET /bench/bare`: a plain Flask JSON response, no authentication. The floor: what a request
  costs in this app (Flask, middleware, hooks, gunicorn) before any work of its own.
- `GET /bench/protected`: the same JSON behind `require_scopes("idp:users:read")`, the decorator
  every bearer-protected API view uses: the JWT's signature is checked against the published
  keys, then `typ`, `iss`, `aud`, `exp` and the scope.

The difference between the two is the price of bearer authentication. The routes exist only in
this module; the service itself (`wsgi:app`) never has them.
"""

from __future__ import annotations

from flask import Flask, jsonify

from app import create_app
from app.oidc.bearer import current_principal, require_scopes

PAYLOAD = {"status": "ok", "items": [], "total": 0}


def bare():
    return jsonify(PAYLOAD)


@require_scopes("idp:users:read")
def protected():
    current_principal()  # what a real view would look at
    return jsonify(PAYLOAD)


def create_bench_app() -> Flask:
    bench_app = create_app()
    bench_app.add_url_rule("/bench/bare", "bench_bare", bare, methods=["GET"])
    bench_app.add_url_rule("/bench/protected", "bench_protected", protected, methods=["GET"])
    return bench_app


app = create_bench_app()

"""Idempotency keys belong to their caller: a client, or one user of a client."""

from flask import g

from app.idempotency import _caller
from app.oidc.bearer import Principal


def principal(sub, client_id="app"):
    return Principal(sub=sub, client_id=client_id, scopes=frozenset(), claims={})


def test_keys_are_scoped_per_user_of_a_client(app):
    with app.test_request_context():
        g.principal = principal("app")  # the client itself
        assert _caller() == "app"
        g.principal = principal("user-1")
        one = _caller()
        g.principal = principal("user-2")
        two = _caller()
        g.principal = principal("user-1", client_id="other-app")
        other = _caller()
    assert len({one, two, other, "app"}) == 4
    assert all(len(value) <= 64 for value in (one, two, other))

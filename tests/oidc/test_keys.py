"""Signing-key rotation: old tokens keep verifying until they expire; new ones use the new key."""

from datetime import timedelta

from joserfc import jwt
from joserfc.jwk import KeySet

from app.db import db, utcnow
from app.oidc.keys import keystore
from app.oidc.models import SigningKey
from tests.conftest import basic_auth


def issue(client, client_id, secret):
    response = client.post("/user/oauth20/token", data={"grant_type": "client_credentials"},
                           headers=basic_auth(client_id, secret))
    return response.get_json()["access_token"]


def published(client):
    return KeySet.import_key_set(client.get("/.well-known/jwks.json").get_json())




def test_rotation_keeps_old_tokens_valid(app, client, runner, make_client):
    client_id, secret = make_client(scopes=["idp:users:read"])
    before = issue(client, client_id, secret)

    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    after = issue(client, client_id, secret)

    keys = published(client)
    old = jwt.decode(before, keys, algorithms=["RS256"])
    new = jwt.decode(after, keys, algorithms=["RS256"])
    assert old.header["kid"] != new.header["kid"]
    assert {old.header["kid"], new.header["kid"]} <= {k.kid for k in keys.keys}


def test_retired_keys_leave_the_jwks_after_the_last_token_expired(app, client):
    with app.app_context():
        with db.transaction() as session:
            keystore().rotate(session)
            retired = session.query(SigningKey).filter(SigningKey.retired_at.isnot(None)).all()
            assert retired
            window = keystore().publish_window
            for row in retired:
                row.retired_at = utcnow() - window - timedelta(seconds=1)
            gone = {row.kid for row in retired}
        keystore().invalidate()
    kids = {key["kid"] for key in client.get("/.well-known/jwks.json").get_json()["keys"]}
    assert kids and not kids & gone


def test_private_keys_are_stored_encrypted(app):
    with app.app_context(), db.transaction() as session:
        for row in session.query(SigningKey):
            assert "ENCRYPTED PRIVATE KEY" in row.private_pem

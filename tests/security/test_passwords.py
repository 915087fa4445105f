"""Password hashing and policy."""

import pytest

from app.security.passwords import hash_password, policy_problems, verify_password


def test_argon2id_with_configured_parameters(app):
    with app.app_context():
        stored = hash_password("a fine long password")
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")


def test_production_defaults_are_owasp(app):
    from app.config import SETTINGS

    assert SETTINGS["ARGON2_MEMORY_KIB"][1] == 19456
    assert SETTINGS["ARGON2_TIME_COST"][1] == 2
    assert SETTINGS["ARGON2_PARALLELISM"][1] == 1


def test_verify_and_rehash_when_parameters_change(app, monkeypatch):
    with app.app_context():
        stored = hash_password("a fine long password")
        assert verify_password(stored, "a fine long password") == (True, None)
        assert verify_password(stored, "wrong password!") == (False, None)
        assert verify_password(None, "anything at all") == (False, None)
        assert verify_password("not a hash", "anything at all") == (False, None)

        monkeypatch.setitem(app.config, "ARGON2_TIME_COST", 2)
        ok, new_hash = verify_password(stored, "a fine long password")
        assert ok and new_hash.startswith("$argon2id$v=19$m=1024,t=2,p=1$")
        assert verify_password(new_hash, "a fine long password") == (True, None)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("123456789", "at least 10"),
        ("x" * 257, "at most 256"),
        ("Password123", "too common"),
        ("aaaaaaaaaaaa", "too common"),
        ("ababababababab", "too common"),
        ("someone@example.com", "email address"),
    ],
)
def test_policy_refuses(password, problem):
    problems = policy_problems(password, email="someone@example.com")
    assert problems and problem in problems[0]


def test_policy_accepts_a_good_password():
    assert policy_problems("correct horse battery staple", email="a@example.com") == []

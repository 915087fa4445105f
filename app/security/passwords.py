"""Password hashing (argon2id, OWASP parameters by default) and the password policy."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from app.messages import N_

MIN_LENGTH = 10
MAX_LENGTH = 256
POLICY = N_("At least %(count)d characters, and not a commonly used password.", count=MIN_LENGTH)


@lru_cache(maxsize=8)
def _hasher(memory_kib: int, time_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(memory_cost=memory_kib, time_cost=time_cost, parallelism=parallelism,
                          type=Type.ID)


def hasher() -> PasswordHasher:
    config = current_app.config
    return _hasher(config["ARGON2_MEMORY_KIB"], config["ARGON2_TIME_COST"],
                   config["ARGON2_PARALLELISM"])


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
    """(matches, new hash when the parameters changed and the hash should be replaced)."""
    if not stored_hash:
        return False, None
    ph = hasher()
    try:
        ph.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False, None
    return True, (ph.hash(password) if ph.check_needs_rehash(stored_hash) else None)


def dummy_hash() -> str:
    """A hash with the current parameters, to verify against when there is no account."""
    ph = hasher()
    return _dummy(ph.memory_cost, ph.time_cost, ph.parallelism)


@lru_cache(maxsize=8)
def _dummy(memory_kib: int, time_cost: int, parallelism: int) -> str:
    return _hasher(memory_kib, time_cost, parallelism).hash("no account has this password")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("app.security").joinpath("common_passwords.txt").read_text()
    return frozenset(line.strip().lower() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def policy_problems(password: str, *, email: str | None = None) -> list[str]:
    """What is wrong with a new password, in words for the person choosing it (marked, so the
    pages show them in their language)."""
    if len(password) < MIN_LENGTH:
        return [N_("Use at least %(count)d characters.", count=MIN_LENGTH)]
    if len(password) > MAX_LENGTH:
        return [N_("Use at most %(count)d characters.", count=MAX_LENGTH)]
    lowered = password.lower()
    if lowered in common_passwords() or len(set(lowered)) <= 2:
        return [N_("This password is too common; choose one that is harder to guess.")]
    if email and lowered in {email.lower(), email.split("@")[0].lower()}:
        return [N_("Do not use your email address as your password.")]
    return []

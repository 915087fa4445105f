"""Settings: embedded defaults < GATEHOUSE_* environment < the mapping given to create_app.

Nothing is read at import time; `load_settings` is called by the app factory. A bad value stops
the service at start-up with a message that names the setting, never later at the first request.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class ConfigError(RuntimeError):
    """A setting has a value the service cannot run with."""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("expected a positive whole number")
    return number


# name (without prefix) -> (parser, default). A default of None is filled in by `load_settings`
# because it depends on the instance folder or on another setting.
SETTINGS: dict[str, tuple[Callable[[str], Any], Any]] = {
    "DATABASE_URL": (str, None),
    "ISSUER": (str, "http://127.0.0.1:8000"),
    "SECRET_KEY": (str, None),
    "MAIL_URL": (str, None),
    "MAIL_FROM": (str, "Gatehouse <no-reply@gatehouse.localhost>"),
    "OUTBOX_MAX_ATTEMPTS": (_positive_int, 8),
    "API_AUDIENCE": (str, None),
    "SIGNING_ALG": (str, "RS256"),
    "ACCESS_TOKEN_TTL": (_positive_int, 3600),
    "ID_TOKEN_TTL": (_positive_int, 3600),
    "RATELIMIT_ENABLED": (_bool, True),
    "RATELIMIT_STORAGE_URI": (str, "memory://"),
    "RATELIMIT_LOGIN": (str, "10/minute;100/hour"),
    "RATELIMIT_REGISTRATION": (str, "5/minute;50/hour"),
    "RATELIMIT_MAIL": (str, "5/minute;30/hour"),
    "RATELIMIT_LOOKUP": (str, "600/minute"),
    "RATELIMIT_REDEEM": (str, "20/minute;200/hour"),
    "ARGON2_MEMORY_KIB": (_positive_int, 19456),
    "ARGON2_TIME_COST": (_positive_int, 2),
    "ARGON2_PARALLELISM": (_positive_int, 1),
    "ACTIVATION_LINK_TTL": (_positive_int, 72 * 3600),
    "RESET_LINK_TTL": (_positive_int, 3600),
    "INVITATION_TTL": (_positive_int, 72 * 3600),
    "REGISTRATION_VERIFY_EMAIL": (_bool, True),
    "MAX_CONTENT_LENGTH": (_positive_int, 1024 * 1024),
    "LOG_LEVEL": (str, "INFO"),
}

SIGNING_ALGS = ("RS256", "ES256")


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, (parse, _default) in SETTINGS.items():
        raw = environ.get(f"GATEHOUSE_{name}")
        if raw is None and name == "DATABASE_URL":
            raw = environ.get("DATABASE_URL")
        if raw is None or raw == "":
            continue
        try:
            found[name] = parse(raw)
        except ValueError as exc:
            raise ConfigError(f"GATEHOUSE_{name}={raw!r} is not valid: {exc}") from None
    return found


def secret_key_from_instance(instance_path: Path) -> str:
    """Read the generated secret key, creating it (owner-only) the first time.

    O_EXCL makes the first of several starting workers the one that writes it; the others read it.
    """
    path = instance_path / "secret_key"
    instance_path.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text().strip()
        if not key:
            raise ConfigError(f"{path} is empty: delete it to generate a new secret key") from None
        return key
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def _check(settings: dict[str, Any]) -> None:
    try:
        url = make_url(settings["DATABASE_URL"])
    except ArgumentError:
        raise ConfigError(
            f"GATEHOUSE_DATABASE_URL={settings['DATABASE_URL']!r} is not a database URL; "
            "use e.g. postgresql+psycopg://user@host/db or sqlite:////path/to/file.db"
        ) from None
    if url.get_backend_name() not in {"sqlite", "postgresql"}:
        raise ConfigError(
            f"GATEHOUSE_DATABASE_URL uses {url.get_backend_name()!r}; Gatehouse runs on "
            "sqlite or postgresql"
        )
    issuer = urlsplit(settings["ISSUER"])
    if issuer.scheme not in {"http", "https"} or not issuer.netloc or issuer.query:
        raise ConfigError(
            f"GATEHOUSE_ISSUER={settings['ISSUER']!r} must be an http(s) URL without a query"
        )
    mail = urlsplit(settings["MAIL_URL"])
    if mail.scheme not in {"smtp", "smtps", "file"}:
        raise ConfigError(
            f"GATEHOUSE_MAIL_URL={settings['MAIL_URL']!r}: use smtp://, smtps:// or file:///dir"
        )
    if settings["SIGNING_ALG"] not in SIGNING_ALGS:
        raise ConfigError(f"GATEHOUSE_SIGNING_ALG must be one of {', '.join(SIGNING_ALGS)}")
    if len(settings["SECRET_KEY"]) < 16:
        raise ConfigError("GATEHOUSE_SECRET_KEY must be at least 16 characters long")


def load_settings(
    instance_path: Path,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Return the app's configuration: defaults, then environment, then `overrides`."""
    environ = os.environ if environ is None else environ
    settings: dict[str, Any] = {name: default for name, (_p, default) in SETTINGS.items()}
    settings.update(_from_environment(environ))
    settings.update(overrides or {})

    if not settings["DATABASE_URL"]:
        instance_path.mkdir(parents=True, exist_ok=True)
        settings["DATABASE_URL"] = f"sqlite:///{instance_path / 'gatehouse.db'}"
    if not settings["MAIL_URL"]:
        settings["MAIL_URL"] = (instance_path / "mail").as_uri()
    if not settings["SECRET_KEY"]:
        settings["SECRET_KEY"] = secret_key_from_instance(instance_path)
    settings["ISSUER"] = settings["ISSUER"].rstrip("/")
    if not settings["API_AUDIENCE"]:
        settings["API_AUDIENCE"] = f"{settings['ISSUER']}/api"
    _check(settings)

    # Flask and its extensions read these names.
    settings.setdefault("RATELIMIT_STORAGE_URI", settings["RATELIMIT_STORAGE_URI"])
    settings["SESSION_COOKIE_SECURE"] = settings["ISSUER"].startswith("https://")
    settings["SESSION_COOKIE_HTTPONLY"] = True
    settings["SESSION_COOKIE_SAMESITE"] = "Lax"
    settings["SESSION_COOKIE_NAME"] = "gatehouse_session"
    settings["PERMANENT_SESSION_LIFETIME"] = timedelta(days=14)
    settings["WTF_CSRF_TIME_LIMIT"] = None  # the token is bound to the session instead
    settings["JSON_SORT_KEYS"] = False
    return settings

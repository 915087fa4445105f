"""Rate limits (Flask-Limiter). Limits per kind come from settings (GATEHOUSE_RATELIMIT_*);
storage is in memory for one instance, Redis for several."""

from __future__ import annotations

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, headers_enabled=True)


def limit_for(kind: str):
    """A limit string read at request time, so tests and operators can change it."""
    return lambda: current_app.config[f"RATELIMIT_{kind.upper()}"]

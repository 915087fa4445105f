"""Per-account lockout with growing back-off: after a few failed logins for one email, each
further failure locks it for longer (30 s, 1 min, 2 min, ... up to 15 min)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from app.db import utcnow
from app.security.hashing import keyed_hash
from app.security.models import LoginThrottle

FREE_FAILURES = 5
FIRST_LOCK = timedelta(seconds=30)
LONGEST_LOCK = timedelta(minutes=15)
# A quiet day forgives old failures.
FORGET_AFTER = timedelta(hours=24)


class Lockout:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _row(self, email: str) -> LoginThrottle | None:
        return self.session.get(LoginThrottle, keyed_hash("login-throttle", email))

    def locked_until(self, email: str) -> datetime | None:
        row = self._row(email)
        if row is not None and row.locked_until and row.locked_until > utcnow():
            return row.locked_until
        return None

    def failed(self, email: str) -> None:
        now = utcnow()
        row = self._row(email)
        if row is None:
            row = LoginThrottle(key_hash=keyed_hash("login-throttle", email), failures=0)
            self.session.add(row)
        elif row.last_failure_at and now - row.last_failure_at > FORGET_AFTER:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        if row.failures >= FREE_FAILURES:
            lock = FIRST_LOCK * 2 ** min(row.failures - FREE_FAILURES, 10)
            row.locked_until = now + min(lock, LONGEST_LOCK)

    def succeeded(self, email: str) -> None:
        row = self._row(email)
        if row is not None:
            self.session.delete(row)
            self.session.flush()

"""The browser's login at Gatehouse: a server-side session row, named by a signed cookie.

The cookie (Flask's session: signed, HttpOnly, SameSite=Lax, Secure on https) holds only the
session id; logging out ends the row, so a copied cookie dies with it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import g, session

from app.db import db, utcnow
from app.oidc.models import UserSession
from app.users.models import User

SESSION_LIFETIME = timedelta(days=14)


@dataclass(frozen=True)
class Login:
    user: User
    session_id: str
    auth_time: datetime


def current_login() -> Login | None:
    """The logged-in, active user of this browser, if any (looked up once per request)."""
    if "login" in g:
        return g.login
    login = None
    sid = session.get("sid")
    if sid:
        row = db.session.get(UserSession, sid)
        if row is not None and row.ended_at is None and row.created_at > utcnow() - SESSION_LIFETIME:
            user = db.session.get(User, row.user_id)
            if user is not None and user.status == "active":
                login = Login(user, row.id, row.auth_time)
    g.login = login
    return login


def start_session(user: User) -> Login:
    """Log `user` in on this browser (a fresh session id: no fixation)."""
    end_session()
    now = utcnow()
    row = UserSession(id=secrets.token_urlsafe(32), user_id=user.id, auth_time=now)
    db.session.add(row)
    session.clear()
    session.permanent = True
    session["sid"] = row.id
    g.login = Login(user, row.id, now)
    return g.login


def end_session() -> None:
    sid = session.get("sid")
    if sid:
        row = db.session.get(UserSession, sid)
        if row is not None and row.ended_at is None:
            row.ended_at = utcnow()
    session.pop("sid", None)
    g.login = None

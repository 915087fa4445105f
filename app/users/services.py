"""The rules for users: creation without a password, lookup, activation and password reset."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from app import tokens
from app.db import Page, flush_unique, paginate, utcnow
from app.events.services import EventLog
from app.mail.services import MailService
from app.oidc.services import ClientService
from app.security.hashing import keyed_hash, keyed_hash_matches
from app.security.passwords import dummy_hash, hash_password, policy_problems, verify_password
from app.users import errors
from app.users.models import EmailVerification, User
from app.web import absolute_url

ACTIVATION_TEMPLATE = "activation"
RESET_TEMPLATE = "password_reset"
VERIFY_TEMPLATE = "verify_email"
VERIFICATION_TTL = timedelta(hours=24)
VERIFICATION_ATTEMPTS = 5
# Status changes an integration may make through PATCH.
ALLOWED_STATUS_CHANGES = {("active", "suspended"), ("suspended", "active")}
# What the users API shows of a user (users.schemas.UserSchema), by email; built once.
_USERS = User.__table__
_PROFILE_BY_EMAIL = sa.select(
    _USERS.c.id, _USERS.c.email, _USERS.c.first_name, _USERS.c.last_name, _USERS.c.display_name,
    _USERS.c.phone_number, _USERS.c.locale, _USERS.c.status, _USERS.c.email_verified,
    _USERS.c.created_at, _USERS.c.updated_at,
).where(_USERS.c.email == sa.bindparam("email"))
EDITABLE = ("email", "first_name", "last_name", "display_name", "phone_number", "locale",
            "status")



def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


class UserService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.events = EventLog(session)
        self.mail = MailService(session)

    # --- the Identity API ------------------------------------------------------------------

    def create(self, *, email: str, first_name: str, last_name: str, display_name: str | None = None,
               phone_number: str | None = None, locale: str | None = None,
               status: str = "pendingActivation") -> User:
        if self.find_by_email(email) is not None:
            raise errors.EmailTaken(f"{email} is already registered")
        user = User(email=email, first_name=first_name, last_name=last_name,
                    display_name=display_name, phone_number=phone_number, locale=locale,
                    status=status, email_verified=False)
        self._flush_unique(user, email)
        self.events.record("user.created", user.id, email=user.email, status=user.status)
        return user

    def create_customer(self, data: dict, *, send_activation_email: bool,
                        redirect_uri: str | None, client_id: str) -> User:
        """The shop's "create or import during purchase": a user without a password, and
        (optionally) the activation email, in one transaction."""
        if redirect_uri is not None:
            ClientService(self.session).require_redirect_uri(client_id, redirect_uri,
                                                             "activationRedirectUri")
        user = self.create(**data)
        if send_activation_email:
            self.send_activation_email(user, redirect_uri)
        return self.with_delivery(user)

    def resend_activation(self, user: User, redirect_uri: str | None, *, client_id: str):
        if redirect_uri is not None:
            ClientService(self.session).require_redirect_uri(client_id, redirect_uri,
                                                             "activationRedirectUri")
        return self.send_activation_email(user, redirect_uri)

    def with_delivery(self, user: User) -> User:
        """The user, with the delivery state of their latest activation email attached."""
        user.activation_email = self.activation_email_state(user)
        return user

    def _flush_unique(self, user: User, email: str, changes: dict | None = None) -> None:
        editable = {k: v for k, v in (changes or {}).items() if k in EDITABLE}
        flush_unique(self.session, user, errors.EmailTaken(f"{email} is already registered"),
                     editable)

    def get(self, user_id: uuid.UUID) -> User:
        user = self.session.get(User, user_id)
        if user is None:
            raise errors.UserNotFound(f"no user with id {user_id}")
        return user

    def find_by_email(self, email: str) -> User | None:
        return self.session.scalar(sa.select(User).where(User.email == email))

    def lookup_by_email(self, email: str) -> sa.Row:
        """The user's profile (what the lookup API answers) as a read-only row: integrations
        call this on every order, so it loads no ORM object."""
        row = self.session.execute(_PROFILE_BY_EMAIL, {"email": email}).first()
        if row is None:
            raise errors.UserNotFound("no user with this email")
        return row

    def search(self, *, query: str | None, status: str | None, offset: int, limit: int) -> Page:
        condition = sa.true()
        if query:
            pattern = _like_pattern(query.strip())
            condition = sa.or_(User.email.like(pattern, escape="\\"),
                               sa.func.lower(User.first_name).like(pattern, escape="\\"),
                               sa.func.lower(User.last_name).like(pattern, escape="\\"),
                               sa.func.lower(User.display_name).like(pattern, escape="\\"))
        if status:
            condition = sa.and_(condition, User.status == status)
        return paginate(self.session, sa.select(User).where(condition)
                        .order_by(User.created_at, User.id), offset, limit)

    def update(self, user: User, changes: dict) -> User:
        if "status" in changes and changes["status"] != user.status:
            if (user.status, changes["status"]) not in ALLOWED_STATUS_CHANGES:
                raise errors.InvalidStatusChange(
                    f"a user cannot go from {user.status} to {changes['status']} here")
        if "email" in changes and changes["email"] != user.email:
            if self.find_by_email(changes["email"]) is not None:
                raise errors.EmailTaken(f"{changes['email']} is already registered")
            # A new address is unproven until its owner uses a link sent to it.
            user.email_verified = False
        self._flush_unique(user, changes.get("email", user.email), changes)
        self.events.record("user.updated", user.id, fields=sorted(changes))
        return user

    def delete(self, user: User) -> None:
        self.events.record("user.deleted", user.id, email=user.email)
        self.session.delete(user)
        self.session.flush()

    # --- mailed links ----------------------------------------------------------------------

    @staticmethod
    def _state(user: User) -> str:
        """What a link may change once: using it changes this, spending the link."""
        return tokens.fingerprint(user.id, user.password_hash, user.status)

    def send_activation_email(self, user: User, redirect_uri: str | None = None):
        if user.status != "pendingActivation":
            raise errors.AlreadyActive("only users pending activation get an activation email")
        token = tokens.dump("activation", {"u": str(user.id), "s": self._state(user),
                                           "r": redirect_uri})
        hours = max(1, current_app.config["ACTIVATION_LINK_TTL"] // 3600)
        return self.mail.enqueue(
            to=user.email, template=ACTIVATION_TEMPLATE, locale=user.locale, user_id=user.id,
            context={"first_name": user.first_name,
                     "link": absolute_url("users_pages.activate", token=token),
                     "expires_hours": hours},
        )

    def activation_email_state(self, user: User):
        return self.mail.latest_for_user(user.id, ACTIVATION_TEMPLATE)

    def _user_for_link(self, purpose: str, token: str) -> tuple[User, dict]:
        payload = tokens.load(purpose, token)
        try:
            user = self.session.get(User, uuid.UUID(payload["u"]))
        except (KeyError, ValueError, TypeError):
            raise tokens.LinkInvalid() from None
        if user is None:  # deleted since: the link dies with the account
            raise tokens.LinkInvalid()
        if payload.get("s") != self._state(user):
            raise tokens.LinkUsed()
        return user, payload

    def check_activation_link(self, token: str) -> tuple[User, dict]:
        user, payload = self._user_for_link("activation", token)
        if user.status != "pendingActivation":
            raise tokens.LinkUsed()
        return user, payload

    def activate(self, token: str, password: str) -> tuple[User, str | None]:
        """Set the first password; returns the user and where to send them."""
        user, payload = self.check_activation_link(token)
        self._set_password(user, password)
        self._activate(user)
        return user, payload.get("r")

    def resend_expired_activation(self, payload: dict) -> None:
        """A fresh link for the account an expired link was for, if it still needs one.

        Says nothing either way: the page answers the same whatever happened here.
        """
        try:
            user = self.session.get(User, uuid.UUID(str(payload.get("u"))))
        except ValueError:
            return
        if user is not None and user.status == "pendingActivation":
            self.send_activation_email(user, payload.get("r"))

    def request_password_reset(self, email: str) -> None:
        """Mail a reset link if the address has an account that may log in; silent otherwise."""
        user = self.find_by_email(email)
        if user is None or user.status not in ("active", "pendingActivation"):
            return
        token = tokens.dump("password_reset", {"u": str(user.id), "s": self._state(user)})
        self.mail.enqueue(
            to=user.email, template=RESET_TEMPLATE, locale=user.locale, user_id=user.id,
            context={"first_name": user.first_name,
                     "link": absolute_url("users_pages.reset_password", token=token),
                     "expires_minutes": current_app.config["RESET_LINK_TTL"] // 60},
        )

    def check_reset_link(self, token: str) -> User:
        user, _payload = self._user_for_link("password_reset", token)
        return user

    def reset_password(self, token: str, password: str) -> User:
        user = self.check_reset_link(token)
        self._set_password(user, password)
        if user.status == "pendingActivation":
            # The link reached the mailbox, which is all activation proves.
            self._activate(user)
        user.email_verified = True
        self.events.record("user.password_reset", user.id)
        return user

    # --- logging in ---------------------------------------------------------------------------

    def authenticate(self, email: str, password: str) -> User | None:
        """The user whose password this is, whatever their status; None otherwise. Unknown
        addresses cost a hash too, so timing does not tell them apart."""
        user = self.find_by_email(email)
        matches, new_hash = verify_password(user.password_hash if user else None, password)
        if user is None or not user.password_hash:
            verify_password(dummy_hash(), password)
            return None
        if not matches:
            return None
        if new_hash:  # the hashing parameters changed since this hash was made
            user.password_hash = new_hash
        return user

    # --- self-registration (the OIDC registration page) -------------------------------------

    def register(self, *, email: str, password: str, first_name: str, last_name: str,
                 locale: str | None, verify_email: bool,
                 awaiting_approval: bool = False) -> User | None:
        """A new account from the registration page; None when the address is taken.

        A taken address gets the same answer on the page as a new one; its owner is mailed
        instead, so the page never tells a stranger which addresses have accounts.
        """
        problems = policy_problems(password, email=email)
        if problems:
            raise errors.WeakPassword(" ".join(problems), errors={"password": problems})
        existing = self.find_by_email(email)
        if existing is not None:
            self.mail.enqueue(
                to=existing.email, template="account_exists", locale=existing.locale,
                user_id=existing.id,
                context={"first_name": existing.first_name,
                         "login_link": current_app.config["ISSUER"] + "/user/login",
                         "reset_link": absolute_url("users_pages.forgot_password")})
            return None
        # A company registration waiting for approval stays pendingApproval; verifying the
        # address then proves the mailbox without letting the user in.
        status = "pendingApproval" if awaiting_approval else "pendingActivation"
        user = self.create(email=email, first_name=first_name, last_name=last_name,
                           locale=locale, status=status)
        user.password_hash = hash_password(password)
        if verify_email:
            self.send_verification(user)
        elif not awaiting_approval:
            self._activate(user, verified=False)  # the operator turned verification off
        return user

    def register_invited(self, *, email: str, password: str, first_name: str, last_name: str,
                         locale: str | None) -> User:
        """An account from an invitation link: the link proved the address already."""
        problems = policy_problems(password, email=email)
        if problems:
            raise errors.WeakPassword(" ".join(problems), errors={"password": problems})
        user = self.create(email=email, first_name=first_name, last_name=last_name,
                           locale=locale, status="pendingActivation")
        user.password_hash = hash_password(password)
        self._activate(user)
        return user

    def confirm_address(self, user: User) -> None:
        """A link we mailed reached this user's mailbox: the address is proven."""
        if user.status == "pendingActivation":
            self._activate(user)
        user.email_verified = True

    def send_verification(self, user: User) -> None:
        """Mail a fresh code and link; earlier codes stop working."""
        now = utcnow()
        self.session.execute(sa.update(EmailVerification).where(
            EmailVerification.user_id == user.id, EmailVerification.used_at.is_(None),
        ).values(used_at=now))
        code = f"{secrets.randbelow(10**6):06d}"
        verification = EmailVerification(user_id=user.id, expires_at=now + VERIFICATION_TTL,
                                         code_hash=keyed_hash("email-code", f"{user.id}:{code}"))
        self.session.add(verification)
        self.session.flush()
        token = tokens.dump("email_verification", {"u": str(user.id), "v": str(verification.id)})
        self.mail.enqueue(
            to=user.email, template=VERIFY_TEMPLATE, locale=user.locale, user_id=user.id,
            context={"first_name": user.first_name, "code": code,
                     "link": absolute_url("oidc_pages.verify_email_link", token=token)})

    def _open_verification(self, user: User) -> EmailVerification | None:
        return self.session.scalar(sa.select(EmailVerification).where(
            EmailVerification.user_id == user.id, EmailVerification.used_at.is_(None),
            EmailVerification.expires_at > utcnow()))

    def verify_code(self, user_id: uuid.UUID | None, code: str) -> User:
        """The code typed into the page; a few tries per code, then a fresh one is needed."""
        user = self.session.get(User, user_id) if user_id else None
        verification = self._open_verification(user) if user else None
        if verification is None or verification.attempts >= VERIFICATION_ATTEMPTS:
            raise errors.VerificationFailed("The code has expired or was tried too often; "
                                            "ask for a new one.")
        verification.attempts += 1
        entered = "".join(ch for ch in code if ch.isdigit())
        if not keyed_hash_matches("email-code", f"{user.id}:{entered}", verification.code_hash):
            raise errors.VerificationFailed("That code is not right; check the email and "
                                            "try again.")
        verification.used_at = utcnow()
        self.confirm_address(user)
        return user

    def verify_link(self, token: str) -> User:
        payload = tokens.load("email_verification", token)
        try:
            user = self.session.get(User, uuid.UUID(payload["u"]))
            verification = self.session.get(EmailVerification, uuid.UUID(payload["v"]))
        except (KeyError, ValueError, TypeError):
            raise tokens.LinkInvalid() from None
        if user is None or verification is None or verification.user_id != user.id:
            raise tokens.LinkInvalid()
        if user.email_verified:
            return user  # opened twice (e.g. by a mail scanner, then by the person): fine
        if verification.used_at is not None:
            raise tokens.LinkUsed()
        verification.used_at = utcnow()
        self.confirm_address(user)
        return user

    def _activate(self, user: User, *, verified: bool = True) -> None:
        user.status = "active"
        user.email_verified = user.email_verified or verified
        user.activated_at = utcnow()
        self.events.record("user.activated", user.id, email=user.email)

    def _set_password(self, user: User, password: str) -> None:
        problems = policy_problems(password, email=user.email)
        if problems:
            raise errors.WeakPassword(" ".join(problems), errors={"password": problems})
        user.password_hash = hash_password(password)

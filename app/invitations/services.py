"""Invitation rules: one open invitation per address and organization, mailed through the
outbox, consumed only when the person finishes registering or signing in."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from app import tokens
from app.db import Page, flush_unique, paginate, utcnow
from app.events.services import EventLog
from app.invitations import errors
from app.invitations.models import OPEN, Invitation
from app.mail.services import MailService
from app.oidc.services import ClientService
from app.organizations.services import OrganizationService
from app.users.models import User
from app.web import absolute_url

TEMPLATE = "invitation"
# The link itself outlives any sensible validUntil; the invitation row decides validity.
LINK_MAX_AGE = 400 * 24 * 3600
PERSONAL = "personal"



class InvitationService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.events = EventLog(session)
        self.organizations = OrganizationService(session)

    # --- the API ---------------------------------------------------------------------------

    def create(self, data: dict, *, client_id: str) -> Invitation:
        organization_id = data.get("organization_id")
        role_name = data.get("role_name")
        if organization_id is not None:
            self.organizations.get(organization_id)
        if role_name is not None:
            if organization_id is None:
                raise errors.InvalidInvitation(
                    "a role needs an organization", errors={"role": ["Needs organizationId."]})
            self.organizations.role(role_name)
        if data.get("redirect_uri") is not None:
            ClientService(self.session).require_redirect_uri(client_id, data["redirect_uri"],
                                                             "redirectUri")
        valid_until = data.get("valid_until") or utcnow() + timedelta(
            seconds=current_app.config["INVITATION_TTL"])
        if valid_until <= utcnow():
            raise errors.InvalidInvitation("validUntil must be in the future",
                                           errors={"validUntil": ["Must be in the future."]})
        scope_key = str(organization_id) if organization_id else PERSONAL
        self._close_expired(data["email"], scope_key)

        invitation = Invitation(
            email=data["email"], organization_id=organization_id, role_name=role_name,
            scope_key=scope_key, client_id=client_id, redirect_uri=data.get("redirect_uri"),
            valid_until=valid_until, locale=data.get("locale"), message=data.get("message"))
        # the partial unique index refuses a second open invitation, also when two requests race
        flush_unique(self.session, invitation, errors.InvitationExists(
            f"{data['email']} already has an open invitation here; revoke it first"))
        self.events.record("invitation.created", invitation.id, email=invitation.email,
                           organization_id=str(organization_id) if organization_id else None)
        self._send(invitation)
        return invitation

    def _close_expired(self, email: str, scope_key: str) -> None:
        stale = self.session.scalars(sa.select(Invitation).where(
            Invitation.email == email, Invitation.scope_key == scope_key,
            Invitation.status == OPEN, Invitation.valid_until <= utcnow()))
        for invitation in stale:
            self._expire(invitation)

    def _expire(self, invitation: Invitation) -> None:
        invitation.status = "expired"
        self.session.flush()
        self.events.record("invitation.expired", invitation.id, email=invitation.email)

    def get(self, invitation_id: uuid.UUID) -> Invitation:
        invitation = self.session.get(Invitation, invitation_id)
        if invitation is None:
            raise errors.InvitationNotFound(f"no invitation with id {invitation_id}")
        return invitation

    def search(self, *, email: str | None, status: str | None,
               organization_id: uuid.UUID | None, offset: int, limit: int) -> Page:
        condition = sa.true()
        now = utcnow()
        if email:
            condition = sa.and_(condition, Invitation.email == email)
        if organization_id:
            condition = sa.and_(condition, Invitation.organization_id == organization_id)
        if status == "pending":
            condition = sa.and_(condition, Invitation.status == OPEN, Invitation.valid_until > now)
        elif status == "expired":
            condition = sa.and_(condition, sa.or_(
                Invitation.status == "expired",
                sa.and_(Invitation.status == OPEN, Invitation.valid_until <= now)))
        elif status:
            condition = sa.and_(condition, Invitation.status == status)
        return paginate(self.session, sa.select(Invitation).where(condition)
                        .order_by(Invitation.created_at, Invitation.id), offset, limit)

    def _require_open(self, invitation: Invitation) -> None:
        if invitation.expired:
            self._expire(invitation)
        if invitation.status == "expired":
            raise errors.InvitationExpired("the invitation has expired; create a new one")
        if invitation.status != OPEN:
            raise errors.InvitationNotPending(f"the invitation is {invitation.status}")

    def resend(self, invitation: Invitation) -> Invitation:
        self._require_open(invitation)
        self._send(invitation)
        return invitation

    def revoke(self, invitation: Invitation) -> Invitation:
        self._require_open(invitation)
        invitation.status = "revoked"
        invitation.answered_at = utcnow()
        self.events.record("invitation.revoked", invitation.id, email=invitation.email)
        return invitation

    def delete(self, invitation: Invitation) -> None:
        self.events.record("invitation.deleted", invitation.id, email=invitation.email)
        self.session.delete(invitation)
        self.session.flush()

    # --- mail ------------------------------------------------------------------------------

    def inviter_and_target(self, invitation: Invitation) -> tuple[str, str]:
        client = ClientService(self.session).by_client_id(invitation.client_id)
        inviter = client.name if client else "Gatehouse"
        if invitation.organization_id:
            organization = self.organizations.get(invitation.organization_id)
            return inviter, f"join {organization.name}"
        return inviter, f"create your {inviter} account"

    def _send(self, invitation: Invitation) -> None:
        inviter, target = self.inviter_and_target(invitation)
        token = tokens.dump("invitation", {"i": str(invitation.id)})
        MailService(self.session).enqueue(
            to=invitation.email, template=TEMPLATE, locale=invitation.locale,
            context={"inviter": inviter, "target": target, "message": invitation.message,
                     "link": absolute_url("invitations_pages.answer", token=token),
                     "valid_until": _human(invitation.valid_until)})
        invitation.sent_count += 1
        invitation.last_sent_at = utcnow()
        self.events.record("invitation.sent", invitation.id, email=invitation.email,
                           sent_count=invitation.sent_count)

    # --- the invitation page ---------------------------------------------------------------

    def from_link(self, token: str) -> Invitation:
        payload = tokens.load("invitation", token, max_age=LINK_MAX_AGE)
        try:
            invitation = self.session.get(Invitation, uuid.UUID(str(payload.get("i"))))
        except ValueError:
            raise tokens.LinkInvalid() from None
        if invitation is None:  # deleted
            raise tokens.LinkInvalid()
        return invitation

    def accept(self, invitation: Invitation, user: User) -> Invitation:
        """Consume the invitation for `user` (who has just registered or signed in)."""
        self._require_open(invitation)
        # Answer it at most once, also when the person submits twice in two tabs.
        answered = self.session.execute(
            sa.update(Invitation).where(Invitation.id == invitation.id, Invitation.status == OPEN)
            .values(status="accepted", answered_at=utcnow(), accepted_user_id=user.id)
        ).rowcount
        if not answered:
            raise errors.InvitationNotPending("the invitation was answered already")
        self.session.refresh(invitation)
        if invitation.organization_id:
            organization = self.organizations.get(invitation.organization_id)
            self.organizations.add_member(organization, user.id, invitation.role_name)
        self.events.record("invitation.accepted", invitation.id, email=invitation.email,
                           user_id=str(user.id))
        return invitation

    def decline(self, invitation: Invitation) -> Invitation:
        self._require_open(invitation)
        invitation.status = "declined"
        invitation.answered_at = utcnow()
        self.events.record("invitation.declined", invitation.id, email=invitation.email)
        return invitation

    def request_renewal(self, invitation: Invitation) -> None:
        """An expired invitation's holder asks for a fresh one: the inviter hears of it."""
        if invitation.expired:
            self._expire(invitation)
        if invitation.status == "expired":
            self.events.record("invitation.renewal_requested", invitation.id,
                               email=invitation.email, client_id=invitation.client_id)


def _human(moment: datetime) -> str:
    return moment.strftime("%d %B %Y, %H:%M UTC")

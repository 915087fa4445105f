"""Rules for organizations and their members."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.events.services import EventLog
from app.organizations import errors
from app.organizations.models import DEFAULT_ROLE, Membership, Organization, Role


class OrganizationService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.events = EventLog(session)

    def get(self, organization_id: uuid.UUID) -> Organization:
        organization = self.session.get(Organization, organization_id)
        if organization is None:
            raise errors.OrganizationNotFound(f"no organization with id {organization_id}")
        return organization

    def role(self, name: str) -> Role:
        role = self.session.get(Role, name)
        if role is None:
            raise errors.UnknownRole(f"no role named {name!r}", errors={"role": ["Unknown role."]})
        return role

    def membership(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> Membership | None:
        return self.session.scalar(sa.select(Membership).where(
            Membership.organization_id == organization_id, Membership.user_id == user_id))

    def memberships_of(self, user_id: uuid.UUID) -> list[Membership]:
        return list(self.session.scalars(
            sa.select(Membership).where(Membership.user_id == user_id)
            .order_by(Membership.is_default.desc(), Membership.created_at)))

    def add_member(self, organization: Organization, user_id: uuid.UUID,
                   role_name: str | None = None) -> Membership:
        """Make the user a member (or give an existing member this role). The first
        organization a user joins becomes their default."""
        role = self.role(role_name or DEFAULT_ROLE)
        membership = self.membership(organization.id, user_id)
        if membership is None:
            first = not self.memberships_of(user_id)
            membership = Membership(organization_id=organization.id, user_id=user_id,
                                    role_name=role.name, is_default=first)
            self.session.add(membership)
        else:
            membership.role_name = role.name
        self.session.flush()
        self.events.record("organization.member_added", organization.id,
                           user_id=str(user_id), role=role.name)
        return membership

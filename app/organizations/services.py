"""Rules for organizations and their members."""

from __future__ import annotations

import uuid
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.db import Page, flush_unique, paginate
from app.events.services import EventLog
from app.organizations import errors
from app.organizations.models import DEFAULT_ROLE, Address, Membership, Organization, Role
from app.users.models import User
from app.users.services import UserService

ORGANIZATION_FIELDS = ("name", "external_id", "vat_number", "status", "payment_mode")
ADDRESS_FIELDS = ("external_id", "name", "street", "street2", "postal_code", "city", "region",
                  "country", "phone_number", "is_invoice", "is_delivery", "is_default_invoice",
                  "is_default_delivery")



class OrganizationService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.events = EventLog(session)

    # --- organizations -----------------------------------------------------------------------

    def create(self, data: dict) -> Organization:
        organization = Organization(**{k: data[k] for k in ORGANIZATION_FIELDS if k in data})
        self._flush_unique(organization)
        self.events.record("organization.created", organization.id, name=organization.name,
                           external_id=organization.external_id)
        return organization

    def _flush_unique(self, organization: Organization, changes: dict | None = None) -> None:
        flush_unique(self.session, organization, errors.ExternalIdTaken(
            f"externalId {(changes or {}).get('external_id', organization.external_id)!r} "
            "belongs to another organization"),
            {k: v for k, v in (changes or {}).items() if k in ORGANIZATION_FIELDS})

    def update(self, organization: Organization, changes: dict) -> Organization:
        self._flush_unique(organization, changes)
        self.events.record("organization.updated", organization.id, fields=sorted(changes))
        return organization

    def upsert_by_external_id(self, external_id: str, data: dict) -> tuple[Organization, bool]:
        """The ERP's idempotent write: (organization, created?)."""
        existing = self.by_external_id(external_id)
        if existing is not None:
            return self.update(existing, data), False
        try:
            return self.create({**data, "external_id": external_id}), True
        except errors.ExternalIdTaken:
            # a concurrent upsert created it between our read and our insert
            return self.update(self.by_external_id(external_id), data), False

    def by_external_id(self, external_id: str) -> Organization | None:
        return self.session.scalar(sa.select(Organization)
                                   .where(Organization.external_id == external_id))

    def get_by_external_id(self, external_id: str) -> Organization:
        organization = self.by_external_id(external_id)
        if organization is None:
            raise errors.OrganizationNotFound(f"no organization with externalId {external_id!r}")
        return organization

    def search(self, *, query: str | None, status: str | None, offset: int, limit: int) -> Page:
        condition = sa.true()
        if query:
            pattern = f"%{query.lower()}%"
            condition = sa.or_(sa.func.lower(Organization.name).like(pattern),
                               sa.func.lower(Organization.external_id).like(pattern),
                               sa.func.lower(Organization.vat_number).like(pattern))
        if status:
            condition = sa.and_(condition, Organization.status == status)
        return paginate(self.session, sa.select(Organization).where(condition)
                        .order_by(Organization.name, Organization.id), offset, limit)

    def delete(self, organization: Organization) -> None:
        self.events.record("organization.deleted", organization.id, name=organization.name)
        self.session.delete(organization)
        self.session.flush()

    # --- addresses -------------------------------------------------------------------------

    def addresses(self, organization: Organization) -> list[Address]:
        return list(self.session.scalars(sa.select(Address)
                                         .where(Address.organization_id == organization.id)
                                         .order_by(Address.created_at, Address.id)))

    def address(self, organization: Organization, address_id: uuid.UUID) -> Address:
        address = self.session.get(Address, address_id)
        if address is None or address.organization_id != organization.id:
            raise errors.AddressNotFound(f"no address {address_id} in this organization")
        return address

    def add_address(self, organization: Organization, data: dict) -> Address:
        address = Address(organization_id=organization.id,
                          **{k: data[k] for k in ADDRESS_FIELDS if k in data})
        self.session.add(address)
        self._one_default(organization, address)
        self.session.flush()
        self.events.record("organization.address_added", organization.id,
                           address_id=str(address.id))
        return address

    def update_address(self, organization: Organization, address: Address,
                       changes: dict) -> Address:
        for name in ADDRESS_FIELDS:
            if name in changes:
                setattr(address, name, changes[name])
        self._one_default(organization, address)
        self.session.flush()
        return address

    def _one_default(self, organization: Organization, chosen: Address) -> None:
        """At most one default invoice and one default delivery address; the first address of
        a kind is its default."""
        others = [a for a in self.addresses(organization) if a.id != chosen.id]
        for kind in ("invoice", "delivery"):
            flag = f"is_default_{kind}"
            if not getattr(chosen, f"is_{kind}"):
                setattr(chosen, flag, False)
            elif getattr(chosen, flag):
                for other in others:
                    setattr(other, flag, False)
            elif not any(getattr(o, flag) for o in others):
                setattr(chosen, flag, True)

    def delete_address(self, organization: Organization, address: Address) -> None:
        self.session.delete(address)
        self.session.flush()

    # --- members ---------------------------------------------------------------------------

    def members(self, organization: Organization) -> list[Membership]:
        return list(self.session.scalars(
            sa.select(Membership).where(Membership.organization_id == organization.id)
            .order_by(Membership.created_at)))

    def member(self, organization: Organization, user_id: uuid.UUID) -> Membership:
        membership = self.membership(organization.id, user_id)
        if membership is None:
            raise errors.MemberNotFound(f"user {user_id} is not a member")
        return membership

    def remove_member(self, organization: Organization, user_id: uuid.UUID) -> None:
        membership = self.member(organization, user_id)
        self.session.delete(membership)
        self.session.flush()
        self.events.record("organization.member_removed", organization.id,
                           user_id=str(user_id))
        remaining = self.memberships_of(user_id)
        if membership.is_default and remaining:
            remaining[0].is_default = True

    def roles(self) -> list[Role]:
        return list(self.session.scalars(sa.select(Role).order_by(Role.rank, Role.name)))

    def put_role(self, name: str, data: dict) -> Role:
        role = self.session.get(Role, name) or Role(name=name)
        role.display_name = data["display_name"]
        role.rank = data["rank"]
        role.permissions = sorted(set(data["permissions"]))
        self.session.add(role)
        self.session.flush()
        return role

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
                   role_name: str | None = None, *, make_default: bool = False) -> Membership:
        """Make the user a member (or give an existing member this role). The first
        organization a user joins becomes their default."""
        UserService(self.session).get(user_id)
        role = self.role(role_name or DEFAULT_ROLE)
        membership = self.membership(organization.id, user_id)
        if membership is None:
            first = not self.memberships_of(user_id)
            membership = Membership(organization_id=organization.id, user_id=user_id,
                                    role_name=role.name, is_default=first)
            self.session.add(membership)
        else:
            membership.role_name = role.name
        if make_default and not membership.is_default:
            for other in self.memberships_of(user_id):
                other.is_default = False
            membership.is_default = True
        self.session.flush()
        self.events.record("organization.member_added", organization.id,
                           user_id=str(user_id), role=role.name)
        return membership


class Supervision:
    """What a customer's supervisor (role with `canManageUsers`) may do in *my account*: manage
    the users of their own organization, never of another, granting no stronger role than theirs.
    """

    def __init__(self, session: Session, supervisor: User) -> None:
        self.session = session
        self.supervisor = supervisor
        self.organizations = OrganizationService(session)
        self.users = UserService(session)

    def managed(self) -> list[Membership]:
        """The supervisor's memberships that allow managing users."""
        return [m for m in self.organizations.memberships_of(self.supervisor.id)
                if "canManageUsers" in m.role.permissions]

    def own(self, organization_id: uuid.UUID) -> Membership:
        for membership in self.managed():
            if membership.organization_id == organization_id:
                if membership.organization.status != "active":
                    raise errors.OrganizationBlocked("the organization is not active")
                return membership
        # Another organization (or none of theirs): it does not exist as far as they can tell.
        raise errors.OrganizationNotFound("no such organization")

    def grantable_roles(self, organization_id: uuid.UUID) -> list[Role]:
        own = self.own(organization_id)
        return [role for role in self.organizations.roles() if role.rank <= own.role.rank]

    def _check_role(self, own: Membership, role_name: str) -> Role:
        role = self.organizations.role(role_name)
        if role.rank > own.role.rank:
            raise errors.RoleTooStrong(f"{role.display_name} is stronger than your own role")
        return role

    def employees(self, organization_id: uuid.UUID) -> list[Membership]:
        own = self.own(organization_id)
        return self.organizations.members(own.organization)

    def create_employee(self, organization_id: uuid.UUID, *, email: str, first_name: str,
                        last_name: str, role_name: str) -> User:
        own = self.own(organization_id)
        role = self._check_role(own, role_name)
        user = self.users.create(email=email, first_name=first_name, last_name=last_name)
        self.organizations.add_member(own.organization, user.id, role.name)
        self.users.send_activation_email(user)
        return user

    def _employee(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> tuple[Membership, User]:
        own = self.own(organization_id)
        if user_id == self.supervisor.id:
            raise errors.MemberNotFound("you cannot change your own account here")
        membership = self.organizations.member(own.organization, user_id)
        return own, membership.user

    def set_active(self, organization_id: uuid.UUID, user_id: uuid.UUID, active: bool) -> User:
        own, user = self._employee(organization_id, user_id)
        if self.organizations.membership(own.organization_id, user_id).role.rank > own.role.rank:
            raise errors.RoleTooStrong("this user's role is stronger than yours")
        changes = {"status": "active" if active else "suspended"}
        if user.status in ("active", "suspended") and user.status != changes["status"]:
            self.users.update(user, changes)
        return user

    def change_role(self, organization_id: uuid.UUID, user_id: uuid.UUID, role_name: str):
        own, _user = self._employee(organization_id, user_id)
        self._check_role(own, role_name)
        return self.organizations.add_member(own.organization, user_id, role_name)

"""What can go wrong with organizations and their members."""

from app.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.messages import N_


class OrganizationNotFound(NotFound):
    code = "organization.not_found"
    title = N_("Organization not found")


class UnknownRole(Unprocessable):
    code = "organization.unknown_role"
    title = N_("No such role")


class ExternalIdTaken(Conflict):
    code = "organization.external_id_taken"
    title = "Another organization has this externalId"


class AddressNotFound(NotFound):
    code = "address.not_found"
    title = "Address not found"


class MemberNotFound(NotFound):
    code = "member.not_found"
    title = N_("The user is not a member of this organization")


class OrganizationBlocked(Conflict):
    code = "organization.blocked"
    title = N_("The organization is blocked")


class RegistrationNotFound(NotFound):
    code = "registration.not_found"
    title = N_("Registration request not found")


class RegistrationNotPending(Conflict):
    code = "registration.not_pending"
    title = N_("The registration request has been decided already")


class RoleTooStrong(Forbidden):
    code = "role.too_strong"
    title = N_("You cannot grant a role stronger than your own")


class UnknownTemplate(Unprocessable):
    code = "registration.unknown_template"
    title = N_("No such registration template")

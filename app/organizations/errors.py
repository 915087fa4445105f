"""What can go wrong with organizations and their members."""

from app.errors import Conflict, Forbidden, NotFound, Unprocessable


class OrganizationNotFound(NotFound):
    code = "organization.not_found"
    title = "Organization not found"


class UnknownRole(Unprocessable):
    code = "organization.unknown_role"
    title = "No such role"


class ExternalIdTaken(Conflict):
    code = "organization.external_id_taken"
    title = "Another organization has this externalId"


class AddressNotFound(NotFound):
    code = "address.not_found"
    title = "Address not found"


class MemberNotFound(NotFound):
    code = "member.not_found"
    title = "The user is not a member of this organization"


class OrganizationBlocked(Conflict):
    code = "organization.blocked"
    title = "The organization is blocked"


class RegistrationNotFound(NotFound):
    code = "registration.not_found"
    title = "Registration request not found"


class RegistrationNotPending(Conflict):
    code = "registration.not_pending"
    title = "The registration request has been decided already"


class RoleTooStrong(Forbidden):
    code = "role.too_strong"
    title = "You cannot grant a role stronger than your own"


class UnknownTemplate(Unprocessable):
    code = "registration.unknown_template"
    title = "No such registration template"

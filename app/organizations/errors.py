"""What can go wrong with organizations and their members."""

from app.errors import NotFound, Unprocessable


class OrganizationNotFound(NotFound):
    code = "organization.not_found"
    title = "Organization not found"


class UnknownRole(Unprocessable):
    code = "organization.unknown_role"
    title = "No such role"

"""What can go wrong with invitations."""

from app.errors import Conflict, Gone, NotFound, Unprocessable


class InvitationNotFound(NotFound):
    code = "invitation.not_found"
    title = "Invitation not found"


class InvitationExists(Conflict):
    code = "invitation.exists"
    title = "An open invitation for this address already exists"


class InvitationNotPending(Conflict):
    code = "invitation.not_pending"
    title = "The invitation is no longer open"


class InvitationExpired(Gone):
    code = "invitation.expired"
    title = "The invitation has expired"


class InvalidInvitation(Unprocessable):
    code = "invitation.invalid"
    title = "Invalid invitation"

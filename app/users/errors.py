"""What can go wrong with users."""

from app.errors import Conflict, NotFound, Unprocessable
from app.messages import N_


class UserNotFound(NotFound):
    code = "user.not_found"
    title = N_("User not found")


class EmailTaken(Conflict):
    code = "user.email_taken"
    title = N_("A user with this email already exists")


class AlreadyActive(Conflict):
    code = "user.already_active"
    title = N_("The user is already active")


class InvalidStatusChange(Unprocessable):
    code = "user.invalid_status_change"
    title = N_("This status change is not allowed")


class WeakPassword(Unprocessable):
    code = "user.weak_password"
    title = N_("The password does not meet the policy")


class VerificationFailed(Unprocessable):
    code = "user.verification_failed"
    title = N_("That code is not right")

"""What can go wrong with users."""

from app.errors import Conflict, NotFound, Unprocessable


class UserNotFound(NotFound):
    code = "user.not_found"
    title = "User not found"


class EmailTaken(Conflict):
    code = "user.email_taken"
    title = "A user with this email already exists"


class AlreadyActive(Conflict):
    code = "user.already_active"
    title = "The user is already active"


class InvalidStatusChange(Unprocessable):
    code = "user.invalid_status_change"
    title = "This status change is not allowed"


class WeakPassword(Unprocessable):
    code = "user.weak_password"
    title = "The password does not meet the policy"


class VerificationFailed(Unprocessable):
    code = "user.verification_failed"
    title = "That code is not right"

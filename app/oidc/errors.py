"""Errors of the client registry and of bearer-token checks."""

from app.errors import Forbidden, GatehouseError, Unauthorized, Unprocessable


class InvalidClient(GatehouseError):
    status = 400
    code = "client.invalid"
    title = "Invalid client registration"


class InvalidToken(Unauthorized):
    code = "token.invalid"
    title = "Invalid access token"


class MissingToken(Unauthorized):
    code = "token.missing"
    title = "Access token required"


class InsufficientScope(Forbidden):
    code = "insufficient_scope"
    title = "Insufficient scope"


class RedirectUriNotRegistered(Unprocessable):
    code = "redirect_uri.not_registered"
    title = "Redirect URI not registered for this client"

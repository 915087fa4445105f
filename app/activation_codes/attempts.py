"""Rate limits (`RATELIMIT_REDEEM`) on failed attempts at codes, for the API and the redeem page:
per user and IP address for end users, per client for servers; successes never count."""

from __future__ import annotations

import base64
import json

from flask import Response, g, request
from flask_limiter.util import get_remote_address

from app.oidc.sessions import current_login
from app.security.ratelimit import limit_for, limiter

CALLER_SCOPE = "activation-code-attempts:caller"
IP_SCOPE = "activation-code-attempts:ip"


def note_rejected() -> None:
    """This request's code was refused although the response is a 200 (a check, a page)."""
    g.activation_code_rejected = True


def _rejected(_response: Response) -> bool:
    return g.get("activation_code_rejected", False)


def _failed(response: Response) -> bool:
    """A refusal about the code (malformed, invalid, gone, already redeemed) counts; 401 and 403
    say nothing about codes, and 429 is the limit itself."""
    status = response.status_code
    return _rejected(response) or (400 <= status < 500 and status not in (401, 403, 429))


def _claims() -> dict:
    """The bearer token's claims, NOT verified: they only pick a bucket. The view verifies the
    token, and a forged one gets a 401, which never counts."""
    if "activation_code_claims" not in g:
        claims: object = {}
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            try:
                payload = token.strip().split(".")[1]
                claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            except (IndexError, ValueError):
                claims = {}
        g.activation_code_claims = claims if isinstance(claims, dict) else {}
    return g.activation_code_claims


def _caller_key() -> str:
    # A token's `sub` is the user, or (client credentials) the client itself.
    sub = _claims().get("sub")
    return f"sub:{sub}" if isinstance(sub, str) and sub else f"anonymous:{get_remote_address()}"


def _ip_key() -> str:
    return f"ip:{get_remote_address()}"


def _client_call() -> bool:
    claims = _claims()
    return bool(claims.get("sub")) and claims.get("sub") == claims.get("client_id")


def _signed_in_key() -> str:
    login = current_login()
    return f"sub:{login.user.id}" if login else ""


def _signed_out() -> bool:
    return current_login() is None


def api_attempts(view):
    """For API views taking a code: per caller, and per IP address for users' tokens."""
    view = limiter.shared_limit(limit_for("redeem"), IP_SCOPE, key_func=_ip_key,
                                exempt_when=_client_call, deduct_when=_failed)(view)
    return limiter.shared_limit(limit_for("redeem"), CALLER_SCOPE, key_func=_caller_key,
                                deduct_when=_failed)(view)


def page_attempts(view):
    """For the redeem page's POSTs: per IP address, and per user once signed in; a refusal
    counts when the view notes it (an empty form does not)."""
    view = limiter.shared_limit(limit_for("redeem"), IP_SCOPE, key_func=_ip_key,
                                methods=["POST"], deduct_when=_rejected)(view)
    return limiter.shared_limit(limit_for("redeem"), CALLER_SCOPE, key_func=_signed_in_key,
                                exempt_when=_signed_out, methods=["POST"],
                                deduct_when=_rejected)(view)

"""Helpers for driving the authorization flow with Flask's test client (in-process)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.conftest import csrf_from

CALLBACK = "https://shop.example/callback"
PASSWORD = "correct horse battery staple"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def authorize_url(client_id: str, **params) -> str:
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK,
             "scope": "openid profile email offline_access", "state": "st4te",
             "nonce": secrets.token_urlsafe(8), **params}
    return "/user/oauth20/authz?" + urlencode({k: v for k, v in query.items() if v is not None})


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def follow_to_callback(client, url: str, *, email: str | None = None,
                       password: str = PASSWORD, max_hops: int = 8):
    """Follow redirects from `url`, filling the login form when it appears; returns the
    final response (the redirect to the callback, or a page)."""
    response = client.get(url)
    for _ in range(max_hops):
        location = response.headers.get("Location", "")
        if response.status_code in (302, 303) and location.startswith(CALLBACK):
            return response
        if response.status_code in (302, 303):
            response = client.get(location)
            continue
        if response.status_code == 200 and 'name="password"' in response.get_data(as_text=True) \
                and email is not None:
            path = response.request.path + "?" + response.request.query_string.decode()
            response = client.post(path, data={"csrf_token": csrf_from(response),
                                               "email": email, "password": password})
            email = None  # only once
            continue
        return response
    raise AssertionError("too many redirects")

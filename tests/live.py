"""A live Gatehouse on loopback, a relying party built with Authlib's Flask client, and a
scripted browser: for tests that follow OIDC flows over real HTTP."""

from __future__ import annotations

import re
import threading
from types import SimpleNamespace
from urllib.parse import urljoin

import pytest
import requests
from authlib.integrations.flask_client import OAuth
from flask import Flask, jsonify, request, session
from werkzeug.serving import make_server

from app import create_app
from tests.conftest import settings_for_tests
from tests.smtp_server import free_port

RP_CALLBACK = "http://rp.test/callback"
RP_AFTER_LOGOUT = "http://rp.test/bye"


@pytest.fixture
def live_server(app, tmp_path, database_url):
    """Gatehouse served over HTTP (tests using it must be marked `committed`)."""
    port = free_port()
    settings = settings_for_tests(tmp_path, database_url)
    settings["ISSUER"] = f"http://127.0.0.1:{port}"
    live_app = create_app(settings)
    server = make_server("127.0.0.1", port, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(url=settings["ISSUER"], app=live_app)
    server.shutdown()
    thread.join(timeout=5)


def make_relying_party(op_url: str, client_id: str, client_secret: str | None,
                       scope: str = "openid profile email offline_access") -> Flask:
    """A shop's back end, logging users in with Authlib's OIDC client (discovery, PKCE,
    ID-token validation: signature via JWKS, iss, aud, nonce, at_hash)."""
    rp = Flask("relying_party")
    rp.secret_key = "relying-party-secret"
    oauth = OAuth(rp)
    client_kwargs = {"scope": scope, "code_challenge_method": "S256"}
    if client_secret is None:
        client_kwargs["token_endpoint_auth_method"] = "none"
    oauth.register("gatehouse", client_id=client_id, client_secret=client_secret,
                   server_metadata_url=f"{op_url}/.well-known/openid-configuration",
                   client_kwargs=client_kwargs)

    @rp.get("/login")
    def login():
        extra = dict(request.args.items())  # prompt, login_hint, ... passed through
        return oauth.gatehouse.authorize_redirect(RP_CALLBACK, **extra)

    @rp.get("/callback")
    def callback():
        token = oauth.gatehouse.authorize_access_token()
        session["token"] = token
        info = oauth.gatehouse.userinfo(token=token)
        return jsonify(id_token_claims=dict(token["userinfo"]), userinfo=dict(info),
                       token={k: token[k] for k in ("access_token", "refresh_token", "id_token")
                              if k in token})

    @rp.get("/refresh")
    def refresh():
        token = session["token"]
        fresh = oauth.gatehouse.fetch_access_token(grant_type="refresh_token",
                                                   refresh_token=token["refresh_token"])
        return jsonify(fresh)

    rp.oauth = oauth
    return rp


class Browser:
    """A person's browser: follows redirects on Gatehouse, fills its forms, and stops at the
    relying party's callback."""

    def __init__(self, op_url: str) -> None:
        self.op_url = op_url
        self.http = requests.Session()
        self.page: requests.Response | None = None

    def go(self, url: str, *, stop_at: str = "http://rp.test/") -> str:
        """GET `url`, following redirects within Gatehouse; returns the URL it stopped at."""
        response = self.http.get(url, allow_redirects=False, timeout=10)
        for _ in range(10):
            if response.status_code not in (301, 302, 303):
                self.page = response
                return response.url
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(stop_at):
                self.page = response
                return location
            response = self.http.get(location, allow_redirects=False, timeout=10)
        raise AssertionError("redirect loop")

    def submit(self, fields: dict, *, stop_at: str = "http://rp.test/",
               action: str | None = None) -> str:
        assert self.page is not None
        html = self.page.text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        target = urljoin(self.page.url, action) if action else self.page.url
        response = self.http.post(target, data={"csrf_token": token, **fields},
                                  allow_redirects=False, timeout=10)
        if response.status_code in (301, 302, 303):
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(stop_at):
                self.page = response
                return location
            return self.go(location, stop_at=stop_at)
        self.page = response
        return response.url

"""`flask --app wsgi …` commands (also `gatehouse …`): clients, keys, demo data, the embedded server."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from gunicorn.app.base import BaseApplication

from app.db import db
from app.entitlements.services import seed_demo_catalog
from app.oidc.errors import InvalidClient
from app.oidc.keys import keystore
from app.oidc.models import API_SCOPES
from app.oidc.services import ClientService
from app.security.passwords import hash_password
from app.users.services import UserService

DEMO_SHOP = "demo-shop"
DEMO_APP = "demo-app"
DEMO_APP_REDIRECT = "http://127.0.0.1:8765/callback"
DEMO_SHOP_REDIRECT = "http://127.0.0.1:8080/callback"


clients = click.Group("clients", help="Register OAuth clients.")


@clients.command("create")
@click.option("--name", required=True, help="Shown to users on consent and in logs.")
@click.option("--grant", "grants", multiple=True, required=True,
              type=click.Choice(["client_credentials", "authorization_code", "refresh_token"]))
@click.option("--scope", "scopes", multiple=True,
              help='Allowed scopes, space-separated ("idp:users:read idp:users:write").')
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Login callback URL.")
@click.option("--post-logout-redirect-uri", "post_logout_uris", multiple=True)
@click.option("--public", is_flag=True, help="No secret (applications, PKCE).")
@click.option("--first-party", is_flag=True, help="Skip the consent page.")
@click.option("--registration-template", help="B2B registration template of its register page.")
@click.option("--allow-template-choice", is_flag=True,
              help="Let authorization requests pick a template (registrationTemplate=).")
@click.option("--json", "as_json", is_flag=True, help="Print {clientId, clientSecret} as JSON.")
@with_appcontext
def create_client(name, grants, scopes, redirect_uris, post_logout_uris, public, first_party,
                  registration_template, allow_template_choice, as_json):
    """Register a client and print its id and (once) its secret."""
    scope_list = [s for chunk in scopes for s in chunk.split()]
    try:
        with db.transaction() as session:
            created = ClientService(session).create(
                name=name, grant_types=list(grants), scopes=scope_list,
                redirect_uris=list(redirect_uris),
                post_logout_redirect_uris=list(post_logout_uris),
                public=public, first_party=first_party,
                registration_template=registration_template,
                allow_template_choice=allow_template_choice,
            )
    except InvalidClient as exc:
        raise click.UsageError(exc.detail) from None
    result = {"clientId": created.client.client_id, "clientSecret": created.secret}
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(f"client id:     {result['clientId']}")
        if created.secret:
            click.echo(f"client secret: {result['clientSecret']}  (shown once; store it now)")


keys = click.Group("keys", help="Token-signing keys.")


@keys.command("rotate")
@with_appcontext
def rotate_keys():
    """Sign with a new key from now on; the old one stays published until its tokens expire."""
    with db.transaction() as session:
        row = keystore().rotate(session)
    click.echo(f"new signing key {row.kid} ({row.alg}); instances switch within 30 seconds")


demo = click.Group("demo", help="Demo data for a first look.")


def _credentials_file() -> Path:
    return Path(current_app.instance_path) / "demo-credentials.json"


def seed_demo() -> dict:
    """Create the demo clients once; their credentials are kept under instance/ for re-printing."""
    path = _credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with db.transaction() as session:
        service = ClientService(session)
        shop = service.by_client_id(DEMO_SHOP)
        if shop is None or not path.exists():
            if shop is not None:  # credentials file lost: a demo client may get a new secret
                service.delete(shop)
            created = service.create(
                client_id=DEMO_SHOP, name="Demo shop", first_party=True,
                grant_types=["client_credentials", "authorization_code", "refresh_token"],
                scopes=[*API_SCOPES, "openid", "profile", "email", "offline_access",
                        "organization"],
                redirect_uris=[DEMO_SHOP_REDIRECT], allow_template_choice=True,
            )
            credentials = {"shop": {"clientId": DEMO_SHOP, "clientSecret": created.secret,
                                    "redirectUri": DEMO_SHOP_REDIRECT}}
        else:
            credentials = json.loads(path.read_text())
        if service.by_client_id(DEMO_APP) is None:
            service.create(
                client_id=DEMO_APP, name="Demo application", public=True, first_party=True,
                grant_types=["authorization_code", "refresh_token"],
                scopes=["openid", "profile", "email", "offline_access"],
                redirect_uris=[DEMO_APP_REDIRECT],
            )
        credentials["application"] = {"clientId": DEMO_APP, "redirectUri": DEMO_APP_REDIRECT}
        credentials["users"] = _seed_demo_users(session, credentials.get("users") or {})
        credentials["catalog"] = seed_demo_catalog(session)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(credentials, handle, indent=2)
    return credentials


def _seed_demo_users(session, known: dict) -> dict:
    """A customer and a back-office staff member, with passwords printed for the first look."""
    users = UserService(session)
    for role, email, staff in (("customer", "demo.customer@example.com", False),
                               ("staff", "demo.staff@example.com", True)):
        if users.find_by_email(email) is not None and role in known:
            continue
        password = secrets.token_urlsafe(12)
        user = users.find_by_email(email) or users.create(
            email=email, first_name=role.title(), last_name="Demo", status="active")
        user.password_hash = hash_password(password)
        user.status, user.email_verified, user.is_staff = "active", True, staff
        known[role] = {"email": email, "password": password}
    return known


def _print_credentials(credentials: dict) -> None:
    issuer = current_app.config["ISSUER"]
    shop = credentials["shop"]
    click.echo("Demo shop (confidential: client credentials with every API scope, and OIDC login):")
    click.echo(f"  client id:     {shop['clientId']}")
    click.echo(f"  client secret: {shop['clientSecret']}")
    click.echo("Demo application (public, authorization code + PKCE):")
    click.echo(f"  client id:     {credentials['application']['clientId']}")
    click.echo(f"  redirect URI:  {credentials['application']['redirectUri']}")
    for role, user in credentials.get("users", {}).items():
        click.echo(f"Demo {role}: {user['email']} / {user['password']}")
    if "catalog" in credentials:
        click.echo(f"Demo product package (productId): {credentials['catalog']['productPackageId']}")
    click.echo(f"Back office: {issuer}/backoffice   My account: {issuer}/account")
    click.echo("Get a token:")
    click.echo(f"  curl -s -u {shop['clientId']}:{shop['clientSecret']} "
               f"-d grant_type=client_credentials {issuer}/user/oauth20/token")


@demo.command("seed")
@with_appcontext
def demo_seed():
    """Create (once) and print the demo clients."""
    _print_credentials(seed_demo())


class _EmbeddedServer(BaseApplication):
    """gunicorn, configured in code, serving the app this command already built."""

    def __init__(self, app: Flask, options: dict) -> None:
        self.application, self.options = app, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--threads", default=4, show_default=True)
@with_appcontext
def serve(host, port, threads):
    """The embedded default in one command: migrate, seed once, print the demo credentials,
    deliver mail in the background, and serve."""
    from flask_migrate import upgrade

    upgrade()
    _print_credentials(seed_demo())
    # Connections opened above must not be shared with the forked server process.
    db.engine.dispose()
    worker = subprocess.Popen(
        [sys.executable, "-c", "from app.cli import main; main()", "outbox", "work"],
        env=os.environ.copy(),
    )
    click.echo(f"Mail goes to {current_app.config['MAIL_URL']} (outbox worker pid {worker.pid})")
    click.echo(f"Serving on http://{host}:{port} (Ctrl-C stops)")
    try:
        _EmbeddedServer(current_app._get_current_object(), {
            "bind": f"{host}:{port}", "workers": 1, "threads": threads,
            "worker_class": "gthread", "accesslog": "-",
        }).run()
    finally:
        worker.terminate()
        worker.wait(timeout=15)


def register_commands(app: Flask) -> None:
    for group in (clients, keys, demo, serve):
        app.cli.add_command(group)


def main() -> None:
    """The `gatehouse` console script: the same commands as `flask --app wsgi`."""
    from app import create_app

    FlaskGroup(create_app=create_app)()

"""Gatehouse: identity and licensing for vendors who sell software online."""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Any, Mapping

from flask import Flask
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from app.config import load_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"

# Domain packages, in dependency order. Each may have models, views (REST, flask-smorest),
# pages (HTML) and cli modules; the factory wires whatever exists.
DOMAINS = ("security", "oidc", "mail", "events", "users", "organizations",
           "invitations", "entitlements", "activation_codes")

csrf = CSRFProtect()
migrate = Migrate()


def _domain_module(domain: str, kind: str):
    try:
        return importlib.import_module(f"app.{domain}.{kind}")
    except ModuleNotFoundError as exc:
        if exc.name in (f"app.{domain}", f"app.{domain}.{kind}"):
            return None
        raise


def load_models() -> None:
    """Import every model so that Base.metadata is complete (migrations, tests)."""
    importlib.import_module("app.idempotency")
    for domain in DOMAINS:
        _domain_module(domain, "models")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    config = dict(config or {})
    instance_path = (config.pop("INSTANCE_PATH", None)
                     or os.environ.get("GATEHOUSE_INSTANCE_PATH")
                     or PROJECT_ROOT / "instance")
    # No app-wide static folder: the pages' stylesheet is served by app.web at /static.
    app = Flask(__name__, instance_path=str(Path(instance_path).resolve()), static_folder=None)
    app.config.update(load_settings(Path(app.instance_path), config))
    app.config.update(
        API_TITLE="Gatehouse",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
    )
    logging.basicConfig(level=app.config["LOG_LEVEL"],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from app import errors
    from app.api import make_api
    from app.db import db
    from app.oidc import server
    from app.oidc.keys import KeyStore
    from app.security.ratelimit import limiter

    load_models()
    db.init_app(app)
    migrate.init_app(app, db=db, directory=str(MIGRATIONS_DIR))
    app.extensions["gatehouse.keys"] = KeyStore(app)
    csrf.init_app(app)
    limiter.init_app(app)
    server.init_app(app)

    from app import health, web

    web.init_app(app)
    app.register_blueprint(health.bp)
    csrf.exempt(health.bp)
    api = make_api(app)
    for domain in DOMAINS:
        # views: REST (`blp`, flask-smorest, bearer tokens) or OAuth endpoints (`bp`);
        # pages: HTML forms (`bp`), the only place CSRF protection applies.
        views = _domain_module(domain, "views")
        if views is not None and hasattr(views, "blp"):
            api.register_blueprint(views.blp)
        if views is not None and hasattr(views, "bp"):
            app.register_blueprint(views.bp)
            csrf.exempt(views.bp)
        pages = _domain_module(domain, "pages")
        if pages is not None:
            app.register_blueprint(pages.bp)
    errors.register_error_handlers(app)

    from app.cli import register_commands

    register_commands(app)
    for domain in DOMAINS:
        commands = _domain_module(domain, "cli")
        for command in getattr(commands, "commands", ()):
            app.cli.add_command(command)
    return app

"""Shared page layout, static CSS, and the pages that belong to no single domain."""

from flask import Blueprint

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")

"""The redeem page (`/redeem`), reached from the shop's email: enter the code (checked as it is
typed and on the server), sign in or create an account, redeem, and see the licenses."""

from __future__ import annotations

from flask import (
    Blueprint, current_app, jsonify, make_response, render_template, request, url_for,
)
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeTimedSerializer
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from app.activation_codes import format as codes
from app.activation_codes.attempts import note_rejected, page_attempts
from app.activation_codes.schemas import CodeCheckSchema
from app.activation_codes.services import RedemptionService, registered_return_url
from app.db import db
from app.entitlements.services import AvailableLicenses
from app.errors import GatehouseError, problem
from app.oidc.sessions import current_login
from app.web.i18n import error_text, preferred_languages

bp = Blueprint("activation_codes_pages", __name__, template_folder="templates",
               static_folder="static", static_url_path="/static/activation-codes")

# The code and the shop to return to survive the sign-in or registration detour in a cookie of
# their own: signing in starts a fresh session (no fixation), which empties Flask's.
COOKIE = "gatehouse_redeem"
COOKIE_MAX_AGE = 3600
NEXT = "/redeem"


class CodeForm(FlaskForm):
    code = StringField(
        _l("Activation code"),
        validators=[DataRequired(message=_l("Enter the code from your email.")),
                    Length(max=100)],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false",
                   "placeholder": "XXXXX-XXXXX-XXXXX-XXXXX-XXXXX"},
        description=_l("25 letters and digits, as in your email; hyphens and spaces do not "
                       "matter."))


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="gatehouse.redeem-page")


def _remembered() -> dict:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return {}
    try:
        state = _serializer().loads(raw, max_age=COOKIE_MAX_AGE)
    except BadSignature:
        return {}
    return state if isinstance(state, dict) else {}


def _page(response, state: dict):
    """The response, keeping `state` (or forgetting it) and never cached: it may show a code."""
    response = make_response(response)
    secure = current_app.config["SESSION_COOKIE_SECURE"]
    if state:
        response.set_cookie(COOKIE, _serializer().dumps(state), max_age=COOKIE_MAX_AGE,
                            path=NEXT, secure=secure, httponly=True, samesite="Lax")
    elif COOKIE in request.cookies:
        response.delete_cookie(COOKIE, path=NEXT, secure=secure, httponly=True, samesite="Lax")
    response.cache_control.no_store = True
    return response


@bp.route("/redeem", methods=["GET", "POST"])
@page_attempts
def redeem():
    state = _remembered()
    if request.args.get("returnUrl"):
        accepted = registered_return_url(db.session, request.args["returnUrl"])
        if accepted:
            state["returnUrl"] = accepted
    login = current_login()
    service = RedemptionService(db.session)
    form = CodeForm()
    status, ready = 200, None
    if form.validate_on_submit():
        if login is None:
            # Not signed in: check the code and keep it for after the detour.
            result = service.check(form.code.data)
            if result.redeemable:
                state["code"] = codes.normalize(form.code.data)
                ready = result.product_package
            else:
                note_rejected()
                form.code.errors = [error_text(result.error)]
                status = result.error.status
        else:
            try:
                redemption = service.redeem(login.user, form.code.data,
                                            languages=preferred_languages())
            except GatehouseError as refused:
                note_rejected()
                form.code.errors = [error_text(refused)]
                status = refused.status
            else:
                state.pop("code", None)
                return _page(render_template(
                    "activation_codes/redeemed.html", user=login.user,
                    licenses=AvailableLicenses(db.session).for_user(
                        login.user.id, languages=preferred_languages()),
                    granted={str(lic.id) for lic in redemption.licenses},
                    return_url=state.get("returnUrl")), state)
    elif form.errors:
        status = 422
    if state.get("code") and ready is None and not form.code.errors:
        # The remembered code, checked again: it may have been redeemed meanwhile.
        result = service.check(state["code"])
        if result.redeemable:
            ready = result.product_package
            form.code.data = codes.display(state["code"])
        else:
            state.pop("code")
    return _page((render_template(
        "activation_codes/redeem.html", form=form, login=login, ready=ready,
        return_url=state.get("returnUrl"),
        login_url=url_for("oidc_pages.login") + "?next=" + NEXT,
        register_url=url_for("oidc_pages.register") + "?next=" + NEXT,
    ), status), state)


@bp.post("/redeem/check")
@page_attempts
def check():
    """The page's as-you-type check (JSON, CSRF token in the X-CSRFToken header)."""
    body = request.get_json(silent=True)
    code = body.get("code") if isinstance(body, dict) else None
    if not isinstance(code, str) or not 0 < len(code) <= 100:
        return problem(400, "bad_request", detail='Send {"code": "…"} as JSON.')
    result = RedemptionService(db.session).check(code)
    body = CodeCheckSchema().dump(result)
    if not result.redeemable:
        note_rejected()
        body["detail"] = error_text(result.error)  # shown on the page, in its language
    response = jsonify(body)
    response.cache_control.no_store = True
    return response

"""The authorization endpoint and the pages a browser passes through on the way: login,
registration, email verification, consent, logout.

The authorization request travels as the query string: the login and registration pages keep
it and send the browser back to `/user/oauth20/authz` with it once the user is known, minus the
`prompt` values that have been satisfied. Its `ui_locales` picks the pages' language, which the
session remembers for the pages off that path (email verification) until the flow is over.
"""

from __future__ import annotations

import math
import uuid
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidRequestError
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from joserfc import jwt
from joserfc.errors import JoseError
from marshmallow import ValidationError
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

from app import tokens
from app.api import normalize_email
from app.db import db, utcnow
from app.oidc.keys import keystore
from app.oidc.models import Client, Consent
from app.oidc.server import authorization_server
from app.oidc.services import ClientService
from app.oidc.sessions import Login, current_login, end_session, start_session
from app.organizations.errors import UnknownTemplate
from app.organizations.registrations import APPROVAL_FLOWS, RegistrationService
from app.organizations.schemas import CompanySchema
from app.security.lockout import Lockout
from app.security.passwords import MAX_LENGTH
from app.security.ratelimit import limit_for, limiter
from app.users.errors import VerificationFailed, WeakPassword
from app.users.services import UserService
from app.web.forms import NewAccountForm
from app.web.i18n import (
    current_language, error_text, field_errors, forget_ui_locales, service_text, translate,
)

bp = Blueprint("oidc_pages", __name__, template_folder="templates")

SCOPE_DESCRIPTIONS = {
    "openid": _l("Know who you are"),
    "profile": _l("Your name and language"),
    "email": _l("Your email address"),
    "phone": _l("Your phone number"),
    "address": _l("Your address"),
    "offline_access": _l("Stay connected while you are away"),
    "organization": _l("Your organization and role"),
}


# --- the authorization request ---------------------------------------------------------------

def _params() -> dict[str, str]:
    return dict(parse_qsl(request.query_string.decode(), keep_blank_values=True))


def _authz_url(params: dict[str, str], satisfied: tuple[str, ...] = ()) -> str:
    """Back to the authorization endpoint, without the prompts that are now satisfied."""
    params = dict(params)
    prompts = [p for p in params.get("prompt", "").split() if p not in satisfied]
    params.pop("prompt", None)
    if prompts:
        params["prompt"] = " ".join(prompts)
    if "create" in satisfied:
        params.pop("flow", None)
    return url_for("oidc_pages.authorize") + "?" + urlencode(params)


def _redirect_error(error: OAuth2Error):
    forget_ui_locales()  # back to the application: this flow is over
    return authorization_server().handle_response(*error(None))


def _bad_request_page(error: OAuth2Error):
    """Errors found before the redirect URI is trusted are shown, never redirected."""
    # The reason is OAuth's (English, for whoever configures the application).
    return render_template("message.html", title=_("This sign-in link is not valid"),
                           message=_("%(reason)s The application that sent you here may be "
                                     "misconfigured.",
                                     reason=error.description or error.error)), 400


def _reauthentication_needed(login: Login, params: dict[str, str], prompts: set[str]) -> bool:
    if "login" in prompts:
        return True
    max_age = params.get("max_age")
    if max_age is not None and max_age.isdigit():
        return utcnow() - login.auth_time > timedelta(seconds=int(max_age))
    return False


def _consented(login: Login, client: Client, scopes: set[str]) -> bool:
    if client.first_party:
        return True
    consent = db.session.query(Consent).filter_by(user_id=login.user.id,
                                                  client_id=client.client_id).one_or_none()
    return consent is not None and scopes <= set(consent.scopes)


@bp.route("/user/oauth20/authz", methods=["GET", "POST"])
def authorize():
    server = authorization_server()
    login = current_login()
    try:
        grant = server.get_consent_grant(end_user=login.user if login else None)
    except OAuth2Error as error:
        if getattr(error, "redirect_uri", None):
            return _redirect_error(error)
        return _bad_request_page(error)

    params = _params()
    prompts = set(params.get("prompt", "").split())
    if "none" in prompts and len(prompts) > 1:
        return _redirect_error(InvalidRequestError(
            "prompt=none cannot be combined", redirect_uri=grant.redirect_uri,
            state=params.get("state")))
    wants_registration = "create" in prompts or params.get("flow") == "register"

    if login is None or _reauthentication_needed(login, params, prompts) or wants_registration:
        if "none" in prompts:
            return _redirect_error(LoginRequiredError(redirect_uri=grant.redirect_uri,
                                                      state=params.get("state")))
        page = "oidc_pages.register" if wants_registration else "oidc_pages.login"
        return redirect(url_for(page) + "?" + request.query_string.decode())

    scopes = set(grant.request.scope.split())
    if "consent" in prompts or not _consented(login, grant.client, scopes):
        if "none" in prompts:
            return _redirect_error(ConsentRequiredError(redirect_uri=grant.redirect_uri,
                                                        state=params.get("state")))
        return redirect(url_for("oidc_pages.consent") + "?" + request.query_string.decode())

    forget_ui_locales()  # the application has its answer: this flow is over
    return server.create_authorization_response(grant_user=login.user, grant=grant)


# --- login -----------------------------------------------------------------------------------

class LoginForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=320)],
                       render_kw={"autocomplete": "username"})
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=MAX_LENGTH)],
                             render_kw={"autocomplete": "current-password"})


def _continue(params: dict[str, str], satisfied: tuple[str, ...]):
    if params.get("client_id"):
        return redirect(_authz_url(params, satisfied), code=303)
    target = params.get("next", "")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return redirect(target, code=303)  # back to our own page (my account, back office)
    return render_template("message.html", title=_("You are signed in"),
                           message=_("You can close this page and return to the application."))


def _locked_out(until) -> str:
    minutes = max(1, math.ceil((until - utcnow()).total_seconds() / 60))
    return ngettext("Too many failed attempts for this account. Try again in %(num)d minute.",
                    "Too many failed attempts for this account. Try again in %(num)d minutes.",
                    minutes)


@bp.route("/user/login", methods=["GET", "POST"])
@limiter.limit(limit_for("login"), methods=["POST"])
def login():
    params = _params()
    form = LoginForm()
    if request.method == "GET" and params.get("login_hint"):
        form.email.data = params["login_hint"]
    message = None
    status = 200
    if form.validate_on_submit():
        try:
            email = normalize_email(form.email.data)
        except ValidationError:
            email = form.email.data.strip().lower()
        lockout = Lockout(db.session)
        locked_until = lockout.locked_until(email)
        users = UserService(db.session)
        if locked_until:
            message, status = _locked_out(locked_until), 429
        elif (user := users.authenticate(email, form.password.data)) is None:
            lockout.failed(email)
            db.keep_on_error()  # the failure must count although the answer is an error
            message, status = _("The email or password is not right."), 401
        else:
            lockout.succeeded(email)
            if user.status == "active":
                start_session(user)
                return _continue(params, ("login", "create"))
            if user.status == "pendingActivation":
                # The password is right, so saying this tells nobody anything new.
                session["pending"] = {"uid": str(user.id), "email": user.email,
                                      "authz": request.query_string.decode()}
                return redirect(url_for("oidc_pages.verify_email"), code=303)
            message, status = _refusal(user.status), 403
    elif form.errors:
        status = 422
    response = render_template("oidc/login.html", form=form, message=message,
                               query=request.query_string.decode(),
                               register_url=url_for("oidc_pages.register") + "?"
                               + request.query_string.decode())
    return response, status


def _refusal(status: str) -> str:
    if status == "pendingApproval":
        return _("Your registration is waiting for approval. We will email you as soon as you "
                 "can sign in.")
    return _("This account cannot sign in. Please contact the shop's customer service.")


# --- registration ----------------------------------------------------------------------------

class RegistrationForm(NewAccountForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=320)],
                       render_kw={"autocomplete": "email"})


COMPANY_LABELS = {
    "companyName": (_l("Company name"), "organization"),
    "vatNumber": (_l("VAT number"), None),
    "customerNumber": (_l("Customer number, if you have one"), None),
    "street": (_l("Street address"), "street-address"),
    "postalCode": (_l("Postal code"), "postal-code"),
    "city": (_l("City"), "address-level2"),
    "country": (_l("Country (two-letter code, such as FI)"), "country"),
    "phoneNumber": (_l("Phone"), "tel"),
}


def _attribute(field_name: str) -> str:
    return "company_" + "".join("_" + c.lower() if c.isupper() else c for c in field_name)


def registration_form(template) -> RegistrationForm:
    """The registration form, with the company fields the B2B template asks for."""
    extra = {}
    for name in template.fields:
        label, autocomplete = COMPANY_LABELS[name]
        required = [DataRequired()] if name == "companyName" else [Optional()]
        extra[_attribute(name)] = StringField(
            label, name=name, validators=[*required, Length(max=200)],
            render_kw={"autocomplete": autocomplete} if autocomplete else {})
    return type("TemplateRegistrationForm", (RegistrationForm,), extra)()


def _company(form, template) -> dict:
    """The company fields, checked like the API checks them (country codes, phone numbers)."""
    data = {name: form[_attribute(name)].data.strip() for name in template.fields
            if form[_attribute(name)].data and form[_attribute(name)].data.strip()}
    try:
        return CompanySchema().dump(CompanySchema().load(data))
    except ValidationError as invalid:
        for name, messages in invalid.messages.items():
            form[_attribute(name)].errors = [
                service_text(" ".join(messages), _("Check this entry; it is not valid."))]
        raise


@bp.route("/user/register", methods=["GET", "POST"])
@limiter.limit(limit_for("registration"), methods=["POST"])
def register():
    params = _params()
    client = ClientService(db.session).by_client_id(params.get("client_id", ""))
    registrations = RegistrationService(db.session)
    try:
        template = registrations.template_for(client, params.get("registrationTemplate"))
    except UnknownTemplate as unknown:
        return render_template("message.html", title=_("Registration is not available"),
                               message=error_text(unknown)), 400
    form = registration_form(template)
    if request.method == "GET" and params.get("login_hint"):
        form.email.data = params["login_hint"]
    status = 200
    if form.validate_on_submit():
        try:
            email = normalize_email(form.email.data)
            company = _company(form, template) if template.fields else {}
            user = UserService(db.session).register(
                email=email, password=form.password.data,
                first_name=form.first_name.data.strip(), last_name=form.last_name.data.strip(),
                locale=current_language(),  # the language they registered in
                verify_email=current_app.config["REGISTRATION_VERIFY_EMAIL"],
                awaiting_approval=template.flow in APPROVAL_FLOWS)
            if user is not None and template.flow != "consumer":
                registrations.register_company(user, template, company, source="page",
                                               client_id=client.client_id if client else None)
        except ValidationError as invalid:
            if "email" not in form.errors and not any(
                    form[_attribute(n)].errors for n in template.fields):
                form.email.errors = [service_text(" ".join(invalid.messages),
                                                  _("Enter a valid email address."))]
        except WeakPassword as weak:
            form.password.errors = field_errors(weak, "password")
        else:
            if user is not None and user.status == "active":
                start_session(user)
                return _continue(params, ("login", "create"))
            if user is not None and user.status == "pendingApproval" and user.email_verified:
                return _awaiting_approval()
            # New or taken, the browser sees the same thing: check your email.
            session["pending"] = {"uid": str(user.id) if user else None, "email": email,
                                  "authz": request.query_string.decode()}
            return redirect(url_for("oidc_pages.verify_email"), code=303)
    if form.errors:
        status = 422
    login = current_login()
    return render_template(
        "oidc/register.html", form=form, current=login.user if login else None,
        company_fields=[form[_attribute(name)] for name in template.fields],
        template=template,
        login_url=url_for("oidc_pages.login") + "?" + urlencode(
            {k: v for k, v in params.items() if k not in ("flow",)}),
    ), status


def _awaiting_approval():
    return render_template(
        "message.html", title=_("Thank you for registering"),
        message=_("Your registration is waiting for approval. We will email you as soon as you "
                  "can sign in."))


# --- email verification ----------------------------------------------------------------------

class CodeForm(FlaskForm):
    code = StringField(_l("Code from the email"), validators=[DataRequired(), Length(max=20)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})


def _pending() -> dict | None:
    return session.get("pending")


def _finish_verification(user) -> object:
    pending = session.pop("pending", None) or {}
    if user.status != "active":  # a company registration: verified, now waiting for approval
        return _awaiting_approval()
    start_session(user)
    params = dict(parse_qsl(pending.get("authz", ""), keep_blank_values=True))
    return _continue(params, ("login", "create"))


def _pending_user_if_verified():
    pending = _pending()
    if not pending or not pending.get("uid"):
        return None
    user = UserService(db.session).find_by_email(pending["email"])
    if user is not None and str(user.id) == pending["uid"] and user.email_verified:
        return user
    return None


@bp.route("/user/verify-email", methods=["GET", "POST"])
@limiter.limit(limit_for("login"), methods=["POST"])
def verify_email():
    pending = _pending()
    if pending is None:
        return render_template("message.html", title=_("Nothing to verify here"),
                               message=_("Open the link from the email, or sign in.")), 400
    # Verified meanwhile by the link, in this browser or another one: carry on.
    verified = _pending_user_if_verified()
    if verified is not None:
        return _finish_verification(verified)
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        try:
            user_id = uuid.UUID(pending["uid"]) if pending.get("uid") else None
            user = UserService(db.session).verify_code(user_id, form.code.data)
        except VerificationFailed as failed:
            db.keep_on_error()  # the counted attempt stays counted
            form.code.errors = [error_text(failed)]
        else:
            return _finish_verification(user)
    if form.errors:
        status = 422
    return render_template("oidc/verify_email.html", form=form, email=pending["email"],
                           resend_form=FlaskForm()), status


@bp.post("/user/verify-email/resend")
@limiter.limit(limit_for("mail"))
def resend_verification():
    pending = _pending()
    form = FlaskForm()
    if pending and form.validate_on_submit() and pending.get("uid"):
        users = UserService(db.session)
        user = users.find_by_email(pending["email"])
        if user is not None and str(user.id) == pending["uid"] and not user.email_verified:
            users.send_verification(user)
    return redirect(url_for("oidc_pages.verify_email"), code=303)


@bp.get("/user/verify-email/<token>")
def verify_email_link(token: str):
    try:
        user = UserService(db.session).verify_link(token)
    except (tokens.LinkInvalid, tokens.LinkExpired, tokens.LinkUsed) as error:
        return render_template("message.html", title=translate(error.title),
                               message=_("Ask for a new code on the registration page, or "
                                         "register again.")), error.status
    pending = _pending()
    if pending and pending.get("uid") == str(user.id):
        return _finish_verification(user)  # the same browser: straight back to the shop
    return render_template("message.html", title=_("Email address confirmed"),
                           message=_("Thank you. Return to the page where you registered to "
                                     "continue, or sign in."))


# --- consent ---------------------------------------------------------------------------------

class ConsentForm(FlaskForm):
    pass


@bp.route("/user/oauth20/consent", methods=["GET", "POST"])
def consent():
    login = current_login()
    params = _params()
    if login is None:
        return redirect(url_for("oidc_pages.login") + "?" + request.query_string.decode())
    client = ClientService(db.session).by_client_id(params.get("client_id", ""))
    if client is None:
        return render_template("message.html", title=_("Unknown application"),
                               message=_("The application that sent you here is not known.")), 400
    scopes = [s for s in params.get("scope", "").split() if s in client.scopes]
    form = ConsentForm()
    if form.validate_on_submit():
        if request.form.get("decision") != "allow":
            redirect_uri = params.get("redirect_uri") or client.get_default_redirect_uri()
            if not client.check_redirect_uri(redirect_uri):
                return _bad_request_page(InvalidRequestError("Unregistered redirect_uri."))
            return _redirect_error(AccessDeniedError(redirect_uri=redirect_uri,
                                                     state=params.get("state")))
        row = db.session.query(Consent).filter_by(user_id=login.user.id,
                                                  client_id=client.client_id).one_or_none()
        if row is None:
            row = Consent(user_id=login.user.id, client_id=client.client_id, scopes=[])
            db.session.add(row)
        row.scopes = sorted(set(row.scopes) | set(scopes))
        return redirect(_authz_url(params, ("consent",)), code=303)
    return render_template("oidc/consent.html", form=form, client=client, user=login.user,
                           scopes=[(s, SCOPE_DESCRIPTIONS.get(s, s)) for s in scopes])


# --- logout ----------------------------------------------------------------------------------

class LogoutForm(FlaskForm):
    pass


def _id_token_client(id_token_hint: str | None) -> str | None:
    """The client an ID token we issued was for (expired ones still name it)."""
    if not id_token_hint:
        return None
    try:
        token = jwt.decode(id_token_hint, keystore().verification_keys(),
                           algorithms=["RS256", "ES256"])
    except (JoseError, ValueError):
        return None
    if token.claims.get("iss") != current_app.config["ISSUER"]:
        return None
    aud = token.claims.get("aud")
    return aud[0] if isinstance(aud, list) and aud else aud


@bp.route("/user/oauth20/signout", methods=["GET", "POST"])
def signout():
    """RP-initiated logout (OIDC RP-Initiated Logout 1.0)."""
    params = _params() | (request.form.to_dict() if request.method == "POST" else {})
    client_id = _id_token_client(params.get("id_token_hint")) or params.get("client_id")
    client = ClientService(db.session).by_client_id(client_id) if client_id else None
    target = params.get("post_logout_redirect_uri")
    if target and (client is None or target not in client.post_logout_redirect_uris):
        return render_template("message.html", title=_("Sign-out link not valid"),
                               message=_("The address to return to after signing out is not "
                                         "registered for this application.")), 400
    form = LogoutForm()
    confirmed = params.get("id_token_hint") and client is not None
    if request.method == "POST" and form.validate_on_submit():
        confirmed = True
    if not confirmed and current_login() is not None:
        # Without proof that the application asked, the person confirms (CSRF-safe logout).
        return render_template("oidc/logout.html", form=form, client=client,
                               params=params)
    end_session()
    if target:
        query = {"state": params["state"]} if params.get("state") else {}
        separator = "&" if urlsplit(target).query else "?"
        return redirect(target + (separator + urlencode(query) if query else ""), code=303)
    return render_template("message.html", title=_("You are signed out"),
                           message=_("You can close this page."))

"""Pages reached from mailed links: account activation, forgotten password, password reset."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from marshmallow import ValidationError
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from app import tokens
from app.api import normalize_email
from app.db import db
from app.security.passwords import MAX_LENGTH, POLICY
from app.security.ratelimit import limit_for, limiter
from app.users.errors import WeakPassword
from app.users.services import UserService
from app.web.i18n import field_errors, lazy, service_text, speak_to, translate

bp = Blueprint("users_pages", __name__, template_folder="templates")


class SetPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"), validators=[DataRequired(), Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "new-password", "minlength": 10}, description=lazy(POLICY))
    password_confirmation = PasswordField(
        _l("Repeat the password"), name="passwordConfirmation",
        validators=[DataRequired(),
                    EqualTo("password", message=_l("The passwords do not match."))],
        render_kw={"autocomplete": "new-password"})


class EmailForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=320)],
                       render_kw={"autocomplete": "email"})


class ResendForm(FlaskForm):
    """Just the CSRF token: the (expired) link itself says whom to re-send to."""


LinkProblem = (tokens.LinkInvalid, tokens.LinkExpired, tokens.LinkUsed)


def _link_problem(error, *, resend_url: str | None = None, forgot_url: str | None = None):
    """Say what is wrong with a link, and offer the way forward (a fresh link)."""
    return render_template(
        "users/link_problem.html", error=error, title=translate(error.title),
        resend_url=resend_url, forgot_url=forgot_url, form=ResendForm() if resend_url else None,
    ), error.status


def _set_password_page(form: SetPasswordForm, template: str, **context):
    return render_template(template, form=form, policy=translate(POLICY), **context)


@bp.route("/user/activate/<token>", methods=["GET", "POST"])
def activate(token: str):
    users = UserService(db.session)
    try:
        user, _payload = users.check_activation_link(token)
    except tokens.LinkExpired as expired:
        return _link_problem(expired, resend_url=request.path + "/resend")
    except LinkProblem as error:
        return _link_problem(error, forgot_url=url_for("users_pages.forgot_password"))
    speak_to(user.locale)

    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            user, redirect_uri = users.activate(token, form.password.data)
        except WeakPassword as weak:
            form.password.errors = field_errors(weak, "password")
        else:
            if redirect_uri:
                return redirect(redirect_uri, code=303)
            return render_template("message.html", title=_("Your account is active"),
                                   message=_("You can now log in with your email and password."))
    status = 422 if form.errors else 200
    return _set_password_page(form, "users/activate.html", user=user), status


@bp.post("/user/activate/<token>/resend")
@limiter.limit(limit_for("mail"))
def resend_activation(token: str):
    form = ResendForm()
    if not form.validate_on_submit():
        return _link_problem(tokens.LinkInvalid())
    try:
        tokens.load("activation", token)
    except tokens.LinkExpired as expired:
        UserService(db.session).resend_expired_activation(expired.payload)
    except tokens.LinkInvalid as error:
        return _link_problem(error)
    # Same answer whether or not an account still waits for activation.
    return render_template(
        "message.html", title=_("Check your email"),
        message=_("If the account still needs activating, a fresh link is on its way to the "
                  "address the first one was sent to."))


@bp.route("/user/password/forgot", methods=["GET", "POST"])
@limiter.limit(limit_for("mail"), methods=["POST"])
def forgot_password():
    form = EmailForm()
    if form.validate_on_submit():
        try:
            email = normalize_email(form.email.data)
        except ValidationError as invalid:
            form.email.errors = [service_text(" ".join(invalid.messages),
                                              _("Enter a valid email address."))]
        else:
            UserService(db.session).request_password_reset(email)
            # Never say whether the address is registered.
            return render_template(
                "message.html", title=_("Check your email"),
                message=_("If an account exists for that address, we have sent it a link to "
                          "choose a new password. The link works for one hour."))
    status = 422 if form.errors else 200
    return render_template("users/forgot.html", form=form), status


@bp.route("/user/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    users = UserService(db.session)
    try:
        user = users.check_reset_link(token)
    except LinkProblem as error:
        return _link_problem(error, forgot_url=url_for("users_pages.forgot_password"))
    speak_to(user.locale)

    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            users.reset_password(token, form.password.data)
        except WeakPassword as weak:
            form.password.errors = field_errors(weak, "password")
        else:
            return render_template("message.html", title=_("Password changed"),
                                   message=_("You can now log in with your new password."))
    status = 422 if form.errors else 200
    return _set_password_page(form, "users/reset.html"), status

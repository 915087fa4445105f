"""The invitation page (`/user/invitations/<token>`): who invites the person to what; then
sign in (the address has an account) or register (it has not), and land on the shop's page.

Opening the link consumes nothing: the invitation is answered only when the person finishes.
Following the link proves the address, so registering here needs no second verification mail.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length

from app import tokens
from app.db import db
from app.invitations import errors
from app.invitations.models import Invitation
from app.invitations.services import InvitationService
from app.oidc.sessions import current_login, end_session, start_session
from app.security.lockout import Lockout
from app.security.passwords import MAX_LENGTH
from app.security.ratelimit import limit_for, limiter
from app.users.errors import WeakPassword
from app.users.services import UserService
from app.web.forms import NewAccountForm
from app.web.i18n import field_errors, speak_to

bp = Blueprint("invitations_pages", __name__, template_folder="templates")


class SignInForm(FlaskForm):
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=MAX_LENGTH)],
                             render_kw={"autocomplete": "current-password"})




class ChoiceForm(FlaskForm):
    """Accept as the signed-in user, switch account, decline, or ask for a fresh invitation."""


def _closed(invitation: Invitation, *, renewal_form=None):
    status = invitation.effective_status
    titles = {
        "accepted": (_("Invitation already accepted"),
                     _("This invitation has been accepted. You can sign in as usual.")),
        "declined": (_("Invitation declined"), _("This invitation was declined.")),
        "revoked": (_("Invitation withdrawn"),
                    _("This invitation has been withdrawn and can no longer be accepted.")),
        "expired": (_("Invitation expired"),
                    _("This invitation has expired. You can ask for a fresh one.")),
    }
    title, message = titles[status]
    return render_template("invitations/closed.html", title=title, message=message,
                           renewal_form=renewal_form if status == "expired" else None), 410


def _land(invitation: Invitation):
    if invitation.redirect_uri:
        return redirect(invitation.redirect_uri, code=303)
    return render_template("message.html", title=_("Welcome"),
                           message=_("The invitation is accepted and you are signed in."))


@bp.route("/user/invitations/<token>", methods=["GET", "POST"])
@limiter.limit(limit_for("login"), methods=["POST"])
def answer(token: str):
    invitations = InvitationService(db.session)
    try:
        invitation = invitations.from_link(token)
    except (tokens.LinkInvalid, tokens.LinkExpired):
        return render_template("message.html", title=_("This link is not valid"),
                               message=_("Check that you copied the whole address from the "
                                         "email.")), 422
    speak_to(invitation.locale)  # the language the invitation was mailed in
    if invitation.effective_status != "pending":
        return _closed(invitation, renewal_form=ChoiceForm())

    users = UserService(db.session)
    login = current_login()
    existing = users.find_by_email(invitation.email)
    action = request.form.get("action") if request.method == "POST" else None
    sign_in, register, choice = SignInForm(), NewAccountForm(), ChoiceForm()
    status = 200
    message = None

    if action == "decline" and choice.validate_on_submit():
        invitations.decline(invitation)
        return render_template("message.html", title=_("Invitation declined"),
                               message=_("Thank you for letting us know.")), 200
    if action == "accept" and login is not None and choice.validate_on_submit():
        return _accept(invitations, invitation, login.user)
    if action == "switch" and choice.validate_on_submit():
        end_session()
        login = None
    if action == "sign-in" and existing is not None and sign_in.validate_on_submit():
        lockout = Lockout(db.session)
        if lockout.locked_until(invitation.email):
            message, status = _("Too many failed attempts. Try again in a few minutes."), 429
        else:
            user = users.authenticate(invitation.email, sign_in.password.data)
            if user is None:
                lockout.failed(invitation.email)
                db.keep_on_error()
                message, status = _("The password is not right."), 401
            elif user.status not in ("active", "pendingActivation"):
                message, status = _("This account cannot sign in. Please contact support."), 403
            else:
                lockout.succeeded(invitation.email)
                if user.status == "pendingActivation":
                    # The invitation link reached the mailbox: that is the proof activation
                    # asks for.
                    users.confirm_address(user)
                return _accept(invitations, invitation, user)
    if action == "register" and existing is None and register.validate_on_submit():
        try:
            user = users.register_invited(
                email=invitation.email, password=register.password.data,
                first_name=register.first_name.data.strip(),
                last_name=register.last_name.data.strip(), locale=invitation.locale)
        except WeakPassword as weak:
            register.password.errors = field_errors(weak, "password")
        else:
            return _accept(invitations, invitation, user)
    if request.method == "POST" and status == 200:
        status = 422
    # The service words the target in English (for the mail); the page words it itself.
    inviter, _target = invitations.inviter_and_target(invitation)
    organization = (invitations.organizations.get(invitation.organization_id)
                    if invitation.organization_id else None)
    return render_template(
        "invitations/answer.html", invitation=invitation, inviter=inviter,
        organization=organization,
        login=login, existing=existing is not None, sign_in=sign_in, register=register,
        choice=choice, message=message,
    ), status


def _accept(invitations: InvitationService, invitation: Invitation, user):
    try:
        invitations.accept(invitation, user)
    except (errors.InvitationNotPending, errors.InvitationExpired):
        return _closed(invitation)
    if (login := current_login()) is None or login.user.id != user.id:
        start_session(user)
    return _land(invitation)


@bp.post("/user/invitations/<token>/renew")
@limiter.limit(limit_for("mail"))
def renew(token: str):
    invitations = InvitationService(db.session)
    form = ChoiceForm()
    try:
        invitation = invitations.from_link(token)
    except (tokens.LinkInvalid, tokens.LinkExpired):
        invitation = None
    if invitation is not None and form.validate_on_submit():
        invitations.request_renewal(invitation)
    return render_template("message.html", title=_("Request sent"),
                           message=_("We have let the sender know. If they invite you again, "
                                     "you will get a new email."))

"""My account (`/account`: profile, organizations, licenses; supervisors manage their own
organization's users) and the back office (`/backoffice`: staff approve registrations)."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from marshmallow import ValidationError
from wtforms import EmailField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.api import normalize_email
from app.db import db
from app.entitlements.services import AvailableLicenses
from app.errors import GatehouseError
from app.oidc.sessions import current_login
from app.organizations.registrations import RegistrationService
from app.organizations.services import OrganizationService, Supervision
from app.users.errors import EmailTaken
from app.web.i18n import error_text, preferred_languages, service_text, translate

bp = Blueprint("web_pages", __name__, template_folder="templates")


def _signed_in():
    login = current_login()
    if login is None:
        return None, redirect(url_for("oidc_pages.login") + "?" + urlencode({"next": request.path}))
    return login.user, None


# --- my account ------------------------------------------------------------------------------

class EmployeeForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=320)])
    first_name = StringField(_l("First name"), name="firstName",
                             validators=[DataRequired(), Length(max=100)])
    last_name = StringField(_l("Last name"), name="lastName",
                            validators=[DataRequired(), Length(max=100)])
    role = SelectField(_l("Role"), validators=[DataRequired()])


class ActionForm(FlaskForm):
    pass


def _licenses(user) -> list:
    """The licenses the user can use: their own and their organizations', named in the
    languages the pages prefer for this request (`ui_locales`, the user's, Accept-Language)."""
    return AvailableLicenses(db.session).for_user(user.id, languages=preferred_languages())


@bp.route("/account", methods=["GET"])
def account():
    user, login_redirect = _signed_in()
    if login_redirect:
        return login_redirect
    organizations = OrganizationService(db.session)
    supervision = Supervision(db.session, user)
    managed = []
    for membership in supervision.managed():
        form = EmployeeForm(prefix=str(membership.organization_id))
        form.role.choices = [(r.name, r.display_name)
                             for r in supervision.grantable_roles(membership.organization_id)]
        managed.append({"membership": membership, "form": form,
                        "employees": supervision.employees(membership.organization_id)})
    return render_template("web/account.html", user=user,
                           memberships=organizations.memberships_of(user.id),
                           licenses=_licenses(user), managed=managed, action=ActionForm())


@bp.post("/account/organizations/<uuid:organization_id>/employees")
def create_employee(organization_id: uuid.UUID):
    user, login_redirect = _signed_in()
    if login_redirect:
        return login_redirect
    supervision = Supervision(db.session, user)
    form = EmployeeForm(prefix=str(organization_id))
    try:
        form.role.choices = [(r.name, r.display_name)
                             for r in supervision.grantable_roles(organization_id)]
    except GatehouseError as error:
        abort(error.status)
    message, status = None, 200
    if form.validate_on_submit():
        try:
            supervision.create_employee(
                organization_id, email=normalize_email(form.email.data),
                first_name=form.first_name.data.strip(), last_name=form.last_name.data.strip(),
                role_name=form.role.data)
            return redirect(url_for("web_pages.account"), code=303)
        except ValidationError as invalid:
            form.email.errors = [service_text(" ".join(invalid.messages),
                                              _("Enter a valid email address."))]
        except EmailTaken:
            message = _("That address already has an account. Ask the shop to add it, or "
                        "invite it.")
        except GatehouseError as error:
            message = error_text(error)
        status = 422
    else:
        status = 422 if form.errors else 400
    return render_template("message.html", title=_("The user was not created"),
                           message=message or " ".join(
                               f"{form[name].label.text}: {' '.join(map(str, errors))}"
                               for name, errors in form.errors.items())), status


@bp.post("/account/organizations/<uuid:organization_id>/employees/<uuid:user_id>/<action>")
def employee_action(organization_id: uuid.UUID, user_id: uuid.UUID, action: str):
    user, login_redirect = _signed_in()
    if login_redirect:
        return login_redirect
    if action not in ("deactivate", "reactivate") or not ActionForm().validate_on_submit():
        abort(400)
    try:
        Supervision(db.session, user).set_active(organization_id, user_id,
                                                 active=action == "reactivate")
    except GatehouseError as error:
        return render_template("message.html", title=_("Not changed"),
                               message=error_text(error)), error.status
    return redirect(url_for("web_pages.account"), code=303)


# --- back office -----------------------------------------------------------------------------

class ApprovalForm(FlaskForm):
    organization = SelectField(_l("Link to organization"), validators=[DataRequired()])
    role = SelectField(_l("Role"), validators=[DataRequired()])


class RejectionForm(FlaskForm):
    reason = TextAreaField(_l("Reason (sent to the applicant)"), validators=[Length(max=2000)])


def _staff():
    user, login_redirect = _signed_in()
    if login_redirect:
        return None, login_redirect
    if not user.is_staff:
        return None, (render_template("message.html", title=_("Back office"),
                                      message=_("This page is for Gatehouse staff.")), 403)
    return user, None


@bp.get("/backoffice")
def backoffice():
    staff, refusal = _staff()
    if refusal:
        return refusal
    pending = RegistrationService(db.session).search(status="pending", offset=0, limit=100)
    return render_template("web/backoffice.html", requests=pending.items, total=pending.total)


@bp.route("/backoffice/registrations/<uuid:registration_id>", methods=["GET", "POST"])
def backoffice_registration(registration_id: uuid.UUID):
    staff, refusal = _staff()
    if refusal:
        return refusal
    registrations = RegistrationService(db.session)
    organizations = OrganizationService(db.session)
    try:
        registration = registrations.get(registration_id)
    except GatehouseError as error:
        return render_template("message.html", title=translate(error.title),
                               message=error_text(error)), error.status
    applicant = registrations.users.get(registration.user_id)
    company_name = registration.company.get("companyName", "")
    candidates = organizations.search(query=company_name[:20] or None, status=None,
                                      offset=0, limit=20).items
    approve, reject = ApprovalForm(prefix="approve"), RejectionForm(prefix="reject")
    approve.organization.choices = [("new", _("Create “%(name)s”", name=company_name))] + [
        (str(o.id), _("%(name)s (%(customer_number)s, %(status)s)", name=o.name,
                      customer_number=o.external_id or _("no customer number"), status=o.status))
        for o in candidates]
    approve.role.choices = [(r.name, r.display_name) for r in organizations.roles()]
    if request.method == "GET" and registration.template_name:
        template = registrations.template(registration.template_name)
        approve.role.data = template.role_name
    message, status = None, 200
    decided_by = f"staff:{staff.email}"
    try:
        if request.form.get("decision") == "approve" and approve.validate_on_submit():
            choice = approve.organization.data
            registrations.approve(registration, decided_by=decided_by, role=approve.role.data,
                                  organization_id=None if choice == "new" else uuid.UUID(choice))
            return redirect(url_for("web_pages.backoffice"), code=303)
        if request.form.get("decision") == "reject" and reject.validate_on_submit():
            registrations.reject(registration, decided_by=decided_by,
                                 reason=reject.reason.data or None)
            return redirect(url_for("web_pages.backoffice"), code=303)
        if request.method == "POST":
            status = 400
    except GatehouseError as error:
        message, status = error_text(error), error.status
    return render_template("web/registration.html", registration=registration,
                           applicant=applicant, approve=approve, reject=reject,
                           message=message), status

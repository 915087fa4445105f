"""B2B registration flows: templates, company registrations from the page or the shop's own
form, and their approval (by the ERP through the API, or by back-office staff)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from app.db import Page, paginate, utcnow
from app.events.services import EventLog
from app.mail.services import MailService
from app.oidc.models import Client
from app.oidc.services import ClientService
from app.organizations import errors
from app.organizations.models import (
    Organization, RegistrationRequest, RegistrationTemplate,
)
from app.organizations.services import OrganizationService
from app.users.models import User
from app.users.services import UserService

CONSUMER = RegistrationTemplate(name="consumer", display_name="Consumer", flow="consumer",
                                fields=[], is_default=True)
APPROVAL_FLOWS = ("erpApproval", "backofficeApproval")


def _address(company: dict) -> dict | None:
    if not (company.get("street") and company.get("postalCode") and company.get("city")
            and company.get("country")):
        return None
    return {"name": company.get("companyName"), "street": company["street"],
            "postal_code": company["postalCode"], "city": company["city"],
            "country": company["country"], "phone_number": company.get("phoneNumber")}


class RegistrationService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.events = EventLog(session)
        self.organizations = OrganizationService(session)
        self.users = UserService(session)

    # --- templates -------------------------------------------------------------------------

    def template(self, name: str) -> RegistrationTemplate:
        template = self.session.get(RegistrationTemplate, name)
        if template is None:
            raise errors.UnknownTemplate(f"no registration template {name!r}")
        return template

    def template_for(self, client: Client | None, requested: str | None) -> RegistrationTemplate:
        """The template the registration page runs: the one the request names (if the client
        allows choosing), else the client's, else the default."""
        if requested and client is not None and client.allow_template_choice:
            return self.template(requested)
        if client is not None and client.registration_template:
            return self.template(client.registration_template)
        default = self.session.scalar(sa.select(RegistrationTemplate)
                                      .where(RegistrationTemplate.is_default))
        return default or CONSUMER

    # --- registering -----------------------------------------------------------------------

    def register_company(self, user: User, template: RegistrationTemplate, company: dict, *,
                         source: str, client_id: str | None = None,
                         redirect_uri: str | None = None) -> Organization | RegistrationRequest:
        """The company part of a registration: an organization at once (complete flow), or a
        request waiting for approval."""
        if template.flow == "complete":
            organization = self.organizations.create({
                "name": company["companyName"], "vat_number": company.get("vatNumber"),
                "payment_mode": template.payment_mode})
            if (address := _address(company)) is not None:
                self.organizations.add_address(organization, address)
            self.organizations.add_member(organization, user.id, template.role_name)
            return organization
        request = RegistrationRequest(
            user_id=user.id, template_name=template.name, flow=template.flow, company=company,
            source=source, client_id=client_id, redirect_uri=redirect_uri)
        self.session.add(request)
        self.session.flush()
        self.events.record("registration.submitted", request.id, user_id=str(user.id),
                           flow=template.flow, company_name=company.get("companyName"))
        return request

    def submit(self, data: dict, *, client_id: str) -> RegistrationRequest:
        """The shop collected the data in its own form: a user without a password, waiting."""
        template = self.template(data["template"]) if data.get("template") else next(
            (t for t in self.templates() if t.flow == "erpApproval"), None)
        if template is None or template.flow not in APPROVAL_FLOWS:
            raise errors.UnknownTemplate("submitted registrations need an approval template",
                                         errors={"template": ["Use an approval template."]})
        if data.get("redirect_uri"):
            ClientService(self.session).require_redirect_uri(client_id, data["redirect_uri"],
                                                             "redirectUri")
        user = self.users.create(email=data["email"], first_name=data["first_name"],
                                 last_name=data["last_name"], locale=data.get("locale"),
                                 phone_number=data.get("phone_number"),
                                 status="pendingApproval")
        return self.register_company(user, template, data["company"], source="api",
                                     client_id=client_id, redirect_uri=data.get("redirect_uri"))

    def templates(self) -> list[RegistrationTemplate]:
        return list(self.session.scalars(sa.select(RegistrationTemplate)
                                         .order_by(RegistrationTemplate.name)))

    # --- deciding --------------------------------------------------------------------------

    def get(self, request_id: uuid.UUID) -> RegistrationRequest:
        request = self.session.get(RegistrationRequest, request_id)
        if request is None:
            raise errors.RegistrationNotFound(f"no registration request {request_id}")
        return request

    def search(self, *, status: str | None, offset: int, limit: int) -> Page:
        condition = RegistrationRequest.status == status if status else sa.true()
        return paginate(self.session, sa.select(RegistrationRequest).where(condition)
                        .order_by(RegistrationRequest.created_at, RegistrationRequest.id),
                        offset, limit)

    def _claim(self, request: RegistrationRequest, status: str, decided_by: str) -> None:
        """Decide once: a conditional update, so two approvers racing cannot both win."""
        decided = self.session.execute(
            sa.update(RegistrationRequest)
            .where(RegistrationRequest.id == request.id, RegistrationRequest.status == "pending")
            .values(status=status, decided_at=utcnow(), decided_by=decided_by)
        ).rowcount
        if not decided:
            raise errors.RegistrationNotPending(f"the request is {request.status} already")
        self.session.refresh(request)

    def approve(self, request: RegistrationRequest, *, decided_by: str,
                organization_id: uuid.UUID | None = None, organization: dict | None = None,
                role: str | None = None) -> RegistrationRequest:
        """Link the user to an existing organization, or to one created from `organization`
        (with its addresses); the user may then sign in (or gets their activation mail)."""
        if request.status != "pending":
            raise errors.RegistrationNotPending(f"the request is {request.status} already")
        if organization_id is not None:
            target = self.organizations.get(organization_id)
            if target.status == "blocked":
                raise errors.OrganizationBlocked(f"{target.name} is blocked")
        else:
            data = dict(organization or {})
            addresses = data.pop("addresses", None)
            if not data.get("name"):
                data["name"] = request.company.get("companyName") or "Unnamed organization"
            data.setdefault("vat_number", request.company.get("vatNumber"))
            if request.company.get("customerNumber"):
                data.setdefault("external_id", request.company["customerNumber"])
            template = self.session.get(RegistrationTemplate, request.template_name or "")
            data.setdefault("payment_mode", template.payment_mode if template else None)
            target = self.organizations.create(data)
            for address in addresses if addresses is not None else [_address(request.company)]:
                if address:
                    self.organizations.add_address(target, address)
        self._claim(request, "approved", decided_by)
        request.organization_id = target.id
        template = self.session.get(RegistrationTemplate, request.template_name or "")
        self.organizations.add_member(target, request.user_id,
                                      role or (template.role_name if template else None))
        user = self.users.get(request.user_id)
        if user.password_hash:
            user.status = "active"
            user.activated_at = utcnow()
            MailService(self.session).enqueue(
                to=user.email, template="registration_approved", locale=user.locale,
                user_id=user.id,
                context={"first_name": user.first_name, "organization": target.name,
                         "login_link": current_app.config["ISSUER"] + "/user/login"})
        else:
            # Submitted through the shop's form: the activation mail is the good news.
            user.status = "pendingActivation"
            self.users.send_activation_email(user, request.redirect_uri)
        self.events.record("registration.approved", request.id, user_id=str(user.id),
                           organization_id=str(target.id))
        if user.status == "active":
            self.events.record("user.activated", user.id, email=user.email)
        return request

    def reject(self, request: RegistrationRequest, *, decided_by: str,
               reason: str | None) -> RegistrationRequest:
        self._claim(request, "rejected", decided_by)
        request.reason = reason
        user = self.users.get(request.user_id)
        user.status = "rejected"
        MailService(self.session).enqueue(
            to=user.email, template="registration_rejected", locale=user.locale, user_id=user.id,
            context={"first_name": user.first_name, "reason": reason,
                     "company": request.company.get("companyName")})
        self.events.record("registration.rejected", request.id, user_id=str(user.id),
                           reason=reason)
        return request

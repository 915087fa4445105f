"""Identity Management API: organizations (B2B customers), their addresses and members."""

import uuid

from flask import url_for
from flask.views import MethodView

from app.api import Blueprint
from app.db import db
from app.errors import Forbidden
from app.idempotency import idempotent
from app.oidc.bearer import current_principal, require_scopes
from app.organizations.registrations import RegistrationService
from app.organizations.schemas import (
    AddressSchema, AddressUpdateSchema, ApprovalSchema, CompanySchema, EmployeeSchema,
    MemberSchema,
    MemberUpdateSchema, OrganizationPageSchema, OrganizationQueryArgsSchema, OrganizationSchema,
    OrganizationUpdateSchema, OrganizationUpsertSchema, RegistrationPageSchema,
    RegistrationQueryArgsSchema, RegistrationSchema, RegistrationTemplateSchema, RejectionSchema,
    RoleSchema,
)
from app.organizations.services import OrganizationService, Supervision
from app.users.services import UserService

blp = Blueprint("organizations", __name__, url_prefix="/api/idp/v1",
                description="Organizations (B2B customers): the ERP's customer number as "
                            "`externalId`, addresses, members and their roles.")
SCOPE = "idp:organizations"


def service() -> OrganizationService:
    return OrganizationService(db.session)


@blp.route("/organizations")
class Organizations(MethodView):
    @require_scopes(SCOPE)
    @blp.arguments(OrganizationQueryArgsSchema, location="query")
    @blp.response(200, OrganizationPageSchema)
    def get(self, args):
        """Search by name, externalId or VAT number; filter by status."""
        return service().search(query=args.get("query"), status=args.get("status"),
                                offset=args["offset"], limit=args["limit"])

    @require_scopes(SCOPE)
    @blp.arguments(OrganizationSchema)
    @blp.response(201, OrganizationSchema)
    def post(self, data):
        organization = service().create(data)
        return organization, {"Location": url_for("organizations.OrganizationsById",
                                                  organization_id=organization.id)}


@blp.route("/organizations/byExternalId/<string:external_id>")
class OrganizationByExternalId(MethodView):
    @require_scopes(SCOPE)
    @blp.response(200, OrganizationSchema)
    def get(self, external_id):
        return service().get_by_external_id(external_id)

    @require_scopes(SCOPE)
    @blp.arguments(OrganizationUpsertSchema)
    @blp.response(200, OrganizationSchema)
    @blp.alt_response(201, schema=OrganizationSchema, description="Created")
    def put(self, data, external_id):
        """The ERP's idempotent upsert: create the organization with this customer number, or
        update it. 201 when created, 200 when updated."""
        organization, created = service().upsert_by_external_id(external_id, data)
        return organization, 201 if created else 200


@blp.route("/organizations/<uuid:organization_id>")
class OrganizationsById(MethodView):
    @require_scopes(SCOPE)
    @blp.response(200, OrganizationSchema)
    def get(self, organization_id):
        return service().get(organization_id)

    @require_scopes(SCOPE)
    @blp.arguments(OrganizationUpdateSchema)
    @blp.response(200, OrganizationSchema)
    def patch(self, data, organization_id):
        """Change fields, including `externalId` (unique) and `status` (`blocked` stops
        approvals and orders)."""
        organizations = service()
        return organizations.update(organizations.get(organization_id), data)

    @require_scopes(SCOPE)
    @blp.response(204)
    def delete(self, organization_id):
        organizations = service()
        organizations.delete(organizations.get(organization_id))


@blp.route("/organizations/<uuid:organization_id>/addresses")
class Addresses(MethodView):
    @require_scopes(SCOPE)
    @blp.response(200, AddressSchema(many=True))
    def get(self, organization_id):
        organizations = service()
        return organizations.addresses(organizations.get(organization_id))

    @require_scopes(SCOPE)
    @blp.arguments(AddressSchema)
    @blp.response(201, AddressSchema)
    def post(self, data, organization_id):
        """Add an address; the first invoice (delivery) address becomes the default one."""
        organizations = service()
        return organizations.add_address(organizations.get(organization_id), data)


@blp.route("/organizations/<uuid:organization_id>/addresses/<uuid:address_id>")
class AddressesById(MethodView):
    @require_scopes(SCOPE)
    @blp.response(200, AddressSchema)
    def get(self, organization_id, address_id):
        organizations = service()
        return organizations.address(organizations.get(organization_id), address_id)

    @require_scopes(SCOPE)
    @blp.arguments(AddressUpdateSchema)
    @blp.response(200, AddressSchema)
    def patch(self, data, organization_id, address_id):
        organizations = service()
        organization = organizations.get(organization_id)
        return organizations.update_address(
            organization, organizations.address(organization, address_id), data)

    @require_scopes(SCOPE)
    @blp.response(204)
    def delete(self, organization_id, address_id):
        organizations = service()
        organization = organizations.get(organization_id)
        organizations.delete_address(organization, organizations.address(organization,
                                                                         address_id))


def _supervision(organization_id) -> Supervision | None:
    """For a user's token: their supervision of this organization (404 for any other one, as
    if it did not exist). For a client's token (scope checked already): None."""
    principal = current_principal()
    if not principal.is_user:
        return None
    supervision = Supervision(db.session, UserService(db.session).get(uuid.UUID(principal.sub)))
    supervision.own(organization_id)
    return supervision


MEMBERS_DOC = ("Clients need `idp:organizations`; a supervisor's own token (role with "
               "`canManageUsers`) reaches their own organization's members, and only those.")


@blp.route("/organizations/<uuid:organization_id>/members")
class Members(MethodView):
    @require_scopes(SCOPE, or_user=True)
    @blp.response(200, MemberSchema(many=True))
    @blp.doc(description=MEMBERS_DOC)
    def get(self, organization_id):
        if (supervision := _supervision(organization_id)) is not None:
            return supervision.employees(organization_id)
        organizations = service()
        return organizations.members(organizations.get(organization_id))

    @require_scopes(SCOPE)
    @blp.arguments(MemberSchema)
    @blp.response(201, MemberSchema)
    def post(self, data, organization_id):
        """Add a user to the organization with a role (or change an existing member's)."""
        organizations = service()
        return organizations.add_member(organizations.get(organization_id), data["user_id"],
                                        data.get("role_name"), make_default=data["is_default"])


@blp.route("/organizations/<uuid:organization_id>/employees")
class Employees(MethodView):
    @require_scopes(or_user=True)
    @blp.arguments(EmployeeSchema)
    @blp.response(201, MemberSchema)
    def post(self, data, organization_id):
        """A supervisor creates an employee account in their own organization (with a role no
        stronger than their own); the employee gets an activation email."""
        supervision = _supervision(organization_id)
        if supervision is None:
            raise Forbidden("only a supervisor's own token creates employees; clients use "
                            "POST /users and POST …/members")
        user = supervision.create_employee(
            organization_id, email=data["email"], first_name=data["first_name"],
            last_name=data["last_name"], role_name=data["role_name"])
        return service().membership(organization_id, user.id)


@blp.route("/organizations/<uuid:organization_id>/members/<uuid:user_id>")
class MembersById(MethodView):
    @require_scopes(SCOPE, or_user=True)
    @blp.arguments(MemberUpdateSchema)
    @blp.response(200, MemberSchema)
    @blp.doc(description=MEMBERS_DOC)
    def patch(self, data, organization_id, user_id):
        """Change a member's role."""
        if (supervision := _supervision(organization_id)) is not None:
            return supervision.change_role(organization_id, user_id, data["role_name"])
        organizations = service()
        organization = organizations.get(organization_id)
        organizations.member(organization, user_id)
        return organizations.add_member(organization, user_id, data["role_name"])

    @require_scopes(SCOPE)
    @blp.response(204)
    def delete(self, organization_id, user_id):
        organizations = service()
        organizations.remove_member(organizations.get(organization_id), user_id)


@blp.route("/organizations/<uuid:organization_id>/members/<uuid:user_id>/<any(deactivate, reactivate):action>")
class MemberActivation(MethodView):
    @require_scopes(SCOPE, or_user=True)
    @blp.response(200, MemberSchema)
    @blp.doc(description=MEMBERS_DOC)
    def post(self, organization_id, user_id, action):
        """Suspend (`deactivate`) or re-activate a member's account."""
        active = action == "reactivate"
        if (supervision := _supervision(organization_id)) is not None:
            supervision.set_active(organization_id, user_id, active)
        else:
            organizations = service()
            membership = organizations.member(organizations.get(organization_id), user_id)
            users = UserService(db.session)
            status = "active" if active else "suspended"
            if membership.user.status in ("active", "suspended"):
                users.update(membership.user, {"status": status})
        return service().membership(organization_id, user_id)


@blp.route("/roles")
class Roles(MethodView):
    @require_scopes(SCOPE)
    @blp.response(200, RoleSchema(many=True))
    def get(self):
        """Roles and their permissions, weakest first (`rank`)."""
        return service().roles()


@blp.route("/roles/<string:name>")
class RolesByName(MethodView):
    @require_scopes(SCOPE)
    @blp.arguments(RoleSchema)
    @blp.response(200, RoleSchema)
    def put(self, data, name):
        """Create or change a role."""
        return service().put_role(name, data)


# --- registrations (B2B approval flows) ------------------------------------------------------

def registrations() -> RegistrationService:
    return RegistrationService(db.session)


@blp.route("/registrations")
class Registrations(MethodView):
    @require_scopes("idp:registrations")
    @blp.arguments(RegistrationQueryArgsSchema, location="query")
    @blp.response(200, RegistrationPageSchema)
    def get(self, args):
        """Registration requests, oldest first; `status=pending` for the approval queue."""
        return registrations().search(status=args.get("status"), offset=args["offset"],
                                      limit=args["limit"])

    @require_scopes("idp:registrations")
    @idempotent
    @blp.arguments(RegistrationSchema)
    @blp.response(201, RegistrationSchema)
    def post(self, data):
        """A company registration the shop collected in its own form: the user is created
        without a password (`pendingApproval`) and gets an activation mail once approved."""
        data["company"] = CompanySchema().dump(data.pop("company_data"))
        data["template"] = data.pop("template_name", None)
        request = registrations().submit(data, client_id=current_principal().client_id)
        return request, {"Location": url_for("organizations.RegistrationsById",
                                             registration_id=request.id)}


@blp.route("/registrations/<uuid:registration_id>")
class RegistrationsById(MethodView):
    @require_scopes("idp:registrations")
    @blp.response(200, RegistrationSchema)
    def get(self, registration_id):
        return registrations().get(registration_id)


@blp.route("/registrations/<uuid:registration_id>/approve")
class RegistrationApproval(MethodView):
    @require_scopes("idp:registrations")
    @blp.arguments(ApprovalSchema)
    @blp.response(200, RegistrationSchema)
    def post(self, data, registration_id):
        """Approve: link the user to `organizationId`, or create `organization` (defaults from
        the registration). The user is mailed and may sign in."""
        service = registrations()
        return service.approve(service.get(registration_id),
                               decided_by=f"client:{current_principal().client_id}",
                               organization_id=data.get("organization_id"),
                               organization=data.get("organization"), role=data.get("role"))


@blp.route("/registrations/<uuid:registration_id>/reject")
class RegistrationRejection(MethodView):
    @require_scopes("idp:registrations")
    @blp.arguments(RejectionSchema)
    @blp.response(200, RegistrationSchema)
    def post(self, data, registration_id):
        """Reject with a reason; the user is mailed and cannot sign in."""
        service = registrations()
        return service.reject(service.get(registration_id),
                              decided_by=f"client:{current_principal().client_id}",
                              reason=data.get("reason"))


@blp.route("/registration-templates")
class RegistrationTemplates(MethodView):
    @require_scopes("idp:registrations", "idp:organizations")
    @blp.response(200, RegistrationTemplateSchema(many=True))
    def get(self):
        """The configured registration templates (flows and the fields they ask for)."""
        return registrations().templates()

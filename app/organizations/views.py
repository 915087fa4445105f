"""Identity Management API: organizations (B2B customers), their addresses and members."""

from flask import url_for
from flask.views import MethodView

from app.api import Blueprint
from app.db import db
from app.idempotency import idempotent
from app.oidc.bearer import current_principal, require_scopes
from app.organizations.registrations import RegistrationService
from app.organizations.schemas import (
    AddressSchema, AddressUpdateSchema, ApprovalSchema, CompanySchema, MemberSchema,
    MemberUpdateSchema, OrganizationPageSchema, OrganizationQueryArgsSchema, OrganizationSchema,
    OrganizationUpdateSchema, OrganizationUpsertSchema, RegistrationPageSchema,
    RegistrationQueryArgsSchema, RegistrationSchema, RegistrationTemplateSchema, RejectionSchema,
    RoleSchema,
)
from app.organizations.services import OrganizationService

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


@blp.route("/organizations/<uuid:organization_id>/members")
class Members(MethodView):
    @require_scopes(SCOPE)
    @blp.response(200, MemberSchema(many=True))
    def get(self, organization_id):
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


@blp.route("/organizations/<uuid:organization_id>/members/<uuid:user_id>")
class MembersById(MethodView):
    @require_scopes(SCOPE)
    @blp.arguments(MemberUpdateSchema)
    @blp.response(200, MemberSchema)
    def patch(self, data, organization_id, user_id):
        organizations = service()
        organization = organizations.get(organization_id)
        organizations.member(organization, user_id)
        return organizations.add_member(organization, user_id, data["role_name"])

    @require_scopes(SCOPE)
    @blp.response(204)
    def delete(self, organization_id, user_id):
        organizations = service()
        organizations.remove_member(organizations.get(organization_id), user_id)


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

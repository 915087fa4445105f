"""Wire shapes of the organizations API."""

from marshmallow import ValidationError, fields, validate

from app.api import Email, PageArgsSchema, PageSchema, Schema
from app.organizations.countries import COUNTRY_CODES
from app.organizations.models import ORGANIZATION_STATUSES, PERMISSIONS
from app.users.schemas import LOCALE, PHONE, Name

PAYMENT_MODES = ("payDirectly", "onAccount")


class Country(fields.String):
    """ISO 3166-1 alpha-2, stored upper-case."""

    def _deserialize(self, value, attr, data, **kwargs):
        code = super()._deserialize(value, attr, data, **kwargs).strip().upper()
        if code not in COUNTRY_CODES:
            raise ValidationError("Use an ISO 3166-1 alpha-2 code such as FI, DE or US.")
        return code


class OrganizationSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = Name(200, required=True)
    external_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=100))
    vat_number = fields.String(allow_none=True, validate=validate.Length(max=40))
    status = fields.String(validate=validate.OneOf(ORGANIZATION_STATUSES))
    payment_mode = fields.String(allow_none=True, validate=validate.OneOf(PAYMENT_MODES))
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class OrganizationUpdateSchema(OrganizationSchema):
    name = Name(200)


class OrganizationUpsertSchema(OrganizationSchema):
    """PUT byExternalId: the externalId is the path's."""

    class Meta(OrganizationSchema.Meta):
        exclude = ("external_id",)


class OrganizationQueryArgsSchema(PageArgsSchema):
    query = fields.String(validate=validate.Length(max=200))
    status = fields.String(validate=validate.OneOf(ORGANIZATION_STATUSES))


class OrganizationPageSchema(PageSchema):
    items = fields.List(fields.Nested(OrganizationSchema))


class AddressSchema(Schema):
    id = fields.UUID(dump_only=True)
    external_id = fields.String(allow_none=True, validate=validate.Length(max=100))
    name = fields.String(allow_none=True, validate=validate.Length(max=200))
    street = Name(200, required=True)
    street2 = fields.String(allow_none=True, validate=validate.Length(max=200))
    postal_code = Name(20, required=True)
    city = Name(100, required=True)
    region = fields.String(allow_none=True, validate=validate.Length(max=100))
    country = Country(required=True, metadata={"description": "ISO 3166-1 alpha-2"})
    phone_number = fields.String(allow_none=True, validate=PHONE)
    is_invoice = fields.Boolean(load_default=True)
    is_delivery = fields.Boolean(load_default=True)
    is_default_invoice = fields.Boolean(load_default=False)
    is_default_delivery = fields.Boolean(load_default=False)


class AddressUpdateSchema(AddressSchema):
    street = Name(200)
    postal_code = Name(20)
    city = Name(100)
    country = Country()
    is_invoice = fields.Boolean()
    is_delivery = fields.Boolean()
    is_default_invoice = fields.Boolean()
    is_default_delivery = fields.Boolean()


class MemberSchema(Schema):
    user_id = fields.UUID(required=True)
    role = fields.String(attribute="role_name", validate=validate.Length(min=1, max=64))
    is_default = fields.Boolean(load_default=False)
    email = fields.String(dump_only=True, attribute="user.email")
    first_name = fields.String(dump_only=True, attribute="user.first_name")
    last_name = fields.String(dump_only=True, attribute="user.last_name")
    status = fields.String(dump_only=True, attribute="user.status")
    created_at = fields.DateTime(dump_only=True)


class EmployeeSchema(Schema):
    email = Email(required=True)
    first_name = Name(100, required=True)
    last_name = Name(100, required=True)
    role = fields.String(attribute="role_name", required=True,
                         validate=validate.Length(min=1, max=64))


class MemberUpdateSchema(Schema):
    role = fields.String(attribute="role_name", required=True,
                         validate=validate.Length(min=1, max=64))


class RoleSchema(Schema):
    name = fields.String(dump_only=True)
    display_name = Name(200, required=True)
    rank = fields.Integer(required=True, validate=validate.Range(min=0, max=1000))
    permissions = fields.List(fields.String(validate=validate.OneOf(PERMISSIONS)),
                              required=True)


class CompanySchema(Schema):
    """Company data as a registration collects it (the template decides which fields)."""

    company_name = Name(200, required=True)
    vat_number = fields.String(validate=validate.Length(max=40))
    customer_number = fields.String(validate=validate.Length(max=100))
    street = fields.String(validate=validate.Length(max=200))
    postal_code = fields.String(validate=validate.Length(max=20))
    city = fields.String(validate=validate.Length(max=100))
    country = Country()
    phone_number = fields.String(validate=PHONE)


class RegistrationSchema(Schema):
    id = fields.UUID(dump_only=True)
    user_id = fields.UUID(dump_only=True)
    email = Email(required=True, load_only=True)
    first_name = Name(100, required=True, load_only=True)
    last_name = Name(100, required=True, load_only=True)
    locale = fields.String(load_only=True, validate=LOCALE)
    phone_number = fields.String(load_only=True, validate=PHONE)
    template = fields.String(attribute="template_name", validate=validate.Length(max=64))
    redirect_uri = fields.String(validate=validate.Length(max=2000), allow_none=True)
    company = fields.Dict(dump_only=True)
    company_data = fields.Nested(CompanySchema, required=True, load_only=True, data_key="company")
    flow = fields.String(dump_only=True)
    status = fields.String(dump_only=True)
    source = fields.String(dump_only=True)
    reason = fields.String(dump_only=True, allow_none=True)
    organization_id = fields.UUID(dump_only=True, allow_none=True)
    decided_at = fields.DateTime(dump_only=True, allow_none=True)
    decided_by = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class RegistrationQueryArgsSchema(PageArgsSchema):
    status = fields.String(validate=validate.OneOf(("pending", "approved", "rejected")))


class RegistrationPageSchema(PageSchema):
    items = fields.List(fields.Nested(RegistrationSchema))


class NewOrganizationSchema(OrganizationSchema):
    name = Name(200)
    addresses = fields.List(fields.Nested(AddressSchema), load_only=True)


class ApprovalSchema(Schema):
    organization_id = fields.UUID(metadata={"description": "Link to this organization..."})
    organization = fields.Nested(NewOrganizationSchema,
                                 metadata={"description": "...or create this one (defaults "
                                                          "from the registration's data)."})
    role = fields.String(validate=validate.Length(min=1, max=64))


class RejectionSchema(Schema):
    reason = fields.String(validate=validate.Length(max=2000), allow_none=True)


class RegistrationTemplateSchema(Schema):
    name = fields.String()
    display_name = fields.String()
    flow = fields.String()
    role = fields.String(attribute="role_name", allow_none=True)
    payment_mode = fields.String(allow_none=True)
    fields_ = fields.List(fields.String(), attribute="fields", data_key="fields")
    is_default = fields.Boolean()

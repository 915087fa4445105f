"""Wire shapes of the invitations API."""

from marshmallow import fields, validate

from app.api import Email, PageArgsSchema, PageSchema, Schema
from app.invitations.models import STATUSES
from app.users.schemas import LOCALE


class InvitationSchema(Schema):
    id = fields.UUID(dump_only=True)
    email = Email(required=True)
    organization_id = fields.UUID(allow_none=True)
    role = fields.String(attribute="role_name", allow_none=True, validate=validate.Length(max=64))
    redirect_uri = fields.String(allow_none=True, validate=validate.Length(max=2000))
    valid_until = fields.AwareDateTime(default_timezone=None)
    locale = fields.String(allow_none=True, validate=LOCALE)
    message = fields.String(allow_none=True, validate=validate.Length(max=2000))
    status = fields.String(dump_only=True, attribute="effective_status")
    sent_count = fields.Integer(dump_only=True)
    last_sent_at = fields.DateTime(dump_only=True, allow_none=True)
    answered_at = fields.DateTime(dump_only=True, allow_none=True)
    accepted_user_id = fields.UUID(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class InvitationQueryArgsSchema(PageArgsSchema):
    email = Email()
    status = fields.String(validate=validate.OneOf(STATUSES))
    organization_id = fields.UUID()


class InvitationPageSchema(PageSchema):
    items = fields.List(fields.Nested(InvitationSchema))

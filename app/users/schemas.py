"""Wire shapes of the users API (camelCase, unknown fields rejected)."""

from marshmallow import fields, validate

from app.api import Email, PageArgsSchema, PageSchema, Schema
from app.users.models import STATUSES

LOCALE = validate.Regexp(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
                         error="Use a language tag such as en, fi or en-GB.")
PHONE = validate.Regexp(r"^\+?[0-9][0-9 ()./-]{2,38}$", error="Not a valid phone number.")


class Name(fields.String):
    """Text that must say something: trimmed, and not empty once trimmed."""

    def __init__(self, max_length: int, **kwargs):
        super().__init__(validate=validate.Length(min=1, max=max_length), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


class MailStateSchema(Schema):
    id = fields.UUID(dump_only=True)
    status = fields.String(dump_only=True, metadata={"description": "pending, sent or failed"})
    attempts = fields.Integer(dump_only=True)
    last_error = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    sent_at = fields.DateTime(dump_only=True, allow_none=True)


class UserSchema(Schema):
    id = fields.UUID(dump_only=True)
    email = Email(required=True)
    first_name = Name(100, required=True)
    last_name = Name(100, required=True)
    display_name = Name(200, allow_none=True)
    phone_number = fields.String(validate=PHONE, allow_none=True)
    locale = fields.String(validate=LOCALE, allow_none=True)
    status = fields.String(dump_only=True, validate=validate.OneOf(STATUSES))
    email_verified = fields.Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class UserDetailSchema(UserSchema):
    activation_email = fields.Nested(
        MailStateSchema, dump_only=True, allow_none=True,
        metadata={"description": "Delivery of the latest activation email, if one was sent."})


class UserCreateArgsSchema(Schema):
    send_activation_email = fields.Boolean(load_default=False)
    activation_redirect_uri = fields.String(validate=validate.Length(max=2000))


class UserUpdateSchema(Schema):
    email = Email()
    first_name = Name(100)
    last_name = Name(100)
    display_name = Name(200, allow_none=True)
    phone_number = fields.String(validate=PHONE, allow_none=True)
    locale = fields.String(validate=LOCALE, allow_none=True)
    status = fields.String(validate=validate.OneOf(("active", "suspended")))


class UserByEmailSchema(Schema):
    email = Email(required=True)


class UserQueryArgsSchema(PageArgsSchema):
    query = fields.String(validate=validate.Length(max=200))
    status = fields.String(validate=validate.OneOf(STATUSES))


class UserPageSchema(PageSchema):
    items = fields.List(fields.Nested(UserSchema))


class ActivationEmailArgsSchema(Schema):
    activation_redirect_uri = fields.String(validate=validate.Length(max=2000))

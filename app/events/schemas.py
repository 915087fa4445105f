"""Wire shapes of the events API: the feed, webhook subscriptions and their deliveries."""

from marshmallow import fields, validate

from app.api import PageArgsSchema, PageSchema, Schema
from app.events.models import URL_MAX_LENGTH, DeliveryStatus

CURSOR = ("An opaque cursor: pass back a `nextCursor` (or an event's `seq`) exactly as "
          "received; do not compute with it.")
TYPE_FILTER = ("Event types: exact (`user.created`) or a prefix (`invitation.*`); repeat the "
               "parameter for several.")


class EventSchema(Schema):
    id = fields.UUID(dump_only=True)
    seq = fields.String(dump_only=True, metadata={
        "description": "This event's position in the feed, as a cursor: `after=<seq>` reads "
                       "what follows it. " + CURSOR})
    type = fields.String(dump_only=True, metadata={"description": "e.g. `user.created`"})
    subject_id = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "The id of what the event is about (a user, an invitation, ...)."})
    data = fields.Dict(dump_only=True)
    client_id = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "The client whose call caused the event, if any."})
    occurred_at = fields.DateTime(dump_only=True)


class EventQueryArgsSchema(Schema):
    after = fields.String(metadata={
        "description": "Return events after this cursor; omit to start at the beginning. "
                       + CURSOR})
    type = fields.List(fields.String(), metadata={"description": TYPE_FILTER})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=100))


class EventPageSchema(Schema):
    items = fields.List(fields.Nested(EventSchema), metadata={
        "description": "Oldest first. Events recorded in the last few seconds are held back "
                       "until they have settled, so that no event is ever skipped."})
    next_cursor = fields.String(metadata={
        "description": "Pass as `after` to poll for what comes next; the given cursor again "
                       "when there is nothing new. " + CURSOR})


class WebhookPayloadSchema(Schema):
    """The body of a delivery (not an API response; see the webhooks tag)."""

    id = fields.UUID(dump_only=True)
    type = fields.String(dump_only=True)
    subject_id = fields.String(dump_only=True, allow_none=True)
    data = fields.Dict(dump_only=True)
    occurred_at = fields.DateTime(dump_only=True)


class WebhookSchema(Schema):
    id = fields.UUID(dump_only=True)
    url = fields.String(required=True, validate=validate.Length(min=1, max=URL_MAX_LENGTH),
                        metadata={"description": "https://…; plain http only for loopback "
                                                 "receivers (development)."})
    event_types = fields.List(fields.String(), load_default=list, metadata={
        "description": "Exact types (`user.created`) or prefixes (`user.*`); empty: every "
                       "event."})
    active = fields.Boolean(load_default=True, metadata={
        "description": "Inactive subscriptions get no new deliveries; pending ones wait."})
    description = fields.String(allow_none=True, validate=validate.Length(max=500))
    client_id = fields.String(dump_only=True, allow_none=True,
                              metadata={"description": "The client that created it."})
    secret_rotated_at = fields.DateTime(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class WebhookWithSecretSchema(WebhookSchema):
    secret = fields.String(dump_only=True, metadata={
        "description": "The signing secret. Shown only in this response: store it now."})


class WebhookUpdateSchema(Schema):
    url = fields.String(validate=validate.Length(min=1, max=URL_MAX_LENGTH))
    event_types = fields.List(fields.String())
    active = fields.Boolean()
    description = fields.String(allow_none=True, validate=validate.Length(max=500))


class WebhookPageSchema(PageSchema):
    items = fields.List(fields.Nested(WebhookSchema))


class DeliverySchema(Schema):
    id = fields.UUID(dump_only=True)
    event_id = fields.UUID(dump_only=True, attribute="event.id")
    event_type = fields.String(dump_only=True, attribute="event.type")
    status = fields.String(dump_only=True, metadata={
        "description": "pending (waiting for an attempt, or for an earlier delivery to this "
                       "subscription), delivered (2xx) or failed (out of attempts)"})
    attempts = fields.Integer(dump_only=True)
    response_status = fields.Integer(dump_only=True, allow_none=True, metadata={
        "description": "The receiver's HTTP status on the last attempt; null without one."})
    last_error = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    last_attempt_at = fields.DateTime(dump_only=True, allow_none=True)
    next_attempt_at = fields.DateTime(dump_only=True, allow_none=True, attribute="due_at",
                                      metadata={"description": "While pending: not before."})
    delivered_at = fields.DateTime(dump_only=True, allow_none=True)


class DeliveryQueryArgsSchema(PageArgsSchema):
    status = fields.String(validate=validate.OneOf([s.value for s in DeliveryStatus]))


class DeliveryPageSchema(PageSchema):
    items = fields.List(fields.Nested(DeliverySchema))

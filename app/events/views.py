"""Events API: the event feed and webhook subscriptions (`/api/events/v1`)."""

from flask import url_for
from flask.views import MethodView

from app.api import Blueprint, PageArgsSchema
from app.db import db
from app.events.schemas import (
    DeliveryPageSchema, DeliveryQueryArgsSchema, EventPageSchema, EventQueryArgsSchema,
    WebhookPageSchema, WebhookSchema, WebhookUpdateSchema, WebhookWithSecretSchema,
)
from app.events.services import EventFeed, WebhookService
from app.oidc.bearer import current_principal, require_scopes

blp = Blueprint(
    "events", __name__, url_prefix="/api/events/v1",
    description=(
        "The event log, pollable with a cursor, and webhooks that deliver it. A delivery is a "
        "POST of `{id, type, subjectId, data, occurredAt}` with the headers `Gatehouse-Event-Id`, "
        "`Gatehouse-Event-Type`, `Gatehouse-Timestamp` and `Gatehouse-Signature: "
        "t=<timestamp>,v1=<hex HMAC-SHA256 of \"<timestamp>.<body>\" keyed with the secret>`; "
        "reject a stale timestamp. Any 2xx answer is success; anything else (or no answer "
        "within 10 s) is retried with backoff. Deliveries to one subscription arrive in event "
        "order: one that keeps failing holds back the later ones until it succeeds or fails "
        "for good."
    ),
)


def webhooks() -> WebhookService:
    return WebhookService(db.session)


@blp.route("/events")
class Events(MethodView):
    @require_scopes("events:read")
    @blp.arguments(EventQueryArgsSchema, location="query")
    @blp.response(200, EventPageSchema)
    def get(self, args):
        """Events after a cursor, oldest first; filter by type or type prefix."""
        return EventFeed(db.session).read(after=args.get("after"), types=args.get("type", ()),
                                          limit=args["limit"])


@blp.route("/webhooks")
class Webhooks(MethodView):
    @require_scopes("webhooks:manage")
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, WebhookPageSchema)
    def get(self, args):
        """Webhook subscriptions, oldest first; their secrets are never shown again."""
        return webhooks().search(offset=args["offset"], limit=args["limit"])

    @require_scopes("webhooks:manage")
    @blp.arguments(WebhookSchema)
    @blp.response(201, WebhookWithSecretSchema)
    def post(self, data):
        """Subscribe a URL to events. The response carries the signing `secret`, once.

        Events recorded from now on are delivered (on other instances of the service, from at
        most 5 seconds from now: each keeps its list of subscriptions that long).
        """
        subscription = webhooks().create(data, client_id=current_principal().client_id)
        return subscription, {"Location": url_for("events.WebhooksById",
                                                  webhook_id=subscription.id)}


@blp.route("/webhooks/<uuid:webhook_id>")
class WebhooksById(MethodView):
    @require_scopes("webhooks:manage")
    @blp.response(200, WebhookSchema)
    def get(self, webhook_id):
        return webhooks().get(webhook_id)

    @require_scopes("webhooks:manage")
    @blp.arguments(WebhookUpdateSchema)
    @blp.response(200, WebhookSchema)
    def patch(self, data, webhook_id):
        """Change the URL (pending deliveries follow it), the types, `active` (false pauses
        delivery) or the description."""
        service = webhooks()
        return service.update(service.get(webhook_id), data)

    @require_scopes("webhooks:manage")
    @blp.response(204)
    def delete(self, webhook_id):
        """Delete the subscription; its pending deliveries are dropped."""
        service = webhooks()
        service.delete(service.get(webhook_id))


@blp.route("/webhooks/<uuid:webhook_id>/rotate-secret")
class WebhookSecretRotation(MethodView):
    @require_scopes("webhooks:manage")
    @blp.response(200, WebhookWithSecretSchema)
    def post(self, webhook_id):
        """Replace the signing secret; the new one is in the response, once, and the old one
        stops signing at once."""
        service = webhooks()
        return service.rotate_secret(service.get(webhook_id))


@blp.route("/webhooks/<uuid:webhook_id>/deliveries")
class WebhookDeliveries(MethodView):
    @require_scopes("webhooks:manage")
    @blp.arguments(DeliveryQueryArgsSchema, location="query")
    @blp.response(200, DeliveryPageSchema)
    def get(self, args, webhook_id):
        """Deliveries to this subscription, newest event first; filter by `status`."""
        service = webhooks()
        return service.deliveries(service.get(webhook_id), status=args.get("status"),
                                  offset=args["offset"], limit=args["limit"])

"""What can go wrong with the event feed and webhook subscriptions."""

from app.errors import NotFound, Unprocessable


class WebhookNotFound(NotFound):
    code = "webhook.not_found"
    title = "Webhook subscription not found"


class InvalidWebhookUrl(Unprocessable):
    code = "webhook.invalid_url"
    title = "The webhook URL is not acceptable"


class InvalidEventType(Unprocessable):
    code = "event.invalid_type"
    title = "Not an event type or type prefix"


class InvalidCursor(Unprocessable):
    code = "event.invalid_cursor"
    title = "Not a cursor this feed handed out"

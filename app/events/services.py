"""Recording events. Reading them (the feed) and webhooks come with the events API."""

from __future__ import annotations

from flask import g, has_request_context
from sqlalchemy.orm import Session

from app.events.models import Event


class EventLog:
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, type: str, subject_id: object = None, **data: object) -> Event:
        """Append an event; it exists exactly when the caller's transaction commits."""
        principal = g.get("principal") if has_request_context() else None
        event = Event(
            type=type,
            subject_id=str(subject_id) if subject_id is not None else None,
            data={key: value for key, value in data.items() if value is not None},
            client_id=principal.client_id if principal else None,
        )
        self.session.add(event)
        return event

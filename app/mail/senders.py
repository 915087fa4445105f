"""Senders hand one outbox message to the outside world: an SMTP server, or `.eml` files in a
folder (the embedded default). MAIL_URL chooses; see make_sender."""

from __future__ import annotations

import base64
import os
import smtplib
import ssl
import tempfile
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from app.mail.models import OutboxMessage

SMTP_TIMEOUT = 10.0  # seconds per socket operation; a hung server must not hold a claim for long
DEFAULT_PORTS = {"smtp": 25, "smtps": 465}


class DeliveryFailed(Exception):
    """This attempt failed; a later one may succeed. The text is safe to store and show."""


class PermanentFailure(DeliveryFailed):
    """The server refused the message for good (5xx for every recipient): retrying cannot help."""


class Sender(Protocol):
    def send(self, message: OutboxMessage) -> None:
        """Deliver `message` or raise; returning means the receiving side has taken it."""


def message_id(message: OutboxMessage, mail_from: str) -> str:
    """The same Message-ID on every attempt, so a receiver can drop a duplicate delivery."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "gatehouse.localhost"
    return f"<{message.id}@{domain}>"


def build_email(message: OutboxMessage, mail_from: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = mail_from
    email["To"] = Address(addr_spec=message.recipient)
    email["Subject"] = message.subject
    email["Date"] = format_datetime(message.created_at)
    email["Message-ID"] = message_id(message, mail_from)
    # RFC 3834: out-of-office robots must not answer.
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.text_body)
    email.add_alternative(message.html_body, subtype="html")
    return email


def _explain(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        # The reply as text: str() would show a bytes repr, whose escapes redact() cannot see.
        reply = error.smtp_error
        if isinstance(reply, bytes):
            reply = reply.decode(errors="replace")
        return f"{type(error).__name__}: {error.smtp_code} {reply}"
    return f"{type(error).__name__}: {error}"


class SMTPSender:
    """One connection per message: simple, and nothing stale to recover from between messages."""

    def __init__(self, url: str, mail_from: str, *, timeout: float = SMTP_TIMEOUT,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError("expected smtp://[user:password@]host[:port] or smtps://…")
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or DEFAULT_PORTS[parts.scheme]
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.mail_from = mail_from
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()

    def __repr__(self) -> str:
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}:***@" if self.username else ""
        return f"<SMTPSender {scheme}://{user}{self.host}:{self.port}>"

    def send(self, message: OutboxMessage) -> None:
        email = build_email(message, self.mail_from)
        # Server replies and socket errors can echo what they were given, and the outbox keeps
        # the text: it goes through redact() and the original exception is not chained.
        try:
            self._deliver(email)
        except smtplib.SMTPRecipientsRefused as exc:
            refusals = "; ".join(f"{address}: {code} {reply.decode(errors='replace')}"
                                 for address, (code, reply) in exc.recipients.items())
            if all(code >= 500 for code, _reply in exc.recipients.values()):
                raise PermanentFailure(self.redact(f"recipient refused: {refusals}")) from None
            raise DeliveryFailed(self.redact(f"recipient deferred: {refusals}")) from None
        except Exception as exc:
            raise DeliveryFailed(self.redact(_explain(exc))) from None

    def _deliver(self, email: EmailMessage) -> None:
        if self.implicit_tls:
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                      context=self.ssl_context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            client.ehlo()
            if not self.implicit_tls and client.has_extn("starttls"):
                client.starttls(context=self.ssl_context)
                client.ehlo()
            if self.username is not None:
                client.login(self.username, self.password or "")
            client.send_message(email)
        except BaseException:
            client.close()
            raise
        # The server has accepted the message: a failing goodbye must not make it a retry.
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()

    def redact(self, text: str) -> str:
        """`text` without the password in any form an SMTP exchange could carry it."""
        if not self.password:
            return text
        user = self.username or ""
        secrets = {
            self.password,
            base64.b64encode(self.password.encode()).decode(),  # AUTH LOGIN
            base64.b64encode(f"\0{user}\0{self.password}".encode()).decode(),  # AUTH PLAIN
        }
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


class FileSender:
    """Writes each message as `<created>-<id>.eml`; a retry overwrites the same file."""

    def __init__(self, directory: Path, mail_from: str) -> None:
        self.directory = directory
        self.mail_from = mail_from

    def __repr__(self) -> str:
        return f"<FileSender {self.directory}>"

    def path_for(self, message: OutboxMessage) -> Path:
        return self.directory / f"{message.created_at:%Y%m%dT%H%M%S}-{message.id}.eml"

    def send(self, message: OutboxMessage) -> None:
        data = build_email(message, self.mail_from).as_bytes()
        self.directory.mkdir(parents=True, exist_ok=True)
        # Write a hidden temporary file and rename it into place, so whoever watches the
        # folder never sees half a message.
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path_for(message))
        except BaseException:
            os.unlink(temporary)
            raise


def make_sender(mail_url: str, mail_from: str) -> Sender:
    """The sender MAIL_URL names: `smtp://[user:password@]host[:port]` (STARTTLS whenever the
    server offers it), `smtps://…` (TLS from the first byte) or `file:///dir`."""
    parts = urlsplit(mail_url)
    if parts.scheme == "file":
        return FileSender(Path(url2pathname(parts.path)), mail_from)
    return SMTPSender(mail_url, mail_from)

"""A real SMTP server on loopback (aiosmtpd) for tests that follow mail end to end."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
import ssl
import threading
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

_LINK = re.compile(r"https?://[^\s<>\"']+")


def text_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def html_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    return part.get_content() if part is not None else ""


def first_link(message: EmailMessage | str) -> str:
    """The first http(s) URL in the message's text part (or in the given text)."""
    text = message if isinstance(message, str) else text_body(message)
    found = _LINK.search(text)
    if found is None:
        raise AssertionError(f"no link in:\n{text}")
    return found.group(0).rstrip(".,;)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Handler:
    def __init__(self, server: SMTPTestServer) -> None:
        self.server = server

    async def _pass_gate(self, stage: str) -> None:
        server = self.server
        if server._held_at == stage and not server._gate.is_set():
            server._holding.set()
            await asyncio.get_running_loop().run_in_executor(None, server._gate.wait)

    async def handle_RCPT(self, _server, _session, envelope, address, _options):
        await self._pass_gate("RCPT")
        if address in self.server.refused:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server, _session, envelope):
        parsed = email.message_from_bytes(envelope.original_content or envelope.content,
                                          policy=email.policy.default)
        with self.server._arrived:
            self.server.messages.append(parsed)
            self.server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.server._arrived.notify_all()
        # Held here, the server has the message but the client has not heard so yet.
        await self._pass_gate("DATA")
        return "250 Message accepted for delivery"


class SMTPTestServer:
    """aiosmtpd on 127.0.0.1 collecting what it receives.

    `credentials=(user, password)` requires AUTH; a wrong password is refused with a reply that
    echoes it (a careless server), so tests can prove we never store such a reply verbatim.
    `tls_context` offers STARTTLS (or, with `implicit_tls`, speaks TLS from the first byte).
    """

    def __init__(self, *, port: int | None = None, credentials: tuple[str, str] | None = None,
                 tls_context: ssl.SSLContext | None = None, implicit_tls: bool = False) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.credentials = credentials
        self.tls_context = tls_context
        self.implicit_tls = implicit_tls
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refused: set[str] = set()  # recipients answered with a permanent 550
        self._arrived = threading.Condition()
        self._held_at: str | None = None
        self._gate = threading.Event()
        self._holding = threading.Event()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        scheme = "smtps" if self.implicit_tls else "smtp"
        return f"{scheme}://{self.host}:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        scheme = "smtps" if self.implicit_tls else "smtp"
        return f"{scheme}://{user}:{password}@{self.host}:{self.port}"

    def _authenticate(self, _server, _session, _envelope, _mechanism, data):
        if (isinstance(data, LoginPassword) and self.credentials is not None
                and (data.login.decode(), data.password.decode()) == self.credentials):
            return AuthResult(success=True)
        given = data.password.decode(errors="replace") if isinstance(data, LoginPassword) else "?"
        return AuthResult(success=False, handled=False,
                          message=f"535 5.7.8 Authentication failed for password {given}")

    def start(self) -> SMTPTestServer:
        """Start (or restart, on the same port) the server."""
        options: dict = {}
        if self.credentials is not None:
            # aiosmtpd counts only STARTTLS as TLS; with implicit TLS every byte is encrypted.
            options.update(authenticator=self._authenticate,
                           auth_require_tls=self.tls_context is not None and not self.implicit_tls)
        if self.implicit_tls:
            options["ssl_context"] = self.tls_context
        elif self.tls_context is not None:
            options["tls_context"] = self.tls_context
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port,
                                      **options)
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until start()."""
        self.release()  # a held handler would keep the server's loop from stopping
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def hold(self, stage: str = "RCPT") -> None:
        """Make clients wait at RCPT (before the message is sent) or at DATA (the message is
        received and kept, but the client has not been told), until release()."""
        if stage not in ("RCPT", "DATA"):
            raise ValueError("hold at RCPT or DATA")
        self._gate.clear()
        self._holding.clear()
        self._held_at = stage

    def wait_until_held(self, timeout: float = 10.0) -> None:
        if not self._holding.wait(timeout):
            raise AssertionError(f"no client reached {self._held_at} within {timeout} s")

    def release(self) -> None:
        self._held_at = None
        self._gate.set()

    def clear(self) -> None:
        with self._arrived:
            self.messages.clear()
            self.envelopes.clear()

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[EmailMessage]:
        """Wait until at least `count` messages have arrived; all of them, oldest first."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"expected {count} message(s) within {timeout} s, "
                                     f"got {len(self.messages)}")
            return list(self.messages)

    first_link = staticmethod(first_link)
    text_body = staticmethod(text_body)
    html_body = staticmethod(html_body)


@pytest.fixture
def smtp_server():
    """A server of the test's own; messages arrive as `email.message.EmailMessage` objects.

        def test_activation_mail(app, smtp_server, monkeypatch):
            monkeypatch.setitem(app.config, "MAIL_URL", smtp_server.url)
            ...  # the request that enqueues the mail, then one outbox pass:
            with app.app_context():
                deliver_pending()
            [mail] = smtp_server.wait_for(count=1)
            assert mail["To"] == "ann@example.com"
            client.get(smtp_server.first_link(mail))
    """
    server = SMTPTestServer().start()
    yield server
    server.stop()

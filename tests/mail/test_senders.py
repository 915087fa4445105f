"""Senders: `.eml` files for the embedded setup, SMTP with TLS and login, no leaked passwords."""

from __future__ import annotations

import email
import email.policy
import ipaddress
import ssl
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.mail.senders import FileSender, SMTPSender, make_sender
from tests.smtp_server import SMTPTestServer, first_link, html_body, text_body

PASSWORD = "s3cr3t/p@ss%w0rd"


def test_file_sender_writes_one_parseable_eml_per_message(app, enqueue, stored, tmp_path):
    message = stored(enqueue())
    sender = make_sender((tmp_path / "mail").as_uri(), app.config["MAIL_FROM"])
    assert isinstance(sender, FileSender)

    sender.send(message)
    sender.send(message)  # a retry after a crash replaces the file instead of adding one

    [path] = (tmp_path / "mail").iterdir()  # and no temporary file is left behind
    assert path.name.endswith(f"-{message.id}.eml")
    mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert mail["To"] == "ann@example.com"
    assert mail["Subject"] == "Activate your account"
    assert mail["Message-ID"] == f"<{message.id}@gatehouse.localhost>"
    assert first_link(mail) == "https://gatehouse.test/user/activate/tok-1"
    assert "Choose your password" in html_body(mail)


def test_message_id_uses_the_sender_domain(app, enqueue, stored, smtp_server):
    message = stored(enqueue())
    make_sender(smtp_server.url, "Shop <mail@shop.example>").send(message)
    [mail] = smtp_server.wait_for(count=1)
    assert mail["Message-ID"] == f"<{message.id}@shop.example>"
    assert mail["From"] == "Shop <mail@shop.example>"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (server context, client context trusting it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client = ssl.create_default_context(cafile=str(folder / "cert.pem"))
    return server, client


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["starttls", "smtps"])
def test_smtp_over_tls_with_login(app, enqueue, stored, certificate, implicit_tls):
    server_tls, client_tls = certificate
    # STARTTLS: the server offers AUTH only once the connection is encrypted, so the login
    # proves the upgrade happened. smtps: nothing but TLS gets through at all.
    server = SMTPTestServer(credentials=("gatehouse", PASSWORD), tls_context=server_tls,
                            implicit_tls=implicit_tls).start()
    try:
        url = server.url_with("gatehouse", quote(PASSWORD, safe=""))
        assert url.startswith("smtps://" if implicit_tls else "smtp://")
        sender = SMTPSender(url, app.config["MAIL_FROM"], ssl_context=client_tls)
        sender.send(stored(enqueue()))
        [mail] = server.wait_for(count=1)
        assert "Hello Ann," in text_body(mail)
    finally:
        server.stop()


def test_an_untrusted_certificate_is_refused(app, enqueue, stored, certificate):
    server_tls, _client_tls = certificate
    server = SMTPTestServer(tls_context=server_tls).start()
    try:
        with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
            make_sender(server.url, app.config["MAIL_FROM"]).send(stored(enqueue()))
        assert server.messages == []
    finally:
        server.stop()


def test_last_error_never_contains_the_smtp_password(app, enqueue, stored, deliver):
    # This server echoes a wrong password in its refusal, as careless servers do.
    server = SMTPTestServer(credentials=("gatehouse", "the-right-one")).start()
    try:
        url = server.url_with("gatehouse", quote(PASSWORD, safe=""))
        sender = make_sender(url, app.config["MAIL_FROM"])
        assert PASSWORD not in repr(sender) and quote(PASSWORD, safe="") not in repr(sender)
        refused = enqueue()
        assert deliver(sender=sender).retrying == 1
        error = stored(refused).last_error
        assert "535" in error and "Authentication failed for password ***" in error
        assert PASSWORD not in error

        server.stop()  # and when the server is not even there
        down = enqueue()
        deliver(sender=sender, clock=lambda: stored(refused).next_attempt_at)
        for message_id in (refused, down):
            error = stored(message_id).last_error
            assert error and PASSWORD not in error and quote(PASSWORD, safe="") not in error
    finally:
        server.stop()


def test_the_right_password_logs_in_without_tls_when_the_server_allows_it(
        app, enqueue, stored, deliver):
    server = SMTPTestServer(credentials=("gatehouse", PASSWORD)).start()
    try:
        sender = make_sender(server.url_with("gatehouse", quote(PASSWORD, safe="")),
                             app.config["MAIL_FROM"])
        message_id = enqueue()
        assert deliver(sender=sender).sent == 1
        assert len(server.wait_for(count=1)) == 1
        assert stored(message_id).status == "sent"
    finally:
        server.stop()


def test_unsupported_mail_urls_are_refused():
    with pytest.raises(ValueError):
        SMTPSender("smtp://", "x@example.com")
    with pytest.raises(ValueError):
        SMTPSender("http://mail.example.com", "x@example.com")

"""The shop's "create the customer during purchase" flow through a real SMTP server on loopback:
create → mail arrives → follow the link → choose a password → active, back in the shop."""

from urllib.parse import urlsplit

from app.mail.worker import deliver_pending
from tests.conftest import csrf_from
from tests.smtp_server import first_link, html_body, text_body
from tests.users.test_api import ALICE, SHOP_CALLBACK, USERS, shop  # noqa: F401 (fixture)

PASSWORD = "correct horse battery staple"


def test_activation_email_end_to_end(app, client, shop, smtp_server, monkeypatch):  # noqa: F811
    monkeypatch.setitem(app.config, "MAIL_URL", smtp_server.url)
    created = client.post(f"{USERS}?sendActivationEmail=true&activationRedirectUri="
                          f"{SHOP_CALLBACK}", json=ALICE, headers=shop).get_json()
    assert created["activationEmail"]["status"] == "pending"

    with app.app_context():
        assert deliver_pending().sent == 1
    [mail] = smtp_server.wait_for(1)
    assert mail["To"] == "alice.smith@example.com"
    assert mail["Subject"] == "Activate your account"
    assert "Alice" in text_body(mail) and "/user/activate/" in html_body(mail)
    delivered = client.get(f"{USERS}/{created['id']}", headers=shop).get_json()
    assert delivered["activationEmail"]["status"] == "sent"
    assert delivered["activationEmail"]["sentAt"]

    link = urlsplit(first_link(mail)).path
    page = client.get(link)
    response = client.post(link, data={"csrf_token": csrf_from(page), "password": PASSWORD,
                                       "passwordConfirmation": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == SHOP_CALLBACK
    user = client.get(f"{USERS}/{created['id']}", headers=shop).get_json()
    assert user["status"] == "active" and user["emailVerified"] is True
    with app.app_context():
        assert deliver_pending().total == 0  # nothing sent twice


def test_smtp_down_then_up_delivers_once(app, client, shop, smtp_server, monkeypatch,  # noqa: F811
                                         outbox):
    from datetime import timedelta

    from app.db import utcnow

    monkeypatch.setitem(app.config, "MAIL_URL", smtp_server.url)
    client.post(f"{USERS}?sendActivationEmail=true", json=ALICE, headers=shop)
    smtp_server.stop()
    with app.app_context():
        assert deliver_pending().retrying == 1
    [message] = outbox()
    assert message.status == "pending" and message.attempts == 1 and message.last_error
    smtp_server.start()
    with app.app_context():
        assert deliver_pending().total == 0  # not due yet
        assert deliver_pending(clock=lambda: utcnow() + timedelta(hours=2)).sent == 1
    assert len(smtp_server.wait_for(1)) == 1

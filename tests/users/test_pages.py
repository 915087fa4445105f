"""Activation and password-reset pages, followed from the mailed links."""

import time
import uuid
from unittest import mock
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from app.db import db
from app.users.models import User
from tests.conftest import csrf_from, link_in
from tests.users.test_api import ALICE, SHOP_CALLBACK, USERS, shop  # noqa: F401 (fixture)

GOOD_PASSWORD = "correct horse battery staple"


def path_of(url):
    return urlsplit(url).path


def user_row(app, email="alice.smith@example.com"):
    with app.app_context(), db.transaction() as session:
        return session.scalar(sa.select(User).where(User.email == email))


@pytest.fixture
def activation_link(client, shop, outbox):  # noqa: F811
    client.post(f"{USERS}?sendActivationEmail=true&activationRedirectUri={SHOP_CALLBACK}",
                json=ALICE, headers=shop)
    return path_of(link_in(outbox()[-1].text_body))


def set_password(client, path, password, confirmation=None):
    page = client.get(path)
    return client.post(path, data={"csrf_token": csrf_from(page), "password": password,
                                   "passwordConfirmation": confirmation or password})


def test_activation_sets_password_and_lands_in_the_shop(app, client, activation_link):
    page = client.get(activation_link)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="password"' in html and 'name="passwordConfirmation"' in html
    assert 'autocomplete="new-password"' in html
    assert page.headers["Referrer-Policy"] == "no-referrer"

    response = set_password(client, activation_link, GOOD_PASSWORD)
    assert response.status_code == 303
    assert response.headers["Location"] == SHOP_CALLBACK
    user = user_row(app)
    assert user.status == "active" and user.email_verified and user.activated_at
    assert user.password_hash.startswith("$argon2id$")
    assert GOOD_PASSWORD not in user.password_hash


def test_the_link_works_once(client, activation_link):
    set_password(client, activation_link, GOOD_PASSWORD)
    again = client.get(activation_link)
    assert again.status_code == 410
    assert "already been used" in again.get_data(as_text=True)


@pytest.mark.parametrize(
    ("password", "confirmation", "message"),
    [
        ("short", None, "at least 10 characters"),
        ("password123", None, "too common"),
        ("alice.smith@example.com", None, "email address"),
        (GOOD_PASSWORD, GOOD_PASSWORD + "!", "do not match"),
    ],
)
def test_weak_or_mismatched_passwords_change_nothing(app, client, activation_link, password,
                                                      confirmation, message):
    response = set_password(client, activation_link, password, confirmation)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    user = user_row(app)
    assert user.status == "pendingActivation" and user.password_hash is None


def test_a_post_without_csrf_token_changes_nothing(app, client, activation_link):
    response = client.post(activation_link, data={"password": GOOD_PASSWORD,
                                                  "passwordConfirmation": GOOD_PASSWORD})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert user_row(app).status == "pendingActivation"


def test_tampered_link(client, activation_link):
    response = client.get(activation_link[:-3] + "xyz")
    assert response.status_code == 422
    assert "not valid" in response.get_data(as_text=True)


def test_deleting_the_user_kills_the_link(app, client, shop, activation_link):  # noqa: F811
    user = user_row(app)
    client.delete(f"{USERS}/{user.id}", headers=shop)
    assert client.get(activation_link).status_code == 422


def test_expired_link_offers_a_fresh_one_to_the_same_address(app, client, activation_link,
                                                              outbox):
    later = time.time() + app.config["ACTIVATION_LINK_TTL"] + 5
    with mock.patch("itsdangerous.timed.time.time", return_value=later):
        page = client.get(activation_link)
        assert page.status_code == 410
        assert "expired" in page.get_data(as_text=True)
        response = client.post(activation_link + "/resend", data={"csrf_token": csrf_from(page)})
        assert response.status_code == 200
        assert "fresh link" in response.get_data(as_text=True)
        messages = outbox()
        assert len(messages) == 2 and messages[-1].recipient == "alice.smith@example.com"
        # the fresh link works (still "later": it was signed then)
        fresh = path_of(link_in(messages[-1].text_body))
        assert set_password(client, fresh, GOOD_PASSWORD).status_code == 303


def test_expired_link_of_an_active_user_answers_the_same_and_sends_nothing(
        app, client, activation_link, outbox):
    with app.app_context(), db.transaction() as session:
        session.scalar(sa.select(User)).status = "active"
    later = time.time() + app.config["ACTIVATION_LINK_TTL"] + 5
    with mock.patch("itsdangerous.timed.time.time", return_value=later):
        page = client.get(activation_link)
        response = client.post(activation_link + "/resend", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 200
    assert "fresh link" in response.get_data(as_text=True)
    assert len(outbox()) == 1


def test_forgotten_password_never_reveals_whether_the_address_exists(app, client, shop,  # noqa: F811
                                                                     outbox):
    client.post(USERS, json=ALICE, headers=shop)
    page = client.get("/user/password/forgot")
    assert 'autocomplete="email"' in page.get_data(as_text=True)
    known = client.post("/user/password/forgot",
                        data={"csrf_token": csrf_from(page), "email": "ALICE.SMITH@example.com"})
    unknown = client.post("/user/password/forgot",
                          data={"csrf_token": csrf_from(page), "email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.get_data() == unknown.get_data()
    [message] = outbox()
    assert message.recipient == "alice.smith@example.com"
    assert message.template == "password_reset"


def test_password_reset_sets_a_new_password_once(app, client, shop, outbox):  # noqa: F811
    client.post(USERS, json=ALICE, headers=shop)
    page = client.get("/user/password/forgot")
    client.post("/user/password/forgot",
                data={"csrf_token": csrf_from(page), "email": "alice.smith@example.com"})
    link = path_of(link_in(outbox()[-1].text_body))
    response = set_password(client, link, GOOD_PASSWORD)
    assert response.status_code == 200
    assert "Password changed" in response.get_data(as_text=True)
    user = user_row(app)
    assert user.password_hash and user.status == "active" and user.email_verified
    assert client.get(link).status_code == 410


def test_reset_link_expires_after_an_hour(app, client, shop, outbox):  # noqa: F811
    client.post(USERS, json=ALICE, headers=shop)
    page = client.get("/user/password/forgot")
    client.post("/user/password/forgot",
                data={"csrf_token": csrf_from(page), "email": "alice.smith@example.com"})
    link = path_of(link_in(outbox()[-1].text_body))
    with mock.patch("itsdangerous.timed.time.time", return_value=time.time() + 3601):
        response = client.get(link)
    assert response.status_code == 410
    assert "/user/password/forgot" in response.get_data(as_text=True)


def test_an_activation_link_is_not_a_reset_link(client, activation_link):
    token = activation_link.rsplit("/", 1)[1]
    assert client.get(f"/user/password/reset/{token}").status_code == 422


def test_malformed_forgot_password_email(client, outbox):
    page = client.get("/user/password/forgot")
    response = client.post("/user/password/forgot",
                           data={"csrf_token": csrf_from(page), "email": "not an email"})
    assert response.status_code == 422
    assert outbox() == []


def test_unknown_user_in_a_validly_signed_link(app, client):
    from app import tokens

    with app.test_request_context():
        token = tokens.dump("activation", {"u": str(uuid.uuid4()), "s": "x", "r": None})
    assert client.get(f"/user/activate/{token}").status_code == 422

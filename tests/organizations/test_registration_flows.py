"""The five B2B registration flows, through the pages and the API, with their emails."""

import re
import uuid
from urllib.parse import urlsplit

import sqlalchemy as sa

from app.db import db
from app.oidc.services import ClientService
from app.organizations.models import Address, Membership, Organization, RegistrationRequest
from app.security.passwords import hash_password
from app.users.models import User
from tests.conftest import basic_auth, bearer, csrf_from, link_in
from tests.oidc.flow import CALLBACK, authorize_url, follow_to_callback, query_of

PASSWORD = "correct horse battery staple"
COMPANY = {"companyName": "Acme Oy", "vatNumber": "FI12345678", "street": "Main 1",
           "postalCode": "00100", "city": "Helsinki", "country": "FI"}


def shop_client(app, template=None, allow_choice=False):
    with app.app_context(), db.transaction() as session:
        created = ClientService(session).create(
            name="B2B shop", first_party=True,
            grant_types=["client_credentials", "authorization_code"],
            scopes=["openid", "email", "organization", "idp:registrations", "idp:organizations",
                    "idp:users:write"],
            redirect_uris=[CALLBACK], registration_template=template,
            allow_template_choice=allow_choice)
        return created.client.client_id, created.secret


def api(client, client_id, secret):
    token = client.post("/user/oauth20/token", headers=basic_auth(client_id, secret), data={
        "grant_type": "client_credentials",
        "scope": "idp:registrations idp:organizations idp:users:write"}).get_json()
    return bearer(token["access_token"])


def rows(app, model, **filters):
    with app.app_context(), db.transaction() as session:
        return list(session.scalars(sa.select(model).filter_by(**filters)))


def register_on_page(client, client_id, outbox, **params):
    page = client.get(client.get(authorize_url(client_id, scope="openid email organization",
                                               prompt="create", **params)).headers["Location"])
    assert page.status_code == 200, page.get_data(as_text=True)
    url = page.request.path + "?" + page.request.query_string.decode()
    response = client.post(url, data={"csrf_token": csrf_from(page), "email": "buyer@acme.example",
                                      "firstName": "Bea", "lastName": "Buyer",
                                      "password": PASSWORD, **COMPANY})
    assert response.status_code == 303, response.get_data(as_text=True)
    verify = client.get(response.headers["Location"])
    code = re.search(r"^\s+(\d{6})\s*$", outbox()[-1].text_body, re.M).group(1)
    return client.post("/user/verify-email", data={"csrf_token": csrf_from(verify), "code": code})


def login(client, client_id, email="buyer@acme.example"):
    return follow_to_callback(client, authorize_url(client_id, scope="openid email organization"),
                              email=email)


def id_token_organization(client, client_id, secret, response):
    code = query_of(response.headers["Location"])["code"]
    tokens = client.post("/user/oauth20/token", headers=basic_auth(client_id, secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}).get_json()
    info = client.get("/user/info", headers=bearer(tokens["access_token"])).get_json()
    return info["organization"]


def test_complete_registration_can_order_at_once(app, client, outbox):
    client_id, secret = shop_client(app, template="company")
    done = register_on_page(client, client_id, outbox)
    assert done.status_code == 303
    assert done.headers["Location"].startswith("/user/oauth20/authz")
    landed = client.get(done.headers["Location"])
    assert landed.headers["Location"].startswith(CALLBACK)
    [org] = rows(app, Organization)
    assert org.name == "Acme Oy" and org.vat_number == "FI12345678"
    assert org.payment_mode == "payDirectly"
    [address] = rows(app, Address)
    assert address.city == "Helsinki" and address.is_default_invoice
    organization = id_token_organization(client, client_id, secret, landed)
    assert organization["name"] == "Acme Oy" and organization["role"] == "supervisor"
    assert "canOrder" in organization["permissions"]


def test_registration_template_parameter_needs_the_clients_permission(app, client):
    client_id, _ = shop_client(app)
    page = client.get(client.get(authorize_url(
        client_id, prompt="create", registrationTemplate="company")).headers["Location"])
    assert 'name="companyName"' not in page.get_data(as_text=True)  # consumer form
    chooser, _ = shop_client(app, allow_choice=True)
    page = client.get(client.get(authorize_url(
        chooser, prompt="create", registrationTemplate="company")).headers["Location"])
    html = page.get_data(as_text=True)
    assert 'name="companyName"' in html and 'autocomplete="organization"' in html


def test_partial_registration_with_erp_approval(app, client, outbox):
    client_id, secret = shop_client(app, template="company-erp-approval")
    done = register_on_page(client, client_id, outbox)
    assert "waiting for approval" in done.get_data(as_text=True)
    [user] = rows(app, User)
    assert user.status == "pendingApproval" and user.email_verified
    refused = login(client, client_id)
    assert refused.status_code == 403
    assert "waiting for approval" in refused.get_data(as_text=True)

    erp = api(client, client_id, secret)
    pending = client.get("/api/idp/v1/registrations?status=pending", headers=erp).get_json()
    [request] = pending["items"]
    assert request["company"]["companyName"] == "Acme Oy" and request["flow"] == "erpApproval"
    org = client.put("/api/idp/v1/organizations/byExternalId/C-77", json={"name": "Acme Oy"},
                     headers=erp).get_json()
    approved = client.post(f"/api/idp/v1/registrations/{request['id']}/approve",
                           json={"organizationId": org["id"]}, headers=erp)
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    assert outbox()[-1].template == "registration_approved"
    again = client.post(f"/api/idp/v1/registrations/{request['id']}/approve",
                        json={"organizationId": org["id"]}, headers=erp)
    assert again.status_code == 409 and again.get_json()["code"] == "registration.not_pending"

    client.post("/user/oauth20/signout")  # not signed in anyway; start clean
    landed = login(client, client_id)
    assert landed.headers["Location"].startswith(CALLBACK)
    organization = id_token_organization(client, client_id, secret, landed)
    assert organization["externalId"] == "C-77" and organization["role"] == "purchaser"


def test_partial_registration_with_back_office_approval(app, client, outbox):
    client_id, _ = shop_client(app, template="company-backoffice-approval")
    register_on_page(client, client_id, outbox)
    with app.app_context(), db.transaction() as session:
        session.add(User(email="staff@gatehouse.example", first_name="S", last_name="Taff",
                         status="active", email_verified=True, is_staff=True,
                         password_hash=hash_password(PASSWORD)))
    staff = app.test_client()
    assert "/user/login" in staff.get("/backoffice").headers["Location"]
    page = staff.get(staff.get("/backoffice").headers["Location"])
    signed_in = staff.post(page.request.path + "?" + page.request.query_string.decode(), data={
        "csrf_token": csrf_from(page), "email": "staff@gatehouse.example", "password": PASSWORD})
    assert signed_in.headers["Location"] == "/backoffice"
    queue = staff.get("/backoffice")
    assert "Acme Oy" in queue.get_data(as_text=True)
    [request] = rows(app, RegistrationRequest)
    detail = staff.get(f"/backoffice/registrations/{request.id}")
    assert "buyer@acme.example" in detail.get_data(as_text=True)
    decided = staff.post(f"/backoffice/registrations/{request.id}", data={
        "approve-csrf_token": csrf_from(detail), "decision": "approve", "approve-organization": "new",
        "approve-role": "buyer"})
    assert decided.status_code == 303
    [org] = rows(app, Organization)
    [membership] = rows(app, Membership)
    assert org.name == "Acme Oy" and membership.role_name == "buyer"
    assert rows(app, User, email="buyer@acme.example")[0].status == "active"
    assert rows(app, RegistrationRequest)[0].decided_by == "staff:staff@gatehouse.example"
    # ordinary users are not staff
    assert client.get("/backoffice").status_code in (302, 403)


def test_external_registration_by_the_erp(app, client, outbox):
    client_id, secret = shop_client(app)
    erp = api(client, client_id, secret)
    org = client.put("/api/idp/v1/organizations/byExternalId/C-9", json={"name": "Erp Oy"},
                     headers=erp).get_json()
    client.post(f"/api/idp/v1/organizations/{org['id']}/addresses", headers=erp, json={
        "street": "Road 9", "postalCode": "33100", "city": "Tampere", "country": "FI"})
    user = client.post(f"/api/idp/v1/users?sendActivationEmail=true&activationRedirectUri="
                       f"{CALLBACK}", json={"email": "erp.user@example.com", "firstName": "E",
                                            "lastName": "R"}, headers=erp).get_json()
    client.post(f"/api/idp/v1/organizations/{org['id']}/members",
                json={"userId": user["id"], "role": "purchaser"}, headers=erp)
    link = urlsplit(link_in(outbox()[-1].text_body)).path
    page = client.get(link)
    activated = client.post(link, data={"csrf_token": csrf_from(page), "password": PASSWORD,
                                        "passwordConfirmation": PASSWORD})
    assert activated.headers["Location"] == CALLBACK
    landed = login(client, client_id, email="erp.user@example.com")
    assert id_token_organization(client, client_id, secret, landed)["externalId"] == "C-9"


def test_shop_form_registration_gets_an_activation_mail_once_approved(app, client, outbox):
    client_id, secret = shop_client(app)
    erp = api(client, client_id, secret)
    submitted = client.post("/api/idp/v1/registrations", headers=erp, json={
        "email": "form@example.com", "firstName": "F", "lastName": "Orm",
        "company": {"companyName": "Form Oy", "customerNumber": "C-55", "country": "FI"}})
    assert submitted.status_code == 201
    assert outbox() == []
    approved = client.post(f"/api/idp/v1/registrations/{submitted.get_json()['id']}/approve",
                           json={}, headers=erp)
    assert approved.status_code == 200
    [org] = rows(app, Organization)
    assert org.external_id == "C-55"
    assert outbox()[-1].template == "activation"
    assert rows(app, User)[0].status == "pendingActivation"


def test_rejection_mails_the_reason_and_blocks_login(app, client, outbox):
    client_id, secret = shop_client(app, template="company-erp-approval")
    register_on_page(client, client_id, outbox)
    erp = api(client, client_id, secret)
    [request] = client.get("/api/idp/v1/registrations?status=pending",
                           headers=erp).get_json()["items"]
    rejected = client.post(f"/api/idp/v1/registrations/{request['id']}/reject",
                           json={"reason": "Unknown VAT number"}, headers=erp)
    assert rejected.get_json()["status"] == "rejected"
    mail = outbox()[-1]
    assert mail.template == "registration_rejected" and "Unknown VAT number" in mail.text_body
    assert login(client, client_id).status_code == 403


def test_approving_into_a_blocked_organization_is_refused(app, client, outbox):
    client_id, secret = shop_client(app, template="company-erp-approval")
    register_on_page(client, client_id, outbox)
    erp = api(client, client_id, secret)
    org = client.post("/api/idp/v1/organizations", json={"name": "Blocked Oy",
                                                          "status": "blocked"},
                      headers=erp).get_json()
    [request] = client.get("/api/idp/v1/registrations?status=pending",
                           headers=erp).get_json()["items"]
    refused = client.post(f"/api/idp/v1/registrations/{request['id']}/approve",
                          json={"organizationId": org["id"]}, headers=erp)
    assert refused.status_code == 409 and refused.get_json()["code"] == "organization.blocked"
    assert rows(app, Membership) == []
    assert rows(app, RegistrationRequest)[0].status == "pending"
    missing = client.post(f"/api/idp/v1/registrations/{uuid.uuid4()}/approve", json={},
                          headers=erp)
    assert missing.status_code == 404

"""Available licenses: what a user may use (their own and their organizations'), who may look,
expiry, suspension and display names by locale."""

import contextlib
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.db import db, utcnow
from app.entitlements.models import License
from app.entitlements.services import pick_display_name
from tests.conftest import bearer
from tests.entitlements.conftest import (
    API, add_organization, add_user, count, item, order, state,
)


def provision(client, headers, owner_path, external_id, *items):
    response = client.post(f"{API}/{owner_path}/license-transactions", headers=headers,
                           json=order(external_id, *items))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def available(client, headers, owner_path="users/me", query="", **extra_headers):
    response = client.get(f"{API}/{owner_path}/available-licenses{query}",
                          headers={**headers, **extra_headers})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


@pytest.fixture
def ann(app):
    return add_user(app, "ann@example.com", active=True)


def test_a_member_sees_the_organizations_licenses_through_me(app, client, shop, catalog, login,
                                                            ann):
    acme = add_organization(app, "Acme Oy", members=[ann])
    add_organization(app, "Other Ltd")
    outsider = add_user(app, "olli@example.com", active=True)
    provision(client, shop, f"users/{ann}", "personal-1", item("a", catalog.editor_only))
    provision(client, shop, f"organizations/{acme}", "po-1", item("a", catalog.suite, 25))

    mine = available(client, bearer(login("ann@example.com")))
    assert sorted((lic["licensedItem"]["name"], lic["owner"]["name"], lic["seatsTotal"])
                  for lic in mine) == [("editor", "Acme Oy", 25), ("editor", "Ann Tester", 1),
                                       ("export", "Acme Oy", 25)]
    assert {lic["owner"]["id"] for lic in mine} == {ann, acme}
    # A client reading the user by id sees the same.
    assert available(client, shop, f"users/{ann}") == mine
    # Someone outside the organization sees none of it.
    assert available(client, bearer(login("olli@example.com"))) == []
    assert available(client, shop, f"users/{outsider}") == []


def test_a_user_cannot_reach_another_users_licenses(app, client, shop, catalog, login, ann):
    bob = add_user(app, "bob@example.com", active=True)
    acme = add_organization(app, "Acme Oy", members=[ann])
    provision(client, shop, f"users/{bob}", "bobs", item("a", catalog.suite))
    transaction = provision(client, shop, f"users/{ann}", "anns", item("a", catalog.suite))
    # Even a token that carries the provisioning scope: it is still Ann's.
    token = bearer(login("ann@example.com", scope="openid entitlement:provision"))

    refused = [
        client.get(f"{API}/users/{bob}/available-licenses", headers=token),
        client.get(f"{API}/users/{bob}/license-transactions", headers=token),
        client.post(f"{API}/users/{bob}/license-transactions", headers=token,
                    json=order("x", item("a", catalog.suite))),
        client.put(f"{API}/users/{bob}/license-transactions/{transaction['id']}"
                   "/suspend-licenses", headers=token),
        client.get(f"{API}/organizations/{acme}/available-licenses", headers=token),
        client.post(f"{API}/organizations/{acme}/license-transactions", headers=token,
                    json=order("x", item("a", catalog.suite))),
        # An id that is nobody's answers the same: nothing is learned about other users.
        client.get(f"{API}/users/00000000-0000-0000-0000-000000000001/available-licenses",
                   headers=token),
    ]
    for response in refused:
        assert response.status_code == 403
        assert response.get_json()["code"] == "forbidden"
    assert state(app) == (2, 2, 4)


def test_a_user_token_provisions_to_me_only_with_the_scope(app, client, shop, catalog, login,
                                                           ann):
    plain = bearer(login("ann@example.com"))
    refused = client.post(f"{API}/users/me/license-transactions", headers=plain,
                          json=order("x", item("a", catalog.suite)))
    assert refused.status_code == 403 and refused.get_json()["code"] == "insufficient_scope"
    assert state(app) == (0, 0, 0)

    scoped = bearer(login("ann@example.com", scope="openid entitlement:provision"))
    response = client.post(f"{API}/users/me/license-transactions", headers=scoped,
                           json=order("x", item("a", catalog.suite)))
    assert response.status_code == 201
    assert response.headers["Location"].endswith(
        f"/users/{ann}/license-transactions/{response.get_json()['id']}")
    assert [t["externalId"] for t in client.get(
        f"{API}/users/me/license-transactions", headers=plain).get_json()["items"]] == ["x"]

    # Suspending and resuming are the vendor's: not even the scoped token resumes its own.
    transaction = response.get_json()["id"]
    client.put(f"{API}/users/{ann}/license-transactions/{transaction}/suspend-licenses",
               headers=shop)
    resumed = client.put(f"{API}/users/me/license-transactions/{transaction}/resume-licenses",
                         headers=scoped)
    assert resumed.status_code == 403 and resumed.get_json()["code"] == "forbidden"
    assert [lic["active"] for lic in available(client, plain)] == [False, False]


def test_expired_licenses_are_hidden_unless_asked_for(app, client, shop, catalog, ann):
    now = utcnow()
    provision(client, shop, f"users/{ann}", "old",
              item("a", catalog.editor_only,
                   licenseValidFrom=(now - timedelta(days=400)).isoformat(),
                   licenseValidUntil=(now - timedelta(days=35)).isoformat()))
    current = provision(client, shop, f"users/{ann}", "new", item("a", catalog.editor_only))
    future = provision(client, shop, f"users/{ann}", "future",
                       item("a", catalog.editor_only,
                            licenseValidFrom=(now + timedelta(days=30)).isoformat()))

    listed = available(client, shop, f"users/{ann}")
    assert [(lic["id"], lic["active"]) for lic in listed] == [
        (current["items"][0]["licenses"][0]["id"], True),
        (future["items"][0]["licenses"][0]["id"], False)]
    everything = available(client, shop, f"users/{ann}", "?includeExpired=true")
    assert [lic["active"] for lic in everything] == [False, True, False]
    assert count(app, License) == 3


def test_display_names_follow_the_locale(client, shop, catalog, ann):
    provision(client, shop, f"users/{ann}", "o", item("a", catalog.suite))

    def names(**headers):
        return [lic["licensedItem"]["displayName"]
                for lic in available(client, shop, f"users/{ann}", **headers)]

    assert names() == ["Editor", "Export"]
    assert names(locale="fi") == ["Editori", "Export"]  # no Finnish name for Export
    assert names(locale="fi-FI") == ["Editori", "Export"]
    assert names(**{"Accept-Language": "de;q=0.9, sv-SE;q=0.8, fi;q=0.5"}) == [
        "Redigerare", "Export"]
    # The `locale` header wins over Accept-Language.
    assert names(locale="en", **{"Accept-Language": "fi"}) == ["Editor", "Export"]


def test_pick_display_name():
    translations = {"fi": "Editori", "pt-BR": "Editor BR"}
    assert pick_display_name("Editor", translations, ["PT-br"]) == "Editor BR"
    assert pick_display_name("Editor", translations, ["pt"]) == "Editor"
    assert pick_display_name("Editor", translations, ["de", "fi-FI"]) == "Editori"
    assert pick_display_name("Editor", {}, ["fi"]) == "Editor"


@contextlib.contextmanager
def statements(app):
    """Counts the SQL statements run inside the block."""
    seen = []
    with app.app_context():
        engine = db.engine

    def count_statement(*_args):
        seen.append(1)

    sa.event.listen(engine, "before_cursor_execute", count_statement)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count_statement)


def test_listing_costs_the_same_queries_for_2_or_60_licenses(app, client, shop, catalog, ann):
    acme = add_organization(app, "Acme Oy", members=[ann])
    provision(client, shop, f"users/{ann}", "o-1", item("a", catalog.suite))
    with statements(app) as few:
        assert len(available(client, shop, f"users/{ann}")) == 2
    for number in range(2, 31):
        owner = f"organizations/{acme}" if number % 2 else f"users/{ann}"
        provision(client, shop, owner, f"o-{number}", item("a", catalog.suite))
    with statements(app) as many:
        assert len(available(client, shop, f"users/{ann}")) == 60
    assert len(many) == len(few) > 0


def test_the_list_is_rendered_as_its_schema_documents(app, client, shop, catalog, ann):
    """The list is written out by hand for speed; it must stay what the schema says."""
    import json

    from app.entitlements.schemas import AvailableLicensesSchema, available_licenses_json
    from app.entitlements.services import AvailableLicenses

    acme = add_organization(app, 'Acme "Quoted" <Oy> Ääkköset', members=[ann])
    now = utcnow()
    provision(client, shop, f"users/{ann}", "o-1", item("a", catalog.suite))
    provision(client, shop, f"organizations/{acme}", "o-2",
              item("a", catalog.editor_only, 3, licenseValidFrom=(now - timedelta(days=9))
                   .isoformat(), licenseValidUntil=(now - timedelta(days=1)).isoformat()))
    with app.app_context(), db.transaction() as session:
        licenses = AvailableLicenses(session).for_user(
            uuid.UUID(ann), languages=["sv-SE"], include_expired=True)
        assert len(licenses) == 3
        assert json.loads(available_licenses_json(licenses)) == \
            AvailableLicensesSchema().dump({"items": licenses})
        assert json.loads(available_licenses_json([])) == {"items": []}

"""The committed OpenAPI document is the one the code generates."""

import json

from app import PROJECT_ROOT

SPEC = PROJECT_ROOT / "openapi" / "openapi.json"


def test_committed_openapi_document_is_current(app):
    generated = app.extensions["gatehouse.api"].spec.to_dict()
    committed = json.loads(SPEC.read_text())
    assert committed == json.loads(json.dumps(generated)), (
        "openapi/openapi.json is stale: run `make openapi` and commit the result"
    )


def test_openapi_document_is_served(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.get_json()["info"]["title"] == "Gatehouse"

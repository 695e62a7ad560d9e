"""The published OpenAPI document says what the API does: names, errors, ranges, bodies."""

from __future__ import annotations

import re
from typing import Any

import pytest

from api.openapi import operation_id

HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
CAMEL_CASE = re.compile(r"^[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)*$")
PROBLEM = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture
def spec(client) -> dict[str, Any]:
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    return response.json


def operations(spec: dict[str, Any]):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_every_operation_has_a_unique_camel_case_operation_id(spec):
    ids = [op.get("operationId") for _, _, op in operations(spec)]
    assert len(ids) >= 40
    assert all(isinstance(i, str) and CAMEL_CASE.match(i) for i in ids), ids
    assert len(set(ids)) == len(ids), sorted(i for i in ids if ids.count(i) > 1)


def test_operation_ids_read_as_what_they_do(spec):
    named = {(method, path): op["operationId"] for path, method, op in operations(spec)}
    assert named[("get", "/v1/me/balance")] == "getMyBalance"
    assert named[("get", "/v1/campaigns")] == "listCampaigns"
    assert named[("post", "/v1/campaigns")] == "createCampaign"
    assert named[("patch", "/v1/campaigns/{campaign_id}")] == "updateCampaign"
    assert named[("post", "/v1/campaigns/{campaign_id}/activate")] == "activateCampaign"
    assert named[("post", "/v1/transaction-files")] == "uploadTransactionFile"
    assert named[("get", "/v1/batches/{batch_id}")] == "getBatch"
    assert named[("delete", "/v1/api-keys/{key_id}")] == "deleteApiKey"
    assert named[("get", "/healthz")] == "getHealth"
    assert named[("get", "/readyz")] == "getReadiness"


def test_a_new_view_gets_an_operation_id_without_a_table_entry():
    assert operation_id("CustomerFiles", "post") == "createCustomerFile"
    assert operation_id("CustomerFiles", "get") == "listCustomerFiles"
    assert operation_id("PerkById", "delete") == "deletePerk"
    assert operation_id("Batches", "post") == "createBatch"
    assert operation_id("AuditLogEntries", "get") == "listAuditLogEntries"
    assert operation_id("MyBalance", "get") == "getMyBalance"


def test_every_error_response_is_problem_json_and_nothing_is_a_catch_all(spec):
    for path, method, operation in operations(spec):
        responses = operation["responses"]
        assert "default" not in responses, (method, path)
        if path in ("/healthz", "/readyz", "/metrics"):
            # Probes: no credentials, no rate limit; readiness answers its checks as JSON,
            # 200 or 503, whatever the load balancer asks.
            assert set(responses) == ({"200", "503"} if path == "/readyz" else {"200"})
            continue
        for status in ("401", "403", "429"):
            assert status in responses, (method, path, status)
        for status, response in responses.items():
            if int(status) >= 400:
                assert response["content"] == {"application/problem+json": {"schema": PROBLEM}}, (
                    method,
                    path,
                    status,
                )
        assert "Retry-After" in responses["429"]["headers"]
        if "requestBody" in operation:
            assert {"400", "413"} <= set(responses), (method, path)


def test_the_problem_schema_requires_what_every_problem_carries(spec):
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status"}
    assert problem["properties"]["errors"]["additionalProperties"] == {
        "type": "array",
        "items": {"type": "string"},
    }


def test_id_path_parameters_are_documented_with_the_range_the_route_accepts(spec):
    id_params = [
        parameter
        for item in spec["paths"].values()
        for parameter in item.get("parameters", [])
        if parameter["in"] == "path" and parameter["schema"]["type"] == "integer"
    ]
    assert len(id_params) >= 15
    for parameter in id_params:
        assert parameter["schema"] == {
            "type": "integer",
            "format": "int32",
            "minimum": 1,
            "maximum": 2**31 - 1,
        }, parameter


@pytest.mark.parametrize("campaign_id", ["0", str(2**31), str(2**63), "99999999999999999999"])
def test_an_id_outside_the_documented_range_is_a_404_problem(client, marketer_headers, campaign_id):
    response = client.get(f"/v1/campaigns/{campaign_id}", headers=marketer_headers)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 404


def test_the_largest_documented_id_is_looked_up_and_not_found(client, marketer_headers):
    response = client.get(f"/v1/campaigns/{2**31 - 1}", headers=marketer_headers)
    assert response.status_code == 404
    assert "campaign" in response.json["detail"].lower()


def test_request_bodies_are_required_exactly_when_they_are(spec):
    bodies = {
        (method, path): operation["requestBody"]
        for path, method, operation in operations(spec)
        if "requestBody" in operation
    }
    assert bodies[("post", "/v1/campaigns")]["required"] is True
    assert bodies[("post", "/v1/transactions")]["required"] is True
    assert bodies[("post", "/v1/transaction-files")]["required"] is True
    for transition in ("activate", "pause", "end"):
        assert (
            bodies[("post", f"/v1/campaigns/{{campaign_id}}/{transition}")].get("required", False)
            is False
        )


def test_a_transition_without_a_body_is_accepted_as_documented(client, marketer_headers):
    created = client.post(
        "/v1/campaigns",
        json={
            "name": "Weekend coffee",
            "starts_at": "2026-01-01T00:00:00Z",
            "effect": {"type": "multiplier", "value": "2"},
        },
        headers=marketer_headers,
    )
    assert created.status_code == 201, created.json
    activated = client.post(
        f"/v1/campaigns/{created.json['id']}/activate", headers=marketer_headers
    )
    assert activated.status_code == 200, activated.json
    assert activated.json["status"] == "active"


def test_file_uploads_are_binary_strings(spec):
    content = spec["paths"]["/v1/transaction-files"]["post"]["requestBody"]["content"]
    for media_type in ("text/csv", "application/x-ndjson"):
        assert content[media_type]["schema"] == {"type": "string", "format": "binary"}


def test_a_nullable_nested_object_is_a_typed_reference(spec):
    next_release = spec["components"]["schemas"]["Balance"]["properties"]["next_release"]
    assert next_release == {"allOf": [{"$ref": "#/components/schemas/Release"}], "nullable": True}
    for name, schema in spec["components"]["schemas"].items():
        for field, prop in schema.get("properties", {}).items():
            assert "anyOf" not in prop, (name, field)


def test_the_cursor_parameter_says_what_is_accepted(spec):
    parameters = spec["paths"]["/v1/me/ledger"]["get"]["parameters"]
    cursor = next(p for p in parameters if p["name"] == "cursor")
    assert cursor["schema"]["pattern"] == "^[A-Za-z0-9_-]{6,30}$"
    limit = next(p for p in parameters if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 100)

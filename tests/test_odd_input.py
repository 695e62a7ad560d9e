"""Odd input never reaches a 500: it is a problem+json naming what is wrong."""

from __future__ import annotations

import pytest

from tests.conftest import bearer, make_token
from tests.test_ingest_api import tx_row


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    return response.json


@pytest.mark.parametrize(
    "occurred_at",
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:00:00-01:00",
        "9999-12-20T00:00:00Z",
        "1999-12-31T23:59:59Z",
    ],
)
def test_out_of_range_timestamps_are_rejected_per_row(client, processor_headers, occurred_at):
    rows = [tx_row(1, occurred_at=occurred_at), tx_row(2)]
    response = client.post(
        "/v1/transactions", json={"transactions": rows}, headers=processor_headers
    )
    assert response.status_code == 202
    assert response.json["accepted"] == 1
    assert response.json["rejected"][0]["index"] == 0
    assert "occurred_at" in response.json["rejected"][0]["errors"]


@pytest.mark.parametrize("batch_id", ["99999999999999999999", "2147483648", "0"])
def test_ids_outside_the_documented_range_are_a_problem_not_a_crash(
    client, processor_headers, batch_id
):
    """Ids are 1..2^31-1 as the spec says; outside that no such resource exists."""
    _problem(client.get(f"/v1/batches/{batch_id}", headers=processor_headers), 404)


def test_nul_characters_are_a_problem_not_a_crash(client, marketer_headers):
    body = _problem(client.get("/v1/customers/a%00b", headers=marketer_headers), 422)
    assert list(body["errors"]) == ["external_ref"]


def test_deeply_nested_json_is_a_bad_request(client, processor_headers):
    body = '{"transactions": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = client.post(
        "/v1/transactions",
        data=body,
        headers={**processor_headers, "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422)
    assert response.content_type == "application/problem+json"


def test_token_with_non_string_roles_is_unauthorized(client, program):
    token = make_token(sub="x", program=program.slug, roles=[{"admin": True}])
    _problem(client.get("/v1/me", headers=bearer(token)), 401)


def test_a_card_number_in_the_path_is_refused_and_never_echoed(client, marketer_headers):
    pan = "4111111111111111"
    response = client.post(
        f"/v1/customers/{pan}/adjustments",
        json={"points": 5, "reason": "test"},
        headers=marketer_headers,
    )
    assert list(_problem(response, 422)["errors"]) == ["external_ref"]
    assert pan not in response.get_data(as_text=True)


def test_a_batch_that_is_not_json_is_415(client, processor_headers):
    response = client.post(
        "/v1/transactions",
        data="external_id,card_token\n",
        headers={**processor_headers, "Content-Type": "text/plain"},
    )
    _problem(response, 415)


def _b64(text: str) -> str:
    import base64

    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        _b64("k1:12") + "!!",  # a valid cursor with characters outside the alphabet added
        _b64("k1:\u00b2"),  # a superscript two: a digit to str.isdigit, not to int()
        _b64("k1:9223372036854775808"),  # beyond bigint
        _b64("k1:-1"),
        _b64("nope"),
    ],
)
def test_a_cursor_that_is_not_ours_is_422_naming_it(client, admin_headers, cursor):
    body = _problem(client.get(f"/v1/programs?cursor={cursor}", headers=admin_headers), 422)
    assert list(body["errors"]) == ["cursor"]


@pytest.mark.parametrize(
    "path, role",
    [
        ("/v1/campaigns?stauts=active", "marketer"),
        ("/v1/challenges?limit=5&colour=red", "marketer"),
        ("/v1/me/activity?limt=5", "cardholder"),
    ],
)
def test_an_unknown_query_parameter_is_422_naming_it(client, program, path, role):
    """A misspelt filter is refused, not ignored with unfiltered results; the spec says so."""
    subject = "cust-1" if role == "cardholder" else "mkt-1"
    headers = bearer(make_token(sub=subject, program=program.slug, roles=[role]))
    response = client.get(path, headers=headers)
    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"
    unknown = path.split("?")[1].split("&")[-1].split("=")[0]
    assert set(response.json["errors"]) == {unknown}
    spec = client.get("/v1/openapi.json").json
    for item in spec["paths"].values():
        for method, operation in item.items():
            if method == "parameters":  # path-level, not an operation
                continue
            if any(p["in"] == "query" for p in operation.get("parameters", [])):
                assert "422" in operation["responses"], operation["operationId"]

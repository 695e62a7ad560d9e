"""Audit log read API: program scoping, filters, newest-first cursor pagination."""

from __future__ import annotations

import pytest

from rewards import audit
from tests.conftest import bearer, make_token
from tests.factories import ProgramFactory


@pytest.fixture
def other_program(db):
    program = ProgramFactory(slug="other")
    db.session.commit()
    return program


def log(db, program, n: int, action: str = "campaign.update", object_type: str = "campaign"):
    for i in range(n):
        audit.record(
            program_id=program.id,
            actor="user:mkt-1",
            actor_role="marketer",
            action=action,
            object_type=object_type,
            object_id=str(i),
            before={"version": i},
            after={"version": i + 1},
        )
    db.session.commit()


def walk(client, headers, query: str = "") -> list[dict]:
    rows, cursor = [], None
    while True:
        url = f"/v1/audit-log?limit=7{query}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(url, headers=headers)
        assert response.status_code == 200
        rows += response.json["data"]
        cursor = response.json["next_cursor"]
        if cursor is None:
            return rows


def test_marketers_see_their_own_program_only_newest_first(
    client, db, program, other_program, marketer_headers
):
    log(db, program, 16)
    log(db, other_program, 5)

    rows = walk(client, marketer_headers)

    assert len(rows) == len({r["id"] for r in rows}) == 16
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    assert {r["program"] for r in rows} == {"youth"}
    assert rows[0]["before"] == {"version": 15} and rows[0]["after"] == {"version": 16}
    assert rows[0]["created_at"].endswith("Z")
    foreign = bearer(make_token(sub="mkt-9", program="other", roles=["marketer"]))
    assert {r["program"] for r in walk(client, foreign)} == {"other"}


def test_admins_see_every_program(client, db, program, other_program, admin_headers):
    log(db, program, 3)
    log(db, other_program, 2)

    rows = walk(client, admin_headers)

    assert sorted(r["program"] for r in rows) == ["other", "other", "youth", "youth", "youth"]


def test_filters_by_action_and_object(client, db, program, marketer_headers):
    log(db, program, 4)
    log(db, program, 3, action="customer.adjust", object_type="customer")

    adjusts = walk(client, marketer_headers, "&action=customer.adjust")
    assert len(adjusts) == 3 and {r["action"] for r in adjusts} == {"customer.adjust"}
    one = walk(client, marketer_headers, "&object_type=campaign&object_id=2")
    assert [(r["object_type"], r["object_id"], r["action"]) for r in one] == [
        ("campaign", "2", "campaign.update")
    ]
    assert walk(client, marketer_headers, "&action=nothing.like.this") == []


@pytest.mark.parametrize("query, field", [("limit=0", "limit"), ("cursor=%%%", "cursor")])
def test_bad_query_is_a_422_naming_the_parameter(client, program, marketer_headers, query, field):
    response = client.get(f"/v1/audit-log?{query}", headers=marketer_headers)
    assert response.status_code == 422
    assert list(response.json["errors"]) == [field]


def test_cardholders_and_keys_cannot_read_the_audit_log(
    client, program, cardholder_headers, processor_headers, partner_headers
):
    assert client.get("/v1/audit-log").status_code == 401
    for headers in (cardholder_headers, processor_headers, partner_headers):
        response = client.get("/v1/audit-log", headers=headers)
        assert response.status_code == 403
        assert response.content_type == "application/problem+json"


def test_openapi_lists_the_audit_log(client):
    operation = client.get("/v1/openapi.json").json["paths"]["/v1/audit-log"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"limit", "cursor", "action", "object_type", "object_id"} <= names

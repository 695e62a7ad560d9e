"""Badges through the marketer API on PostgreSQL: CRUD (unversioned), criteria validated by
exact path, audit and rules revision, delete refused while in use, isolation between programs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from campaigns.challenges.models import Badge, CustomerBadge
from rewards.models import AuditLog, Program
from tests.conftest import bearer, make_token
from tests.factories import CustomerFactory, ProgramFactory

COFFEE_LOVER = {
    "name": "Coffee Lover",
    "description": "Three coffees in a week",
    "image_url": "https://cdn.example.com/badges/coffee.png",
    "criteria": {"type": "challenge"},
}


@pytest.fixture
def create(client, marketer_headers):
    def create(**changes):
        response = client.post(
            "/v1/badges", json={**COFFEE_LOVER, **changes}, headers=marketer_headers
        )
        assert response.status_code == 201, response.json
        return response.json

    return create


def audit_actions(db) -> list[str]:
    return list(db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


def revision(db) -> int:
    db.session.expire_all()
    return db.session.scalar(select(Program.rules_revision).where(Program.slug == "youth"))


def test_create_read_update_delete_audited(client, db, marketer_headers, create):
    badge = create()
    url = f"/v1/badges/{badge['id']}"

    assert badge["status"] == "draft" and badge["criteria"] == {"type": "challenge"}
    assert badge["created_by"] == "user:mkt-1"
    assert client.get(url, headers=marketer_headers).json == badge
    # Switching the criteria's type: merge patch removes the old parameter with null.
    changed = client.patch(
        url,
        json={"status": "active", "criteria": {"type": "streak_days", "days": 7}},
        headers=marketer_headers,
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["criteria"] == {"type": "streak_days", "days": 7}
    assert changed.json["status"] == "active"
    back = client.patch(
        url, json={"criteria": {"type": "first_purchase", "days": None}}, headers=marketer_headers
    )
    assert back.json["criteria"] == {"type": "first_purchase"}
    gone = client.patch(url, json={"description": None}, headers=marketer_headers)
    assert gone.json["description"] is None

    assert client.delete(url, headers=marketer_headers).status_code == 204
    assert client.get(url, headers=marketer_headers).status_code == 404
    assert audit_actions(db) == [
        "badge.create",
        "badge.update",
        "badge.update",
        "badge.update",
        "badge.delete",
    ]
    update = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "badge.update").order_by(AuditLog.id)
    ).first()
    assert update.before["status"] == "draft" and update.after["status"] == "active"
    assert revision(db) == 5  # the feed awards milestone badges: each change is a new revision


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        ({"criteria": {"type": "distinct_partners"}}, {"criteria.count"}),
        ({"criteria": {"type": "streak_days", "days": 0}}, {"criteria.days"}),
        ({"criteria": {"type": "lifetime_points", "points": "1000"}}, {"criteria.points"}),
        ({"criteria": {"type": "challenge", "count": 3}}, {"criteria.count"}),
        ({"criteria": {"type": "level_up"}}, {"criteria.type"}),
        ({"criteria": {}}, {"criteria.type"}),
        ({"criteria": "challenge"}, {"criteria"}),
        ({"image_url": "http://cdn.example.com/b.png"}, {"image_url"}),
        ({"image_url": "https://"}, {"image_url"}),
        ({"name": "", "status": "live", "shape": "round"}, {"name", "status", "shape"}),
    ],
)
def test_invalid_badges_name_each_bad_field_and_store_nothing(
    client, db, marketer_headers, body, paths
):
    response = client.post("/v1/badges", json={**COFFEE_LOVER, **body}, headers=marketer_headers)

    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert set(response.json["errors"]) == paths
    assert db.session.scalar(select(func.count()).select_from(Badge)) == 0
    assert audit_actions(db) == []


def test_name_and_criteria_are_required(client, marketer_headers):
    response = client.post("/v1/badges", json={}, headers=marketer_headers)
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"name", "criteria"}


def test_list_is_newest_first_with_a_cursor(client, marketer_headers, create):
    ids = [create(name=f"B{n}")["id"] for n in range(3)]
    first = client.get("/v1/badges?limit=2", headers=marketer_headers).json
    assert [b["id"] for b in first["data"]] == [ids[2], ids[1]]
    rest = client.get(
        f"/v1/badges?limit=2&cursor={first['next_cursor']}", headers=marketer_headers
    ).json
    assert [b["id"] for b in rest["data"]] == [ids[0]] and rest["next_cursor"] is None


def test_delete_is_refused_while_a_challenge_not_over_awards_it(
    client, db, marketer_headers, create
):
    badge = create(status="active")
    start = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    challenge = client.post(
        "/v1/challenges",
        json={
            "name": "Coffee week",
            "goal": {"type": "count", "target": 3},
            "window": {"type": "recurring", "period": "week", "starts_at": start},
            "reward": {"points": 50, "badge_id": badge["id"]},
        },
        headers=marketer_headers,
    ).json
    url = f"/v1/badges/{badge['id']}"

    refused = client.delete(url, headers=marketer_headers)  # a draft challenge may still run
    assert refused.status_code == 409 and list(refused.json["errors"]) == ["badge_id"]
    assert str(challenge["id"]) in refused.json["detail"]
    client.post(f"/v1/challenges/{challenge['id']}/end", headers=marketer_headers)

    assert client.delete(url, headers=marketer_headers).status_code == 204


def test_delete_is_refused_once_customers_hold_it(client, db, program, marketer_headers, create):
    badge = create(status="active", criteria={"type": "first_purchase"})
    customer = CustomerFactory(program_id=program.id, external_ref="cust-1")
    db.session.add(CustomerBadge(customer_id=customer.id, badge_id=badge["id"], source="milestone"))
    db.session.commit()

    response = client.delete(f"/v1/badges/{badge['id']}", headers=marketer_headers)

    assert response.status_code == 409 and list(response.json["errors"]) == ["status"]
    retired = client.patch(
        f"/v1/badges/{badge['id']}", json={"status": "retired"}, headers=marketer_headers
    )
    assert retired.status_code == 200 and retired.json["status"] == "retired"


def test_another_programs_marketer_sees_nothing(client, db, marketer_headers, create):
    badge = create()
    ProgramFactory(slug="other")
    db.session.commit()
    other = bearer(make_token(sub="m2", program="other", roles=["marketer"]))
    url = f"/v1/badges/{badge['id']}"

    assert client.get("/v1/badges", headers=other).json["data"] == []
    for method, body in (("GET", None), ("PATCH", {"name": "Mine"}), ("DELETE", None)):
        response = client.open(url, method=method, json=body, headers=other)
        assert response.status_code == 404, method
        assert response.content_type == "application/problem+json"
    assert client.get(url, headers=marketer_headers).json == badge


def test_openapi_documents_the_badge_endpoints(client):
    paths = client.get("/v1/openapi.json").json["paths"]
    collection, one = paths["/v1/badges"], paths["/v1/badges/{badge_id}"]
    assert (collection["get"]["operationId"], collection["post"]["operationId"]) == (
        "listBadges",
        "createBadge",
    )
    assert [one[m]["operationId"] for m in ("get", "patch", "delete")] == [
        "getBadge",
        "updateBadge",
        "deleteBadge",
    ]
    assert {"404", "409"} <= set(one["delete"]["responses"])
    assert "409" not in one["patch"]["responses"]  # unversioned, no lifecycle
    assert {"404", "422"} <= set(one["patch"]["responses"])

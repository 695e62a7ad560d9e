"""Challenges through the marketer API on PostgreSQL: create, validation by exact path with
nothing stored, the program's badge/sponsor/segment, list filters, versions, lifecycle,
audit, rules revision and isolation between programs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from campaigns.challenges.models import Badge, Challenge, ChallengeVersion
from rewards.models import AuditLog, Program
from tests.conftest import bearer, make_token
from tests.factories import ProgramFactory

NOW = datetime.now(UTC).replace(microsecond=0)
PAST = NOW - timedelta(days=10)
FUTURE = NOW + timedelta(days=10)

WEEKLY_COFFEES = {
    "name": "Three coffees a week",
    "goal": {"type": "count", "target": 3},
    "window": {"type": "recurring", "period": "week", "starts_at": PAST.isoformat()},
    "repeatable": True,
    "conditions": {"mccs": ["5814"]},
    "reward": {"points": 150, "xp": 20},
}


@pytest.fixture
def create(client, marketer_headers):
    def create(expect: int = 201, **changes):
        response = client.post(
            "/v1/challenges", json={**WEEKLY_COFFEES, **changes}, headers=marketer_headers
        )
        assert response.status_code == expect, response.json
        return response.json

    return create


def revision(db) -> int:
    db.session.expire_all()
    return db.session.scalar(select(Program.rules_revision).where(Program.slug == "youth"))


def audit_actions(db) -> list[str]:
    return list(db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def add_badge(db, program_id: int, criteria: dict, status: str = "active") -> int:
    badge = Badge(program_id=program_id, name="B", criteria=criteria, status=status, created_by="t")
    db.session.add(badge)
    db.session.commit()
    return badge.id


def test_create_is_a_normalised_draft_at_version_1_audited_with_a_new_revision(
    client, db, marketer_headers, create
):
    body = create()

    assert body["status"] == "draft" and body["version"] == 1
    assert body["join"] == "automatic" and body["priority"] == 100
    assert body["window"] == {
        "type": "recurring",
        "period": "week",
        "starts_at": PAST.replace(tzinfo=None).isoformat() + "Z",
        "ends_at": None,
    }
    assert body["reward"] == {"points": 150, "xp": 20}
    assert body["participants"] == 0 and body["completions"] == 0
    assert body["created_by"] == "user:mkt-1"
    row = db.session.get(Challenge, body["id"])
    assert (row.name, row.goal_type, row.period, row.starts_at) == (
        "Three coffees a week",
        "count",
        "week",
        PAST,
    )
    audit = db.session.scalar(select(AuditLog))
    assert (audit.action, audit.object_type, audit.object_id) == (
        "challenge.create",
        "challenge",
        str(body["id"]),
    )
    assert audit.after["definition"]["goal"] == {"type": "count", "target": 3}
    assert revision(db) == 1


def test_invalid_definition_is_422_naming_every_path_and_stores_nothing(
    client, db, marketer_headers
):
    bad = {
        **WEEKLY_COFFEES,
        "goal": {"type": "count", "target": 0},
        "conditions": {"mccs": ["6011", "5814"], "categories": ["gambling"]},
        "reward": {"points": -1},
        "window": {"type": "recurring", "starts_at": "soon"},
        "colour": "red",
    }

    response = client.post("/v1/challenges", json=bad, headers=marketer_headers)

    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    # 6011 is one of the program's excluded MCCs (cash); gambling is never a target.
    assert set(response.json["errors"]) == {
        "goal.target",
        "conditions.mccs.0",
        "conditions.categories.0",
        "reward.points",
        "window.period",
        "window.starts_at",
        "colour",
    }
    assert count(db, Challenge) == 0 and count(db, ChallengeVersion) == 0
    assert audit_actions(db) == [] and revision(db) == 0


def test_badge_sponsor_and_segment_must_be_the_programs_own(client, db, program, marketer_headers):
    other = ProgramFactory(slug="other")
    db.session.commit()
    foreign_badge = add_badge(db, other.id, {"type": "challenge"})
    milestone = add_badge(db, program.id, {"type": "first_purchase"})
    retired = add_badge(db, program.id, {"type": "challenge"}, status="retired")

    def errors(**changes) -> dict:
        body = {**WEEKLY_COFFEES, **changes}
        response = client.post("/v1/challenges", json=body, headers=marketer_headers)
        assert response.status_code == 422, response.json
        return response.json["errors"]

    assert set(
        errors(
            reward={"points": 10, "badge_id": foreign_badge},
            sponsor="noodle-bar",
            audience={"segment_id": 4242},
        )
    ) == {"reward.badge_id", "sponsor", "audience.segment_id"}
    assert "milestone" in errors(reward={"badge_id": milestone})["reward.badge_id"][0]
    assert "retired" in errors(reward={"badge_id": retired})["reward.badge_id"][0]
    assert count(db, Challenge) == 0

    own = add_badge(db, program.id, {"type": "challenge"})
    partner = client.post(
        "/v1/partners",
        json={"code": "noodle-bar", "name": "Noodle Bar", "merchant_ids": ["m-1"]},
        headers=marketer_headers,
    )
    assert partner.status_code == 201
    ok = client.post(
        "/v1/challenges",
        json={**WEEKLY_COFFEES, "reward": {"points": 10, "badge_id": own}, "sponsor": "noodle-bar"},
        headers=marketer_headers,
    )
    assert ok.status_code == 201, ok.json
    assert ok.json["reward"] == {"points": 10, "badge_id": own}
    assert ok.json["sponsor"] == "noodle-bar"


def test_list_is_newest_first_paginated_and_filtered(client, marketer_headers, create):
    ids = [create(name=f"C{n}")["id"] for n in range(3)]
    client.post(f"/v1/challenges/{ids[0]}/activate", headers=marketer_headers)

    first = client.get("/v1/challenges?limit=2", headers=marketer_headers).json
    assert [c["id"] for c in first["data"]] == [ids[2], ids[1]]
    rest = client.get(
        f"/v1/challenges?limit=2&cursor={first['next_cursor']}", headers=marketer_headers
    ).json
    assert [c["id"] for c in rest["data"]] == [ids[0]] and rest["next_cursor"] is None
    active = client.get("/v1/challenges?status=active", headers=marketer_headers).json
    assert [c["id"] for c in active["data"]] == [ids[0]]
    drafts = client.get("/v1/challenges?status=draft", headers=marketer_headers).json
    assert {c["id"] for c in drafts["data"]} == {ids[1], ids[2]}
    assert client.get("/v1/challenges?status=live", headers=marketer_headers).status_code == 422


def test_active_on_uses_the_program_timezone(client, marketer_headers, create):
    # Tokyo is UTC+9: the window is 1 May 00:00 to 3 May 00:00, Tokyo time.
    window = {
        "type": "fixed",
        "starts_at": "2026-05-01T00:00:00+09:00",
        "ends_at": "2026-05-03T00:00:00+09:00",
    }
    may = create(window=window, repeatable=False)

    def on(day: str) -> list[int]:
        url = f"/v1/challenges?active_on={day}"
        return [c["id"] for c in client.get(url, headers=marketer_headers).json["data"]]

    assert on("2026-04-30") == []  # in UTC the window starts on 30 April, 15:00
    assert on("2026-05-01") == [may["id"]]
    assert on("2026-05-02") == [may["id"]]
    assert on("2026-05-03") == []


def test_draft_in_place_live_gets_a_version_and_keeps_the_old_one(
    client, db, marketer_headers, create
):
    challenge = create()
    url = f"/v1/challenges/{challenge['id']}"

    draft = client.patch(url, json={"goal": {"target": 4}}, headers=marketer_headers)
    assert draft.status_code == 200 and draft.json["version"] == 1
    assert draft.json["goal"] == {"type": "count", "target": 4}
    assert client.post(f"{url}/activate", headers=marketer_headers).json["status"] == "active"

    live = client.patch(
        url, json={"goal": {"target": 5}, "reward": {"xp": None}}, headers=marketer_headers
    )

    assert live.status_code == 200, live.json
    assert live.json["version"] == 2 and live.json["status"] == "active"
    assert live.json["reward"] == {"points": 150}
    v1 = client.get(f"{url}/versions/1", headers=marketer_headers).json
    assert v1["goal"]["target"] == 4 and v1["reward"]["xp"] == 20
    assert v1["challenge_id"] == challenge["id"] and v1["created_by"] == "user:mkt-1"
    listed = client.get(f"{url}/versions?limit=1", headers=marketer_headers).json
    assert [v["version"] for v in listed["data"]] == [2]
    older = client.get(
        f"{url}/versions?limit=1&cursor={listed['next_cursor']}", headers=marketer_headers
    ).json
    assert [v["version"] for v in older["data"]] == [1] and older["next_cursor"] is None
    assert client.get(f"{url}/versions/3", headers=marketer_headers).status_code == 404
    update = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "challenge.update").order_by(AuditLog.id)
    ).all()[-1]
    assert update.before["version"] == 1 and update.after["version"] == 2
    assert update.after["definition"]["goal"]["target"] == 5


def test_a_live_challenge_keeps_its_goal_and_period_shape(client, marketer_headers, create):
    challenge = create()
    url = f"/v1/challenges/{challenge['id']}"
    client.post(f"{url}/activate", headers=marketer_headers)

    for change, path in (
        ({"goal": {"type": "spend", "target": 5000}}, "goal.type"),
        ({"window": {"period": "month"}}, "window.period"),
    ):
        response = client.patch(url, json=change, headers=marketer_headers)
        assert response.status_code == 409, change
        assert list(response.json["errors"]) == [path]
    assert client.get(url, headers=marketer_headers).json["version"] == 1


def test_lifecycle_transitions_and_illegal_ones(client, db, marketer_headers, create):
    future = {"type": "recurring", "period": "week", "starts_at": FUTURE.isoformat()}
    challenge = create(window=future)
    url = f"/v1/challenges/{challenge['id']}"

    def act(action: str, **body):
        return client.post(f"{url}/{action}", json=body, headers=marketer_headers)

    assert act("pause").status_code == 409  # still a draft
    assert act("activate").json["status"] == "scheduled"
    conflict = act("activate")
    assert conflict.status_code == 409 and conflict.content_type == "application/problem+json"
    assert list(conflict.json["errors"]) == ["status"]
    assert act("pause", reason="Supplier issue").json["status"] == "paused"
    assert act("activate").json["status"] == "scheduled"
    assert act("end").json["status"] == "ended"
    for action in ("activate", "pause", "end"):
        response = act(action)
        assert response.status_code == 409 and list(response.json["errors"]) == ["status"]
    edit = client.patch(url, json={"name": "Again"}, headers=marketer_headers)
    assert edit.status_code == 409 and list(edit.json["errors"]) == ["status"]
    assert audit_actions(db) == [
        "challenge.create",
        "challenge.activate",
        "challenge.pause",
        "challenge.activate",
        "challenge.end",
    ]
    pause = db.session.scalar(select(AuditLog).where(AuditLog.action == "challenge.pause"))
    assert pause.before == {"status": "scheduled"}
    assert pause.after == {"status": "paused", "reason": "Supplier issue", "version": 1}
    assert revision(db) == 5  # one per change, none for the refused ones


def test_idempotency_key_on_create_makes_one_challenge(client, db, marketer_headers):
    headers = {**marketer_headers, "Idempotency-Key": "chl-create-1"}
    first = client.post("/v1/challenges", json=WEEKLY_COFFEES, headers=headers)
    again = client.post("/v1/challenges", json=WEEKLY_COFFEES, headers=headers)
    other = client.post("/v1/challenges", json={**WEEKLY_COFFEES, "name": "X"}, headers=headers)

    assert first.status_code == 201 and again.status_code == 201
    assert again.json == first.json
    assert other.status_code == 409
    assert count(db, Challenge) == 1


def test_another_programs_marketer_sees_nothing(client, db, marketer_headers, create):
    challenge = create()
    ProgramFactory(slug="other")
    db.session.commit()
    other = bearer(make_token(sub="m2", program="other", roles=["marketer"]))
    url = f"/v1/challenges/{challenge['id']}"

    assert client.get("/v1/challenges", headers=other).json["data"] == []
    for method, path, body in (
        ("GET", url, None),
        ("PATCH", url, {"name": "Mine now"}),
        ("GET", f"{url}/versions", None),
        ("GET", f"{url}/versions/1", None),
        ("POST", f"{url}/activate", None),
        ("POST", f"{url}/end", None),
    ):
        response = client.open(path, method=method, json=body, headers=other)
        assert response.status_code == 404, (method, path)
        assert response.content_type == "application/problem+json"
    assert client.get(url, headers=marketer_headers).json == challenge
    assert audit_actions(db) == ["challenge.create"]


def test_openapi_documents_the_challenge_endpoints(client):
    spec = client.get("/v1/openapi.json").json
    operations = {
        operation["operationId"]: (path, method, operation)
        for path, item in spec["paths"].items()
        if path.startswith("/v1/challenges")
        for method, operation in item.items()
        if method != "parameters"
    }
    assert set(operations) == {
        "createChallenge",
        "listChallenges",
        "getChallenge",
        "updateChallenge",
        "listChallengeVersions",
        "getChallengeVersion",
        "activateChallenge",
        "pauseChallenge",
        "endChallenge",
    }
    _, _, create_op = operations["createChallenge"]
    assert {"201", "400", "401", "403", "409", "422", "429"} <= set(create_op["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in create_op["parameters"])
    _, _, update_op = operations["updateChallenge"]
    assert {"404", "409", "422"} <= set(update_op["responses"])
    for status in ("404", "409"):
        content = operations["endChallenge"][2]["responses"][status]["content"]
        assert "application/problem+json" in content

"""Campaigns through the marketer API: create, read, list, versions, lifecycle, audit, revision."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from campaigns.earning.models import Campaign, CampaignVersion
from campaigns.earning.service import effective_status
from campaigns.earning.usage import CampaignDay
from rewards.models import AuditLog, Program
from tests.conftest import bearer, make_token
from tests.factories import ProgramFactory

NOW = datetime.now(UTC)
PAST = (NOW - timedelta(days=10)).isoformat()
FUTURE = (NOW + timedelta(days=10)).isoformat()

DEFINITION = {
    "name": "Weekend Eats",
    "starts_at": PAST,
    "conditions": {"categories": ["dining"], "weekdays": [6, 7]},
    "effect": {"type": "multiplier", "value": "3"},
    "caps": {"per_customer": [{"period": "week", "points": 500}]},
    "budget_points": 100000,
}


@pytest.fixture
def create(client, marketer_headers):
    def create(**changes):
        response = client.post(
            "/v1/campaigns", json={**DEFINITION, **changes}, headers=marketer_headers
        )
        assert response.status_code == 201, response.json
        return response.json

    return create


def revision(db) -> int:
    db.session.expire_all()
    return db.session.scalar(select(Program.rules_revision).where(Program.slug == "youth"))


def audit_actions(db) -> list[str]:
    return list(db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


def test_create_is_a_draft_at_version_1_audited_and_bumps_the_rules_revision(
    client, db, marketer_headers, create
):
    body = create()

    assert body["status"] == "draft" and body["version"] == 1
    assert body["effect"] == {"type": "multiplier", "value": "3"}
    assert body["priority"] == 100 and body["stackable"] is True
    assert body["budget_used"] == 0 and body["budget_remaining"] == 100000
    assert body["participants"] == 0 and body["created_by"] == "user:mkt-1"
    assert body["starts_at"].endswith("Z") and body["created_at"].endswith("Z")
    read = client.get(f"/v1/campaigns/{body['id']}", headers=marketer_headers)
    assert read.status_code == 200 and read.json == body
    audit = db.session.scalar(select(AuditLog))
    assert (audit.action, audit.object_type, audit.object_id) == (
        "campaign.create",
        "campaign",
        str(body["id"]),
    )
    assert audit.before is None and audit.after["definition"]["name"] == "Weekend Eats"
    assert revision(db) == 1


def test_invalid_definition_is_422_naming_paths_and_stores_nothing(client, db, marketer_headers):
    bad = {
        **DEFINITION,
        "conditions": {"mccs": ["5812", "5812", "58x"], "categories": ["gambling"]},
        "caps": {"per_customer": [{"points": 5}]},
        "ends_at": "2000-01-01T00:00:00Z",
    }
    response = client.post("/v1/campaigns", json=bad, headers=marketer_headers)

    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert set(response.json["errors"]) == {
        "conditions.mccs.2",
        "conditions.categories.0",
        "caps.per_customer.0.period",
        "ends_at",
    }
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 0
    assert audit_actions(db) == [] and revision(db) == 0
    for body in ([1, 2], "text", None):
        assert client.post("/v1/campaigns", json=body, headers=marketer_headers).status_code in (
            400,
            422,
        )


def test_program_excluded_mcc_cannot_be_targeted(client, marketer_headers):
    body = {**DEFINITION, "conditions": {"mccs": ["6011"]}}
    response = client.post("/v1/campaigns", json=body, headers=marketer_headers)
    assert response.status_code == 422
    assert list(response.json["errors"]) == ["conditions.mccs.0"]


def test_list_is_newest_first_paginated_and_filtered(client, marketer_headers, create):
    ids = [create(name=f"C{n}")["id"] for n in range(3)]
    client.post(f"/v1/campaigns/{ids[0]}/activate", headers=marketer_headers)

    first = client.get("/v1/campaigns?limit=2", headers=marketer_headers).json
    assert [c["id"] for c in first["data"]] == [ids[2], ids[1]]
    rest = client.get(
        f"/v1/campaigns?limit=2&cursor={first['next_cursor']}", headers=marketer_headers
    )
    assert [c["id"] for c in rest.json["data"]] == [ids[0]] and rest.json["next_cursor"] is None
    active = client.get("/v1/campaigns?status=active", headers=marketer_headers).json["data"]
    assert [c["id"] for c in active] == [ids[0]]
    drafts = client.get("/v1/campaigns?status=draft", headers=marketer_headers).json["data"]
    assert {c["id"] for c in drafts} == {ids[1], ids[2]}
    assert client.get("/v1/campaigns?status=live", headers=marketer_headers).status_code == 422
    assert client.get("/v1/campaigns?active_on=May", headers=marketer_headers).status_code == 422


def test_active_on_uses_the_program_timezone(client, marketer_headers, create):
    # Tokyo is UTC+9: the window is 1 May 00:00 to 3 May 00:00, Tokyo time.
    may = create(starts_at="2026-05-01T00:00:00+09:00", ends_at="2026-05-03T00:00:00+09:00")

    def on(day: str) -> list[int]:
        url = f"/v1/campaigns?active_on={day}"
        return [c["id"] for c in client.get(url, headers=marketer_headers).json["data"]]

    assert on("2026-04-30") == []  # in UTC the window starts on 30 April, 15:00
    assert on("2026-05-01") == [may["id"]]
    assert on("2026-05-02") == [may["id"]]
    assert on("2026-05-03") == []


def test_draft_is_edited_in_place(client, db, marketer_headers, create):
    campaign = create()
    url = f"/v1/campaigns/{campaign['id']}"

    response = client.patch(
        url, json={"effect": {"value": "5"}, "budget_points": None}, headers=marketer_headers
    )

    assert response.status_code == 200, response.json
    assert response.json["version"] == 1
    assert response.json["effect"] == {"type": "multiplier", "value": "5"}
    assert response.json["budget_points"] is None and response.json["budget_remaining"] is None
    versions = client.get(f"{url}/versions", headers=marketer_headers).json["data"]
    assert [(v["version"], v["effect"]["value"]) for v in versions] == [(1, "5")]
    update = db.session.scalar(select(AuditLog).where(AuditLog.action == "campaign.update"))
    assert update.before["definition"]["effect"]["value"] == "3"
    assert update.after["definition"]["effect"]["value"] == "5"
    assert revision(db) == 2


def test_editing_a_live_campaign_creates_a_version_and_keeps_the_old_one(
    client, db, marketer_headers, create
):
    campaign = create()
    url = f"/v1/campaigns/{campaign['id']}"
    assert client.post(f"{url}/activate", headers=marketer_headers).json["status"] == "active"
    v1 = client.get(f"{url}/versions/1", headers=marketer_headers).json

    response = client.patch(
        url,
        json={"name": "Weekend Feast", "conditions": {"weekdays": [5, 6, 7]}},
        headers=marketer_headers,
    )

    assert response.status_code == 200, response.json
    assert response.json["version"] == 2 and response.json["status"] == "active"
    assert response.json["conditions"] == {"categories": ["dining"], "weekdays": [5, 6, 7]}
    assert client.get(f"{url}/versions/1", headers=marketer_headers).json == v1
    assert v1["name"] == "Weekend Eats" and v1["conditions"]["weekdays"] == [6, 7]
    v2 = client.get(f"{url}/versions/2", headers=marketer_headers).json
    assert v2["name"] == "Weekend Feast" and v2["campaign_id"] == campaign["id"]
    listed = client.get(f"{url}/versions?limit=1", headers=marketer_headers).json
    assert [v["version"] for v in listed["data"]] == [2]
    older = client.get(
        f"{url}/versions?limit=1&cursor={listed['next_cursor']}", headers=marketer_headers
    ).json
    assert [v["version"] for v in older["data"]] == [1] and older["next_cursor"] is None
    assert client.get(f"{url}/versions/3", headers=marketer_headers).status_code == 404
    assert client.get(url, headers=marketer_headers).json["name"] == "Weekend Feast"


def test_unchanged_edit_makes_no_version_audit_or_revision(client, db, marketer_headers, create):
    campaign = create()
    url = f"/v1/campaigns/{campaign['id']}"
    client.post(f"{url}/activate", headers=marketer_headers)
    before = revision(db)

    response = client.patch(url, json={"effect": {"value": 3}}, headers=marketer_headers)

    assert response.status_code == 200 and response.json["version"] == 1
    assert revision(db) == before
    assert audit_actions(db) == ["campaign.create", "campaign.activate"]


def test_bad_edit_is_422_and_changes_nothing(client, db, marketer_headers, create):
    campaign = create()
    url = f"/v1/campaigns/{campaign['id']}"
    for change, path in (
        ({"ends_at": "2001-01-01T00:00:00Z"}, "ends_at"),
        ({"status": "active"}, "status"),
        ({"effect": {"type": "discount"}}, "effect.type"),
        ({"name": None}, "name"),
    ):
        response = client.patch(url, json=change, headers=marketer_headers)
        assert response.status_code == 422, change
        assert list(response.json["errors"]) == [path]
    assert client.get(url, headers=marketer_headers).json == campaign
    assert revision(db) == 1


def test_budget_cannot_drop_below_what_was_granted(client, db, program, marketer_headers, create):
    campaign = create()
    row = db.session.get(Campaign, campaign["id"])
    row.budget_used = 600  # budgeted: the feed counts on the row
    # No participant limit: new earners are counted per day.
    db.session.add(
        CampaignDay(campaign_id=row.id, day=NOW.date(), shard=0, points=600, participants=3)
    )
    db.session.commit()

    response = client.patch(
        f"/v1/campaigns/{campaign['id']}",
        json={"budget_points": 500, "max_participants": 2},
        headers=marketer_headers,
    )

    assert response.status_code == 422
    assert set(response.json["errors"]) == {"budget_points", "max_participants"}
    got = client.get(f"/v1/campaigns/{campaign['id']}", headers=marketer_headers).json
    assert got["budget_remaining"] == 100000 - 600 and got["participants"] == 3


def test_lifecycle_transitions_and_illegal_ones(client, db, marketer_headers, create):
    campaign = create(starts_at=FUTURE)
    url = f"/v1/campaigns/{campaign['id']}"

    def act(action: str, **body):
        return client.post(f"{url}/{action}", json=body, headers=marketer_headers)

    assert act("pause").status_code == 409  # still a draft
    assert act("activate").json["status"] == "scheduled"
    conflict = act("activate")
    assert conflict.status_code == 409 and conflict.content_type == "application/problem+json"
    assert list(conflict.json["errors"]) == ["status"]
    assert act("pause", reason="Supplier issue").json["status"] == "paused"
    assert act("pause").status_code == 409
    assert act("activate").json["status"] == "scheduled"
    assert act("end").json["status"] == "ended"
    for action in ("activate", "pause", "end"):
        response = act(action)
        assert response.status_code == 409 and list(response.json["errors"]) == ["status"]
    edit = client.patch(url, json={"name": "Again"}, headers=marketer_headers)
    assert edit.status_code == 409 and list(edit.json["errors"]) == ["status"]
    assert audit_actions(db) == [
        "campaign.create",
        "campaign.activate",
        "campaign.pause",
        "campaign.activate",
        "campaign.end",
    ]
    pause = db.session.scalar(select(AuditLog).where(AuditLog.action == "campaign.pause"))
    assert pause.before == {"status": "scheduled"}
    assert pause.after == {"status": "paused", "reason": "Supplier issue", "version": 1}
    assert revision(db) == 5  # one per change, none for the refused ones


def test_activation_starts_now_when_the_window_has_begun(client, marketer_headers, create):
    campaign = create(starts_at=PAST)
    response = client.post(f"/v1/campaigns/{campaign['id']}/activate", headers=marketer_headers)
    assert response.status_code == 200 and response.json["status"] == "active"


def test_a_campaign_whose_window_is_over_cannot_be_activated(client, marketer_headers, create):
    past_end = (NOW - timedelta(days=1)).isoformat()
    campaign = create(starts_at=(NOW - timedelta(days=5)).isoformat(), ends_at=past_end)
    response = client.post(f"/v1/campaigns/{campaign['id']}/activate", headers=marketer_headers)
    assert response.status_code == 409 and list(response.json["errors"]) == ["ends_at"]
    assert (
        client.get(f"/v1/campaigns/{campaign['id']}", headers=marketer_headers).json["status"]
        == "draft"
    )


def test_effective_status_follows_the_window():
    start, end = datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)
    before, during, after = start - timedelta(seconds=1), start, end

    def status(stored: str, at: datetime, ends_at: datetime | None = end) -> str:
        row = SimpleNamespace(status=stored, starts_at=start, ends_at=ends_at)
        return effective_status(row, at)  # type: ignore[arg-type]

    assert [status("scheduled", t) for t in (before, during, after)] == [
        "scheduled",
        "active",
        "ended",
    ]
    assert [status("active", t) for t in (during, after)] == ["active", "ended"]
    assert status("active", after + timedelta(days=999), ends_at=None) == "active"
    for stored in ("draft", "paused", "ended"):
        assert status(stored, after) == stored


def test_scheduled_campaign_reads_and_lists_as_active_once_started(
    client, db, marketer_headers, create
):
    campaign = create(starts_at=FUTURE)
    url = f"/v1/campaigns/{campaign['id']}"
    client.post(f"{url}/activate", headers=marketer_headers)
    row = db.session.get(Campaign, campaign["id"])
    row.starts_at = NOW - timedelta(minutes=1)  # as if the start had passed
    db.session.commit()

    assert client.get(url, headers=marketer_headers).json["status"] == "active"
    listed = client.get("/v1/campaigns?status=active", headers=marketer_headers).json["data"]
    assert [c["id"] for c in listed] == [campaign["id"]]
    assert client.get("/v1/campaigns?status=scheduled", headers=marketer_headers).json["data"] == []


def test_idempotency_key_on_create_makes_one_campaign(client, db, marketer_headers):
    headers = {**marketer_headers, "Idempotency-Key": "create-1"}
    first = client.post("/v1/campaigns", json=DEFINITION, headers=headers)
    second = client.post("/v1/campaigns", json=DEFINITION, headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.json == first.json and second.headers["Idempotent-Replayed"] == "true"
    assert db.session.scalar(select(func.count()).select_from(CampaignVersion)) == 1


def test_other_roles_are_refused(client, create, admin_headers, cardholder_headers):
    campaign = create()
    for headers in (admin_headers, cardholder_headers):
        assert client.get("/v1/campaigns", headers=headers).status_code == 403
        assert client.post("/v1/campaigns", json=DEFINITION, headers=headers).status_code == 403
        url = f"/v1/campaigns/{campaign['id']}/end"
        assert client.post(url, headers=headers).status_code == 403


def test_another_programs_marketer_sees_nothing(client, db, marketer_headers, create):
    campaign = create()
    ProgramFactory(slug="other")
    db.session.commit()
    other = bearer(make_token(sub="m-2", program="other", roles=["marketer"]))
    url = f"/v1/campaigns/{campaign['id']}"

    for method, path, body in (
        ("GET", url, None),
        ("PATCH", url, {"name": "Mine now"}),
        ("GET", f"{url}/versions", None),
        ("GET", f"{url}/versions/1", None),
        ("POST", f"{url}/activate", None),
        ("POST", f"{url}/pause", None),
        ("POST", f"{url}/end", None),
    ):
        response = client.open(path, method=method, json=body, headers=other)
        assert response.status_code == 404, (method, path)
        assert response.content_type == "application/problem+json"
    assert client.get("/v1/campaigns", headers=other).json["data"] == []
    assert client.get(url, headers=marketer_headers).json == campaign


def test_openapi_documents_the_campaign_endpoints(client):
    spec = client.get("/v1/openapi.json").json
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/v1/campaigns"])
    assert {"get", "patch"} <= set(paths["/v1/campaigns/{campaign_id}"])
    for action in ("activate", "pause", "end"):
        operation = paths[f"/v1/campaigns/{{campaign_id}}/{action}"]["post"]
        assert {"404", "409"} <= set(operation["responses"])
    assert "get" in paths["/v1/campaigns/{campaign_id}/versions"]
    assert "get" in paths["/v1/campaigns/{campaign_id}/versions/{version}"]
    create = paths["/v1/campaigns"]["post"]
    assert "422" in create["responses"] and "requestBody" in create
    schemas = spec["components"]["schemas"]
    assert "conditions" in schemas["Campaign"]["properties"]
    assert "per_customer" in schemas["Caps"]["properties"]


def test_concurrent_edits_of_a_live_campaign_each_get_their_own_version(
    app, db, marketer_headers, create
):
    campaign = create()
    url = f"/v1/campaigns/{campaign['id']}"
    with app.test_client() as client:
        client.post(f"{url}/activate", headers=marketer_headers)
    statuses: list[int] = []

    def edit(value: str) -> None:
        with app.test_client() as own_client:
            body = {"effect": {"value": value}}
            statuses.append(own_client.patch(url, json=body, headers=marketer_headers).status_code)

    threads = [threading.Thread(target=edit, args=(str(n),)) for n in range(4, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * 5
    db.session.expire_all()
    versions = db.session.scalars(
        select(CampaignVersion.version).where(CampaignVersion.campaign_id == campaign["id"])
    ).all()
    assert sorted(versions) == [1, 2, 3, 4, 5, 6]
    assert db.session.get(Campaign, campaign["id"]).current_version == 6
    assert revision(db) == 1 + 1 + 5

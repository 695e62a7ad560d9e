"""The cardholder's challenges through HTTP on PostgreSQL: available, active (progress, time
left, streak with a frozen day, time left today in Tokyo), completed, joining, and that no other
customer's data shows.

Progress and contributions are inserted directly, as the feed would have written them. The
moment of each request is fixed at Wednesday 25 March 2026, 21:30 in Tokyo (12:30 UTC), ISO
week 13; March 2026 starts on a Sunday, so ISO week 12 is Monday 16 to Sunday 22 March.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from api.resources import my_challenges as my_challenges_api
from campaigns.challenges.models import ChallengeProgress
from tests.conftest import bearer, make_token
from tests.factories import CustomerFactory, ProgramFactory
from tests.xp_helpers import counted_purchase

NOW = datetime(2026, 3, 25, 12, 30, tzinfo=UTC)  # 21:30 in Tokyo
MARCH = "2026-03-01T00:00:00+09:00"


@pytest.fixture
def frozen(monkeypatch):
    """Fix the moment the cardholder views see (they take it from the request's clock)."""

    def freeze(moment: datetime) -> None:
        class Clock(datetime):
            @classmethod
            def now(cls, tz=None):  # type: ignore[override]
                return moment if tz is None else moment.astimezone(tz)

        monkeypatch.setattr(my_challenges_api, "datetime", Clock)

    freeze(NOW)
    return freeze


@pytest.fixture
def launch(client, marketer_headers):
    """Create a challenge through the marketer API, activate it unless `draft`; its id."""

    def launch(name: str, goal: dict, window: dict, draft: bool = False, **rest) -> int:
        body = {"name": name, "goal": goal, "window": window, **rest}
        created = client.post("/v1/challenges", json=body, headers=marketer_headers)
        assert created.status_code == 201, created.json
        challenge_id = created.json["id"]
        if not draft:
            activated = client.post(
                f"/v1/challenges/{challenge_id}/activate", headers=marketer_headers
            )
            assert activated.status_code == 200, activated.json
        return challenge_id

    return launch


def progress(db, customer_id, challenge_id, period, value, target, **extra) -> None:
    db.session.add(
        ChallengeProgress(
            customer_id=customer_id,
            challenge_id=challenge_id,
            period=period,
            value=value,
            target=target,
            **extra,
        )
    )


def contribution(db, tx: int, customer_id, challenge_id, period, day, refunded=0) -> None:
    counted_purchase(tx, customer_id, {challenge_id: period}, day, refunded=refunded)


@pytest.fixture
def world(db, program, launch, frozen):
    """Challenges of every kind, cust-1 part-way through some, cust-2 elsewhere."""
    me = CustomerFactory(program=program, external_ref="cust-1", birth_date=date(2005, 4, 1))
    other = CustomerFactory(program=program, external_ref="cust-2", birth_date=date(2005, 4, 1))
    db.session.commit()
    weekly = {"type": "recurring", "period": "week", "starts_at": MARCH}
    ids = {
        "coffee": launch(
            "Coffee week",
            {"type": "count", "target": 3},
            weekly,
            repeatable=True,
            conditions={"categories": ["dining"]},
            reward={"points": 150, "xp": 20},
        ),
        "streak": launch(
            "Daily streak",
            {"type": "streak", "target": 10, "unit": "days"},
            {"type": "fixed", "starts_at": MARCH},
            reward={"points": 300},
        ),
        "spend": launch(
            "Dining spend",
            {"type": "spend", "target": 5000},
            {"type": "fixed", "starts_at": MARCH, "ends_at": "2027-06-01T00:00:00+09:00"},
            join="opt_in",
            conditions={"categories": ["dining"]},
            reward={"points": 200, "xp": 30},
        ),
        "teens": launch(
            "Teens only",
            {"type": "count", "target": 2},
            {"type": "fixed", "starts_at": MARCH},
            join="opt_in",
            audience={"max_age": 18},
        ),
        "once": launch(
            "Five in a month, once",
            {"type": "count", "target": 5},
            {"type": "recurring", "period": "month", "starts_at": "2026-02-01T00:00:00+09:00"},
        ),
        # Starts after the fixed moment (so it is scheduled then), before the real clock.
        "later": launch(
            "April fools",
            {"type": "count", "target": 4},
            {"type": "fixed", "starts_at": "2026-04-01T00:00:00+09:00"},
            join="opt_in",
        ),
        "draft": launch(
            "Not yet",
            {"type": "count", "target": 1},
            {"type": "fixed", "starts_at": MARCH},
            join="opt_in",
            draft=True,
        ),
    }
    progress(db, me.id, ids["coffee"], "w:2026-W13", 2, 3)

    def done(at: datetime, points: int = 0) -> dict:
        return {"status": "completed", "completed_at": at, "awards": 1, "reward_points": points}

    progress(
        db,
        me.id,
        ids["coffee"],
        "w:2026-W12",
        3,
        3,
        **done(datetime(2026, 3, 20, 3, 0, tzinfo=UTC), 150),
    )
    progress(db, me.id, ids["streak"], "c", 7, 10, current_streak=7, best_streak=7)
    progress(
        db, me.id, ids["once"], "m:2026-02", 5, 5, **done(datetime(2026, 2, 27, 9, 0, tzinfo=UTC))
    )
    # cust-2 completed this week's coffees and bought on 24 and 25 March: none of it is mine.
    progress(db, other.id, ids["coffee"], "w:2026-W13", 3, 3, **done(NOW))
    for tx, day in ((900, 24), (901, 25)):
        contribution(db, tx, other.id, ids["streak"], "c", date(2026, 3, day))
    # Mine: 9-10 March, then 16-18 and 20-23 March; 19 March was refunded in full.
    for tx, day in enumerate((9, 10, 16, 17, 18, 20, 21, 22, 23), start=1):
        contribution(db, tx, me.id, ids["streak"], "c", date(2026, 3, day))
    contribution(db, 50, me.id, ids["streak"], "c", date(2026, 3, 19), refunded=500)
    contribution(db, 51, me.id, ids["streak"], "c", date(2026, 3, 18), refunded=200)
    # Coffee contributions on 23 and 24 March are another challenge: not the streak's days.
    for tx, day in ((60, 23), (61, 24)):
        contribution(db, tx, me.id, ids["coffee"], "w:2026-W13", date(2026, 3, day))
    db.session.commit()
    return ids


def by_name(entries: list[dict]) -> dict[str, dict]:
    return {e["name"]: e for e in entries}


def test_available_active_and_completed(client, cardholder_headers, marketer_headers, world):
    # A richer reward from now on (version 2): week 12 was granted 150 points.
    raised = client.patch(
        f"/v1/challenges/{world['coffee']}",
        json={"reward": {"points": 180}},
        headers=marketer_headers,
    )
    assert raised.json["version"] == 2
    response = client.get("/v1/me/challenges", headers=cardholder_headers)

    assert response.status_code == 200, response.json
    body = response.json
    assert [e["name"] for e in body["available"]] == ["April fools", "Dining spend"]
    spend = by_name(body["available"])["Dining spend"]
    assert spend["description"] == "Spend ¥5,000 on dining"
    assert spend["reward"] == {"points": 200, "xp": 30}
    assert spend["status"] == "active" and spend["joined_at"] is None
    assert by_name(body["available"])["April fools"]["status"] == "scheduled"

    assert [e["name"] for e in body["active"]] == ["Daily streak", "Coffee week"]
    coffee = by_name(body["active"])["Coffee week"]
    assert coffee["description"] == "Make 3 purchases on dining this week"
    assert coffee["period"] == "w:2026-W13"
    assert coffee["progress"] == {"current": 2, "target": 3}
    # Week 13 ends Monday 30 March 00:00 in Tokyo = 29 March 15:00 UTC: 4 days 2.5 hours on.
    assert coffee["period_ends_at"] == "2026-03-29T15:00:00Z"
    assert coffee["time_left"] == 4 * 86400 + 2 * 3600 + 1800
    assert coffee["reward"] == {"points": 180, "xp": 20}
    assert coffee["streak"] is None

    streak = by_name(body["active"])["Daily streak"]
    assert streak["description"] == "Keep a 10-day streak"
    assert streak["period"] == "c" and streak["time_left"] is None
    # 16-18 and 20-23 March count, 19 March (refunded in full) was frozen with week 12's
    # freeze; 24 March is missed and frozen with week 13's; today is still under way.
    assert streak["streak"] == {
        "current": 7,
        "best": 7,
        "freeze_used_this_week": True,
        "time_left_today": 2 * 3600 + 1800,  # 21:30 in Tokyo
    }
    assert streak["progress"] == {"current": 7, "target": 10}

    completed = body["completed"]
    assert [(e["name"], e["period"]) for e in completed] == [
        ("Coffee week", "w:2026-W12"),
        ("Five in a month, once", "m:2026-02"),
    ]
    assert completed[0]["completed_at"] == "2026-03-20T03:00:00Z"
    assert completed[0]["progress"] == {"current": 3, "target": 3}
    assert completed[0]["reward"] == {"points": 150, "xp": 20}
    assert completed[1]["reward"] == {"points": 0}
    # The non-repeatable monthly challenge is done for good: not active in March.
    assert "Five in a month, once" not in by_name(body["active"])
    assert "2005-04-01" not in response.get_data(as_text=True)
    assert "cust-2" not in response.get_data(as_text=True)


def test_a_missed_day_breaks_the_streak_when_the_weeks_freeze_is_used(
    client, cardholder_headers, world, frozen
):
    # Friday 27 March 10:00 Tokyo: 24 and 25 March (both week 13) are missed since 23 March.
    frozen(datetime(2026, 3, 27, 1, 0, tzinfo=UTC))

    body = client.get("/v1/me/challenges", headers=cardholder_headers).json

    streak = by_name(body["active"])["Daily streak"]["streak"]
    assert streak == {
        "current": 0,
        "best": 7,
        "freeze_used_this_week": False,
        "time_left_today": 14 * 3600,
    }


def test_join_is_201_then_200_with_the_first_joined_at(client, cardholder_headers, world, frozen):
    url = f"/v1/me/challenges/{world['spend']}/join"

    first = client.post(url, headers=cardholder_headers)
    frozen(datetime(2026, 3, 25, 13, 0, tzinfo=UTC))
    again = client.post(url, headers=cardholder_headers)

    assert first.status_code == 201, first.json
    assert first.json["joined_at"] == "2026-03-25T12:30:00Z"
    assert first.json["progress"] == {"current": 0, "target": 5000}
    assert first.json["period_ends_at"] == "2027-05-31T15:00:00Z"
    assert again.status_code == 200 and again.json["joined_at"] == "2026-03-25T12:30:00Z"
    body = client.get("/v1/me/challenges", headers=cardholder_headers).json
    assert "Dining spend" not in by_name(body["available"])
    assert by_name(body["active"])["Dining spend"]["joined_at"] == "2026-03-25T12:30:00Z"


def test_a_joined_scheduled_challenge_is_active_with_nothing_counted_yet(
    client, cardholder_headers, world
):
    joined = client.post(f"/v1/me/challenges/{world['later']}/join", headers=cardholder_headers)
    assert joined.status_code == 201

    body = client.get("/v1/me/challenges", headers=cardholder_headers).json

    later = by_name(body["active"])["April fools"]
    assert later["status"] == "scheduled" and later["period"] is None
    assert later["progress"] == {"current": 0, "target": 4} and later["time_left"] is None


def test_join_refusals(client, db, cardholder_headers, marketer_headers, world):
    def join(challenge_id: int):
        return client.post(f"/v1/me/challenges/{challenge_id}/join", headers=cardholder_headers)

    # The audience is 18 and under; cust-1 is 20 in Tokyo today.
    for name in ("teens", "draft", "coffee"):  # not for me, not live, not opt-in
        response = join(world[name])
        assert response.status_code == 404, name
        assert response.content_type == "application/problem+json"
    assert join(999_999).status_code == 404

    client.post(f"/v1/challenges/{world['spend']}/end", headers=marketer_headers)
    ended = join(world["spend"])
    assert ended.status_code == 409 and list(ended.json["errors"]) == ["status"]


def test_another_programs_challenges_are_not_mine(client, db, program, world, frozen):
    other = ProgramFactory(slug="other")
    CustomerFactory(program=other, external_ref="cust-1")
    db.session.commit()
    headers = bearer(make_token(sub="cust-1", program="other", roles=["cardholder"]))

    body = client.get("/v1/me/challenges", headers=headers).json
    assert body == {"available": [], "active": [], "completed": []}
    assert (
        client.post(f"/v1/me/challenges/{world['spend']}/join", headers=headers).status_code == 404
    )


def test_openapi_documents_the_cardholder_endpoints(client):
    paths = client.get("/v1/openapi.json").json["paths"]
    join = paths["/v1/me/challenges/{challenge_id}/join"]["post"]
    assert join["operationId"] == "joinMyChallenge"
    assert {"200", "201", "401", "403", "404", "409", "429"} <= set(join["responses"])
    assert paths["/v1/me/challenges"]["get"]["operationId"] == "listMyChallenges"
    assert paths["/v1/me/badges"]["get"]["operationId"] == "listMyBadges"

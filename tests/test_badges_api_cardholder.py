"""The cardholder's badges through HTTP on PostgreSQL: earned ones, and the active ones still
to earn with progress computed by hand from purchases, partners, streaks, lifetime points and
the challenge that awards a badge. Nothing of another customer shows.

The moment is fixed at Wednesday 25 March 2026, 21:30 in Tokyo (see the challenges test).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import update

from api.resources import my_challenges as my_challenges_api
from campaigns.challenges.models import (
    Badge,
    ChallengeProgress,
    ChallengePurchase,
    CustomerBadge,
)
from rewards.models import Account
from tests.conftest import bearer, make_token
from tests.factories import CardFactory, CustomerFactory, TransactionFactory

NOW = datetime(2026, 3, 25, 12, 30, tzinfo=UTC)
MARCH = "2026-03-01T00:00:00+09:00"


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return NOW if tz is None else NOW.astimezone(tz)

    monkeypatch.setattr(my_challenges_api, "datetime", Clock)


def badge(db, program_id: int, name: str, criteria: dict, status: str = "active") -> int:
    row = Badge(program_id=program_id, name=name, criteria=criteria, status=status, created_by="t")
    db.session.add(row)
    db.session.flush()
    return row.id


@pytest.fixture
def world(client, db, program, marketer_headers):
    me = CustomerFactory(program=program, external_ref="cust-1")
    other = CustomerFactory(program=program, external_ref="cust-2")
    ids = {
        "coffee": badge(db, program.id, "Coffee Lover", {"type": "challenge"}),
        "first": badge(db, program.id, "First Tap", {"type": "first_purchase"}),
        "partners": badge(db, program.id, "Explorer", {"type": "distinct_partners", "count": 3}),
        "streak": badge(db, program.id, "On Fire", {"type": "streak_days", "days": 10}),
        "thousand": badge(db, program.id, "Grand", {"type": "lifetime_points", "points": 1000}),
        "five_hundred": badge(db, program.id, "Half", {"type": "lifetime_points", "points": 500}),
        "orphan": badge(db, program.id, "Mystery", {"type": "challenge"}),
        "draft": badge(db, program.id, "Soon", {"type": "first_purchase"}, status="draft"),
        "retired": badge(db, program.id, "Old", {"type": "challenge"}, status="retired"),
        "once": badge(db, program.id, "Monthly Hero", {"type": "challenge"}),
    }
    db.session.commit()
    for code, merchants in (("p1", ["m-1", "m-2"]), ("p2", ["m-3"]), ("p3", ["m-4"])):
        made = client.post(
            "/v1/partners",
            json={"code": code, "name": code.upper(), "merchant_ids": merchants},
            headers=marketer_headers,
        )
        assert made.status_code == 201, made.json

    def challenge(name: str, badge_id: int, goal: dict, window: dict) -> int:
        body = {"name": name, "goal": goal, "window": window, "reward": {"badge_id": badge_id}}
        created = client.post("/v1/challenges", json=body, headers=marketer_headers).json
        client.post(f"/v1/challenges/{created['id']}/activate", headers=marketer_headers)
        return created["id"]

    weekly = {"type": "recurring", "period": "week", "starts_at": MARCH}
    coffee = challenge("Coffee week", ids["coffee"], {"type": "count", "target": 3}, weekly)
    once = challenge("Once", ids["once"], {"type": "count", "target": 1}, weekly)
    db.session.add_all(
        [
            ChallengeProgress(
                customer_id=me.id, challenge_id=coffee, period="w:2026-W13", value=2, target=3
            ),
            # cust-2 is further on: not my progress.
            ChallengeProgress(
                customer_id=other.id, challenge_id=coffee, period="w:2026-W13", value=3, target=3
            ),
        ]
    )
    # In the weekly coffee challenge: a 4-day streak in week 11 (10, 11, 13, 14 March, the
    # 12th frozen) and a 2-day one in week 13; cust-2 bought every day from 1 to 20 March.
    for tx, day in enumerate((10, 11, 13, 14, 23, 24), start=1):
        period = "w:2026-W13" if day > 22 else "w:2026-W11"
        db.session.add(
            ChallengePurchase(
                transaction_id=tx, customer_id=me.id, counted={str(coffee): period},
                local_day=date(2026, 3, day), amount_minor=500,
            )
        )  # fmt: skip
    for day in range(1, 21):
        db.session.add(
            ChallengePurchase(
                transaction_id=100 + day, customer_id=other.id, counted={str(coffee): "w:2026-W10"},
                local_day=date(2026, 3, day), amount_minor=500,
            )
        )  # fmt: skip
    # Processed purchases at m-1 (twice), m-2 (p1), m-3 (p2), m-9 (no partner); m-4 (p3) only
    # refunded in full, unprocessed, or by cust-2.
    mine, theirs = CardFactory(customer=me), CardFactory(customer=other)
    for merchant, extra in (
        ("m-1", {}),
        ("m-1", {}),
        ("m-2", {}),
        ("m-3", {}),
        ("m-9", {}),
        ("m-4", {"refunded_minor": 1000}),
        ("m-4", {"status": "received"}),
    ):
        TransactionFactory(
            card=mine, customer_id=me.id, merchant_id=merchant, **{"status": "processed", **extra}
        )
    TransactionFactory(card=theirs, customer_id=other.id, merchant_id="m-4", status="processed")
    db.session.execute(
        update(Account).where(Account.customer_id == me.id).values(lifetime_earned=640)
    )
    db.session.execute(
        update(Account).where(Account.customer_id == other.id).values(lifetime_earned=9000)
    )
    db.session.add_all(
        [
            CustomerBadge(customer_id=me.id, badge_id=ids["first"], source="milestone",
                          awarded_at=datetime(2026, 3, 2, 1, 0, tzinfo=UTC)),
            CustomerBadge(customer_id=me.id, badge_id=ids["retired"], source="manual",
                          awarded_at=datetime(2025, 12, 24, 9, 0, tzinfo=UTC)),
            CustomerBadge(customer_id=me.id, badge_id=ids["once"], source="challenge",
                          source_id=once, awarded_at=datetime(2026, 3, 10, 3, 0, tzinfo=UTC)),
            CustomerBadge(customer_id=other.id, badge_id=ids["partners"], source="milestone"),
        ]
    )  # fmt: skip
    db.session.commit()
    return {**ids, "coffee_challenge": coffee, "once_challenge": once}


def test_earned_and_still_to_earn_with_progress(client, cardholder_headers, world):
    response = client.get("/v1/me/badges", headers=cardholder_headers)

    assert response.status_code == 200, response.json
    body = response.json
    earned = [
        (e["badge"]["name"], e["source"], e["challenge_id"], e["awarded_at"])
        for e in body["earned"]
    ]
    assert earned == [
        ("Monthly Hero", "challenge", world["once_challenge"], "2026-03-10T03:00:00Z"),
        ("First Tap", "milestone", None, "2026-03-02T01:00:00Z"),
        ("Old", "manual", None, "2025-12-24T09:00:00Z"),  # retired, but mine
    ]
    assert body["earned"][1]["badge"]["criteria"] == {"type": "first_purchase"}
    to_earn = {t["badge"]["name"]: (t["progress"], t["challenge_id"]) for t in body["to_earn"]}
    assert to_earn == {
        "Coffee Lover": ({"current": 2, "target": 3}, world["coffee_challenge"]),
        "Explorer": ({"current": 2, "target": 3}, None),  # p1 and p2
        "On Fire": ({"current": 4, "target": 10}, None),
        "Grand": ({"current": 640, "target": 1000}, None),
        "Half": ({"current": 500, "target": 500}, None),  # reached; the feed awards it
        "Mystery": (None, None),  # no challenge open to me awards it
    }
    names = [t["badge"]["name"] for t in body["to_earn"]]  # oldest first
    assert names == ["Coffee Lover", "Explorer", "On Fire", "Grand", "Half", "Mystery"]


def test_a_customer_with_nothing_yet(client, db, program, world):
    CustomerFactory(program=program, external_ref="cust-3")
    db.session.commit()
    headers = bearer(make_token(sub="cust-3", program=program.slug, roles=["cardholder"]))

    body = client.get("/v1/me/badges", headers=headers).json

    assert body["earned"] == []
    to_earn = {t["badge"]["name"]: t["progress"] for t in body["to_earn"]}
    assert to_earn["First Tap"] == {"current": 0, "target": 1}
    assert to_earn["Coffee Lover"] == {"current": 0, "target": 3}
    assert to_earn["Explorer"] == {"current": 0, "target": 3}
    assert to_earn["On Fire"] == {"current": 0, "target": 10}
    assert to_earn["Grand"] == {"current": 0, "target": 1000}
    assert "Soon" not in to_earn and "Old" not in to_earn


def test_an_unknown_cardholder_is_404(client, program):
    headers = bearer(make_token(sub="nobody", program=program.slug, roles=["cardholder"]))
    response = client.get("/v1/me/badges", headers=headers)
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"

"""Campaign stats: points per program-local day net of refunds, participants, budget."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from campaigns.earning.usage import CustomerCampaigns
from rewards.models import LedgerEntry
from tests.ledger_helpers import enrol, store
from workers.jobs import process_transactions

NOW = datetime.now(UTC)
# 2026-03-10 15:30 UTC is 2026-03-11 00:30 in Tokyo: it counts on the 11th.
LATE = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)


def _stats(client, headers, campaign_id):
    response = client.get(f"/v1/campaigns/{campaign_id}/stats", headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def test_stats_after_processing_and_after_a_refund(db, program, launch, client, marketer_headers):
    since = datetime(2026, 3, 1, tzinfo=UTC).isoformat()
    campaign_id = launch(
        starts_at=since, effect={"type": "fixed_bonus", "value": "300"}, budget_points=10_000
    )
    other = launch(name="Other", starts_at=since, effect={"type": "fixed_bonus", "value": "7"})
    first, second = enrol(program.id), enrol(program.id)
    process_transactions(
        [
            store(program.id, first.token, "p-1", amount_minor=500, occurred_at=LATE),
            store(program.id, first.token, "p-2", amount_minor=500, occurred_at=LATE),
            store(program.id, second.token, "p-3", amount_minor=500, occurred_at=NOW),
        ]
    )
    stats = _stats(client, marketer_headers, campaign_id)
    today = NOW.astimezone(ZoneInfo("Asia/Tokyo")).date().isoformat()
    assert stats["points_issued"] == 900 and stats["clawed_back"] == 0
    assert stats["participants"] == 2
    assert (stats["budget_points"], stats["budget_used"], stats["budget_remaining"]) == (
        10_000,
        900,
        9_100,
    )
    assert stats["per_day"] == [
        {"date": "2026-03-11", "points": 600, "clawed_back": 0},
        {"date": today, "points": 300, "clawed_back": 0},
    ]
    assert _stats(client, marketer_headers, other)["points_issued"] == 21

    process_transactions(
        [
            store(
                program.id,
                first.token,
                "r-1",
                kind="refund",
                amount_minor=500,
                original_external_id="p-1",
                occurred_at=NOW,
            )
        ]
    )
    stats = _stats(client, marketer_headers, campaign_id)
    assert stats["points_issued"] == 900 and stats["clawed_back"] == 300
    assert stats["net_points"] == 600
    assert stats["budget_used"] == 600 and stats["budget_remaining"] == 9_400
    assert stats["per_day"][-1] == {"date": today, "points": 300, "clawed_back": 300}
    # The other campaign's bonus on p-1 went back too, and only in its own stats.
    assert _stats(client, marketer_headers, other)["clawed_back"] == 7


def test_a_campaign_without_budget_or_grants(db, program, launch, client, marketer_headers):
    campaign_id = launch()
    stats = _stats(client, marketer_headers, campaign_id)
    assert stats == {
        "campaign_id": campaign_id,
        "points_issued": 0,
        "clawed_back": 0,
        "net_points": 0,
        "participants": 0,
        "budget_points": None,
        "budget_used": 0,
        "budget_remaining": None,
        "per_day": [],
    }
    assert client.get("/v1/campaigns/999/stats", headers=marketer_headers).status_code == 404


def test_participants_and_a_limit_added_later(db, program, launch, client, marketer_headers):
    campaign_id = launch(
        effect={"type": "fixed_bonus", "value": "10"},
        caps={"per_customer": [{"period": "day", "points": 1000}]},
    )
    first, second, third = enrol(program.id), enrol(program.id), enrol(program.id)
    p1 = store(program.id, first.token, "p-1", amount_minor=100)
    p2 = store(program.id, second.token, "p-2", amount_minor=100)
    p1b = store(program.id, first.token, "p-1b", amount_minor=100)
    process_transactions([p1, p2, p1b])
    joined = dict(
        db.session.execute(
            select(CustomerCampaigns.customer_id, CustomerCampaigns.campaign_ids)
        ).all()
    )
    assert joined == {first.customer_id: [campaign_id], second.customer_id: [campaign_id]}
    stats = _stats(client, marketer_headers, campaign_id)
    assert stats["participants"] == 2  # the first customer earned twice, counted once

    # A participant limit added later starts from them, and they stay participants.
    url = f"/v1/campaigns/{campaign_id}"
    response = client.patch(url, json={"max_participants": 2}, headers=marketer_headers)
    assert response.status_code == 200, response.json
    assert response.json["participants"] == 2
    p3 = store(program.id, third.token, "p-3", amount_minor=100)
    p4 = store(program.id, first.token, "p-4", amount_minor=100)
    process_transactions([p3, p4])
    earned = set(
        db.session.scalars(select(LedgerEntry.transaction_id).where(LedgerEntry.kind == "bonus"))
    )
    assert earned == {p1, p2, p1b, p4}  # the third customer is refused: no place left
    assert _stats(client, marketer_headers, campaign_id)["participants"] == 2

"""Refunds of purchases that earned from several campaigns: one bonus lot, split back exactly."""

from __future__ import annotations

import importlib
import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from flask import current_app
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select, text, update

from campaigns.earning import compiled
from campaigns.earning.compiled import Purchase, Shopper
from campaigns.earning.engine import CapState, RuleSet, apportion
from campaigns.earning.models import Campaign
from campaigns.earning.usage import CampaignCounter, CampaignDay
from rewards.db import db
from rewards.models import LedgerEntry
from rewards.processing import chunk, refunds
from tests.ledger_helpers import assert_reconciled, balance, enrol, entries, store
from workers.jobs import process_transactions

NOW = datetime.now(UTC)
REVISION_0005 = importlib.import_module("rewards.migrations.versions.0005_campaign_days")


@given(st.lists(st.integers(0, 5000), min_size=1, max_size=8), st.data())
def test_apportion_is_exact_and_never_shrinks(weights, data):
    whole = sum(weights)
    total = data.draw(st.integers(0, whole))
    parts = apportion(total, weights)
    assert sum(parts) == (total if whole else 0)
    assert all(0 <= p <= w for p, w in zip(parts, weights, strict=True))
    if total < whole:
        grown = apportion(total + 1, weights)
        assert all(g >= p for g, p in zip(grown, parts, strict=True))
    assert apportion(whole, weights) == weights


def _campaigns(launch) -> tuple[int, int, int]:
    big = launch(
        name="Triple",
        priority=50,
        budget_points=100_000,
        caps={"per_customer": [{"period": "day", "points": 10_000}]},
    )
    spend = launch(
        name="Seven back",
        priority=40,
        effect={"type": "percent_of_spend", "value": "7"},
        caps={"qualifying_spend": {"period": "month", "amount_minor": 5_000}},
    )
    tiny = launch(name="Plus one", priority=30, effect={"type": "fixed_bonus", "value": "1"})
    return big, spend, tiny


def _refund(program_id: int, token: str, external_id: str, amount: int) -> int | None:
    """Store a refund of the purchase `p-1`."""
    return store(
        program_id,
        token,
        external_id,
        kind="refund",
        amount_minor=amount,
        original_external_id="p-1",
    )


def _sum(column, campaign_id: int) -> int:
    value = db.session.scalar(
        select(func.coalesce(func.sum(column), 0)).where(CampaignDay.campaign_id == campaign_id)
    )
    return int(value)


def _counter(campaign_id: int) -> tuple[int, int]:
    row = db.session.scalar(
        select(CampaignCounter).where(CampaignCounter.campaign_id == campaign_id)
    )
    return (row.points, row.spend_minor) if row else (0, 0)  # nothing used, nothing written


def test_partial_refunds_split_each_campaigns_share_exactly(db, program, launch):
    big, spend, tiny = _campaigns(launch)
    card = enrol(program.id)
    process_transactions([store(program.id, card.token, "p-1", amount_minor=1000)])
    (lot,) = [e for e in entries(card.customer_id) if e.kind == "bonus"]
    assert lot.points == 2000 + 70 + 1
    assert [p["points"] for p in lot.explanation["campaigns"]] == [2000, 70, 1]
    lot_id = lot.id

    refunded = 0
    history = []
    for n, amount in enumerate((333, 333, 334)):
        refunded += amount
        process_transactions([_refund(program.id, card.token, f"r-{n}", amount)])
        db.session.expire_all()
        from_lot = -db.session.scalar(
            select(func.sum(LedgerEntry.points)).where(LedgerEntry.reverses_entry_id == lot_id)
        )
        assert from_lot == 2071 * refunded // 1000  # the lot's own cumulative rule
        shares = tuple(_sum(CampaignDay.clawed_back, c) for c in (big, spend, tiny))
        assert sum(shares) == from_lot  # every point taken back is some campaign's, once
        history.append(shares)
        assert db.session.get(Campaign, big).budget_used == 2000 - shares[0]
        assert _counter(big) == (2000 - shares[0], 0)
        assert _counter(spend) == (0, 1000 - refunded)  # qualifying spend, to the yen
    # D'Hondt on the cumulative clawback: never shrinks, ends at each campaign's points.
    assert history == [(666, 23, 0), (1333, 46, 0), (2000, 70, 1)]
    assert balance(card.customer_id) == (0, 0)
    assert_reconciled()


def test_a_lot_written_before_the_breakdown_is_still_given_back(db, program, launch):
    campaign_id = launch(
        budget_points=100_000, caps={"per_customer": [{"period": "campaign", "points": 9_000}]}
    )
    card = enrol(program.id)
    purchase = store(program.id, card.token, "p-1", amount_minor=1000)
    process_transactions([purchase])
    # Rewrite the lot the way revision 0004 wrote it: one lot per campaign, charges inside.
    db.session.execute(
        update(LedgerEntry)
        .where(LedgerEntry.kind == "bonus")
        .values(
            idempotency_key=f"tx:{purchase}:cmp:{campaign_id}",
            explanation={
                "summary": "3× on every purchase — Dining 3x",
                "rule": "campaign",
                "campaign_id": campaign_id,
                "campaign_version": 1,
                "customer_id": card.customer_id,
                "charges": [["c", 2000, 0]],
            },
        )
    )
    db.session.commit()
    process_transactions([_refund(program.id, card.token, "r-1", 500)])
    db.session.expire_all()
    assert db.session.get(Campaign, campaign_id).budget_used == 1000
    assert _counter(campaign_id) == (1000, 0)
    assert _sum(CampaignDay.clawed_back, campaign_id) == 1000
    assert_reconciled()


def test_a_budget_added_to_a_live_campaign_counts_what_it_already_granted(
    db, program, launch, client, marketer_headers
):
    campaign_id = launch(effect={"type": "fixed_bonus", "value": "300"})
    card = enrol(program.id)
    for n in range(3):
        process_transactions([store(program.id, card.token, f"p-{n}", amount_minor=100)])
    process_transactions(
        [
            store(
                program.id,
                card.token,
                "r-0",
                kind="refund",
                amount_minor=100,
                original_external_id="p-0",
            )
        ]
    )
    url = f"/v1/campaigns/{campaign_id}"
    before = client.get(url, headers=marketer_headers).json
    assert (before["budget_used"], before["participants"]) == (600, 1)  # net, unbudgeted

    response = client.patch(url, json={"budget_points": 1000}, headers=marketer_headers)
    assert response.status_code == 200, response.json
    assert (response.json["budget_used"], response.json["budget_remaining"]) == (600, 400)
    too_low = client.patch(url, json={"budget_points": 500}, headers=marketer_headers)
    assert too_low.status_code == 422 and list(too_low.json["errors"]) == ["budget_points"]

    for n in range(3, 8):
        process_transactions([store(program.id, card.token, f"p-{n}", amount_minor=100)])
    db.session.expire_all()
    bonus_lots = select(LedgerEntry.id).where(LedgerEntry.kind == "bonus").scalar_subquery()
    granted = db.session.scalar(
        select(func.sum(LedgerEntry.points)).where(
            (LedgerEntry.kind == "bonus") | LedgerEntry.reverses_entry_id.in_(bonus_lots)
        )
    )
    assert granted == 1000  # 600 before the budget, then 400 more, never above it
    assert db.session.get(Campaign, campaign_id).budget_used == 1000


def test_the_app_sees_each_campaign_of_a_bonus_lot_but_no_internals(
    db, program, launch, client, cardholder_headers
):
    _campaigns(launch)
    card = enrol(program.id, external_ref="cust-1")
    process_transactions([store(program.id, card.token, "p-1", amount_minor=1000)])
    response = client.get("/v1/me/ledger", headers=cardholder_headers)
    assert response.status_code == 200, response.json
    (bonus,) = [line for line in response.json["data"] if line["kind"] == "bonus"]
    assert bonus["explanation"].startswith("+2071 pts from 3 campaigns: 3× on every purchase")
    assert "customer_id" not in bonus["details"]
    assert [(part["summary"], part["points"]) for part in bonus["details"]["campaigns"]] == [
        ("3× on every purchase — Triple", 2000),
        ("7% back in points on every purchase — Seven back", 70),
        ("+1 pts on every purchase — Plus one", 1),
    ]
    assert all("charges" not in part for part in bonus["details"]["campaigns"])


def test_upgrade_backfills_daily_stats_from_per_campaign_lots(db, program, launch):
    campaign_id = launch()
    card = enrol(program.id)
    purchase = store(program.id, card.token, "p-1", amount_minor=1000)
    process_transactions([purchase])
    process_transactions([_refund(program.id, card.token, "r-1", 250)])
    # What revision 0004 left: per-campaign lots keyed `tx:{id}:cmp:{campaign}`, no stats.
    db.session.execute(
        update(LedgerEntry)
        .where(LedgerEntry.kind == "bonus")
        .values(idempotency_key=f"tx:{purchase}:cmp:{campaign_id}")
    )
    db.session.execute(text("DELETE FROM campaign_days"))
    db.session.execute(text(REVISION_0005.BACKFILL))
    db.session.commit()
    assert _sum(CampaignDay.points, campaign_id) == 2000
    assert _sum(CampaignDay.clawed_back, campaign_id) == 500
    assert _sum(CampaignDay.purchases, campaign_id) == 1


def test_a_refund_works_out_the_same_cap_buckets_the_grant_charged():
    zone = ZoneInfo("Asia/Tokyo")
    version = compiled.Campaign.compile(
        1,
        3,
        {
            "name": "Capped",
            "starts_at": "2026-01-01T00:00:00+00:00",
            "effect": {"type": "multiplier", "value": "3"},
            "caps": {
                "per_customer": [
                    {"period": "day", "points": 700},
                    {"period": "quarter", "points": 5000},
                ],
                "qualifying_spend": {"period": "month", "amount_minor": 300},
            },
        },
    )
    # 2026-03-31 15:30 UTC is April 1st in Tokyo: a new day, month and quarter there.
    at = datetime(2026, 3, 31, 15, 30, tzinfo=UTC)
    purchase = Purchase(1, 1000, "JPY", "5812", "dining", "m-1", None, None, None, at, 1000)
    state = CapState(used_spend={(1, 7, "m:2026-04"): 100})
    (bonus,) = RuleSet([version], zone).evaluate(purchase, Shopper(customer_id=7), state)
    assert bonus.charges == (("d:2026-04-01", 400, 0), ("q:2026-Q2", 400, 0), ("m:2026-04", 0, 200))
    assert version.charges(bonus.points, bonus.qualifying_minor, at, zone) == bonus.charges


def test_cap_room_comes_back_for_a_refund_that_waited_for_its_purchase(db, program, launch):
    campaign_id = launch(caps={"per_customer": [{"period": "month", "points": 50_000}]})
    card = enrol(program.id)
    refund = _refund(program.id, card.token, "r-1", 1000)
    process_transactions([refund])  # before its purchase: it waits
    process_transactions([store(program.id, card.token, "p-1", amount_minor=1000)])
    assert _counter(campaign_id) == (0, 0)
    # Purchase and its refund in one chunk.
    process_transactions(
        [
            store(program.id, card.token, "p-2", amount_minor=1000),
            store(
                program.id,
                card.token,
                "r-2",
                kind="refund",
                amount_minor=500,
                original_external_id="p-2",
            ),
        ]
    )
    assert _counter(campaign_id) == (1000, 0)
    assert _sum(CampaignDay.clawed_back, campaign_id) == 3000
    assert balance(card.customer_id) == (1500, 0)
    assert_reconciled()


def test_spend_room_comes_back_even_when_a_partial_refund_takes_no_points(db, program, launch):
    launch(
        effect={"type": "percent_of_spend", "value": "1"},
        caps={"qualifying_spend": {"period": "month", "amount_minor": 5_000}},
    )
    card = enrol(program.id)
    process_transactions([store(program.id, card.token, "p-1", amount_minor=1000)])  # 10 pts
    for n, amount in enumerate((50, 950)):  # the first takes floor(10 × 50 / 1000) = 0 pts
        process_transactions([_refund(program.id, card.token, f"r-{n}", amount)])
        db.session.expire_all()
        spend = db.session.scalar(select(CampaignCounter.spend_minor))
        assert spend == 1000 - (50 if n == 0 else 1000)


def _purchase_commits_meanwhile(monkeypatch, purchase: int) -> None:
    """The next chunk's refund look-up misses `purchase`, which another worker processes and
    commits before the chunk locks its accounts (its refund is then matched late)."""
    app = current_app._get_current_object()
    real = refunds.find_originals
    done: list[bool] = []

    def racing(returns):
        found = real(returns)
        if not done:
            done.append(True)

            def other_worker():
                with app.app_context():
                    process_transactions([purchase])

            worker = threading.Thread(target=other_worker)
            worker.start()
            worker.join()
        return found

    monkeypatch.setattr(chunk.refunds, "find_originals", racing)


@pytest.mark.parametrize("alone", [True, False])
def test_an_unlinked_refund_matched_late_gives_the_budget_back(
    db, program, launch, monkeypatch, alone
):
    campaign_id = launch(
        conditions={"categories": ["dining"]},
        effect={"type": "fixed_bonus", "value": "300"},
        budget_points=10_000,
    )
    card = enrol(program.id)
    purchase = store(program.id, card.token, "p-1", amount_minor=1000)
    refund = store(program.id, card.token, "r-1", kind="refund", amount_minor=1000)  # no link
    _purchase_commits_meanwhile(monkeypatch, purchase)
    batch = [refund]
    if not alone:  # another purchase of the program, meeting no campaign
        batch.append(store(program.id, enrol(program.id).token, "p-9", mcc="5411"))
    process_transactions(batch)
    db.session.expire_all()
    assert db.session.get(Campaign, campaign_id).budget_used == 0
    assert _sum(CampaignDay.clawed_back, campaign_id) == 300
    assert balance(card.customer_id) == (0, 0)
    assert_reconciled()


def test_a_time_zone_change_gives_room_back_to_the_buckets_the_grant_charged(
    db, program, launch, client, admin_headers
):
    campaign_id = launch(caps={"per_customer": [{"period": "day", "points": 50_000}]})
    card = enrol(program.id)
    # 20:00 UTC is the next day in Tokyo, the same day in Los Angeles.
    at = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)
    process_transactions([store(program.id, card.token, "p-1", amount_minor=1000, occurred_at=at)])
    response = client.patch(
        f"/v1/programs/{program.slug}",
        json={"timezone": "America/Los_Angeles"},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.json
    refund = _refund(program.id, card.token, "r-1", 1000)
    process_transactions([refund])
    db.session.expire_all()
    counters = db.session.execute(select(CampaignCounter.bucket, CampaignCounter.points)).all()
    assert counters == [("d:2026-11-28", 0)]  # Tokyo's day, where the grant was charged
    assert db.session.get(Campaign, campaign_id) is not None

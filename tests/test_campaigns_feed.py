"""Campaigns applied by the feed, end to end: marketer API → transactions → worker → ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from campaigns.earning.models import Campaign
from campaigns.earning.usage import CampaignCounter
from rewards.models import Event, LedgerEntry, Transaction
from tests.ledger_helpers import assert_reconciled, balance, enrol, entries, store
from workers.jobs import process_transactions

NOW = datetime.now(UTC)


def _bonus_entries(customer_id: int) -> list[LedgerEntry]:
    return [e for e in entries(customer_id) if e.kind == "bonus"]


def _parts(customer_id: int) -> list[dict]:
    """Each campaign's part of the customer's bonus lots, oldest lot first."""
    return [part for e in _bonus_entries(customer_id) for part in e.explanation["campaigns"]]


def test_a_live_campaign_adds_a_bonus_lot_that_names_its_version(db, program, launch):
    campaign_id = launch(conditions={"categories": ["dining"]})
    card = enrol(program.id)
    process_transactions([store(program.id, card.token, "p-1", amount_minor=1000)])
    (bonus,) = _bonus_entries(card.customer_id)
    assert bonus.points == 2000 and bonus.idempotency_key == f"tx:{bonus.transaction_id}:bonus"
    assert bonus.explanation["summary"] == "3× on dining — Dining 3x"
    (part,) = bonus.explanation["campaigns"]
    assert (part["campaign_id"], part["campaign_version"], part["points"]) == (campaign_id, 1, 2000)
    assert "limits" not in part  # nothing capped it
    assert balance(card.customer_id) == (3000, 0)
    assert_reconciled()


def test_non_matching_and_draft_campaigns_grant_nothing(
    db, program, launch, client, marketer_headers
):
    launch(conditions={"categories": ["groceries"]})
    client.post(
        "/v1/campaigns",
        headers=marketer_headers,
        json={
            "name": "Draft",
            "starts_at": (NOW - timedelta(days=1)).isoformat(),
            "effect": {"type": "fixed_bonus", "value": "99"},
        },
    )
    card = enrol(program.id)
    process_transactions([store(program.id, card.token, "p-1", amount_minor=1000)])
    assert _bonus_entries(card.customer_id) == []


def test_editing_a_live_campaign_applies_the_new_version(
    db, program, launch, client, marketer_headers
):
    campaign_id = launch(conditions={"categories": ["dining"]})
    card = enrol(program.id)
    process_transactions([store(program.id, card.token, "p-1", amount_minor=100)])
    edited = client.patch(
        f"/v1/campaigns/{campaign_id}",
        headers=marketer_headers,
        json={"effect": {"type": "multiplier", "value": "5"}},
    )
    assert edited.status_code == 200 and edited.json["version"] == 2
    process_transactions([store(program.id, card.token, "p-2", amount_minor=100)])
    versions = [(p["points"], p["campaign_version"]) for p in _parts(card.customer_id)]
    assert versions == [(200, 1), (400, 2)]


def test_budget_is_never_exceeded_and_exhaustion_is_recorded(db, program, launch):
    campaign_id = launch(effect={"type": "fixed_bonus", "value": "300"}, budget_points=1000)
    cards = [enrol(program.id) for _ in range(3)]
    for n in range(6):
        process_transactions([store(program.id, cards[n % 3].token, f"p-{n}", amount_minor=10)])
    granted = db.session.scalar(
        select(func.sum(LedgerEntry.points)).where(LedgerEntry.kind == "bonus")
    )
    assert granted == 1000
    db.session.expire_all()
    assert db.session.get(Campaign, campaign_id).budget_used == 1000
    assert db.session.scalar(select(Event.type)) == "campaign.budget_exhausted"
    assert_reconciled()


def test_per_customer_cap_and_refund_gives_back_room_and_budget(db, program, launch):
    campaign_id = launch(
        effect={"type": "fixed_bonus", "value": "300"},
        caps={"per_customer": [{"period": "campaign", "points": 500}]},
        budget_points=10_000,
    )
    card = enrol(program.id)
    process_transactions([store(program.id, card.token, "p-1", amount_minor=100)])
    process_transactions([store(program.id, card.token, "p-2", amount_minor=100)])
    assert [e.points for e in _bonus_entries(card.customer_id)] == [300, 200]
    refund = store(
        program.id, card.token, "r-1", kind="refund", amount_minor=100, original_external_id="p-1"
    )
    process_transactions([refund])
    # The refund took back the 300 bonus with the 100 base: cap room and budget come back.
    assert balance(card.customer_id) == (200 + 100, 0)
    db.session.expire_all()
    counter = db.session.scalar(select(CampaignCounter))
    assert counter.points == 200
    assert db.session.get(Campaign, campaign_id).budget_used == 200
    process_transactions([store(program.id, card.token, "p-3", amount_minor=100)])
    assert _bonus_entries(card.customer_id)[-1].points == 300
    assert_reconciled()


def test_exclusive_campaigns_only_the_highest_priority_applies(db, program, launch):
    launch(name="Low", priority=10, stackable=False, effect={"type": "fixed_bonus", "value": "1"})
    high = launch(
        name="High", priority=90, stackable=False, effect={"type": "fixed_bonus", "value": "2"}
    )
    extra = launch(name="Extra", effect={"type": "fixed_bonus", "value": "4"})
    card = enrol(program.id)
    process_transactions([store(program.id, card.token, "p-1", amount_minor=10)])
    (lot,) = _bonus_entries(card.customer_id)
    assert lot.points == 6
    # No cap limited either: the parts hold no text (the app gets their versions' labels).
    assert _parts(card.customer_id) == [
        {"campaign_id": high, "campaign_version": 1, "points": 2},
        {"campaign_id": extra, "campaign_version": 1, "points": 4},
    ]
    assert lot.explanation["summary"] == (
        "+6 pts from 2 campaigns: +2 pts on every purchase — High; +4 pts on every purchase — Extra"
    )


def test_the_app_shows_each_part_in_the_words_of_the_version_that_granted_it(
    db, program, launch, client, marketer_headers, cardholder_headers
):
    renamed = launch(name="Old name", effect={"type": "fixed_bonus", "value": "2"})
    capped = launch(
        name="Capped", effect={"type": "fixed_bonus", "value": "50"}, caps={"per_transaction": 5}
    )
    card = enrol(program.id, external_ref="cust-1")
    process_transactions([store(program.id, card.token, "p-1", amount_minor=10)])
    edit = client.patch(
        f"/v1/campaigns/{renamed}", json={"name": "New name"}, headers=marketer_headers
    )
    assert edit.status_code == 200, edit.json
    stored = _parts(card.customer_id)
    assert "summary" not in stored[0]  # no limit: the label of version 1 says it all
    assert (
        stored[1]["summary"] == "+50 pts on every purchase — Capped (capped at 5 pts per purchase)"
    )

    response = client.get("/v1/me/ledger", headers=cardholder_headers)
    assert response.status_code == 200, response.json
    (bonus,) = [line for line in response.json["data"] if line["kind"] == "bonus"]
    assert [
        (p["campaign_id"], p["summary"], p["points"]) for p in bonus["details"]["campaigns"]
    ] == [
        (renamed, "+2 pts on every purchase — Old name", 2),
        (capped, "+50 pts on every purchase — Capped (capped at 5 pts per purchase)", 5),
    ]


def test_program_exclusions_cannot_be_overridden(db, program, launch):
    launch(effect={"type": "fixed_bonus", "value": "50"})
    card = enrol(program.id)
    process_transactions([store(program.id, card.token, "atm", amount_minor=10_000, mcc="6011")])
    assert entries(card.customer_id) == []


@pytest.mark.slow
def test_two_worker_processes_never_exceed_budget_or_customer_caps(app, db, program, launch):
    from tests.test_worker_processes import _seed, _worker

    launch(
        effect={"type": "fixed_bonus", "value": "7"},
        caps={"per_customer": [{"period": "day", "points": 140}]},
        budget_points=5_000,
    )
    _seed(program.id, customers=40, per_customer=100)  # 4,000 purchases, demand 28,000 pts
    queues = app.extensions["rewards_queues"]
    ids = list(db.session.scalars(select(Transaction.id).order_by(Transaction.id)))
    for start in range(0, len(ids), 250):  # 16 chunks, so both workers run at once
        queues.enqueue("workers.jobs.process_transactions", ids[start : start + 250])
    workers = [_worker(app, "--burst", "--name", f"cmp-{i}") for i in range(2)]
    for proc in workers:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
    db.session.expire_all()
    per_customer = db.session.execute(
        select(LedgerEntry.account_id, func.sum(LedgerEntry.points))
        .where(LedgerEntry.kind == "bonus")
        .group_by(LedgerEntry.account_id)
    ).all()
    assert sum(points for _, points in per_customer) == 5_000
    assert max(points for _, points in per_customer) <= 140
    assert_reconciled()


def test_segment_audience_earns_for_members_only(db, program, launch, client, marketer_headers):
    segment = client.post(
        "/v1/segments",
        headers=marketer_headers,
        json={"name": "Foodies", "rules": {"tags": ["foodie"]}},
    )
    assert segment.status_code == 201, segment.json
    launch(
        audience={"segment_id": segment.json["id"]}, effect={"type": "fixed_bonus", "value": "40"}
    )
    member, other = enrol(program.id), enrol(program.id)
    db.session.execute(
        db.text("UPDATE customers SET tags = :tags WHERE id = :id"),
        {"tags": '["foodie"]', "id": member.customer_id},
    )
    db.session.commit()
    process_transactions(
        [
            store(program.id, member.token, "p-1", amount_minor=100),
            store(program.id, other.token, "p-2", amount_minor=100),
        ]
    )
    assert [e.points for e in _bonus_entries(member.customer_id)] == [40]
    assert _bonus_entries(other.customer_id) == []


def test_a_campaign_cannot_target_an_unknown_segment(client, marketer_headers):
    response = client.post(
        "/v1/campaigns",
        headers=marketer_headers,
        json={
            "name": "Ghost",
            "starts_at": NOW.isoformat(),
            "effect": {"type": "fixed_bonus", "value": "1"},
            "audience": {"segment_id": 999},
        },
    )
    assert response.status_code == 422
    assert "audience.segment_id" in response.json["errors"]


def test_a_partner_campaign_earns_at_the_partners_merchants(
    db, program, launch, client, marketer_headers
):
    partner = client.post(
        "/v1/partners",
        headers=marketer_headers,
        json={"code": "noodle-bar", "name": "Noodle Bar Group", "merchant_ids": ["m-1", "m-7"]},
    )
    assert partner.status_code == 201, partner.json
    launch(conditions={"partners": ["noodle-bar"]}, effect={"type": "fixed_bonus", "value": "40"})
    card = enrol(program.id)
    at_partner = store(program.id, card.token, "p-1", amount_minor=100, merchant_id="m-7")
    elsewhere = store(program.id, card.token, "p-2", amount_minor=100, merchant_id="m-2")
    process_transactions([at_partner, elsewhere])
    bonuses = [(e.transaction_id, e.points) for e in _bonus_entries(card.customer_id)]
    assert bonuses == [(at_partner, 40)]

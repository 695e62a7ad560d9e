"""Budgets and participant limits are read optimistically and checked under lock at the end
of the chunk: when another worker used them meanwhile, the chunk runs again, locked."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, select, text

from campaigns.earning import feed
from campaigns.earning.models import Campaign
from rewards.db import db
from rewards.models import Event, LedgerEntry
from tests.ledger_helpers import assert_reconciled, enrol, store
from workers import jobs


@pytest.fixture
def meanwhile(monkeypatch, database_url):
    """Run `statements` from another connection while the first run of the next chunk evaluates
    (after its optimistic read, before it writes); returns the runs' `lock_early` flags."""
    runs: list[bool] = []
    other = create_engine(database_url)

    def install(*statements: str, **params):
        class Interleaved(feed.CampaignRules):
            def awards(self, tx, customer_id, base_points):
                if len(runs) == 1 and not getattr(self, "_done", False):
                    self._done = True
                    with other.begin() as conn:
                        for sql in statements:
                            conn.execute(text(sql), params)
                return super().awards(tx, customer_id, base_points)

        def make(**kwargs):
            runs.append(kwargs.get("lock_early", False))
            return Interleaved(**kwargs)

        monkeypatch.setattr(jobs, "CampaignRules", make)
        return runs

    yield install
    other.dispose()


def _bonus_points() -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(LedgerEntry.kind == "bonus")
    )


def test_a_budget_used_meanwhile_reruns_the_chunk_and_is_not_exceeded(
    db, program, launch, meanwhile
):
    campaign_id = launch(effect={"type": "fixed_bonus", "value": "300"}, budget_points=1000)
    card = enrol(program.id)
    runs = meanwhile("UPDATE campaigns SET budget_used = 900 WHERE id = :id", id=campaign_id)
    jobs.process_transactions([store(program.id, card.token, "p-1", amount_minor=100)])
    assert runs == [False, True]  # optimistic, then locked from the start
    assert _bonus_points() == 100  # what was really left
    db.session.expire_all()
    assert db.session.get(Campaign, campaign_id).budget_used == 1000
    assert db.session.scalar(select(Event.type)) == "campaign.budget_exhausted"
    assert_reconciled()


def test_room_used_meanwhile_that_still_fits_needs_no_rerun(db, program, launch, meanwhile):
    campaign_id = launch(effect={"type": "fixed_bonus", "value": "300"}, budget_points=10_000)
    card = enrol(program.id)
    runs = meanwhile("UPDATE campaigns SET budget_used = 500 WHERE id = :id", id=campaign_id)
    jobs.process_transactions([store(program.id, card.token, "p-1", amount_minor=100)])
    assert runs == [False]
    assert _bonus_points() == 300
    db.session.expire_all()
    assert db.session.get(Campaign, campaign_id).budget_used == 800
    assert db.session.scalar(select(func.count()).select_from(Event)) == 0


def test_a_participant_limit_filled_meanwhile_reruns_the_chunk(db, program, launch, meanwhile):
    campaign_id = launch(effect={"type": "fixed_bonus", "value": "300"}, max_participants=1)
    first, second = enrol(program.id), enrol(program.id)
    runs = meanwhile(
        "INSERT INTO customer_campaigns (customer_id, campaign_ids) "
        "VALUES (:customer, jsonb_build_array(CAST(:id AS bigint)))",
        "UPDATE campaigns SET participants = 1 WHERE id = :id",
        id=campaign_id,
        customer=first.customer_id,
    )
    jobs.process_transactions([store(program.id, second.token, "p-1", amount_minor=100)])
    assert runs == [False, True]
    assert _bonus_points() == 0  # the one place went to the other customer
    db.session.expire_all()
    assert db.session.get(Campaign, campaign_id).participants == 1

"""Several extras in the feed: each writes its own lot kind under its own key namespace, gets
back exactly its own clawbacks, clashing extras are refused, and the rewards-owned retry
signal reruns the chunk with every extra locked from the start."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, insert, select, text

from campaigns.earning.feed import CampaignRules
from campaigns.earning.models import Campaign
from rewards.db import db
from rewards.models import LedgerEntry
from rewards.processing import process_chunk
from rewards.processing.extras import ExtrasConflict
from rewards.processing.rules import Award
from tests.ledger_helpers import assert_reconciled, balance, enrol, entry_count, status_of, store
from tests.stamp_extra import POOL_ID, POOLS, StampRules, pool_used
from workers import jobs


@pytest.fixture
def stamp_pool(db):
    """The stamp card's pool table with one pool; `make(budget)` sets its budget."""
    POOLS.create(db.engine, checkfirst=True)

    def make(budget: int | None) -> None:
        db.session.execute(insert(POOLS).values(id=POOL_ID, budget=budget, used=0))
        db.session.commit()

    yield make
    db.session.rollback()
    db.session.remove()
    POOLS.drop(db.engine, checkfirst=True)


@pytest.fixture
def extras(monkeypatch):
    """Make the job use campaigns and then the stamp card (`stamp` builds its kwargs); returns
    the `lock_early` flag of every run and the clawbacks the stamp card was handed."""
    runs: list[bool] = []
    clawbacks: list = []
    options: dict = {"stamp": True}

    def feed_extras(*, lock_early: bool = False):
        runs.append(lock_early)
        chosen = [CampaignRules(lock_early=lock_early)]
        if options["stamp"]:
            kwargs = options.get("kwargs", {}) if len(runs) == 1 else {}
            chosen.append(StampRules(lock_early=lock_early, clawbacks=clawbacks, **kwargs))
        return chosen

    monkeypatch.setattr(jobs, "feed_extras", feed_extras)
    return runs, clawbacks, options


def _lots(kind: str) -> list[tuple[str, int]]:
    db.session.expire_all()
    rows = db.session.execute(
        select(LedgerEntry.idempotency_key, LedgerEntry.points)
        .where(LedgerEntry.kind == kind)
        .order_by(LedgerEntry.id)
    )
    return [tuple(r) for r in rows]


def _clawed_from(key: str) -> int:
    """Points clawed back so far from the lot keyed `key`."""
    lot = select(LedgerEntry.id).where(LedgerEntry.idempotency_key == key).scalar_subquery()
    return -db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
            LedgerEntry.kind == "clawback", LedgerEntry.reverses_entry_id == lot
        )
    )


def _budget_used(campaign_id: int) -> int:
    db.session.expire_all()
    return db.session.get(Campaign, campaign_id).budget_used


def _refund(program_id: int, token: str, external_id: str, amount: int) -> int | None:
    return store(
        program_id,
        token,
        external_id,
        kind="refund",
        amount_minor=amount,
        original_external_id="p-1",
    )


def test_two_extras_write_their_own_lots_and_get_back_their_own_clawbacks(
    db, program, launch, stamp_pool, extras
):
    runs, clawbacks, _ = extras
    stamp_pool(1000)
    campaign_id = launch(effect={"type": "fixed_bonus", "value": "300"}, budget_points=100_000)
    card = enrol(program.id)
    purchase = store(program.id, card.token, "p-1", amount_minor=1000)
    jobs.process_transactions([purchase])
    assert _lots("earn") == [(f"tx:{purchase}:base", 1000)]
    assert _lots("bonus") == [(f"tx:{purchase}:bonus", 300)]
    assert _lots("challenge_reward") == [(f"tx:{purchase}:stamp", 7)]
    assert (_budget_used(campaign_id), pool_used()) == (300, 7)

    # 40% refunded: floor(P·0.4) of each lot; each extra gives back what its own lot lost.
    jobs.process_transactions([_refund(program.id, card.token, "r-1", 400)])
    taken = [_clawed_from(f"tx:{purchase}:{rule}") for rule in ("base", "bonus", "stamp")]
    assert taken == [400, 120, 2]
    assert (_budget_used(campaign_id), pool_used()) == (180, 5)
    assert [(c.kind, c.idempotency_key, c.taken) for c in clawbacks] == [
        ("challenge_reward", f"tx:{purchase}:stamp", 2)
    ]

    jobs.process_transactions([_refund(program.id, card.token, "r-2", 600)])
    taken = [_clawed_from(f"tx:{purchase}:{rule}") for rule in ("base", "bonus", "stamp")]
    assert taken == [1000, 300, 7]
    assert (_budget_used(campaign_id), pool_used()) == (0, 0)
    assert [(c.kind, c.clawed_before, c.taken) for c in clawbacks] == [
        ("challenge_reward", 0, 2),
        ("challenge_reward", 2, 5),
    ]
    assert runs == [False, False, False]
    assert balance(card.customer_id) == (0, 0)
    assert_reconciled()


def test_a_lot_no_running_extra_owns_is_still_clawed_back(db, program, launch, stamp_pool, extras):
    _, clawbacks, options = extras
    stamp_pool(1000)
    card = enrol(program.id)
    purchase = store(program.id, card.token, "p-1", amount_minor=1000)
    jobs.process_transactions([purchase])
    options["stamp"] = False  # switched off before the refund arrives
    jobs.process_transactions([_refund(program.id, card.token, "r-1", 500)])
    assert _clawed_from(f"tx:{purchase}:stamp") == 3  # floor(7 · 500/1000), like any lot
    jobs.process_transactions([_refund(program.id, card.token, "r-2", 500)])
    assert _clawed_from(f"tx:{purchase}:stamp") == 7
    assert clawbacks == []  # nobody to hand them to: the pool keeps its use (never overspent)
    assert pool_used() == 7
    assert balance(card.customer_id) == (0, 0)
    assert_reconciled()


class _Twin(StampRules):
    """A stamp card under another name, to clash with."""

    def __init__(self, *, kinds: frozenset[str], namespace: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lot_kinds, self.key_namespace = kinds, namespace


@pytest.mark.parametrize(
    "beside, kinds, namespace",
    [
        ("stamp", {"challenge_reward"}, "other"),  # the stamp card's kind
        ("campaigns", {"bonus"}, "other"),  # the campaigns' kind
        ("campaigns", {"challenge_reward"}, "bonus"),  # the campaigns' namespace
        ("stamp", {"challenge_reward"}, "stamp"),  # kind and namespace
        ("campaigns", {"earn"}, "other"),  # the base rate's kind
        ("campaigns", {"challenge_reward"}, "base"),  # a reserved namespace
        ("campaigns", {"challenge_reward"}, "cmp"),  # campaign lots written before 0005
    ],
)
def test_two_extras_claiming_one_kind_or_namespace_are_refused(
    db, program, stamp_pool, beside, kinds, namespace
):
    stamp_pool(1000)
    card = enrol(program.id)
    purchase = store(program.id, card.token, "p-1", amount_minor=1000)
    first = CampaignRules() if beside == "campaigns" else StampRules()
    twin = _Twin(kinds=frozenset(kinds), namespace=namespace)
    with pytest.raises(ExtrasConflict):
        process_chunk([purchase], extras=[first, twin])
    db.session.rollback()
    assert status_of(purchase) == "received"  # refused before anything was locked or written
    assert entry_count() == 0
    # Each alone is fine: the clash is what is refused.
    if namespace not in ("base", "cmp") and kinds != {"earn"}:
        process_chunk([purchase], extras=[twin])
        db.session.commit()
        assert status_of(purchase) == "processed"


def test_an_award_outside_its_extras_namespace_fails_the_whole_chunk(db, program, stamp_pool):
    stamp_pool(1000)
    card = enrol(program.id)
    purchase = store(program.id, card.token, "p-1", amount_minor=1000)

    class Trespasser(StampRules):
        def awards(self, tx, customer_id, base_points):
            return [Award("bonus", "challenge_reward", 5, {"rule": "bonus"})]

    with pytest.raises(ExtrasConflict):
        process_chunk([purchase], extras=[CampaignRules(), Trespasser()])
    db.session.rollback()
    assert status_of(purchase) == "received"  # nothing written: no lot skipped on a key
    assert entry_count() == 0


def test_a_stale_limit_reruns_the_chunk_with_every_extra_locked_and_awards_once(
    db, program, launch, stamp_pool, extras, database_url
):
    runs, _, options = extras
    stamp_pool(10)
    campaign_id = launch(effect={"type": "fixed_bonus", "value": "300"}, budget_points=100_000)
    card = enrol(program.id)
    purchase = store(program.id, card.token, "p-1", amount_minor=1000)
    other = create_engine(database_url)

    def another_worker_stamps() -> None:
        with other.begin() as conn:
            conn.execute(text("UPDATE test_stamp_pools SET used = used + 5"))

    options["kwargs"] = {"interfere": another_worker_stamps}
    try:
        jobs.process_transactions([purchase])
    finally:
        other.dispose()
    assert runs == [False, True]  # optimistic, then every extra locked from the start
    assert _lots("earn") == [(f"tx:{purchase}:base", 1000)]
    assert _lots("bonus") == [(f"tx:{purchase}:bonus", 300)]
    assert _lots("challenge_reward") == [(f"tx:{purchase}:stamp", 5)]  # what was left
    assert (_budget_used(campaign_id), pool_used()) == (300, 10)
    assert_reconciled()


def test_the_bare_retry_signal_reruns_the_chunk_and_nothing_is_doubled(
    db, program, launch, stamp_pool, extras
):
    runs, _, options = extras
    stamp_pool(1000)
    campaign_id = launch(effect={"type": "fixed_bonus", "value": "300"}, budget_points=100_000)
    card = enrol(program.id)
    purchase = store(program.id, card.token, "p-1", amount_minor=1000)
    # Raised after the campaigns' `finish` wrote their budget use: the rollback undoes it.
    options["kwargs"] = {"race_in_finish": True}
    jobs.process_transactions([purchase])
    assert runs == [False, True]
    assert [p for _, p in _lots("earn") + _lots("bonus") + _lots("challenge_reward")] == [
        1000,
        300,
        7,
    ]
    assert (_budget_used(campaign_id), pool_used()) == (300, 7)
    assert balance(card.customer_id) == (1307, 0)
    assert_reconciled()

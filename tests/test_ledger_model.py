"""Hypothesis stateful test: random purchases (pending for two days), refunds (also before their
purchase), duplicate deliveries, releases, spending and chunk re-runs, checked against a simple
model of expected points and the ledger's reconciliation invariants."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rewards.db import db
from rewards.ledger import Movement, account_of_customer, debit
from rewards.maintenance import release_pending
from rewards.reconcile import reconcile
from tests.factories import ProgramFactory
from tests.ledger_helpers import balance, enrol, store
from workers.jobs import process_transactions

RATE = Decimal("1.5")


def _truncate() -> None:
    db.session.remove()
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(db.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        _truncate()
        program = ProgramFactory(
            slug="model", currency="JPY", earn_rate=RATE, expiry_months=0, pending_days=2
        )
        db.session.commit()
        self.program_id = program.id
        self.cards = [enrol(self.program_id, token=f"tok-{i}") for i in range(2)]
        self.purchases: dict[str, tuple[int, int]] = {}  # ext → (card index, amount)
        self.refunded: dict[str, int] = {}  # ext → refund amount requested in total
        self.awaited: list[tuple[str, int]] = []  # purchases a refund already points at
        self.spent = [0, 0]
        self.ids: list[int] = []
        self.serial = 0

    def _ext(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def _store(self, card: int, ext: str, **fields) -> None:
        tx_id = store(self.program_id, self.cards[card].token, ext, **fields)
        if tx_id is not None:
            self.ids.append(tx_id)

    @rule(card=st.integers(0, 1), amount=st.integers(1, 5000))
    def purchase(self, card: int, amount: int) -> None:
        ext = self._ext("p")
        self._store(card, ext, amount_minor=amount)
        self.purchases[ext] = (card, amount)

    @precondition(lambda self: self.purchases)
    @rule(data=st.data(), amount=st.integers(1, 6000), kind=st.sampled_from(["refund", "reversal"]))
    def refund(self, data, amount: int, kind: str) -> None:
        ext = data.draw(st.sampled_from(sorted(self.purchases)))
        card = self.purchases[ext][0]
        self._store(card, self._ext("r"), kind=kind, amount_minor=amount, original_external_id=ext)
        self.refunded[ext] = self.refunded.get(ext, 0) + amount

    @rule(amount=st.integers(1, 3000), later=st.integers(1, 5000))
    def refund_before_purchase(self, amount: int, later: int) -> None:
        ext = self._ext("p")
        self._store(0, self._ext("r"), kind="refund", amount_minor=amount, original_external_id=ext)
        self.refunded[ext] = amount
        self.awaited.append((ext, later))

    @precondition(lambda self: self.awaited)
    @rule(data=st.data())
    def awaited_purchase_arrives(self, data) -> None:
        ext, amount = self.awaited.pop(data.draw(st.integers(0, len(self.awaited) - 1)))
        card = 0
        self._store(card, ext, amount_minor=amount)
        self.purchases[ext] = (card, amount)

    @precondition(lambda self: self.purchases)
    @rule(data=st.data())
    def duplicate_delivery(self, data) -> None:
        ext = data.draw(st.sampled_from(sorted(self.purchases)))
        card, amount = self.purchases[ext]
        assert store(self.program_id, self.cards[card].token, ext, amount_minor=amount) is None

    @rule(seed=st.integers(0, 10_000))
    def process_in_random_chunks(self, seed: int) -> None:
        ids = list(self.ids)
        random.Random(seed).shuffle(ids)
        cut = random.Random(seed).randint(0, len(ids))
        for chunk in (ids[:cut], ids[cut:], ids):  # the last pass re-runs everything
            if chunk:
                process_transactions(sorted(chunk))

    @rule(card=st.integers(0, 1), points=st.integers(1, 2000))
    def spend(self, card: int, points: int) -> None:
        self.process_in_random_chunks(0)
        available, _ = balance(self.cards[card].customer_id)
        if available < points:
            return
        account = account_of_customer(self.cards[card].customer_id, lock=True)
        debit(
            account,
            Movement(
                kind="redeem",
                points=-points,
                source_type="redemption",
                idempotency_key=self._ext("spend"),
                occurred_at=datetime.now(UTC),
                explanation={},
            ),
        )
        db.session.commit()
        self.spent[card] += points

    @rule()
    def release_due_points(self) -> None:
        release_pending(now=datetime.now(UTC) + timedelta(days=3))
        db.session.commit()

    def expected(self, card: int) -> int:
        total = -self.spent[card]
        for ext, (owner, amount) in self.purchases.items():
            if owner != card:
                continue
            earned = int(amount * RATE)
            refunded = min(self.refunded.get(ext, 0), amount)
            total += earned - earned * refunded // amount
        return total

    @invariant()
    def ledger_matches_model_once_processed(self) -> None:
        if self.ids:
            process_transactions(sorted(self.ids))
        for index, card in enumerate(self.cards):
            available, pending = balance(card.customer_id)
            assert available + pending == self.expected(index)
            assert pending >= 0
        assert reconcile() == []


def test_ledger_matches_model(app):
    LedgerMachine.TestCase.settings = settings(
        max_examples=30,
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    LedgerMachine.TestCase().runTest()

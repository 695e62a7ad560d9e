"""Hypothesis stateful test: random purchases (pending for two days) earning base points and a
campaign bonus lot, refunds (linked, before their purchase, and unlinked), duplicate
deliveries, releases, spending, expiry and chunk re-runs, checked against a plain model of
expected points and the ledger's reconciliation invariants."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from campaigns.earning.service import activate_campaign, create_campaign
from rewards.db import db
from rewards.ledger import Movement, account_of_customer, debit
from rewards.maintenance import expire_lots, release_pending
from rewards.reconcile import reconcile
from tests.factories import ProgramFactory
from tests.ledger_helpers import balance, enrol, store
from workers.jobs import process_transactions

RATE = Decimal("1.5")
BONUS_PER_YEN = "0.5"  # a campaign on every purchase: ½ point per ¥1…
BONUS_CAP = 1000  # …at most 1,000 points per purchase
FAR_FUTURE = timedelta(days=800)  # past every lot's 12-month expiry


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
            slug="model", currency="JPY", earn_rate=RATE, expiry_months=12, pending_days=2
        )
        db.session.commit()
        self.program_id = program.id
        self._launch_campaign()
        self.cards = [enrol(self.program_id, token=f"tok-{i}") for i in range(2)]
        self.purchases: dict[str, tuple[int, int, int]] = {}  # ext → (card, amount, epoch)
        self.order: list[str] = []  # purchases in the order they were stored (occurred)
        self.refunded: dict[str, int] = {}  # ext → refund amount requested in total
        self.awaited: list[tuple[str, int]] = []  # purchases a refund already points at
        # Since the last expiry ("epoch"): points spent, and base points clawed back by refunds
        # that matched no purchase; what was left before it (only a debt survives expiry).
        self.epoch = 0
        self.spent = [0, 0]
        self.unlinked = [0, 0]
        self.carried = [0, 0]
        self.ids: list[int] = []
        self.serial = 0

    def _launch_campaign(self) -> None:
        view = create_campaign(
            program_id=self.program_id,
            definition={
                "name": "Half a point per yen",
                "starts_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
                "effect": {"type": "points_per_unit", "value": BONUS_PER_YEN},
                "caps": {"per_transaction": BONUS_CAP},
            },
            actor="model",
        )
        activate_campaign(program_id=self.program_id, campaign_id=view.campaign.id, actor="model")
        db.session.commit()

    def _ext(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def _store(self, card: int, ext: str, **fields) -> None:
        tx_id = store(self.program_id, self.cards[card].token, ext, **fields)
        if tx_id is not None:
            self.ids.append(tx_id)

    def _bought(self, card: int, ext: str, amount: int) -> None:
        self._store(card, ext, amount_minor=amount)
        self.purchases[ext] = (card, amount, self.epoch)
        self.order.append(ext)

    @rule(card=st.integers(0, 1), amount=st.integers(1, 5000))
    def purchase(self, card: int, amount: int) -> None:
        self._bought(card, self._ext("p"), amount)

    def _current(self) -> list[str]:
        """Purchases since the last expiry: refunds in this model only touch those (what a
        refund takes from expired lots is `test_pending_and_expiry`'s business)."""
        return sorted(ext for ext, (_, _, epoch) in self.purchases.items() if epoch == self.epoch)

    @precondition(lambda self: self._current())
    @rule(data=st.data(), amount=st.integers(1, 6000), kind=st.sampled_from(["refund", "reversal"]))
    def refund(self, data, amount: int, kind: str) -> None:
        ext = data.draw(st.sampled_from(self._current()))
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
        self._bought(0, ext, amount)

    @rule(card=st.integers(0, 1), amount=st.integers(1, 3000))
    def unlinked_refund(self, card: int, amount: int) -> None:
        """A refund naming no purchase: it is matched to the card's latest purchase not yet
        fully refunded (all are at the same merchant); with none, the base points of the
        refunded amount are taken back."""
        open_ = [
            ext
            for ext in self.order
            if self.purchases[ext][0] == card and self.refunded.get(ext, 0) < self.purchases[ext][1]
        ]
        if open_ and self.purchases[open_[-1]][2] != self.epoch:
            return  # it would match an expired purchase: out of this model
        self._store(card, self._ext("u"), kind="refund", amount_minor=amount)
        if open_:
            self.refunded[open_[-1]] = self.refunded.get(open_[-1], 0) + amount
        else:
            self.unlinked[card] += amount * 3 // 2

    @precondition(lambda self: self.purchases)
    @rule(data=st.data())
    def duplicate_delivery(self, data) -> None:
        ext = data.draw(st.sampled_from(sorted(self.purchases)))
        card, amount, _ = self.purchases[ext]
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

    @rule()
    def time_passes_beyond_expiry(self) -> None:
        """Everything is released, then every lot expires: only a debt is left."""
        self.process_in_random_chunks(0)
        later = datetime.now(UTC) + FAR_FUTURE
        while release_pending(now=later) == 5000:
            db.session.commit()
        db.session.commit()
        while expire_lots(now=later) == 5000:
            db.session.commit()
        db.session.commit()
        for card in (0, 1):
            self.carried[card] = min(0, self.expected(card))
            self.spent[card] = self.unlinked[card] = 0
        self.epoch += 1

    def expected(self, card: int) -> int:
        """Worked out plainly: each lot keeps P − ⌊P·R/A⌋ after refunds of R of an amount A."""
        total = self.carried[card] - self.spent[card] - self.unlinked[card]
        for ext, (owner, amount, epoch) in self.purchases.items():
            if owner != card or epoch != self.epoch:
                continue
            refunded = min(self.refunded.get(ext, 0), amount)
            base = amount * 3 // 2  # 1.5 points per ¥1
            bonus = min(amount // 2, BONUS_CAP)  # ½ point per ¥1, capped
            for lot in (base, bonus):
                total += lot - lot * refunded // amount
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
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    LedgerMachine.TestCase().runTest()

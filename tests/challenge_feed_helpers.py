"""Helpers for challenge feed tests: challenges inserted as rows from a validated definition
(the marketer API is built elsewhere), purchases and refunds, and reads of what the feed wrote."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from campaigns.challenges.definition import validate_challenge
from campaigns.challenges.models import (
    Challenge,
    ChallengeJoin,
    ChallengeProgress,
    ChallengePurchase,
    CustomerBadge,
)
from campaigns.rules import section_validator
from rewards.db import db
from rewards.models import LedgerEntry, Transaction
from rewards.programs import bump_rules_revision
from tests.ledger_helpers import store
from workers import jobs

WINDOW_START = "2026-01-01T00:00:00Z"


def make_challenge(program_id: int, *, status: str = "active", **fields: Any) -> int:
    """A challenge whose definition passed `validate_challenge`, stored as rows; the
    program's rules revision is bumped as a marketer's change would."""
    raw = {
        "name": "Coffee week",
        "goal": {"type": "count", "target": 3},
        "window": {"type": "fixed", "starts_at": WINDOW_START},
        "reward": {"points": 200},
        **fields,
    }
    definition = validate_challenge(raw, shared_sections=section_validator())
    window = definition["window"]
    challenge = Challenge(
        program_id=program_id,
        name=definition["name"],
        status=status,
        goal_type=definition["goal"]["type"],
        period=window.get("period"),
        starts_at=datetime.fromisoformat(window["starts_at"]),
        ends_at=datetime.fromisoformat(window["ends_at"]) if window["ends_at"] else None,
        created_by="test",
    )
    db.session.add(challenge)
    db.session.flush()
    from campaigns.challenges.models import ChallengeVersion

    db.session.add(
        ChallengeVersion(
            challenge_id=challenge.id, version=1, definition=definition, created_by="test"
        )
    )
    bump_rules_revision(program_id)
    db.session.commit()
    return challenge.id


def set_status(program_id: int, challenge_id: int, status: str) -> None:
    db.session.execute(update(Challenge).where(Challenge.id == challenge_id).values(status=status))
    bump_rules_revision(program_id)
    db.session.commit()


def join(customer_id: int, challenge_id: int, at: datetime) -> None:
    db.session.add(ChallengeJoin(customer_id=customer_id, challenge_id=challenge_id, joined_at=at))
    db.session.commit()


def buy(card, external_id: str, at: datetime, amount: int = 1000, **fields: Any) -> int:
    """Store and process one purchase; its id."""
    tx_id = store(
        card.program_id, card.token, external_id, amount_minor=amount, occurred_at=at, **fields
    )
    assert tx_id is not None
    jobs.process_transactions([tx_id])
    return tx_id


def refund(card, external_id: str, original: str, amount: int, at: datetime | None = None) -> int:
    tx_id = store(
        card.program_id,
        card.token,
        external_id,
        kind="refund",
        amount_minor=amount,
        original_external_id=original,
        occurred_at=at or datetime.now(UTC),
    )
    assert tx_id is not None
    jobs.process_transactions([tx_id])
    return tx_id


def progress(customer_id: int, challenge_id: int) -> dict[str, tuple]:
    """period → (value, status, awards, reward_points)."""
    db.session.expire_all()
    rows = db.session.scalars(
        select(ChallengeProgress).where(
            ChallengeProgress.customer_id == customer_id,
            ChallengeProgress.challenge_id == challenge_id,
        )
    )
    return {r.period: (r.value, r.status, r.awards, r.reward_points) for r in rows}


def progress_row(customer_id: int, challenge_id: int, period: str = "c") -> ChallengeProgress:
    db.session.expire_all()
    return db.session.get(ChallengeProgress, (customer_id, challenge_id, period))


def rewards() -> list[tuple[str, int, str]]:
    """Every challenge reward lot: (key, points, state)."""
    db.session.expire_all()
    rows = db.session.execute(
        select(LedgerEntry.idempotency_key, LedgerEntry.points, LedgerEntry.state)
        .where(LedgerEntry.kind == "challenge_reward")
        .order_by(LedgerEntry.id)
    )
    return [tuple(r) for r in rows]


def clawbacks_of(key: str) -> list[tuple[str, int]]:
    """(key, points) of the clawbacks taken from the lot keyed `key`."""
    lot = select(LedgerEntry.id).where(LedgerEntry.idempotency_key == key).scalar_subquery()
    rows = db.session.execute(
        select(LedgerEntry.idempotency_key, LedgerEntry.points)
        .where(LedgerEntry.kind == "clawback", LedgerEntry.reverses_entry_id == lot)
        .order_by(LedgerEntry.id)
    )
    return [tuple(r) for r in rows]


def counters(challenge_id: int) -> tuple[int, int]:
    db.session.expire_all()
    c = db.session.get(Challenge, challenge_id)
    return c.participants, c.completions


def badges(customer_id: int) -> list[tuple[int, str, int]]:
    rows = db.session.execute(
        select(CustomerBadge.badge_id, CustomerBadge.source, CustomerBadge.source_id).where(
            CustomerBadge.customer_id == customer_id
        )
    )
    return [tuple(r) for r in rows]


def contributions() -> int:
    """How many (purchase, challenge) pairs counted."""
    return sum(len(c) for c in db.session.scalars(select(ChallengePurchase.counted)))


def reset_to_received(tx_id: int) -> None:
    """An operator replays a purchase: its row is `received` again."""
    db.session.execute(update(Transaction).where(Transaction.id == tx_id).values(status="received"))
    db.session.commit()

"""State set-up for XP, milestone and activity tests: rows the challenge extra would write
(it is not wired into this branch's feed), inserted as they would be stored."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select

from campaigns.challenges.models import (
    Badge,
    Challenge,
    ChallengeProgress,
    ChallengePurchase,
)
from campaigns.levels.models import XpEntry
from rewards.db import db
from rewards.ledger import Movement, account_of_customer, credit
from rewards.models import Customer, Event
from tests.challenge_feed_helpers import make_challenge

PUT_DEFAULTS = {"per_point": "0.1", "per_challenge": 50, "per_streak_day": 5}


def configure(client, headers, *, levels=(), **xp_rules: Any) -> None:
    """PUT /v1/levels with `xp_rules` over the defaults and a ladder of (xp, name) pairs."""
    body = {
        "xp_rules": {**PUT_DEFAULTS, **xp_rules},
        "levels": [{"level": n + 1, "xp": xp, "name": name} for n, (xp, name) in enumerate(levels)],
    }
    response = client.put("/v1/levels", json=body, headers=headers)
    assert response.status_code == 200, response.json


def challenge(program_id: int, name: str, *, goal: dict[str, Any] | None = None) -> int:
    """A challenge of `goal` (default: 3 purchases) with a validated definition, stored
    *ended*: the feed's challenge extra leaves it alone, so its progress is exactly the rows
    these tests write (`completed`, contributions), and XP can be worked out by hand."""
    return make_challenge(
        program_id,
        status="ended",
        name=name,
        goal=goal or {"type": "count", "target": 3},
        window={"type": "fixed", "starts_at": "2026-01-01T00:00:00Z"},
    )


def completed(
    customer_id: int, challenge_id: int, period: str, *, reward: int = 0, status: str = "completed"
) -> None:
    """A progress row as the challenge extra leaves a completed (or revoked) period, with
    its reward lot (`challenge_reward`, credited like the feed's) when `reward` > 0."""
    entry_id = None
    when = datetime(2026, 3, 2, 12, tzinfo=UTC)
    if reward:
        account = account_of_customer(customer_id, lock=True)
        assert account is not None
        name = db.session.get_one(Challenge, challenge_id).name
        lot = credit(
            account,
            Movement(
                kind="challenge_reward",
                points=reward,
                source_type="challenge",
                source_id=challenge_id,
                idempotency_key=f"chl:{challenge_id}:{customer_id}:{period}:1",
                occurred_at=when,
                explanation={
                    "summary": f"Challenge completed: {name}: +{reward} pts",
                    "rule": "chl",
                    "challenge_id": challenge_id,
                    "challenge_name": name,
                },
            ),
        )
        assert lot is not None
        entry_id = lot.id
    db.session.add(
        ChallengeProgress(
            customer_id=customer_id,
            challenge_id=challenge_id,
            period=period,
            value=3,
            target=3,
            status=status,
            completed_at=when,
            awards=1,
            reward_points=reward if status == "completed" else 0,
            reward_entry_id=entry_id,
        )
    )
    db.session.commit()


def contributed(
    customer_id: int, challenge_id: int, tx_id: int, day: date, *, refunded: bool = False
) -> None:
    """A purchase's contribution to a challenge on local `day` (refunded in full or not)."""
    counted_purchase(tx_id, customer_id, {challenge_id: "c"}, day, refunded=500 if refunded else 0)
    db.session.commit()


def counted_purchase(
    tx_id: int, customer_id: int, periods: dict[int, str], day: date, *, refunded: int = 0
) -> None:
    """Purchase `tx_id` (500 minor units) counted towards these challenge periods, added to
    what it already counted towards."""
    stored = db.session.get(ChallengePurchase, tx_id)
    counted = {str(challenge): period for challenge, period in periods.items()}
    if stored is not None:
        stored.counted = {**stored.counted, **counted}
        stored.refunded_minor = refunded
        return
    db.session.add(
        ChallengePurchase(
            transaction_id=tx_id,
            customer_id=customer_id,
            counted=counted,
            local_day=day,
            amount_minor=500,
            refunded_minor=refunded,
        )
    )
    db.session.flush()


def badge(program_id: int, name: str, criteria: dict[str, Any], status: str = "active") -> int:
    row = Badge(program_id=program_id, name=name, criteria=criteria, status=status, created_by="t")
    db.session.add(row)
    db.session.commit()
    return row.id


def standing(customer_id: int) -> tuple[int, int]:
    """The customer's stored (xp, level)."""
    db.session.expire_all()
    customer = db.session.get_one(Customer, customer_id)
    return customer.xp, customer.level


def xp_entries(customer_id: int) -> list[tuple[int, int, str]]:
    """(delta, total, reason) of the customer's XP entries, oldest first."""
    rows = db.session.execute(
        select(XpEntry.xp, XpEntry.total, XpEntry.reason)
        .where(XpEntry.customer_id == customer_id)
        .order_by(XpEntry.id)
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


def level_events(customer_id: int) -> list[tuple[int, int]]:
    """(from, to) of the customer's level-change events, oldest first."""
    rows = db.session.scalars(
        select(Event)
        .where(Event.customer_id == customer_id, Event.type == "customer.level_changed")
        .order_by(Event.id)
    )
    return [(e.payload["from_level"], e.payload["to_level"]) for e in rows]


def count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0

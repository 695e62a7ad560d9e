"""Completion once per period, revocation when refunds take progress below the target, and
the ledger keys that keep every award matched by at most one clawback."""

from __future__ import annotations

from datetime import date

import pytest

from campaigns.challenges.completion import (
    award_key,
    claw_back_key,
    may_complete,
    settle,
)
from campaigns.challenges.goals import Contribution, Goal, Tally


@pytest.mark.parametrize(
    ("status", "value", "allowed", "expected"),
    [
        ("active", 2, True, ("active", None)),
        ("active", 3, True, ("completed", "award")),
        ("active", 9, True, ("completed", "award")),
        ("active", 3, False, ("active", None)),  # non-repeatable, done in another period
        ("completed", 5, True, ("completed", None)),  # more purchases add no reward
        ("completed", 3, True, ("completed", None)),
        ("completed", 2, True, ("revoked", "claw_back")),
        ("revoked", 2, True, ("revoked", None)),
        ("revoked", 3, True, ("completed", "award")),
    ],
)
def test_settle(status, value, allowed, expected):
    s = settle(status=status, value=value, target=3, may_complete=allowed)
    assert (s.status, s.action) == expected


def test_once_per_period_when_repeatable_once_ever_otherwise():
    assert may_complete(repeatable=True, completed_elsewhere=True)
    assert may_complete(repeatable=False, completed_elsewhere=False)
    assert not may_complete(repeatable=False, completed_elsewhere=True)


def test_purchase_then_refund_cannot_farm_the_reward():
    """Three coffees complete; a refund revokes (points back); a fourth completes again as
    a new award with its own key: at any moment at most one award is live."""
    goal = Goal("count", 3)
    coffees = [Contribution(t, 350, date(2026, 3, 2 + t)) for t in range(1, 5)]
    tally, status, ledger = Tally(), "active", []
    for event, coffee in [("buy", 0), ("buy", 1), ("buy", 2), ("refund", 1), ("buy", 3)]:
        (tally.add if event == "buy" else tally.remove)(coffees[coffee])
        s = settle(
            status=status, value=tally.value(goal, date(2026, 3, 31)), target=3, may_complete=True
        )
        status = s.status
        awards = sum(1 for entry in ledger if entry[0] == "award")
        if s.action == "award":
            ledger.append(("award", award_key(7, 100, "w:2026-W10", awards + 1)))
        elif s.action == "claw_back":
            ledger.append(("claw_back", claw_back_key(7, 100, "w:2026-W10", awards)))
    assert status == "completed"
    assert ledger == [
        ("award", "chl:7:100:w:2026-W10:1"),
        ("claw_back", "chl:7:100:w:2026-W10:1:claw"),
        ("award", "chl:7:100:w:2026-W10:2"),
    ]

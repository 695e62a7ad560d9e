"""Completion and revocation of one progress row (one customer, challenge and period).

States: `active` (target not reached), `completed` (reached; the reward was granted) and
`revoked` (was completed, then refunds took the value below the target; the reward points
are clawed back, the badge stays). A revoked period that reaches its target again completes
again with a new, distinct award: every grant is matched by a clawback, so buying and
refunding cannot farm rewards, and a customer who replaces a refunded purchase is not
punished.

A repeatable recurring challenge can complete once in each period; a non-repeatable one once
ever: it cannot complete while another of its periods holds a completion not revoked.
"""

from __future__ import annotations

from dataclasses import dataclass

ACTIVE = "active"
COMPLETED = "completed"
REVOKED = "revoked"
AWARD = "award"
CLAW_BACK = "claw_back"


@dataclass(frozen=True)
class Settlement:
    """The state a progress row moves to and what that asks of the ledger: `award` (grant the
    reward), `claw_back` (take the live award back) or None."""

    status: str
    action: str | None


def may_complete(*, repeatable: bool, completed_elsewhere: bool) -> bool:
    """Whether this period may complete: always when repeatable, otherwise only when no
    other period of the challenge holds a completion that was not revoked."""
    return repeatable or not completed_elsewhere


def settle(*, status: str, value: int, target: int, may_complete: bool) -> Settlement:
    """The next state of a progress row whose goal now measures `value`.

    Completion happens the first time `value` reaches `target`; purchases beyond it change
    nothing. Only a completed row can be revoked, and only by falling below the target.
    """
    if status == COMPLETED:
        return Settlement(REVOKED, CLAW_BACK) if value < target else Settlement(COMPLETED, None)
    if status not in (ACTIVE, REVOKED):
        raise ValueError(f"Unknown progress status {status!r}.")
    if value >= target and may_complete:
        return Settlement(COMPLETED, AWARD)
    return Settlement(status, None)


def award_key(challenge_id: int, customer_id: int, period: str, award: int) -> str:
    """The ledger idempotency key of the `award`-th reward (1, 2, ...) of one progress row:
    a re-run of the same chunk writes the same key (and so nothing), while a completion
    after a revocation is award n + 1."""
    return f"chl:{challenge_id}:{customer_id}:{period}:{award}"


def claw_back_key(challenge_id: int, customer_id: int, period: str, award: int) -> str:
    """The ledger idempotency key of the clawback of award `award`."""
    return f"{award_key(challenge_id, customer_id, period, award)}:claw"

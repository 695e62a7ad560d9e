"""Refunds and reversals in challenges: the refund side of `ChallengeRules` (a mixin: the
attributes are the chunk's).

A refund lowers what its purchase contributes to each challenge period (`refunded_minor`,
cumulative; refunded in full, it stops counting as a purchase, a merchant, a category or an
active day) and the period is evaluated again. A completed period that falls below its
target is revoked and its reward taken back in full (a `Reclaim` of its lot under the key
`chl:{challenge}:{customer}:{period}:{award}:claw`; points already spent leave a debt like
any clawback); the badge stays. A partial refund that leaves the target reached takes
nothing. A period never completes through a refund."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from campaigns.challenges.completion import CLAW_BACK, REVOKED, claw_back_key, settle
from campaigns.challenges.feed import reads
from campaigns.challenges.feed.compiled import CompiledChallenge, compiled_challenges
from campaigns.challenges.feed.progress import Counted, Progress
from campaigns.challenges.goals import Tally
from rewards.processing.extras import Clawback, Reclaim, Refund

Key = tuple[int, int, str]


class Reversals:
    """What refunds do to challenge progress, and which rewards they take back."""

    challenges: dict[int, CompiledChallenge]
    counted: dict[int, list[Counted]]
    rows: dict[Key, Progress]
    completed: dict[tuple[int, int], int]
    counters: dict[int, list[int]]
    _purchases_read: set[int]  # whose stored contributions are in `counted`
    _customers_read: set[int]  # whose completions are in `completed`

    def _load_refunded(self, purchase_ids: Collection[int]) -> set[Key]:
        """Read what these purchases counted towards (they may be refunded in this chunk);
        the progress rows that refunds may change."""
        return self._keep_counted(set(purchase_ids), reads.counted_for)

    def _keep_counted(self, purchase_ids: set[int], read: Any) -> set[Key]:
        wanted = purchase_ids - self._purchases_read
        self._purchases_read |= wanted
        keys: set[Key] = set()
        for (transaction_id, _), counted in sorted(read(wanted).items()):
            self.counted[transaction_id].append(counted)
            keys.add(counted.key)
        return keys

    def _load_progress(self, keys: Collection[Key]) -> None:
        """Read the progress rows among `keys` not read yet (new ones start empty, with
        their challenge's target) with the tallies of distinct and streak goals, and how many
        periods of each challenge their customers completed."""
        missing = set(keys) - set(self.rows)
        if not missing:
            return
        unknown = {c for _, c, _ in missing} - set(self.challenges)
        self.challenges.update(compiled_challenges(unknown))
        missing = {k for k in missing if k[1] in self.challenges}  # a deleted challenge
        stored = reads.progress_rows(missing)
        tallied = {k for k in missing if self.challenges[k[1]].needs_tally}
        # A new row has no purchases yet (a row and its contributions are written together);
        # a row stored before its tally was kept is recounted once.
        recount = reads.recounted_tallies(
            {k for k in tallied if k in stored and stored[k].tally is None}
        )
        for key in missing:
            row = stored.get(key) or Progress(*key, target=self.challenges[key[1]].goal.target)
            if key not in tallied:
                row.tally = None
            elif row.tally is None:
                row.tally = recount.get(key) or Tally()
            self.rows[key] = row
        customers = {u for u, _, _ in missing} - self._customers_read
        self._customers_read |= customers
        self.completed.update(reads.completions(customers))

    def refunds(self, refund: Refund) -> list[Reclaim]:
        """Lower the purchase's contributions to what is left of it and evaluate their
        periods again; the rewards of completed periods now below target go back in full."""
        purchase_id = refund.purchase_id
        if purchase_id not in self._purchases_read:
            self._load_progress(self._load_refunded([purchase_id]))  # not foreseen: rare
        reclaims: list[Reclaim] = []
        for counted in self.counted.get(purchase_id, ()):
            refunded = min(counted.amount_minor, refund.refunded_after)
            challenge = self.challenges.get(counted.challenge_id)
            row = self.rows.get(counted.key)
            if refunded <= counted.refunded_minor or challenge is None or row is None:
                continue
            before = counted.contribution()
            counted.refunded_minor, counted.refund_changed = refunded, True
            if before is None:
                continue
            row.reduce(before, counted.contribution(), challenge.goal)
            settlement = settle(
                status=row.status, value=row.value, target=row.target, may_complete=False
            )
            if settlement.action == CLAW_BACK:
                reclaim = self._revoke(row, challenge, refund)
                if reclaim is not None:
                    reclaims.append(reclaim)
        return reclaims

    def _revoke(self, row: Progress, c: CompiledChallenge, refund: Refund) -> Reclaim | None:
        row.status, row.revoked_at = REVOKED, refund.occurred_at
        pair = (row.customer_id, c.id)
        self.completed[pair] = max(0, self.completed.get(pair, 0) - 1)
        self.counters[c.id][1] -= 1
        points, lot_key = row.reward_points, row.reward_key
        row.reward_points, row.reward_key = 0, None
        if not points or lot_key is None:
            return None
        return Reclaim(
            lot_key=lot_key,
            owed=points,
            idempotency_key=claw_back_key(c.id, row.customer_id, row.period, row.awards),
            explanation=_explain(c, row, refund, points),
        )

    def restore(self, clawback: Clawback) -> None:
        """Nothing: challenge rewards are never clawed back proportionally while this runs
        (`reclaimed_kinds`), and a reward uses no budget."""


def _explain(c: CompiledChallenge, row: Progress, refund: Refund, points: int) -> dict[str, Any]:
    what = "Reversal" if refund.refund_kind == "reversal" else "Refund"
    where = refund.merchant_name or "a merchant"
    return {
        "summary": f"{what} at {where}: challenge “{c.name}” is no longer completed, so its "
        f"reward of {points} pts is taken back",
        "rule": "challenge_clawback",
        "challenge_id": c.id,
        "challenge_name": c.name,
        "period": row.period,
        "customer_id": row.customer_id,
        "award": row.awards,
        "value": row.value,
        "target": row.target,
        "refunded_purchase_id": refund.purchase_id,
    }

"""Challenges in the feed: `ChallengeRules`, the second `ExtraRules` the worker plugs into
the chunk job (lot kind `challenge_reward`, key namespace `challenge`).

Per chunk: the program's live challenges come compiled from a per-process cache keyed by
(program, rules_revision) and indexed by place (`compiled`; the worker warms it before each
fork). With the customers' accounts locked (which serialises everything per customer), a
chunk reads their opt-ins, the contributions already stored for its purchases and the
progress rows its purchases and refunds touch, with the tallies distinct and streak goals
keep in them (`reads`); it evaluates each purchase in memory (`progress`): a purchase counts
at most once per challenge, a period completes at most once (again only after a
revocation), and its reward is a `challenge_reward` lot of the completing purchase keyed
`tx:{id}:challenge:{challenge}`, pending like the base points. Refunds lower progress and
may revoke a completion, taking its reward back in full (`reversals`). Everything is written
in `finish`, a statement per table (`writes`), the challenges' shared counters last."""

from campaigns.challenges.feed.compiled import (
    ChallengeSet,
    CompiledChallenge,
    challenge_set,
    forget_challenge_sets,
    warm_challenge_sets,
)
from campaigns.challenges.feed.rules import ChallengeRules, CountedRace

__all__ = [
    "ChallengeRules",
    "ChallengeSet",
    "CompiledChallenge",
    "CountedRace",
    "challenge_set",
    "forget_challenge_sets",
    "warm_challenge_sets",
]

"""Campaigns in the feed: the `ExtraRules` the worker plugs into the chunk job.

Per chunk: compiled rule sets come from a per-process cache keyed by (program, rules_revision)
(`rulesets`), so a marketer's change reaches every worker on its next chunk. The customers'
accounts are already locked, which serialises per-customer cap counters (`rules`); campaigns
with a budget or a participant limit are read without a lock when the chunk starts and
row-locked (`FOR NO KEY UPDATE`, ascending id, after the accounts) only in `finish`, just
before the commit, where the read is checked (`limits`, on the generic
`rewards.processing.limits`): several workers never overspend them, and a read gone stale
in a way that matters raises `LimitRace`, the `OptimisticRace` on which the job reruns the
chunk lock-early. A purchase's bonuses form one lot of kind `bonus` (`lots`); a refund
clawing one back gives its campaigns back their budget and cap room (`refunds`).
"""

from campaigns.earning.feed.limits import LimitRace
from campaigns.earning.feed.lots import BONUS_RULE, explained_parts
from campaigns.earning.feed.rules import CampaignRules
from campaigns.earning.feed.rulesets import _RULESETS, forget_rulesets, ruleset, warm_rulesets

__all__ = [
    "BONUS_RULE",
    "_RULESETS",
    "CampaignRules",
    "LimitRace",
    "explained_parts",
    "forget_rulesets",
    "ruleset",
    "warm_rulesets",
]

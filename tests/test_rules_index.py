"""The rule index: a purchase meets the rules filed under its merchant, MCC, category or
partner plus the unfiled ones, in the order the rules were given; any rule with conditions
can be indexed (campaign versions, challenges)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from campaigns.rules import Conditions, Purchase, RuleIndex
from campaigns.rules import index as index_module

P = Purchase(
    id=1,
    amount_minor=800,
    currency="JPY",
    mcc="5812",
    category="dining",
    merchant_id="m-1",
    merchant_name="Noodle Bar",
    partner=None,
    channel="in_store",
    occurred_at=datetime(2026, 3, 7, 3, 30, tzinfo=UTC),
    base_points=8,
)


@dataclass(frozen=True)
class Stamp:
    """A rule that is not a campaign: what a challenge looks like to the index."""

    name: str
    conditions: Conditions

    def index_keys(self) -> list[tuple[str, str]]:
        return self.conditions.index_keys()


def rule(name: str, **block: Any) -> Stamp:
    return Stamp(name, Conditions.compile(block))


RULES = [
    rule("anything"),
    rule("noodle mcc", mccs=["5812"]),
    rule("other mcc", mccs=["5411"]),
    rule("m-1", merchant_ids=["m-1"]),
    rule("m-2 dining", merchant_ids=["m-2"], categories=["dining"]),
    rule("dining", categories=["dining"]),
    rule("partner", partners=["noodle"]),
    rule("noodle mcc of the partner", mccs=["5811-5813"], partners=["noodle"]),
    rule("noodle mcc online", mccs=["5812"], channels=["online"]),
    rule("big spends", amount_min_minor=10_000),
]


def names(rules: list[Stamp]) -> list[str]:
    return [r.name for r in rules]


def test_candidates_are_the_rules_filed_under_the_purchases_keys_or_none():
    index = RuleIndex(RULES)
    assert names(index.candidates(P)) == [
        "anything",
        "noodle mcc",
        "m-1",
        "dining",
        "noodle mcc of the partner",  # filed by MCC; the partner is checked next
        "noodle mcc online",
        "big spends",  # per-purchase conditions only: filed nowhere
    ]


def test_accepting_drops_the_candidates_the_place_rules_out():
    index = RuleIndex(RULES)
    # Not the partner's rule (no partner here); the channel and amount rules stay: what
    # they check differs between purchases at the same place.
    assert names(index.accepting(P)) == [
        "anything",
        "noodle mcc",
        "m-1",
        "dining",
        "noodle mcc online",
        "big spends",
    ]
    at_partner = replace(P, partner="noodle", merchant_id="m-9")
    assert names(index.accepting(at_partner)) == [
        "anything",
        "noodle mcc",
        "dining",
        "partner",
        "noodle mcc of the partner",
        "noodle mcc online",
        "big spends",
    ]


def test_the_order_given_is_kept():
    index = RuleIndex(reversed(RULES))
    assert names(index.candidates(P)) == [
        "big spends",
        "noodle mcc online",
        "noodle mcc of the partner",
        "dining",
        "m-1",
        "noodle mcc",
        "anything",
    ]


def test_answers_are_remembered_per_place_and_stay_right_when_forgotten(monkeypatch):
    index = RuleIndex(RULES)
    first = index.accepting(P)
    assert index.accepting(replace(P, id=2, amount_minor=50_000, channel="online")) is first
    monkeypatch.setattr(index_module, "CANDIDATES_REMEMBERED", 1)
    groceries = replace(P, mcc="5411", category="groceries", merchant_id="m-3")
    assert names(index.accepting(groceries)) == ["anything", "other mcc", "big spends"]
    assert names(index.accepting(P)) == names(first)


def test_a_thousand_rules_one_purchase_meets_few():
    many = [rule(f"mcc {n}", mccs=[f"{n:04d}"]) for n in range(5000, 6000)]
    index = RuleIndex([*many, rule("anything")])
    assert names(index.candidates(P)) == ["mcc 5812", "anything"]

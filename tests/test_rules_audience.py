"""Audiences in the shared condition language: segment, tiers and age bounds validated by exact
path and judged at their boundaries (birthdays, 29 February); and the `conditions`/`audience`
section validator a challenge validator plugs in gives what a campaign definition gives."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from campaigns.earning.definition import validate_definition
from campaigns.rules import Audience, Checker, Shopper, age_on, check_audience, section_validator
from rewards.errors import InvalidInput

# Turns 18 on 10 March 2026.
SHOPPER = Shopper(customer_id=1, birth_date=date(2008, 3, 10), tier="gold", segments=frozenset({4}))


def errors_of(block: Any) -> dict[str, list[str]]:
    c = Checker()
    check_audience(c, block)
    return c.errors


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (
            {"segment_id": 0},
            {"audience.segment_id": ["Must be between 1 and 9223372036854775807."]},
        ),
        ({"segment_id": "4"}, {"audience.segment_id": ["Must be an integer."]}),
        ({"tiers": "gold"}, {"audience.tiers": ["Must be a list."]}),
        ({"tiers": ["gold", ""]}, {"audience.tiers.1": ["Must be a non-empty string."]}),
        ({"min_age": 121}, {"audience.min_age": ["Must be between 0 and 120."]}),
        ({"min_age": 20, "max_age": 18}, {"audience.max_age": ["Must not be below min_age."]}),
        ({"min_age": 18, "max_age": 18}, {}),
        ({"country": "JP"}, {"audience.country": ["Unknown field."]}),
        ([4], {"audience": ["Must be an object."]}),
    ],
)
def test_each_problem_is_named_by_its_exact_path(block, expected):
    assert errors_of(block) == expected


@pytest.mark.parametrize(
    ("birth", "day", "age"),
    [
        (date(2008, 3, 10), date(2026, 3, 9), 17),
        (date(2008, 3, 10), date(2026, 3, 10), 18),
        (date(2008, 2, 29), date(2026, 2, 28), 17),  # no 29 February in 2026
        (date(2008, 2, 29), date(2026, 3, 1), 18),
        (date(2008, 2, 29), date(2028, 2, 29), 20),
    ],
)
def test_age_in_whole_years(birth, day, age):
    assert age_on(birth, day) == age


@pytest.mark.parametrize(
    ("block", "day", "changes", "expected"),
    [
        ({"min_age": 18}, date(2026, 3, 9), {}, False),  # 17, the day before the birthday
        ({"min_age": 18}, date(2026, 3, 10), {}, True),  # 18 on the birthday: bounds included
        ({"max_age": 17}, date(2026, 3, 9), {}, True),
        ({"max_age": 17}, date(2026, 3, 10), {}, False),
        ({"min_age": 16}, date(2026, 3, 10), {"birth_date": None}, False),  # age unknown
        ({"tiers": ["gold", "silver"]}, date(2026, 3, 10), {}, True),
        ({"tiers": ["silver"]}, date(2026, 3, 10), {}, False),
        ({"tiers": ["gold"]}, date(2026, 3, 10), {"tier": None}, False),
        ({"segment_id": 4}, date(2026, 3, 10), {}, True),
        ({"segment_id": 5}, date(2026, 3, 10), {}, False),
        ({}, date(2026, 3, 10), {"birth_date": None, "tier": None, "segments": frozenset()}, True),
    ],
)
def test_who_is_admitted(block, day, changes, expected):
    assert Audience.compile(block).admits(replace(SHOPPER, **changes), day) is expected


def test_everyone_only_without_any_rule():
    assert Audience.compile(None).everyone
    assert Audience.compile({}).everyone
    assert not Audience.compile({"max_age": 120}).everyone


BAD_SECTIONS = {
    "conditions": {"mccs": ["5812", "6011"], "categories": ["gambling"], "weekdays": [8]},
    "audience": {"min_age": 30, "max_age": 20, "tiers": "gold"},
}


def test_the_section_validator_reports_what_a_campaign_definition_reports():
    validate = section_validator(excluded_mccs=["6011"])
    errors: dict[str, list[str]] = {}
    for section, value in BAD_SECTIONS.items():
        _, found = validate(section, value)
        errors.update(found)
    assert set(errors) == {
        "conditions.mccs.1",
        "conditions.categories.0",
        "conditions.weekdays.0",
        "audience.max_age",
        "audience.tiers",
    }
    campaign = {
        "name": "x",
        "starts_at": "2026-04-01T00:00:00Z",
        "effect": {"type": "fixed_bonus", "value": 1},
        **BAD_SECTIONS,
    }
    with pytest.raises(InvalidInput) as caught:
        validate_definition(campaign, excluded_mccs=["6011"])
    assert caught.value.errors == errors


def test_the_section_validator_normalises_valid_sections():
    validate = section_validator()
    assert validate("conditions", {"mccs": ["5812"], "weekdays": [1], "partners": None}) == (
        {"mccs": ["5812"], "weekdays": [1]},
        {},
    )
    assert validate("audience", None) == ({}, {})
    with pytest.raises(ValueError, match="Not a shared section"):
        validate("goal", {})

"""Campaign definitions: every rule names the exact field path; valid ones normalise and compile."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from campaigns.earning.compiled import Campaign
from campaigns.earning.definition import merge_patch, validate_definition
from rewards.errors import InvalidInput
from rewards.models.program import DEFAULT_EXCLUDED_MCCS

VALID: dict[str, Any] = {
    "name": "Weekend Eats",
    "starts_at": "2026-04-01T00:00:00+09:00",
    "ends_at": "2026-07-01T00:00:00+09:00",
    "priority": 200,
    "stackable": False,
    "requires_activation": True,
    "audience": {"segment_id": 3, "tiers": ["gold"], "min_age": 18, "max_age": 25},
    "conditions": {
        "categories": ["dining"],
        "mccs": ["5812", "5811-5814"],
        "merchant_ids": ["m-1"],
        "partners": ["noodle"],
        "amount_min_minor": 500,
        "amount_max_minor": 50000,
        "channels": ["in_store", "contactless"],
        "weekdays": [6, 7],
        "time_of_day": {"from": "22:00", "to": "02:00"},
        "first_purchase_at_merchant": True,
    },
    "effect": {"type": "multiplier", "value": 1.5},
    "caps": {
        "per_transaction": 300,
        "per_customer": [{"period": "week", "points": 500}, {"period": "campaign", "points": 2000}],
        "qualifying_spend": {"period": "quarter", "amount_minor": 150000},
    },
    "budget_points": 1_000_000,
    "max_participants": 5000,
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    """VALID with the value at dotted `path` replaced (`...` deletes it)."""
    definition = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    target: Any = definition
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    key: Any = int(last) if isinstance(target, list) else last
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return definition


def errors_of(definition: Any) -> dict[str, list[str]]:
    with pytest.raises(InvalidInput) as caught:
        validate_definition(definition, excluded_mccs=DEFAULT_EXCLUDED_MCCS)
    return caught.value.errors


BAD = [
    # (what changes, new value, the error path)
    ("colour", "pink", "colour"),
    ("name", ..., "name"),
    ("name", "  ", "name"),
    ("starts_at", ..., "starts_at"),
    ("starts_at", "2026-04-01T00:00:00", "starts_at"),  # no zone
    ("starts_at", "next tuesday", "starts_at"),
    ("ends_at", "2026-03-31T23:00:00+09:00", "ends_at"),  # before the start
    ("ends_at", "2026-04-01T00:00:00+09:00", "ends_at"),  # equal to the start
    ("priority", 1001, "priority"),
    ("priority", "5", "priority"),
    ("stackable", "yes", "stackable"),
    ("requires_activation", 1, "requires_activation"),
    ("audience.height", 180, "audience.height"),
    ("audience.segment_id", 0, "audience.segment_id"),
    ("audience.tiers", "gold", "audience.tiers"),
    ("audience.min_age", 121, "audience.min_age"),
    ("audience.max_age", 17, "audience.max_age"),  # below min_age 18
    ("conditions", ["dining"], "conditions"),
    ("conditions.colour", "red", "conditions.colour"),
    ("conditions.categories", ["dining", "casino"], "conditions.categories.1"),
    ("conditions.categories", ["gambling"], "conditions.categories.0"),
    ("conditions.categories", ["dining", "cash_like"], "conditions.categories.1"),
    ("conditions.mccs", ["5812", "5814", "581"], "conditions.mccs.2"),
    ("conditions.mccs", ["58120"], "conditions.mccs.0"),
    ("conditions.mccs", [5812], "conditions.mccs.0"),
    ("conditions.mccs", ["5814-5811"], "conditions.mccs.0"),
    ("conditions.mccs", ["5812", "6011"], "conditions.mccs.1"),  # excluded by the program
    ("conditions.merchant_ids", ["m-1", ""], "conditions.merchant_ids.1"),
    ("conditions.partners", "noodle", "conditions.partners"),
    ("conditions.amount_min_minor", 0, "conditions.amount_min_minor"),
    ("conditions.amount_max_minor", 499, "conditions.amount_max_minor"),  # below the minimum
    ("conditions.channels", ["atm"], "conditions.channels.0"),
    ("conditions.weekdays", [1, 8], "conditions.weekdays.1"),
    ("conditions.weekdays", [0], "conditions.weekdays.0"),
    ("conditions.time_of_day.from", "25:00", "conditions.time_of_day.from"),
    ("conditions.time_of_day.to", ..., "conditions.time_of_day.to"),
    ("conditions.time_of_day.to", "22:00", "conditions.time_of_day.to"),  # empty window
    ("conditions.first_purchase_at_merchant", "yes", "conditions.first_purchase_at_merchant"),
    ("effect", ..., "effect"),
    ("effect.type", "cashback", "effect.type"),
    ("effect.value", ..., "effect.value"),
    ("effect.value", 0, "effect.value"),
    ("effect.value", "-2", "effect.value"),
    ("effect.value", "1", "effect.value"),  # a 1× multiplier grants nothing
    ("effect.value", "abc", "effect.value"),
    ("effect.value", True, "effect.value"),
    ("effect.value", "1.23456", "effect.value"),
    ("effect.extra", 1, "effect.extra"),
    ("caps.per_transaction", 0, "caps.per_transaction"),
    ("caps.per_customer.0.period", ..., "caps.per_customer.0.period"),
    ("caps.per_customer.1.period", "year", "caps.per_customer.1.period"),
    ("caps.per_customer.0.points", -5, "caps.per_customer.0.points"),
    ("caps.per_customer.1.period", "week", "caps.per_customer"),  # the week cap twice
    ("caps.qualifying_spend.period", ..., "caps.qualifying_spend.period"),
    ("caps.qualifying_spend.amount_minor", 0, "caps.qualifying_spend.amount_minor"),
    ("caps.per_day", 10, "caps.per_day"),
    ("budget_points", 0, "budget_points"),
    ("budget_points", 2.5, "budget_points"),
    ("max_participants", -1, "max_participants"),
]


@pytest.mark.parametrize(
    ("path", "value", "error_path"), BAD, ids=[f"{b[0]}={b[1]!r}" for b in BAD]
)
def test_each_rule_names_the_exact_field_path(path, value, error_path):
    errors = errors_of(with_change(path, value))
    assert list(errors) == [error_path], errors


@pytest.mark.parametrize(
    ("effect", "problem"),
    [
        ({"type": "fixed_bonus", "value": "2.5"}, "whole number"),
        ({"type": "percent_of_spend", "value": 101}, "At most 100"),
        ({"type": "points_per_unit", "value": "0"}, "greater than 0"),
        ({"type": "multiplier", "value": "0.5"}, "greater than 1"),
    ],
)
def test_effect_value_limits_per_type(effect, problem):
    errors = errors_of({**VALID, "effect": effect})
    assert problem in errors["effect.value"][0]


def test_every_problem_is_reported_at_once():
    bad = {
        **VALID,
        "colour": "red",
        "conditions": {"mccs": ["5812", "58x"], "weekdays": [9]},
        "caps": {"per_customer": [{"points": 5}]},
        "effect": {"type": "multiplier", "value": 0},
    }
    assert set(errors_of(bad)) == {
        "colour",
        "conditions.mccs.1",
        "conditions.weekdays.0",
        "caps.per_customer.0.period",
        "effect.value",
    }


def test_not_an_object_is_an_error():
    assert set(errors_of(["name"])) == {"_body"}


def test_valid_definition_is_normalised_and_compiles():
    definition = validate_definition(VALID, excluded_mccs=DEFAULT_EXCLUDED_MCCS)

    assert definition["starts_at"] == "2026-03-31T15:00:00Z"
    assert definition["ends_at"] == "2026-06-30T15:00:00Z"
    assert definition["effect"] == {"type": "multiplier", "value": "1.5"}
    assert definition["conditions"] == VALID["conditions"]
    assert definition["caps"] == VALID["caps"]
    compiled = Campaign.compile(1, 1, definition)
    assert compiled.mccs >= {"5811", "5812", "5813", "5814"}
    assert compiled.per_customer == (("week", 500), ("campaign", 2000))


def test_defaults_of_a_minimal_definition():
    minimal = {
        "name": "Everything 2x",
        "starts_at": "2026-04-01T00:00:00Z",
        "effect": {"type": "fixed_bonus", "value": 50},
    }
    assert validate_definition(minimal) == {
        "name": "Everything 2x",
        "starts_at": "2026-04-01T00:00:00Z",
        "ends_at": None,
        "priority": 100,
        "stackable": True,
        "requires_activation": False,
        "audience": {},
        "conditions": {},
        "effect": {"type": "fixed_bonus", "value": "50"},
        "caps": {},
        "budget_points": None,
        "max_participants": None,
    }


def test_an_mcc_range_covering_an_excluded_code_is_refused_like_the_code():
    """6010/6011 (cash) are excluded by default: a range around them is refused, naming them."""
    errors = errors_of(with_change("conditions.mccs", ["5812", "6000-6099", "6010-6010"]))
    assert set(errors) == {"conditions.mccs.1", "conditions.mccs.2"}
    assert "6010, 6011, 6050, 6051" in errors["conditions.mccs.1"][0]
    assert "6010" in errors["conditions.mccs.2"][0] and "6011" not in errors["conditions.mccs.2"][0]


def test_mcc_ranges_beside_excluded_codes_are_accepted():
    """Split around the excluded codes, the same spending is targetable."""
    split = with_change("conditions.mccs", ["6000-6009", "6012-6049"])
    definition = validate_definition(split, excluded_mccs=DEFAULT_EXCLUDED_MCCS)
    assert definition["conditions"]["mccs"] == ["6000-6009", "6012-6049"]


def test_the_programs_own_exclusions_decide(client, program, marketer_headers):
    """Through the API, with the program's list: a range over an excluded code is 422."""
    body = {
        "name": "Cash back?",
        "starts_at": "2026-04-01T00:00:00Z",
        "effect": {"type": "multiplier", "value": "2"},
        "conditions": {"mccs": ["6000-6099"]},
    }
    response = client.post("/v1/campaigns", json=body, headers=marketer_headers)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert "6011" in response.json["errors"]["conditions.mccs.0"][0]
    listed = client.get("/v1/campaigns", headers=marketer_headers).json["data"]
    assert listed == []


def test_merge_patch_merges_objects_and_null_removes():
    base = {"effect": {"type": "multiplier", "value": "3"}, "ends_at": "x", "conditions": {"a": 1}}
    patched = merge_patch(base, {"effect": {"value": "4"}, "ends_at": None, "conditions": {"b": 2}})
    assert patched == {
        "effect": {"type": "multiplier", "value": "4"},
        "conditions": {"a": 1, "b": 2},
    }
    assert base["effect"]["value"] == "3"  # the original is untouched

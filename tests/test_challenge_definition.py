"""Challenge definitions: normalised when valid, every problem named by its exact path when
not, and nothing accepted partially; the shared sections go through the caller's hook."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from campaigns.challenges.definition import validate_challenge
from rewards.errors import InvalidInput

VALID: dict[str, Any] = {
    "name": "Coffee week",
    "goal": {"type": "count", "target": 3},
    "window": {"type": "recurring", "period": "week", "starts_at": "2026-03-02T00:00:00+01:00"},
}


def no_shared(section: str, value: Any) -> tuple[Any, dict[str, list[str]]]:
    return value, {}


def problems(raw: Any, hook=no_shared) -> dict[str, list[str]]:
    with pytest.raises(InvalidInput) as caught:
        validate_challenge(raw, shared_sections=hook)
    return caught.value.errors


def test_a_valid_definition_is_normalised_with_defaults():
    assert validate_challenge(VALID, shared_sections=no_shared) == {
        "name": "Coffee week",
        "description": None,
        "goal": {"type": "count", "target": 3},
        "window": {
            "type": "recurring",
            "period": "week",
            "starts_at": "2026-03-01T23:00:00Z",
            "ends_at": None,
        },
        "join": "automatic",
        "repeatable": False,
        "reward": {"points": 0},
        "sponsor": None,
        "priority": 100,
        "conditions": {},
        "audience": {},
    }


def test_a_full_streak_definition():
    raw = {
        **VALID,
        "description": "Seven days in a row",
        "goal": {"type": "streak", "target": 7, "unit": "days"},
        "window": {
            "type": "fixed",
            "starts_at": "2026-03-01T00:00:00Z",
            "ends_at": "2026-03-31T00:00:00Z",
        },
        "join": "opt_in",
        "reward": {"points": 500, "badge_id": 4, "xp": 50},
        "sponsor": "nero",
        "priority": 10,
    }
    definition = validate_challenge(raw, shared_sections=no_shared)
    assert definition["goal"] == {"type": "streak", "target": 7, "unit": "days"}
    assert definition["window"]["ends_at"] == "2026-03-31T00:00:00Z"
    assert definition["reward"] == {"points": 500, "badge_id": 4, "xp": 50}
    assert (definition["join"], definition["sponsor"], definition["priority"]) == (
        "opt_in",
        "nero",
        10,
    )


def test_every_problem_is_named_at_once_by_its_path():
    raw = {
        "goal": {"type": "streak", "target": 0, "colour": "red"},
        "window": {"type": "recurring", "starts_at": "next monday"},
        "reward": {"points": 1_000_001, "xp": -1},
        "join": "maybe",
        "repeatable": "yes",
        "priority": 1001,
        "bonus": 5,
    }
    errors = problems(raw)
    assert set(errors) == {
        "name",
        "goal.unit",
        "goal.target",
        "goal.colour",
        "window.period",
        "window.starts_at",
        "reward.points",
        "reward.xp",
        "join",
        "repeatable",
        "priority",
        "bonus",
    }
    assert errors["bonus"] == ["Unknown field."]
    assert errors["reward.points"] == ["Must be between 0 and 1000000."]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"goal": {"type": "count", "target": 0}}, "goal.target"),
        ({"goal": {"type": "count", "target": 3, "unit": "days"}}, "goal.unit"),
        ({"goal": {"type": "spend", "target": "5000"}}, "goal.target"),
        ({"goal": {"type": "laps", "target": 3}}, "goal.type"),
        ({"goal": {"type": "distinct_categories", "target": 16}}, "goal.target"),
        ({"goal": {"type": "streak", "target": 8, "unit": "days"}}, "goal.target"),
        ({"goal": {"type": "streak", "target": 2, "unit": "weeks"}}, "goal.unit"),
        ({"goal": {"type": "streak", "target": 3, "unit": "hours"}}, "goal.unit"),
        (
            {"window": {"type": "fixed", "period": "week", "starts_at": "2026-03-02T00:00Z"}},
            "window.period",
        ),
        (
            {"window": {"type": "recurring", "period": "day", "starts_at": "2026-03-02T00:00Z"}},
            "window.period",
        ),
        ({"window": {"type": "fixed", "starts_at": "2026-03-02T00:00:00"}}, "window.starts_at"),
        (
            {
                "window": {
                    "type": "fixed",
                    "starts_at": "2026-03-02T00:00Z",
                    "ends_at": "2026-03-01T00:00Z",
                }
            },
            "window.ends_at",
        ),
        ({"window": "weekly"}, "window"),
        (
            {"repeatable": True, "window": {"type": "fixed", "starts_at": "2026-03-02T00:00Z"}},
            "repeatable",
        ),
        ({"reward": {"points": 10, "badge_id": 0}}, "reward.badge_id"),
        ({"reward": {"coins": 10}}, "reward.coins"),
        ({"sponsor": ""}, "sponsor"),
        ({"name": "x" * 201}, "name"),
        ({"description": 42}, "description"),
    ],
)
def test_one_bad_field_is_named_by_exactly_its_path(change, path):
    raw = {**copy.deepcopy(VALID), **change}
    assert set(problems(raw)) == {path}


def test_a_streak_must_fit_its_window():
    month = {"type": "recurring", "period": "month", "starts_at": "2026-03-01T00:00Z"}
    ok = {**VALID, "window": month, "goal": {"type": "streak", "target": 28, "unit": "days"}}
    assert validate_challenge(ok, shared_sections=no_shared)["goal"]["target"] == 28
    too_long = {**ok, "goal": {"type": "streak", "target": 29, "unit": "days"}}
    assert set(problems(too_long)) == {"goal.target"}
    ten_days = {"type": "fixed", "starts_at": "2026-03-01T00:00Z", "ends_at": "2026-03-11T00:00Z"}
    fits = {**VALID, "window": ten_days, "goal": {"type": "streak", "target": 11, "unit": "days"}}
    assert validate_challenge(fits, shared_sections=no_shared)["goal"]["target"] == 11
    assert set(problems({**fits, "goal": {**fits["goal"], "target": 12}})) == {"goal.target"}


def test_shared_sections_go_through_the_hook_and_their_errors_join_the_rest():
    seen: list[tuple[str, Any]] = []

    def hook(section: str, value: Any) -> tuple[Any, dict[str, list[str]]]:
        seen.append((section, value))
        if section == "conditions":
            return None, {"conditions.mccs.0": ["Excluded by the program."]}
        return {"tiers": ["gold"]}, {}

    raw = {
        **VALID,
        "conditions": {"mccs": ["6011"]},
        "audience": {"tiers": ["gold"]},
        "reward": {"points": -5},
    }
    assert set(problems(raw, hook)) == {"conditions.mccs.0", "reward.points"}
    assert seen == [("conditions", {"mccs": ["6011"]}), ("audience", {"tiers": ["gold"]})]

    seen.clear()
    clean = {**VALID, "audience": {"tiers": ["gold"]}}
    definition = validate_challenge(clean, shared_sections=hook)
    assert definition["audience"] == {"tiers": ["gold"]}
    assert definition["conditions"] == {}  # absent: the hook is not asked
    assert seen == [("audience", {"tiers": ["gold"]})]


def test_not_an_object():
    assert problems([VALID]) == {"_body": ["Must be an object."]}

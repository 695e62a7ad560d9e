"""The shared condition language: each condition kind validated by exact path and judged at
its boundaries (MCC ranges, inclusive amounts, weekdays and time of day in the program's zone,
across DST). Expected values are worked out by hand in the comments."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from campaigns.rules import Checker, Conditions, Purchase, Shopper, check_conditions

BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")
EXCLUDED = ("6010", "6011", "6050")
SHOPPER = Shopper(customer_id=1)
HH_MM_MESSAGE = 'Must be a 24-hour time "HH:MM".'
# 2026-03-04 is a Wednesday; 12:00 UTC is 13:00 in Berlin (CET) and 21:00 in Tokyo.
WEDNESDAY = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def purchase(**changes: Any) -> Purchase:
    base = Purchase(
        id=1,
        amount_minor=1500,
        currency="EUR",
        mcc="5812",
        category="dining",
        merchant_id="m-1",
        merchant_name="Noodle Bar",
        partner=None,
        channel="in_store",
        occurred_at=WEDNESDAY,
        base_points=15,
    )
    return replace(base, **changes)


def errors_of(block: Any, path: str = "conditions") -> dict[str, list[str]]:
    c = Checker()
    check_conditions(c, block, path, excluded_mccs=EXCLUDED)
    return c.errors


# --- validation ------------------------------------------------------------------------------


def test_mcc_entries_and_ranges_against_the_programs_exclusions():
    c = Checker()
    block = check_conditions(
        c,
        {"mccs": ["5812", "58x", "6011", "6000-6020", "5814-5811", "6012-6049", "6049-6050"]},
        excluded_mccs=EXCLUDED,
    )
    assert block == {"mccs": ["5812", "6012-6049"]}  # 6012–6049 sits between two exclusions
    assert c.errors == {
        "conditions.mccs.1": ['Must be 4 digits ("5812") or a range ("5811-5814").'],
        "conditions.mccs.2": ["Excluded by the program (never earns); cannot be targeted."],
        "conditions.mccs.3": [
            "The range covers 6010, 6011, excluded by the program (never earns); "
            "split it around them."
        ],
        "conditions.mccs.4": ["The range's low end is above its high end."],
        "conditions.mccs.6": [
            "The range covers 6050, excluded by the program (never earns); split it around them."
        ],
    }


def test_cash_like_and_gambling_are_never_targeted():
    errors = errors_of({"categories": ["dining", "cash_like", "gambling", "Dining"]})
    refused = ["Excluded by every program (cash-like, gambling); cannot be targeted."]
    assert errors["conditions.categories.1"] == refused
    assert errors["conditions.categories.2"] == refused
    assert errors["conditions.categories.3"][0].startswith("Must be one of: ")
    assert "conditions.categories.0" not in errors


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (
            {"amount_min_minor": 0},
            {"conditions.amount_min_minor": ["Must be between 1 and 1000000000000."]},
        ),
        (
            {"amount_min_minor": 500, "amount_max_minor": 499},
            {"conditions.amount_max_minor": ["Must not be below amount_min_minor."]},
        ),
        ({"amount_min_minor": 500, "amount_max_minor": 500}, {}),  # one exact amount
        ({"amount_max_minor": True}, {"conditions.amount_max_minor": ["Must be an integer."]}),
        (
            {"weekdays": [0, 1, 7, 8, True]},
            {
                "conditions.weekdays.0": ["Must be between 1 and 7."],
                "conditions.weekdays.3": ["Must be between 1 and 7."],
                "conditions.weekdays.4": ["Must be an integer."],
            },
        ),
        (
            {"channels": ["online", "atm"]},
            {"conditions.channels.1": ["Must be one of: in_store, online, contactless."]},
        ),
        ({"merchant_ids": "m-1"}, {"conditions.merchant_ids": ["Must be a list."]}),
        ({"partners": [" "]}, {"conditions.partners.0": ["Must be a non-empty string."]}),
        (
            {"first_purchase_at_merchant": "yes"},
            {"conditions.first_purchase_at_merchant": ["Must be true or false."]},
        ),
        (
            {"time_of_day": {"from": "24:00", "to": "7:00"}},
            {
                "conditions.time_of_day.from": [HH_MM_MESSAGE],
                "conditions.time_of_day.to": [HH_MM_MESSAGE],
            },
        ),
        (
            {"time_of_day": {"from": "10:00", "to": "10:00"}},
            {
                "conditions.time_of_day.to": [
                    "Must differ from `from` (a window may wrap midnight)."
                ]
            },
        ),
        (
            {"time_of_day": {"from": "10:00"}},
            {"conditions.time_of_day.to": ["Missing data for required field."]},
        ),
        ({"time_of_day": "22:00-02:00"}, {"conditions.time_of_day": ["Must be an object."]}),
        ({"colour": "red"}, {"conditions.colour": ["Unknown field."]}),
        ("dining", {"conditions": ["Must be an object."]}),
        (None, {}),
    ],
)
def test_each_problem_is_named_by_its_exact_path(block, expected):
    assert errors_of(block) == expected


def test_paths_follow_where_the_block_sits_and_every_problem_comes_at_once():
    errors = errors_of(
        {"mccs": ["6011"], "weekdays": [9], "time_of_day": {"from": "x", "to": "y"}},
        path="qualifying",
    )
    assert set(errors) == {
        "qualifying.mccs.0",
        "qualifying.weekdays.0",
        "qualifying.time_of_day.from",
        "qualifying.time_of_day.to",
    }


# --- matching --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "changes", "expected"),
    [
        # A range names both its ends.
        ({"mccs": ["5811-5814"]}, {"mcc": "5810"}, False),
        ({"mccs": ["5811-5814"]}, {"mcc": "5811"}, True),
        ({"mccs": ["5811-5814"]}, {"mcc": "5814"}, True),
        ({"mccs": ["5811-5814"]}, {"mcc": "5815"}, False),
        ({"mccs": ["0742"]}, {"mcc": "0742"}, True),  # leading zero kept
        ({"mccs": ["0742"]}, {"mcc": "742"}, False),
        # Amount bounds are inclusive (README "Campaigns": amount_min_minor, amount_max_minor).
        ({"amount_min_minor": 1000, "amount_max_minor": 2000}, {"amount_minor": 999}, False),
        ({"amount_min_minor": 1000, "amount_max_minor": 2000}, {"amount_minor": 1000}, True),
        ({"amount_min_minor": 1000, "amount_max_minor": 2000}, {"amount_minor": 2000}, True),
        ({"amount_min_minor": 1000, "amount_max_minor": 2000}, {"amount_minor": 2001}, False),
        ({"categories": ["dining", "groceries"]}, {"category": "groceries"}, True),
        ({"categories": ["dining"]}, {"category": None}, False),
        ({"merchant_ids": ["m-1"]}, {"merchant_id": None}, False),
        ({"partners": ["noodle"]}, {"partner": "noodle"}, True),
        ({"partners": ["noodle"]}, {"partner": None}, False),
        ({"channels": ["online", "contactless"]}, {"channel": "contactless"}, True),
        ({"channels": ["online"]}, {"channel": None}, False),
        ({}, {"mcc": "0000", "category": None, "merchant_id": None, "channel": None}, True),
    ],
)
def test_each_condition_on_what_was_bought(block, changes, expected):
    assert Conditions.compile(block).matches(purchase(**changes), SHOPPER, BERLIN) is expected


def test_weekdays_are_the_programs_local_weekdays():
    # Saturday 2026-03-07 23:30 UTC is Sunday 08:30 in Tokyo.
    late_saturday = purchase(occurred_at=datetime(2026, 3, 7, 23, 30, tzinfo=UTC))
    sunday, saturday = Conditions.compile({"weekdays": [7]}), Conditions.compile({"weekdays": [6]})
    assert sunday.matches(late_saturday, SHOPPER, TOKYO)
    assert not saturday.matches(late_saturday, SHOPPER, TOKYO)
    assert saturday.matches(late_saturday, SHOPPER, ZoneInfo("UTC"))


def _at(*utc: int) -> Purchase:
    return purchase(occurred_at=datetime(*utc, tzinfo=UTC))


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        # Night window 22:00–02:00 Berlin time: from included, to excluded.
        ((2026, 1, 15, 20, 59), False),  # 21:59 CET
        ((2026, 1, 15, 21, 0), True),  # 22:00 CET
        ((2026, 1, 16, 0, 59), True),  # 01:59 CET, after midnight
        ((2026, 1, 16, 1, 0), False),  # 02:00 CET
        # The same UTC instant is an hour later in summer: 20:00 UTC is 22:00 CEST.
        ((2026, 1, 15, 20, 0), False),  # 21:00 CET
        ((2026, 7, 1, 20, 0), True),  # 22:00 CEST
        # Spring forward, 29 March 2026: 02:00 CET becomes 03:00 CEST.
        ((2026, 3, 28, 21, 0), True),  # 22:00 CET
        ((2026, 3, 29, 0, 59), True),  # 01:59 CET
        ((2026, 3, 29, 1, 0), False),  # 03:00 CEST (02:xx never happens)
        # Fall back, 25 October 2026: 03:00 CEST becomes 02:00 CET; 02:xx happens twice.
        ((2026, 10, 24, 19, 59), False),  # 21:59 CEST
        ((2026, 10, 24, 20, 0), True),  # 22:00 CEST
        ((2026, 10, 24, 23, 59), True),  # 01:59 CEST
        ((2026, 10, 25, 0, 0), False),  # 02:00 CEST
        ((2026, 10, 25, 0, 59), False),  # 02:59 CEST
        ((2026, 10, 25, 1, 0), False),  # 02:00 CET, the second time
    ],
)
def test_time_of_day_wrapping_midnight_in_a_zone_with_dst(utc, expected):
    night = Conditions.compile({"time_of_day": {"from": "22:00", "to": "02:00"}})
    assert night.matches(_at(*utc), SHOPPER, BERLIN) is expected


@pytest.mark.parametrize(
    ("window", "utc", "expected"),
    [
        (("09:00", "17:00"), (2026, 7, 1, 7, 0), True),  # 09:00 CEST
        (("09:00", "17:00"), (2026, 7, 1, 6, 59), False),  # 08:59 CEST
        (("09:00", "17:00"), (2026, 7, 1, 14, 59), True),  # 16:59 CEST
        (("09:00", "17:00"), (2026, 7, 1, 15, 0), False),  # 17:00 CEST
        (("18:00", "00:00"), (2026, 1, 15, 22, 59), True),  # 23:59 CET
        (("18:00", "00:00"), (2026, 1, 15, 23, 0), False),  # 00:00 CET
        (("00:00", "06:00"), (2026, 1, 15, 23, 0), True),  # 00:00 CET
    ],
)
def test_time_of_day_bounds(window, utc, expected):
    hours = Conditions.compile({"time_of_day": {"from": window[0], "to": window[1]}})
    assert hours.matches(_at(*utc), SHOPPER, BERLIN) is expected


def test_first_purchase_at_merchant():
    first = Conditions.compile({"first_purchase_at_merchant": True})
    assert first.matches(purchase(), SHOPPER, BERLIN)
    regular = replace(SHOPPER, known_merchants=frozenset({"m-1"}))
    assert not first.matches(purchase(), regular, BERLIN)
    assert first.matches(purchase(merchant_id="m-2"), regular, BERLIN)
    assert not first.matches(purchase(merchant_id=None), SHOPPER, BERLIN)


def test_every_condition_must_hold():
    both = Conditions.compile({"categories": ["dining"], "channels": ["online"]})
    assert not both.matches(purchase(), SHOPPER, BERLIN)  # dining, but in store
    assert both.matches(purchase(channel="online"), SHOPPER, BERLIN)


@pytest.mark.parametrize(
    ("block", "keys"),
    [
        (
            {"merchant_ids": ["m-1"], "mccs": ["5812"], "categories": ["dining"]},
            [("merchant", "m-1")],
        ),
        ({"mccs": ["5811-5812"], "partners": ["noodle"]}, [("mcc", "5811"), ("mcc", "5812")]),
        ({"categories": ["dining"], "partners": ["noodle"]}, [("category", "dining")]),
        ({"partners": ["noodle"]}, [("partner", "noodle")]),
        ({"channels": ["online"], "amount_min_minor": 5}, []),
    ],
)
def test_index_keys_are_the_most_selective_dimension(block, keys):
    assert sorted(Conditions.compile(block).index_keys()) == keys


def test_compiled_conditions_cannot_change():
    conditions = Conditions.compile({"mccs": ["5812"]})
    with pytest.raises(FrozenInstanceError):
        conditions.mccs = frozenset()  # type: ignore[misc]
    assert not hasattr(conditions, "__dict__")

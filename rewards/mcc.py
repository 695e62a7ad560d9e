"""MCC → reward category, from the map shipped in `rewards/data/mcc_categories.csv`."""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources

CATEGORIES = (
    "dining",
    "groceries",
    "travel",
    "transport",
    "fuel",
    "entertainment",
    "digital",
    "shopping",
    "education",
    "health",
    "utilities",
    "services",
    "government",
    "financial",
    "cash_like",
    "gambling",
    "other",
)


@cache
def mcc_table() -> dict[str, tuple[str, str]]:
    """`{mcc: (category, description)}` for every ISO 18245 code we know."""
    text = resources.files("rewards").joinpath("data/mcc_categories.csv").read_text()
    return {
        row["mcc"]: (row["category"], row["description"])
        for row in csv.DictReader(text.splitlines())
    }


def category_of(mcc: str) -> str:
    """The reward category of `mcc`; codes missing from the list count as 'other'."""
    entry = mcc_table().get(mcc)
    return entry[0] if entry else "other"

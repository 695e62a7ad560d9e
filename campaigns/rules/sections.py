"""The blocks every marketer resource with purchase rules shares, `conditions` and
`audience`, validated on their own: what a challenge (or perk) validator plugs in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from campaigns.rules.audience import check_audience
from campaigns.rules.checking import Checker
from campaigns.rules.conditions import check_conditions

SECTIONS = ("conditions", "audience")

# (section name, raw value) -> (normalised value, errors by full path, e.g. `conditions.mccs.2`).
SectionValidator = Callable[[str, Any], tuple[dict[str, Any], dict[str, list[str]]]]


def section_validator(*, excluded_mccs: Iterable[str] = ()) -> SectionValidator:
    """A validator of the `conditions` or `audience` block of a program with `excluded_mccs`:
    it returns the normalised block and its problems (empty when valid), each under the path
    the block has at the top of a definition."""
    excluded = frozenset(excluded_mccs)

    def validate(section: str, value: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
        c = Checker()
        if section == "conditions":
            block = check_conditions(c, value, section, excluded_mccs=excluded)
        elif section == "audience":
            block = check_audience(c, value, section)
        else:
            raise ValueError(f"Not a shared section: {section!r} (one of {SECTIONS}).")
        return block, c.errors

    return validate

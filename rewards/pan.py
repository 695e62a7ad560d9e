"""The one card-number (PAN) detector: finds, tests and masks card numbers inside any text.

A PAN is 13-19 decimal digits that pass the Luhn checksum AND fall in a card network's issuer
range with a length that network issues (the way card-data discovery tools match: Luhn alone
lets through one random number in ten). Digits may be any Unicode decimal digits (full-width,
Arabic-Indic...) and may be split by separators (spaces, dashes, dots, slashes, underscores),
with any text before or after. Digits glued to the number without a separator make it a
different, longer number, so "4111111111111111" inside "x41111111111111110" is not a match.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MIN_DIGITS = 13
MAX_DIGITS = 19
# At most this many separator characters between two digit groups ("4111 - 1111").
_MAX_SEPARATORS = 3
_SEPARATORS = frozenset(" \t./_-\u00a0\u3000\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d")
# Cheap first filter: a string needs at least 13 digits (of any script) to hold a PAN.
_DIGIT = re.compile(r"\d")
_ASCII_DIGITS = frozenset("0123456789")


def luhn_valid(digits: str) -> bool:
    """True if the all-digit string passes the Luhn checksum."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _in_ranges(digits: str, width: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    head = int(digits[:width])
    return any(low <= head <= high for low, high in ranges)


# (prefix width, inclusive prefix ranges, allowed lengths) per network.
_NETWORKS: tuple[tuple[int, tuple[tuple[int, int], ...], frozenset[int]], ...] = (
    (1, ((4, 4),), frozenset({13, 16, 19})),  # Visa
    (2, ((51, 55),), frozenset({16})),  # Mastercard
    (4, ((2221, 2720),), frozenset({16})),  # Mastercard 2-series
    (2, ((34, 34), (37, 37)), frozenset({15})),  # American Express
    (2, ((62, 62),), frozenset(range(16, 20))),  # UnionPay
    (4, ((3528, 3589),), frozenset(range(16, 20))),  # JCB
    (4, ((6011, 6011),), frozenset(range(16, 20))),  # Discover
    (3, ((644, 649),), frozenset(range(16, 20))),  # Discover
    (2, ((65, 65),), frozenset(range(16, 20))),  # Discover
    (3, ((300, 305),), frozenset(range(14, 20))),  # Diners Club
    (2, ((36, 36), (38, 39)), frozenset(range(14, 20))),  # Diners Club
)


def issuer_accepts(digits: str) -> bool:
    """True if some card network issues numbers of this prefix and length."""
    size = len(digits)
    return any(
        size in lengths and _in_ranges(digits, width, ranges)
        for width, ranges, lengths in _NETWORKS
    )


def is_card_number(digits: str) -> bool:
    """True if the ASCII digit string is a plausible PAN: length, issuer range and Luhn."""
    return (
        MIN_DIGITS <= len(digits) <= MAX_DIGITS
        and digits.isascii()
        and digits.isdigit()
        and issuer_accepts(digits)
        and luhn_valid(digits)
    )


@dataclass(frozen=True)
class PanMatch:
    """A card number found in a text: `text[start:end]` holds it; `digits` in ASCII."""

    start: int
    end: int
    digits: str

    @property
    def masked(self) -> str:
        """First 6 and last 4 digits kept, the rest as `*`."""
        return self.digits[:6] + "*" * (len(self.digits) - 10) + self.digits[-4:]


def digit_value(char: str) -> str | None:
    """The ASCII digit a character stands for (any script, ① and ¹ too), else None."""
    if char in _ASCII_DIGITS:
        return char
    value = unicodedata.digit(char, None)
    return None if value is None else str(value)


def may_contain_pan(text: str) -> bool:
    """Fast pre-check: False means `text` surely holds no PAN (fewer than 13 digits)."""
    if len(text) < MIN_DIGITS:
        return False
    if text.isascii():
        return len(_DIGIT.findall(text)) >= MIN_DIGITS
    # Non-decimal digits (①, ¹) are not matched by \d: count them the slow way.
    return sum(digit_value(char) is not None for char in text) >= MIN_DIGITS


_Group = tuple[str, int, int]  # (ASCII digits, start, end)


def _runs(text: str) -> list[list[_Group]]:
    """Digit groups of `text`, joined into runs where only separators lie between them."""
    runs: list[list[_Group]] = []
    run: list[_Group] = []
    digits: list[str] = []
    start = gap = 0
    for index, char in enumerate(text):
        value = digit_value(char)
        if value is not None:
            if not digits:
                start = index
            digits.append(value)
            gap = 0
            continue
        if digits:
            run.append(("".join(digits), start, index))
            digits = []
        if run and char in _SEPARATORS and gap < _MAX_SEPARATORS:
            gap += 1
            continue
        if run:
            runs.append(run)
        run, gap = [], 0
    if digits:
        run.append(("".join(digits), start, len(text)))
    if run:
        runs.append(run)
    return runs


def _matches_in_run(run: list[_Group]) -> list[PanMatch]:
    """Card numbers formed by consecutive whole groups of a run (the longest from each start)."""
    found: list[PanMatch] = []
    first = 0
    while first < len(run):
        best: PanMatch | None = None
        end_group = first
        digits = ""
        for last in range(first, len(run)):
            digits += run[last][0]
            if len(digits) > MAX_DIGITS:
                break
            if is_card_number(digits):
                best = PanMatch(run[first][1], run[last][2], digits)
                end_group = last
        if best is None:
            first += 1
            continue
        found.append(best)
        first = end_group + 1
    return found


def find_pans(text: str) -> list[PanMatch]:
    """Every card number in `text`, in order, with its span."""
    if not may_contain_pan(text):
        return []
    return [match for run in _runs(text) for match in _matches_in_run(run)]


def contains_pan(text: str) -> bool:
    """True if `text` holds a card number anywhere."""
    return bool(find_pans(text))


def mask_pans(text: str) -> str:
    """`text` with each card number cut to its first 6 / last 4 digits (`411111******1111`)."""
    matches = find_pans(text)
    if not matches:
        return text
    parts: list[str] = []
    position = 0
    for match in matches:
        parts.append(text[position : match.start])
        parts.append(match.masked)
        position = match.end
    parts.append(text[position:])
    return "".join(parts)


def looks_like_pan(value: str) -> bool:
    """True if `value` holds a card number (kept for the card-token checks; see `contains_pan`)."""
    return contains_pan(value)

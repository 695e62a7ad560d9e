"""Guard against card numbers: a PAN-like token is refused and never stored or logged."""

from __future__ import annotations


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


def looks_like_pan(value: str) -> bool:
    """13-19 digits (spaces and dashes ignored) passing Luhn: treat as a real card number."""
    digits = value.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and digits.isdigit() and luhn_valid(digits)

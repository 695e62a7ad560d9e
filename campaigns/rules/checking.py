"""Validation primitives: a `Checker` collects every problem of one marketer-written body
under its exact field path (`conditions.mccs.2`), so a 422 lists them all at once.

Campaign, segment and challenge validators build on it: each check returns the normalised
value, or None after recording why not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

MAX_AMOUNT = 10**12  # points, minor units and counts
MAX_ITEMS = 1000
MAX_ID = 2**63 - 1
REQUIRED_MESSAGE = "Missing data for required field."

# A check of one value at one path: the normalised value, or None once the problem is recorded.
Check = Callable[[Any, str], Any]


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with `Z`, as the API writes every timestamp."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def join(path: str, key: str | int) -> str:
    """`path.key`, or `key` at the top level."""
    return f"{path}.{key}" if path else str(key)


class Checker:
    """Collects every problem of one body under its field path."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def fail(self, path: str, message: str) -> None:
        """Record `message` under `path`."""
        self.errors.setdefault(path, []).append(message)

    def obj(self, value: Any, path: str, allowed: Iterable[str]) -> dict[str, Any]:
        """The known, non-null keys of an object; unknown keys are errors."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path or "_body", "Must be an object.")
            return {}
        allowed = tuple(allowed)
        for key in value:
            if key not in allowed:
                self.fail(join(path, key), "Unknown field.")
        return {k: v for k, v in value.items() if k in allowed and v is not None}

    def require(self, values: dict[str, Any], path: str, keys: Iterable[str]) -> bool:
        """Whether every one of `keys` is in `values` (each missing one is an error)."""
        missing = [key for key in keys if key not in values]
        for key in missing:
            self.fail(join(path, key), REQUIRED_MESSAGE)
        return not missing

    def record(self, value: Any, path: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
        """An object with exactly `keys` (all required), or None after naming what is wrong."""
        if not isinstance(value, dict):
            self.fail(path, "Must be an object.")
            return None
        values = self.obj(value, path, keys)
        return values if self.require(values, path, keys) else None

    def integer(self, value: Any, path: str, low: int, high: int) -> int | None:
        """An integer (not a boolean) from `low` to `high`, both included."""
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, "Must be an integer.")
            return None
        if not low <= value <= high:
            self.fail(path, f"Must be between {low} and {high}.")
            return None
        return value

    def positive(self, value: Any, path: str) -> int | None:
        """An integer from 1 to MAX_AMOUNT (points, minor units, counts)."""
        return self.integer(value, path, 1, MAX_AMOUNT)

    def boolean(self, value: Any, path: str) -> bool | None:
        """true or false, nothing truthy."""
        if not isinstance(value, bool):
            self.fail(path, "Must be true or false.")
            return None
        return value

    def text(self, value: Any, path: str, max_length: int = 64) -> str | None:
        """A non-blank string of at most `max_length` characters, without NUL."""
        if not isinstance(value, str) or not value.strip():
            self.fail(path, "Must be a non-empty string.")
            return None
        if len(value) > max_length or "\x00" in value:
            self.fail(path, f"At most {max_length} characters, without NUL.")
            return None
        return value

    def https_url(self, value: Any, path: str, max_length: int = 500) -> str | None:
        """An https:// URL with a host and no whitespace (images the app loads)."""
        text = self.text(value, path, max_length)
        if text is None:
            return None
        try:
            parts = urlsplit(text)
            hostname = parts.hostname
        except ValueError:  # e.g. an unclosed IPv6 bracket: `https://[x/y.png`
            self.fail(path, "Must be an https:// URL.")
            return None
        if parts.scheme != "https" or not hostname or any(ch.isspace() for ch in text):
            self.fail(path, "Must be an https:// URL.")
            return None
        return text

    def choice(self, value: Any, path: str, choices: Iterable[str]) -> str | None:
        """One of `choices`, spelled exactly."""
        choices = tuple(choices)
        if not isinstance(value, str) or value not in choices:
            self.fail(path, f"Must be one of: {', '.join(choices)}.")
            return None
        return value

    def items(self, value: Any, path: str, check: Callable[[Any, str], T | None]) -> list[T]:
        """Each element of a list checked by `check(element, path.index)`."""
        if not isinstance(value, list):
            self.fail(path, "Must be a list.")
            return []
        if len(value) > MAX_ITEMS:
            self.fail(path, f"At most {MAX_ITEMS} entries.")
            return []
        checked = (check(item, join(path, i)) for i, item in enumerate(value))
        return [item for item in checked if item is not None]

    def timestamp(self, value: Any, path: str) -> datetime | None:
        """An ISO-8601 timestamp with a zone in 2000–2100, in UTC."""
        moment = None
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                moment = None
        if moment is None or moment.tzinfo is None:
            self.fail(path, "Must be an ISO-8601 timestamp with a zone, e.g. 2026-04-01T00:00:00Z.")
            return None
        if not 2000 <= moment.year <= 2100:
            self.fail(path, "Must be between the years 2000 and 2100.")
            return None
        return moment.astimezone(UTC)


def checked(values: dict[str, Any], path: str, checks: dict[str, Check]) -> dict[str, Any]:
    """`values` with each key run through its check; keys that failed are left out."""
    found = {key: checks[key](value, join(path, key)) for key, value in values.items()}
    return {key: value for key, value in found.items() if value is not None}

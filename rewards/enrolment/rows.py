"""Validation of one customer row of an enrolment file, in plain Python (it runs per row).

Messages never echo the submitted value: a card number sent by mistake in any column must not
travel back in an error, a log line or a report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from rewards.pan import contains_pan, mask_pans

FIELDS = (
    "external_ref",
    "birth_date",
    "nickname",
    "card_token",
    "card_tokens",
    "consent_leaderboard",
    "consent_marketing",
    "tags",
)
_FIELD_SET = frozenset(FIELDS)
REQUIRED = ("external_ref",)

PAN_MESSAGE = "looks like a card number (PAN); send the processor's card token instead"
# The same rule as `POST /v1/customers`: printable ASCII without spaces, so a CSV cell can
# list several tokens separated by spaces.
OPAQUE_ID = re.compile(r"[\x21-\x7e]{1,64}")
TAG = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
MAX_CARDS = 10
MAX_TAGS = 20
NICKNAME_LENGTH = 64
EARLIEST_BIRTH = date(1900, 1, 1)
TRUE_WORDS = frozenset({"true", "1", "yes", "y"})
FALSE_WORDS = frozenset({"false", "0", "no", "n"})

Errors = dict[str, list[str]]


@dataclass(frozen=True)
class CustomerRow:
    """A valid row. `None` means "not given": the stored value is kept."""

    external_ref: str
    birth_date: date | None
    nickname: str | None
    consent_leaderboard: bool | None
    consent_marketing: bool | None
    tags: tuple[str, ...] | None
    card_tokens: tuple[str, ...]
    token_fields: tuple[str, ...]  # where each token came from, for error paths

    def profile(self, *, full: bool = False) -> dict[str, Any]:
        """The profile fields the row gives (all of them, `None` for absent, if `full`)."""
        values = {
            "birth_date": self.birth_date,
            "nickname": self.nickname,
            "consent_leaderboard": self.consent_leaderboard,
            "consent_marketing": self.consent_marketing,
            "tags": list(self.tags) if self.tags is not None else None,
        }
        return values if full else {k: v for k, v in values.items() if v is not None}


def _given(value: Any) -> bool:
    return value is not None and value != ""


def _opaque_id(value: Any, field: str, errors: Errors) -> str | None:
    if not isinstance(value, str):
        errors[field] = ["must be a string"]
        return None
    if contains_pan(value):
        errors[field] = [PAN_MESSAGE]
        return None
    if not OPAQUE_ID.fullmatch(value):
        errors[field] = ["must be 1-64 printable characters without spaces"]
        return None
    return value


def _birth_date(value: Any, today: date, errors: Errors) -> date | None:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        errors["birth_date"] = ["must be a date as YYYY-MM-DD"]
        return None
    try:
        born = date.fromisoformat(value)
    except ValueError:
        errors["birth_date"] = ["is not a calendar date"]
        return None
    if not EARLIEST_BIRTH <= born <= today:
        errors["birth_date"] = [f"must be between {EARLIEST_BIRTH} and today"]
        return None
    return born


def _nickname(value: Any, errors: Errors) -> str | None:
    if not isinstance(value, str):
        errors["nickname"] = ["must be a string"]
        return None
    if len(value) > NICKNAME_LENGTH:
        errors["nickname"] = [f"must be at most {NICKNAME_LENGTH} characters"]
        return None
    if not value.isprintable() or _unstorable(value):
        errors["nickname"] = ["must be printable text"]
        return None
    # Display text: a card number typed into it is masked (first 6 / last 4), the row enrolled.
    return mask_pans(value)


def _unstorable(value: str) -> bool:
    """NUL and lone UTF-16 surrogates cannot be stored by PostgreSQL or encoded as UTF-8."""
    return "\x00" in value or any("\ud800" <= char <= "\udfff" for char in value)


def _flag(value: Any, field: str, errors: Errors) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    errors[field] = ["must be true or false"]
    return None


def _words(value: Any, field: str, errors: Errors) -> list[Any] | None:
    """A JSON list, or a CSV cell of values separated by spaces."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return value
    errors[field] = ["must be a list of strings (in CSV: separated by spaces)"]
    return None


def _tokens(raw: Mapping[str, Any], errors: Errors) -> dict[str, str]:
    """Token → the field path it came from (`card_token` or `card_tokens.N`)."""
    tokens: dict[str, str] = {}
    if _given(raw.get("card_token")):
        token = _opaque_id(raw["card_token"], "card_token", errors)
        if token is not None:
            tokens[token] = "card_token"
    if _given(raw.get("card_tokens")):
        listed = _words(raw["card_tokens"], "card_tokens", errors) or []
        for position, value in enumerate(listed):
            token = _opaque_id(value, f"card_tokens.{position}", errors)
            if token is not None:
                tokens.setdefault(token, f"card_tokens.{position}")
    if len(tokens) > MAX_CARDS:
        errors["card_tokens"] = [f"at most {MAX_CARDS} cards per customer"]
    return tokens


def _tags(value: Any, errors: Errors) -> tuple[str, ...] | None:
    listed = _words(value, "tags", errors)
    if listed is None:
        return None
    if len(listed) > MAX_TAGS:
        errors["tags"] = [f"at most {MAX_TAGS} tags"]
        return None
    for position, tag in enumerate(listed):
        if not isinstance(tag, str) or not TAG.fullmatch(tag) or contains_pan(tag):
            errors[f"tags.{position}"] = ["must be 1-32 lowercase letters, digits, - or _"]
            return None
    return tuple(dict.fromkeys(listed))


def validate_row(raw: Any, *, today: date) -> tuple[CustomerRow | None, Errors]:
    """`(row, {})` for a good row, else `(None, errors)`; unknown keys are errors."""
    if not isinstance(raw, dict):
        return None, {"_row": ["must be an object"]}
    errors: Errors = {str(key): ["unknown field"] for key in raw.keys() - _FIELD_SET}
    if not _given(raw.get("external_ref")):
        errors["external_ref"] = ["is required"]
        ref = None
    else:
        ref = _opaque_id(raw["external_ref"], "external_ref", errors)
    optional = {name: raw.get(name) for name in FIELDS if _given(raw.get(name))}
    tokens = _tokens(raw, errors)
    row = CustomerRow(
        external_ref=ref or "",
        birth_date=(
            _birth_date(optional["birth_date"], today, errors) if "birth_date" in optional else None
        ),
        nickname=_nickname(optional["nickname"], errors) if "nickname" in optional else None,
        consent_leaderboard=(
            _flag(optional["consent_leaderboard"], "consent_leaderboard", errors)
            if "consent_leaderboard" in optional
            else None
        ),
        consent_marketing=(
            _flag(optional["consent_marketing"], "consent_marketing", errors)
            if "consent_marketing" in optional
            else None
        ),
        tags=_tags(optional["tags"], errors) if "tags" in optional else None,
        card_tokens=tuple(tokens),
        token_fields=tuple(tokens.values()),
    )
    if errors:
        return None, errors
    return row, {}

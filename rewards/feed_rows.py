"""Validation of one transaction row of a feed, in plain Python (it runs for every row of a file).

Messages never echo the submitted value: a card number sent by mistake must not travel back in
an error, a log line or the batch's stored rejections.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from rewards.currencies import is_currency
from rewards.mcc import mcc_table
from rewards.models.transaction import CHANNELS, TRANSACTION_KINDS
from rewards.pan import contains_pan, mask_pans, may_contain_pan
from rewards.textsafe import UNSTORABLE_MESSAGE, storable

# Card transactions outside this window are data errors (and would break date arithmetic).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=2)

FIELDS = (
    "external_id",
    "card_token",
    "kind",
    "amount_minor",
    "currency",
    "mcc",
    "merchant_id",
    "merchant_name",
    "channel",
    "occurred_at",
    "original_external_id",
)
REQUIRED = ("external_id", "card_token", "kind", "amount_minor", "currency", "mcc", "occurred_at")
_FIELD_SET = frozenset(FIELDS)
# Card-number policy per text field: identifiers holding a PAN reject the row (the value is
# never stored or echoed); display text is stored masked (first 6 / last 4) and still earns.
IDENTIFIER_FIELDS = frozenset({"external_id", "card_token", "merchant_id", "original_external_id"})
DISPLAY_FIELDS = frozenset({"merchant_name"})
PAN_MESSAGE = "looks like a card number (PAN); card numbers are never accepted here"

# Column order of a validated row, as `store_rows` writes it.
STORED_COLUMNS = (
    "external_id",
    "card_token",
    "kind",
    "amount_minor",
    "currency",
    "mcc",
    "category",
    "merchant_id",
    "merchant_name",
    "channel",
    "occurred_at",
    "original_external_id",
)

MAX_AMOUNT_MINOR = 10**15
_MAX_LENGTH = {
    "external_id": 128,
    "card_token": 64,
    "merchant_id": 64,
    "merchant_name": 200,
    "original_external_id": 128,
}

Errors = dict[str, list[str]]
Row = tuple[Any, ...]


class RowError(Exception):
    """A row that cannot even be read as a mapping (bad JSON line, ragged CSV line)."""

    def __init__(self, errors: Errors) -> None:
        super().__init__("row is unreadable")
        self.errors = errors


def _text(value: Any, field: str, errors: Errors) -> str | None:
    if not isinstance(value, str):
        errors[field] = ["must be a string"]
        return None
    if not storable(value):
        errors[field] = [UNSTORABLE_MESSAGE]
        return None
    limit = _MAX_LENGTH.get(field)
    if limit is not None and len(value) > limit:
        errors[field] = [f"must be at most {limit} characters"]
        return None
    if may_contain_pan(value) and contains_pan(value):
        if field in DISPLAY_FIELDS:
            return mask_pans(value)
        errors[field] = [PAN_MESSAGE]
        return None
    return value


def safe_field_name(name: Any) -> str:
    """An unknown field's name fit to store and echo: card numbers masked, bad text replaced."""
    text = mask_pans(str(name))
    if not storable(text):
        text = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "?")
    return text[:64]


def _amount(value: Any, digits_allowed: bool, errors: Errors) -> int | None:
    if digits_allowed and isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        errors["amount_minor"] = ["must be an integer number of minor units"]
        return None
    if value <= 0:
        errors["amount_minor"] = ["must be a positive integer"]
        return None
    if value > MAX_AMOUNT_MINOR:
        errors["amount_minor"] = [f"must be at most {MAX_AMOUNT_MINOR}"]
        return None
    return value


def _timestamp(value: Any, errors: Errors) -> datetime | None:
    if not isinstance(value, str):
        errors["occurred_at"] = ["must be an ISO-8601 string"]
        return None
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None or moment.utcoffset() is None:
            errors["occurred_at"] = ["must include a time zone (e.g. Z or +09:00)"]
            return None
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        errors["occurred_at"] = ["must be an ISO-8601 date-time"]
        return None
    if not EARLIEST <= moment <= datetime.now(UTC) + FUTURE_SLACK:
        errors["occurred_at"] = [
            f"must be after {EARLIEST:%Y-%m-%d} and at most {FUTURE_SLACK.days} days in the future"
        ]
        return None
    return moment


def _currency(value: Any, program_currency: str, errors: Errors) -> str | None:
    if not isinstance(value, str) or not is_currency(value):
        errors["currency"] = ["must be an ISO 4217 currency code in circulation (e.g. JPY)"]
        return None
    if value != program_currency:
        errors["currency"] = [f"must be the program's currency {program_currency}"]
        return None
    return value


def _mcc(value: Any, errors: Errors) -> str | None:
    if not isinstance(value, str) or len(value) != 4 or not (value.isascii() and value.isdigit()):
        errors["mcc"] = ["must be exactly 4 digits, as a string"]
        return None
    return value


def _card_token(value: Any, errors: Errors) -> str | None:
    token = _text(value, "card_token", errors)
    if "card_token" in errors and errors["card_token"] == [PAN_MESSAGE]:
        errors["card_token"] = [PAN_MESSAGE + "; send the processor's card token instead"]
    return token


def _choice(value: Any, field: str, choices: tuple[str, ...], errors: Errors) -> str | None:
    if value not in choices:
        errors[field] = [f"must be one of {', '.join(choices)}"]
        return None
    return value


def _optional_text(raw: Mapping[str, Any], field: str, errors: Errors) -> str | None:
    value = raw.get(field)
    if value is None or value == "":
        return None
    return _text(value, field, errors)


class RowValidator:
    """Checks rows against one program; `digits_allowed` accepts "1200" amounts (CSV)."""

    def __init__(self, *, program_currency: str, digits_allowed: bool = False) -> None:
        self.program_currency = program_currency
        self.digits_allowed = digits_allowed
        self.categories = {mcc: entry[0] for mcc, entry in mcc_table().items()}

    def __call__(self, raw: Any) -> tuple[Row | None, Errors | None]:
        """`(row, None)` for a good row in `STORED_COLUMNS` order, else `(None, errors)`."""
        if not isinstance(raw, dict):
            return None, {"_row": ["must be an object"]}
        errors: Errors = {}
        for field in raw.keys() - _FIELD_SET:
            errors[safe_field_name(field)] = ["unknown field"]
        for field in REQUIRED:
            if raw.get(field) is None or raw.get(field) == "":
                errors[field] = ["is required"]
        row = self._values(raw, errors)
        if errors:
            return None, errors
        return row, None

    def _values(self, raw: Mapping[str, Any], errors: Errors) -> Row:
        present = _present(raw, errors)
        external_id = present("external_id", lambda v: _text(v, "external_id", errors))
        kind = present("kind", lambda v: _choice(v, "kind", TRANSACTION_KINDS, errors))
        mcc = present("mcc", lambda v: _mcc(v, errors))
        channel = raw.get("channel")
        if channel is not None and channel != "":
            channel = _choice(channel, "channel", CHANNELS, errors)
        else:
            channel = None
        original = _optional_text(raw, "original_external_id", errors)
        if kind == "reversal" and original is None and "original_external_id" not in errors:
            errors["original_external_id"] = ["is required for a reversal"]
        if original is not None and original == external_id:
            errors["original_external_id"] = ["must differ from external_id"]
        return (
            external_id,
            present("card_token", lambda v: _card_token(v, errors)),
            kind,
            present("amount_minor", lambda v: _amount(v, self.digits_allowed, errors)),
            present("currency", lambda v: _currency(v, self.program_currency, errors)),
            mcc,
            self.categories.get(mcc, "other") if mcc else None,
            _optional_text(raw, "merchant_id", errors),
            _optional_text(raw, "merchant_name", errors),
            channel,
            present("occurred_at", lambda v: _timestamp(v, errors)),
            original,
        )


def _present(raw: Mapping[str, Any], errors: Errors) -> Callable[[str, Callable[[Any], Any]], Any]:
    """Apply a check to a required field unless it is already reported missing."""

    def check(field: str, checker: Callable[[Any], Any]) -> Any:
        if field in errors:
            return None
        return checker(raw[field])

    return check

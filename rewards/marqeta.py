"""Marqeta transaction webhooks mapped onto our feed rows.

Marqeta posts `{"transactions": [...]}` with one transaction object per event. Only settled
money movements earn or claw back points: clearings and single-message PIN debits (purchase),
refunds (refund, usually with no link to the purchase), and reversals of a settled
transaction (reversal, linked by `preceding_related_transaction_token`). Authorizations that
are not settled yet, declines and every other event type are ignored. Marqeta's event types
page: `authorization`/`pindebit` types with response code 0000, 0002 or 1830 succeeded; any
other code is a failed attempt.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from rewards.currencies import is_currency, minor_units
from rewards.db import db
from rewards.feed_rows import Errors, Row, RowError, RowValidator
from rewards.ingest import (
    IngestSummary,
    finish_batch,
    ingest_chunk,
    open_batch,
    stored_external_ids,
)
from rewards.models import Program
from rewards.textsafe import storable

SUCCESS_CODES = frozenset({"0000", "0002", "1830"})
PURCHASE_TYPES = frozenset(
    {"authorization.clearing", "pindebit", "pindebit.authorization.clearing"}
)
REFUND_TYPES = frozenset({"refund", "refund.authorization.clearing", "pindebit.refund"})
# A PIN debit settles at once, so its reversal always undoes a settled purchase.
SETTLED_REVERSAL_TYPES = frozenset({"pindebit.reversal"})
# These usually release an authorization hold (nothing to undo); they count as reversals only
# when they point at a transaction we hold as settled.
AUTH_REVERSAL_TYPES = frozenset(
    {"authorization.reversal", "authorization.reversal.issuerexpiration"}
)
FAILED_STATES = frozenset({"DECLINED", "ERROR"})

# Our row field → where it came from in Marqeta's object, so errors name Marqeta's field.
SOURCE_FIELDS = {
    "external_id": "token",
    "card_token": "card_token",
    "amount_minor": "amount",
    "currency": "currency_code",
    "mcc": "card_acceptor.mcc",
    "merchant_id": "card_acceptor.mid",
    "merchant_name": "card_acceptor.name",
    "occurred_at": "user_transaction_time",
    "original_external_id": "preceding_related_transaction_token",
}


def is_declined(item: dict[str, Any]) -> bool:
    """A failed attempt: a response code other than success, or (without one) a failed state."""
    response = item.get("response")
    code = response.get("code") if isinstance(response, dict) else None
    if code is not None:
        return str(code) not in SUCCESS_CODES
    return item.get("state") in FAILED_STATES


def kind_of(item: dict[str, Any], settled_tokens: set[str]) -> str | None:
    """Our kind for a Marqeta transaction, or None when it moves no settled money."""
    event_type = item.get("type")
    if not isinstance(event_type, str) or is_declined(item):
        return None
    if event_type in PURCHASE_TYPES:
        return "purchase"
    if event_type in REFUND_TYPES:
        return "refund"
    if event_type in SETTLED_REVERSAL_TYPES:
        return "reversal"
    if event_type in AUTH_REVERSAL_TYPES:
        preceding = item.get("preceding_related_transaction_token")
        return "reversal" if preceding in settled_tokens else None
    return None


def amount_minor(amount: Any, currency: Any) -> int | Errors:
    """Decimal major units → integer minor units, exactly, by the currency's exponent."""
    if not isinstance(currency, str) or not is_currency(currency):
        return {"currency_code": ["must be an ISO 4217 currency code in circulation"]}
    if isinstance(amount, bool) or not isinstance(amount, int | float | str | Decimal):
        return {"amount": ["must be a decimal number"]}
    try:
        value = Decimal(str(amount)) if isinstance(amount, float) else Decimal(amount)
    except InvalidOperation:
        return {"amount": ["must be a decimal number"]}
    minor = value.scaleb(minor_units(currency))
    if not minor.is_finite() or minor != minor.to_integral_value():
        return {"amount": [f"has more decimals than {currency} allows"]}
    return int(minor)


def channel_of(item: dict[str, Any]) -> str:
    """in_store, online or contactless, from the `pos` block when Marqeta sends one."""
    pos = item.get("pos")
    if not isinstance(pos, dict):
        return "in_store"
    entry_mode = str(pos.get("pan_entry_mode") or "").upper()
    if "CONTACTLESS" in entry_mode:
        return "contactless"
    if "ECOMMERCE" in entry_mode or pos.get("card_presence") is False:
        return "online"
    return "in_store"


def to_row(item: dict[str, Any], kind: str) -> dict[str, Any] | RowError:
    """Our feed row for a settled Marqeta transaction, or the errors naming Marqeta's fields."""
    amount = amount_minor(item.get("amount"), item.get("currency_code"))
    if not isinstance(amount, int):
        return RowError(amount)
    acceptor = item.get("card_acceptor")
    acceptor = acceptor if isinstance(acceptor, dict) else {}
    row: dict[str, Any] = {
        "external_id": item.get("token"),
        "card_token": item.get("card_token"),
        "kind": kind,
        "amount_minor": amount,
        "currency": item["currency_code"],
        "mcc": acceptor.get("mcc"),
        "merchant_id": acceptor.get("mid"),
        "merchant_name": acceptor.get("name"),
        "channel": channel_of(item),
        "occurred_at": item.get("user_transaction_time") or item.get("created_time"),
    }
    if kind != "purchase" and item.get("preceding_related_transaction_token"):
        row["original_external_id"] = item["preceding_related_transaction_token"]
    return row


def preceding_tokens(items: Iterable[Any]) -> set[str]:
    """Tokens that reversals in `items` point at (to look up which are settled)."""
    return {
        item["preceding_related_transaction_token"]
        for item in items
        if isinstance(item, dict)
        and item.get("type") in AUTH_REVERSAL_TYPES
        and isinstance(item.get("preceding_related_transaction_token"), str)
        and storable(item["preceding_related_transaction_token"])
    }


def map_transactions(
    items: list[Any], *, stored_tokens: set[str]
) -> tuple[list[tuple[int, dict[str, Any] | RowError]], int]:
    """(`(index, row)` to ingest, number ignored); `stored_tokens`: settled ones we hold.

    The index is the position in Marqeta's list, so rejections point at the sent object.
    """
    settled = set(stored_tokens)
    settled.update(
        item["token"]
        for item in items
        if isinstance(item, dict)
        and isinstance(item.get("token"), str)
        and kind_of(item, set()) == "purchase"
    )
    rows: list[tuple[int, dict[str, Any] | RowError]] = []
    ignored = 0
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            rows.append((index, RowError({"_row": ["must be an object"]})))
            continue
        kind = kind_of(item, settled)
        if kind is None:
            ignored += 1
            continue
        rows.append((index, to_row(item, kind)))
    return rows, ignored


class MarqetaRowValidator(RowValidator):
    """Our row checks, with errors named after Marqeta's fields."""

    def __call__(self, raw: Any) -> tuple[Row | None, Errors | None]:
        row, errors = super().__call__(raw)
        if errors is None:
            return row, None
        return None, {SOURCE_FIELDS.get(name, name): messages for name, messages in errors.items()}


def ingest_webhook(*, program_id: int, items: list[Any]) -> tuple[IngestSummary, list[int]]:
    """Store one webhook's transactions as a batch; returns the counts and the new row ids
    (the caller commits, then enqueues them)."""
    program = db.session.get_one(Program, program_id)
    stored = stored_external_ids(program_id=program.id, external_ids=preceding_tokens(items))
    rows, ignored = map_transactions(items, stored_tokens=stored)
    batch = open_batch(program_id=program.id, source="marqeta")
    summary = IngestSummary(batch_id=batch.id, ignored=ignored)
    validator = MarqetaRowValidator(program_currency=program.currency)
    ids = ingest_chunk(batch=batch, validator=validator, items=rows, summary=summary)
    finish_batch(batch)
    return summary, ids

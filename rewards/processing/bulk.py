"""Set-based writes for the chunk job: one statement per table, whatever the chunk size.

On PostgreSQL each write is a single statement reading its rows from one JSON parameter
(`json_to_recordset`): no per-row round trips, no giant SQL text to parse, and encoding is
one `json_rows` (orjson). On SQLite (embedded mode) it is an executemany.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text, update

from rewards.db import db, dialect_insert, is_postgres, json_rows
from rewards.models import Account, LedgerEntry, Transaction

LEDGER_COLUMNS = (
    ("program_id", "bigint"),
    ("account_id", "bigint"),
    ("kind", "text"),
    ("points", "bigint"),
    ("state", "text"),
    ("available_at", "timestamptz"),
    ("expires_at", "timestamptz"),
    ("remaining", "bigint"),
    ("source_type", "text"),
    ("source_id", "bigint"),
    ("transaction_id", "bigint"),
    ("idempotency_key", "text"),
    ("explanation", "jsonb"),
    ("occurred_at", "timestamptz"),
)


def _recordset(columns: tuple[tuple[str, str], ...]) -> str:
    shape = ", ".join(f"{name} {kind}" for name, kind in columns)
    return f"json_to_recordset(CAST(:rows AS json)) AS v({shape})"


def _json_rows(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {"rows": json_rows(rows)}


_INSERT_LEDGER = text(
    f"INSERT INTO ledger_entries ({', '.join(n for n, _ in LEDGER_COLUMNS)}) "
    f"SELECT {', '.join(f'v.{n}' for n, _ in LEDGER_COLUMNS)} "
    f"FROM {_recordset(LEDGER_COLUMNS)} "
    "ON CONFLICT (idempotency_key) DO NOTHING "
    "RETURNING account_id, points, state, idempotency_key"
)

_OUTCOME_COLUMNS = (
    ("id", "bigint"),
    ("status", "text"),
    ("customer_id", "bigint"),
    ("reason", "text"),
    ("processed_at", "timestamptz"),
)
_UPDATE_OUTCOMES = text(
    "UPDATE transactions AS t SET status = v.status, customer_id = v.customer_id, "
    "reason = v.reason, processed_at = v.processed_at "
    f"FROM {_recordset(_OUTCOME_COLUMNS)} WHERE t.id = v.id"
)

_ACCOUNT_COLUMNS = (
    ("id", "bigint"),
    ("available", "bigint"),
    ("pending", "bigint"),
    ("lifetime_earned", "bigint"),
)
_UPDATE_ACCOUNTS = text(
    "UPDATE accounts AS a SET available = a.available + v.available, "
    "pending = a.pending + v.pending, lifetime_earned = a.lifetime_earned + v.lifetime_earned, "
    f"updated_at = now() FROM {_recordset(_ACCOUNT_COLUMNS)} WHERE a.id = v.id"
)


def insert_ledger_rows(rows: list[dict[str, Any]]) -> list[tuple[int, int, str, str]]:
    """Insert entries whose idempotency key is new; `(account, points, state, key)` of those."""
    if not rows:
        return []
    if is_postgres():
        inserted = db.session.execute(_INSERT_LEDGER, _json_rows(rows))
        return [tuple(r) for r in inserted]  # type: ignore[misc]
    stmt = (
        dialect_insert(LedgerEntry.__table__)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(
            LedgerEntry.account_id,
            LedgerEntry.points,
            LedgerEntry.state,
            LedgerEntry.idempotency_key,
        )
    )
    return [tuple(r) for r in db.session.execute(stmt, rows)]  # type: ignore[misc]


def update_outcomes(rows: list[dict[str, Any]]) -> None:
    """Set status, customer, reason and processed_at on many transactions at once."""
    if not rows:
        return
    if is_postgres():
        db.session.execute(_UPDATE_OUTCOMES, _json_rows(rows))
    else:
        db.session.execute(update(Transaction), rows)


def add_to_accounts(deltas: dict[int, dict[str, int]]) -> None:
    """Add per-account deltas (available, pending, lifetime_earned) to the locked accounts."""
    if not deltas:
        return
    rows = [{"id": account_id, **delta} for account_id, delta in sorted(deltas.items())]
    if is_postgres():
        db.session.execute(_UPDATE_ACCOUNTS, _json_rows(rows))
        return
    for row in rows:
        db.session.execute(
            update(Account)
            .where(Account.id == row["id"])
            .values(
                available=Account.available + row["available"],
                pending=Account.pending + row["pending"],
                lifetime_earned=Account.lifetime_earned + row["lifetime_earned"],
            )
        )

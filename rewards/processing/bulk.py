"""Set-based writes for the chunk job: one statement per table, whatever the chunk size.

On PostgreSQL each write is a single statement over `unnest()`ed arrays (no per-row round
trips, no giant SQL text to parse); on SQLite (embedded mode) it is an executemany.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text, update

from rewards.db import db, dialect_insert, is_postgres
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


def _unnest(columns: tuple[tuple[str, str], ...]) -> str:
    args = ", ".join(
        f"CAST(:{name} AS {'text' if kind == 'jsonb' else kind}[])" for name, kind in columns
    )
    names = ", ".join(name for name, _ in columns)
    return f"unnest({args}) AS v({names})"


_INSERT_LEDGER = text(
    f"INSERT INTO ledger_entries ({', '.join(n for n, _ in LEDGER_COLUMNS)}) "
    f"SELECT {', '.join(f'v.{n}::jsonb' if k == 'jsonb' else f'v.{n}' for n, k in LEDGER_COLUMNS)} "
    f"FROM {_unnest(LEDGER_COLUMNS)} "
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING account_id, points, state"
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
    f"FROM {_unnest(_OUTCOME_COLUMNS)} WHERE t.id = v.id"
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
    f"updated_at = now() FROM {_unnest(_ACCOUNT_COLUMNS)} WHERE a.id = v.id"
)


def _columns(rows: list[dict[str, Any]], columns: tuple[tuple[str, str], ...]) -> dict[str, list]:
    return {name: [row[name] for row in rows] for name, _ in columns}


def insert_ledger_rows(rows: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    """Insert entries whose idempotency key is new; returns `(account, points, state)` of those."""
    if not rows:
        return []
    if is_postgres():
        params = _columns(rows, LEDGER_COLUMNS)
        params["explanation"] = [json.dumps(e) for e in params["explanation"]]
        return [tuple(r) for r in db.session.execute(_INSERT_LEDGER, params)]  # type: ignore[misc]
    stmt = (
        dialect_insert(LedgerEntry.__table__)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(LedgerEntry.account_id, LedgerEntry.points, LedgerEntry.state)
    )
    return [tuple(r) for r in db.session.execute(stmt, rows)]  # type: ignore[misc]


def update_outcomes(rows: list[dict[str, Any]]) -> None:
    """Set status, customer, reason and processed_at on many transactions at once."""
    if not rows:
        return
    if is_postgres():
        db.session.execute(_UPDATE_OUTCOMES, _columns(rows, _OUTCOME_COLUMNS))
    else:
        db.session.execute(update(Transaction), rows)


def add_to_accounts(deltas: dict[int, dict[str, int]]) -> None:
    """Add per-account deltas (available, pending, lifetime_earned) to the locked accounts."""
    if not deltas:
        return
    rows = [{"id": account_id, **delta} for account_id, delta in sorted(deltas.items())]
    if is_postgres():
        db.session.execute(_UPDATE_ACCOUNTS, _columns(rows, _ACCOUNT_COLUMNS))
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

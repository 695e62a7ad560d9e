"""Set-based writes of one chunk of customers and cards: one statement per table and step.

On PostgreSQL each statement reads its rows from one JSON parameter (`json_to_recordset`, as
the feed does); on SQLite (embedded mode) it is an executemany. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import select, text, update

from rewards.db import among, db, dialect_insert, is_postgres, json_rows
from rewards.models import Account, Card, Customer

PROFILE_FIELDS = ("birth_date", "nickname", "consent_leaderboard", "consent_marketing", "tags")

_INSERT_CUSTOMERS = text(
    "INSERT INTO customers (program_id, external_ref, birth_date, nickname, status, "
    "consent_leaderboard, consent_marketing, tags, level, xp) "
    "SELECT :program_id, v.external_ref, v.birth_date, v.nickname, 'active', "
    "COALESCE(v.consent_leaderboard, false), COALESCE(v.consent_marketing, false), "
    "COALESCE(v.tags, CAST('[]' AS jsonb)), 1, 0 "
    "FROM json_to_recordset(CAST(:rows AS json)) AS v(external_ref text, birth_date date, "
    "nickname text, consent_leaderboard boolean, consent_marketing boolean, tags jsonb) "
    "ORDER BY v.external_ref "
    "ON CONFLICT (program_id, external_ref) DO NOTHING "
    "RETURNING id, external_ref"
)
# A column the row does not give (null) keeps its stored value.
_UPDATE_CUSTOMERS = text(
    "UPDATE customers AS c SET birth_date = COALESCE(v.birth_date, c.birth_date), "
    "nickname = COALESCE(v.nickname, c.nickname), "
    "consent_leaderboard = COALESCE(v.consent_leaderboard, c.consent_leaderboard), "
    "consent_marketing = COALESCE(v.consent_marketing, c.consent_marketing), "
    "tags = COALESCE(v.tags, c.tags) "
    "FROM json_to_recordset(CAST(:rows AS json)) AS v(id bigint, birth_date date, "
    "nickname text, consent_leaderboard boolean, consent_marketing boolean, tags jsonb) "
    "WHERE c.id = v.id"
)
_INSERT_ACCOUNTS = text(
    "INSERT INTO accounts (program_id, customer_id, available, pending, lifetime_earned, "
    "lifetime_redeemed) SELECT :program_id, v.id, 0, 0, 0, 0 "
    "FROM unnest(CAST(:ids AS bigint[])) AS v(id) ORDER BY v.id "
    "ON CONFLICT (customer_id) DO NOTHING"
)
_INSERT_CARDS = text(
    "INSERT INTO cards (program_id, customer_id, token, status) "
    "SELECT :program_id, v.customer_id, v.token, 'active' "
    "FROM json_to_recordset(CAST(:rows AS json)) AS v(customer_id bigint, token text) "
    "ORDER BY v.token "
    "ON CONFLICT (program_id, token) DO NOTHING "
    "RETURNING token"
)


class StoredCustomer(NamedTuple):
    """What a chunk needs to know of a customer already enrolled."""

    id: int
    status: str
    profile: dict[str, Any]


def stored_customers(*, program_id: int, refs: Iterable[str]) -> dict[str, StoredCustomer]:
    """The program's customers among `refs`, by external ref."""
    refs = list(refs)
    if not refs:
        return {}
    columns = [getattr(Customer, name) for name in PROFILE_FIELDS]
    query = select(Customer.external_ref, Customer.id, Customer.status, *columns).where(
        Customer.program_id == program_id, among(Customer.external_ref, refs)
    )
    found: dict[str, StoredCustomer] = {}
    for ref, customer_id, status, *values in db.session.execute(query):
        found[ref] = StoredCustomer(
            customer_id, status, dict(zip(PROFILE_FIELDS, values, strict=True))
        )
    return found


def card_owners(*, program_id: int, tokens: Iterable[str]) -> dict[str, int]:
    """Customer id of each of `tokens` already enrolled in the program."""
    tokens = list(tokens)
    if not tokens:
        return {}
    query = select(Card.token, Card.customer_id).where(
        Card.program_id == program_id, among(Card.token, tokens)
    )
    return {token: customer_id for token, customer_id in db.session.execute(query)}


def insert_customers(*, program_id: int, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert new customers (rows keyed like `PROFILE_FIELDS` plus external_ref); returns the
    ids of those this call created. A ref another session inserted meanwhile is left out."""
    if not rows:
        return {}
    if is_postgres():
        params = {"program_id": program_id, "rows": json_rows(rows)}
        return {ref: cid for cid, ref in db.session.execute(_INSERT_CUSTOMERS, params)}
    fixed = {"program_id": program_id, "status": "active", "level": 1, "xp": 0}
    values = [
        {
            **fixed,
            **row,
            "consent_leaderboard": bool(row["consent_leaderboard"]),
            "consent_marketing": bool(row["consent_marketing"]),
            "tags": row["tags"] or [],
        }
        for row in rows
    ]
    stmt = (
        dialect_insert(Customer)
        .on_conflict_do_nothing(index_elements=["program_id", "external_ref"])
        .returning(Customer.id, Customer.external_ref)
    )
    return {ref: cid for cid, ref in db.session.execute(stmt, values)}


def update_customers(rows: list[dict[str, Any]]) -> None:
    """Set the given profile fields (`None` keeps the stored value) of customers by id."""
    if not rows:
        return
    if is_postgres():
        db.session.execute(_UPDATE_CUSTOMERS, {"rows": json_rows(rows)})
        return
    for row in rows:
        changes = {k: v for k, v in row.items() if k != "id" and v is not None}
        db.session.execute(update(Customer).where(Customer.id == row["id"]).values(**changes))


def open_accounts(*, program_id: int, customer_ids: list[int]) -> None:
    """Open the points account of each new customer (idempotent)."""
    if not customer_ids:
        return
    if is_postgres():
        params = {"program_id": program_id, "ids": sorted(customer_ids)}
        db.session.execute(_INSERT_ACCOUNTS, params)
        return
    zero = {"available": 0, "pending": 0, "lifetime_earned": 0, "lifetime_redeemed": 0}
    stmt = dialect_insert(Account).on_conflict_do_nothing(index_elements=["customer_id"])
    db.session.execute(
        stmt, [{"program_id": program_id, "customer_id": c, **zero} for c in customer_ids]
    )


def insert_cards(*, program_id: int, cards: list[tuple[str, int]]) -> set[str]:
    """Insert `(token, customer_id)` cards not enrolled yet; returns the tokens created."""
    if not cards:
        return set()
    rows = [{"token": token, "customer_id": customer_id} for token, customer_id in cards]
    if is_postgres():
        params = {"program_id": program_id, "rows": json_rows(rows)}
        return set(db.session.scalars(_INSERT_CARDS, params))
    stmt = (
        dialect_insert(Card)
        .on_conflict_do_nothing(index_elements=["program_id", "token"])
        .returning(Card.token)
    )
    values = [{**row, "program_id": program_id, "status": "active"} for row in rows]
    return set(db.session.scalars(stmt, values))

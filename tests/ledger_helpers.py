"""Small helpers for ledger tests: store feed rows like the ingest path, read balances."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from rewards.db import db, dialect_insert
from rewards.mcc import category_of
from rewards.models import Account, LedgerEntry, Transaction
from rewards.reconcile import reconcile


def store(program_id: int, card_token: str, external_id: str, **fields: Any) -> int | None:
    """Insert one feed row as `received` (ON CONFLICT DO NOTHING); its id, or None if a dup."""
    mcc = fields.pop("mcc", "5812")
    row = {
        "program_id": program_id,
        "external_id": external_id,
        "card_token": card_token,
        "kind": "purchase",
        "amount_minor": 1000,
        "currency": "JPY",
        "mcc": mcc,
        "category": category_of(mcc),
        "merchant_id": "m-1",
        "merchant_name": "Noodle Bar",
        "channel": "in_store",
        "occurred_at": datetime.now(UTC),
        "status": "received",
        "refunded_minor": 0,
        **fields,
    }
    stmt = (
        dialect_insert(Transaction)
        .values(row)
        .on_conflict_do_nothing(index_elements=["program_id", "external_id"])
        .returning(Transaction.id)
    )
    tx_id = db.session.scalar(stmt)
    db.session.commit()
    return tx_id


def account(customer_id: int) -> Account:
    db.session.expire_all()
    return db.session.scalar(select(Account).where(Account.customer_id == customer_id))


def balance(customer_id: int) -> tuple[int, int]:
    """(available, pending) of the customer's account."""
    acc = account(customer_id)
    return acc.available, acc.pending


def entries(customer_id: int) -> list[LedgerEntry]:
    acc = account(customer_id)
    return list(
        db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.account_id == acc.id).order_by(LedgerEntry.id)
        )
    )


def status_of(tx_id: int) -> str:
    db.session.expire_all()
    return db.session.scalar(select(Transaction.status).where(Transaction.id == tx_id))


def all_ids() -> list[int]:
    return list(db.session.scalars(select(Transaction.id).order_by(Transaction.id)))


def entry_count() -> int:
    return db.session.scalar(select(func.count()).select_from(LedgerEntry))


def assert_reconciled() -> None:
    assert reconcile() == []


class CardRef:
    """Plain ids of an enrolled card (ORM objects detach when a job ends its session)."""

    def __init__(self, token: str, customer_id: int, program_id: int) -> None:
        self.token, self.customer_id, self.program_id = token, customer_id, program_id


def enrol(program_id: int, token: str | None = None, external_ref: str | None = None) -> CardRef:
    """Create a customer with an account and one card; return plain ids."""
    from tests.factories import CardFactory, CustomerFactory

    customer_kwargs = {"program_id": program_id}
    if external_ref:
        customer_kwargs["external_ref"] = external_ref
    customer = CustomerFactory(**customer_kwargs)
    card = CardFactory(customer=customer, **({"token": token} if token else {}))
    db.session.commit()
    return CardRef(card.token, card.customer_id, program_id)


def spend(customer_id: int, points: int, key: str = "spend") -> None:
    """Redeem `points` as a perk purchase would (FIFO from the oldest lots), committed."""
    from rewards.ledger import Movement, account_of_customer, debit

    account = account_of_customer(customer_id, lock=True)
    move = Movement(
        kind="redeem",
        points=-points,
        source_type="redemption",
        idempotency_key=key,
        occurred_at=datetime.now(UTC),
        explanation={"summary": "Perk"},
    )
    debit(account, move)
    db.session.commit()

"""Customers and their cards, enrolled by the processor: idempotent upserts within one program.

A card token that looks like a real card number (PAN) is refused before anything is stored,
and the value never appears in an error, a log line or the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from rewards.db import db, dialect_insert
from rewards.errors import Conflict, InvalidInput, NotFound
from rewards.ledger import ensure_accounts
from rewards.matching import release_unmatched
from rewards.models import Account, Card, Customer
from rewards.pan import looks_like_pan, mask_pans
from rewards.textsafe import UNSTORABLE_MESSAGE, storable

PAN_MESSAGE = "looks like a card number (PAN); send the processor's card token instead"
_UNSET: Any = object()


@dataclass(frozen=True)
class Enrolment:
    """The outcome of an upsert: the row and whether this call created it."""

    customer: Customer
    created: bool


@dataclass(frozen=True)
class CardEnrolment:
    """A card enrolment and the unmatched transactions it released (enqueue after commit)."""

    card: Card
    created: bool
    released_transaction_ids: list[int]


@dataclass(frozen=True)
class CustomerProfile:
    """What a marketer sees of one customer."""

    customer: Customer
    cards: list[Card]
    account: Account | None


def upsert_customer(
    *,
    program_id: int,
    external_ref: str,
    birth_date: date | None = _UNSET,
    nickname: str | None = _UNSET,
) -> Enrolment:
    """Create the customer (and its account) or update the fields given; safe to retry.

    Concurrent calls for one ref serialise on the (program, external_ref) unique index.
    """
    _check_identifier(external_ref, "external_ref")
    if isinstance(nickname, str):
        if not storable(nickname):
            raise InvalidInput(UNSTORABLE_MESSAGE, field="nickname")
        nickname = mask_pans(nickname)  # display text: kept, with any card number masked
    values: dict[str, Any] = {"program_id": program_id, "external_ref": external_ref}
    changes = {
        name: value
        for name, value in (("birth_date", birth_date), ("nickname", nickname))
        if value is not _UNSET
    }
    insert = (
        dialect_insert(Customer)
        .values(**values, **changes, status="active", tags=[], level=1, xp=0)
        .values(consent_leaderboard=False, consent_marketing=False)
        .on_conflict_do_nothing(index_elements=["program_id", "external_ref"])
        .returning(Customer.id)
    )
    created_id = db.session.scalar(insert)
    customer = _customer_by_ref(program_id, external_ref, lock=created_id is None)
    if customer is None:  # pragma: no cover - the row exists: we inserted or conflicted on it
        raise NotFound("No customer with this external_ref in your program.")
    if created_id is None:
        if customer.status == "erased":
            raise Conflict("This customer was erased and cannot be re-enrolled.")
        for name, value in changes.items():
            setattr(customer, name, value)
    ensure_accounts([(program_id, customer.id)])
    db.session.flush()
    return Enrolment(customer=customer, created=created_id is not None)


def enrol_card(*, program_id: int, external_ref: str, token: str) -> CardEnrolment:
    """Attach card `token` to the customer; idempotent. A token on another customer conflicts.

    Transactions that arrived for the token before enrolment are released for processing.
    """
    _check_identifier(token, "token")
    customer = get_customer(program_id=program_id, external_ref=external_ref)
    insert = (
        dialect_insert(Card)
        .values(program_id=program_id, customer_id=customer.id, token=token, status="active")
        .on_conflict_do_nothing(index_elements=["program_id", "token"])
        .returning(Card.id)
    )
    created_id = db.session.scalar(insert)
    card = db.session.scalar(select(Card).where(Card.program_id == program_id, Card.token == token))
    assert card is not None
    if card.customer_id != customer.id:
        raise Conflict("This card token is enrolled to another customer.", field="token")
    released = release_unmatched(program_id=program_id, card_tokens=[token])
    return CardEnrolment(
        card=card, created=created_id is not None, released_transaction_ids=released
    )


def _check_identifier(value: str, field: str) -> None:
    """Identifiers holding a card number or unstorable text are refused (never echoed)."""
    if not storable(value):
        raise InvalidInput(UNSTORABLE_MESSAGE, field=field)
    if looks_like_pan(value):
        raise InvalidInput(PAN_MESSAGE, field=field)


def get_customer(*, program_id: int, external_ref: str) -> Customer:
    """The program's customer with `external_ref`, or NotFound (also for other programs')."""
    customer = _customer_by_ref(program_id, external_ref)
    if customer is None:  # the ref is not echoed: a misrouted card number may sit in the URL
        raise NotFound("No customer with this external_ref in your program.")
    return customer


def customer_profile(*, program_id: int, external_ref: str) -> CustomerProfile:
    """Profile, cards and account totals of one customer of the program."""
    customer = get_customer(program_id=program_id, external_ref=external_ref)
    cards = db.session.scalars(
        select(Card).where(Card.customer_id == customer.id).order_by(Card.id)
    )
    account = db.session.scalar(select(Account).where(Account.customer_id == customer.id))
    return CustomerProfile(customer=customer, cards=list(cards), account=account)


def _customer_by_ref(program_id: int, external_ref: str, *, lock: bool = False) -> Customer | None:
    stmt = select(Customer).where(
        Customer.program_id == program_id, Customer.external_ref == external_ref
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(stmt)


def age_on(birth: date, day: date) -> int:
    """Completed years on `day` (someone born on 29 February turns a year older on 1 March)."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))

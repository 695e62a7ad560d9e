"""Loading a chunk: the few queries that fetch everything evaluation needs."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any

from sqlalchemy import select

from rewards.db import among, db
from rewards.models import Card, Customer, Partner, Program, Transaction
from rewards.partners import partners_for
from rewards.processing.rules import ProgramTerms, TxFacts
from rewards.programs import share_rules
from rewards.tiers.config import ladders_for
from rewards.tiers.ladder import ProgramLadder

TX_COLUMNS = (
    Transaction.id,
    Transaction.program_id,
    Transaction.external_id,
    Transaction.card_token,
    Transaction.kind,
    Transaction.amount_minor,
    Transaction.currency,
    Transaction.mcc,
    Transaction.category,
    Transaction.merchant_id,
    Transaction.merchant_name,
    Transaction.channel,
    Transaction.occurred_at,
    Transaction.original_external_id,
    Transaction.source,
    Transaction.customer_id,
    Transaction.partner_id,
)


def facts_from_row(row: Any) -> TxFacts:
    """`TxFacts` from a row selected with `TX_COLUMNS` (extra trailing columns ignored;
    derived facts such as `partner` keep their defaults)."""
    columns = row._mapping
    fields = TxFacts.__dataclass_fields__
    return TxFacts(**{name: columns[name] for name in fields if name in columns})


def lock_received(ids: list[int]) -> list[TxFacts]:
    """Lock the `received` rows among `ids` (rows another worker holds are skipped), then
    their programs' rules lock, shared: rule changes (campaigns, segments, partners) wait for
    this chunk, and everything it derives from here on — partners first — is of one revision."""
    stmt = (
        select(*TX_COLUMNS)
        .where(among(Transaction.id, ids), Transaction.status == "received")
        .order_by(Transaction.id)
        .with_for_update(skip_locked=True)
    )
    txs = [facts_from_row(row) for row in db.session.execute(stmt)]
    share_rules({tx.program_id for tx in txs})
    return with_partners(txs)


def with_partners(txs: list[TxFacts]) -> list[TxFacts]:
    """`txs` with `partner` set to the active partner owning each merchant id: one
    `partners_for` query per program of the chunk."""
    merchants: dict[int, set[str]] = defaultdict(set)
    for tx in txs:
        if tx.merchant_id is not None:
            merchants[tx.program_id].add(tx.merchant_id)
    codes = {program_id: partners_for(program_id, ids) for program_id, ids in merchants.items()}
    # A partner's own purchases name their partner directly.
    reporters = {tx.partner_id for tx in txs if tx.source == "partner"}
    named: dict[int, str] = {}
    if reporters:
        stmt = select(Partner.id, Partner.code).where(among(Partner.id, reporters))
        named = {partner_id: code for partner_id, code in db.session.execute(stmt)}
    return [
        replace(tx, partner=named.get(tx.partner_id or 0))
        if tx.source == "partner"
        else replace(tx, partner=codes[tx.program_id].get(tx.merchant_id))
        if tx.merchant_id is not None
        else tx
        for tx in txs
    ]


def load_terms(program_ids: set[int]) -> dict[int, ProgramTerms]:
    """Evaluation-ready settings of the given programs, with their tier ladders (read under
    the rules lock the chunk shares, so one chunk sees one ladder)."""
    programs = db.session.scalars(select(Program).where(Program.id.in_(program_ids)))
    ladders = ladders_for(program_ids)
    return {
        p.id: ProgramTerms(
            id=p.id,
            currency=p.currency,
            earn_rate=p.earn_rate,
            pending_days=p.pending_days,
            expiry_months=p.expiry_months,
            excluded_mccs=frozenset(p.excluded_mccs or ()),
            points_name=p.points_name,
            tiers=ladders.get(p.id),
            timezone=p.timezone,
        )
        for p in programs
    }


def ladders_of(terms: dict[int, ProgramTerms]) -> dict[int, ProgramLadder]:
    """The tier ladders among `terms` (programs without tiers absent)."""
    return {p: t.tiers for p, t in terms.items() if t.tiers is not None}


def with_tiers(
    purchases: list[tuple[TxFacts, int]], terms: dict[int, ProgramTerms]
) -> list[tuple[TxFacts, int]]:
    """`purchases` with `tier` set to each customer's tier code now, for programs with tiers:
    one query. Called once the chunk holds the customers' account locks, which every tier
    change holds too, so the multiplier is the tier at processing time."""
    wanted = {c for tx, c in purchases if terms[tx.program_id].tiers is not None}
    if not wanted:
        return purchases
    stmt = select(Customer.id, Customer.tier).where(among(Customer.id, wanted))
    tiers = {customer_id: tier for customer_id, tier in db.session.execute(stmt)}
    return [(replace(tx, tier=tiers.get(c)), c) if c in wanted else (tx, c) for tx, c in purchases]


def active_cards(txs: list[TxFacts]) -> dict[tuple[int, str], int]:
    """`(program_id, card token) → customer_id` for cards of active customers."""
    tokens = {tx.card_token for tx in txs}
    stmt = (
        select(Card.program_id, Card.token, Card.customer_id)
        .join(Customer, Customer.id == Card.customer_id)
        .where(among(Card.token, tokens), Customer.status == "active")
    )
    return {(p, t): c for p, t, c in db.session.execute(stmt)}

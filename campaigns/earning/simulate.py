"""What a campaign would have granted over stored history, computed without writing anything.

The campaign (its current definition, or `version`, even a draft) runs through the same pure
engine as the feed, together with the program's other live campaigns (scheduled/active, each
with its own window), over the purchases that occurred in [start, end). The simulated campaign
is evaluated as if its window were that range, so a draft starting next month can be tried on
last month's history.

Differences with the feed, on purpose:
- cap counters, participants and budgets start fresh (the whole budget, nobody participating)
  and are kept in memory only;
- segment membership is evaluated once per customer at the time of the simulation;
- "first purchase at a merchant" knows the merchants bought from before `start` plus those
  seen earlier in the run.

Rows are streamed in occurred_at/id order in batches (plain tuples from a server-side cursor
on PostgreSQL), so a long range never loads at once; each batch's new customers and merchants
are looked up once (shopper facts; partner codes as the feed derives them).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, func, select
from sqlalchemy.engine import Connection

from campaigns.audiences.segments import segment_memberships
from campaigns.earning.compiled import Campaign, Purchase, Shopper
from campaigns.earning.engine import CapState, RuleSet
from campaigns.earning.models import Campaign as CampaignRow
from campaigns.earning.models import CampaignVersion
from campaigns.earning.shoppers import load_shoppers
from rewards.db import db, is_postgres
from rewards.errors import NotFound
from rewards.ledger import utcnow
from rewards.models import Card, Customer, Program, Transaction
from rewards.partners import partners_for
from rewards.processing.rules import points_for_amount

LIVE = ("scheduled", "active")
BATCH = 5000
TOP = 10


def count_purchases(
    *,
    program_id: int,
    start: datetime,
    end: datetime,
    statuses: Sequence[str] = ("processed",),
) -> int:
    """How many stored purchases a simulation over [start, end) would read."""
    stmt = select(func.count()).select_from(Transaction)
    return db.session.scalar(stmt.where(_in_range(program_id, start, end, statuses))) or 0


def simulate(
    *,
    program_id: int,
    campaign_id: int,
    start: datetime,
    end: datetime,
    version: int | None = None,
    statuses: Sequence[str] = ("processed",),
) -> dict[str, Any]:
    """Run the campaign with the program's live ones over [start, end); see the module doc.

    `statuses` is which transaction statuses count as history (tests simulate rows still
    `received` before processing them for real)."""
    began = perf_counter()
    program = db.session.get(Program, program_id)
    if program is None:
        raise NotFound(f"Program {program_id} not found.")
    zone = ZoneInfo(program.timezone)
    target = _target(program_id, campaign_id, version, start, end)
    rules = RuleSet([target, *_live_others(program_id, campaign_id)], zone)
    run = _Run(program, rules, campaign_id, start)
    for rows in _stream(program_id, start, end, statuses):
        run.batch(rows)
    return run.result(perf_counter() - began)


def _in_range(program_id: int, start: datetime, end: datetime, statuses: Sequence[str]) -> Any:
    return and_(
        Transaction.program_id == program_id,
        Transaction.kind == "purchase",
        # Card purchases: a simulation replays the card history (partner events not yet).
        Transaction.source == "card",
        Transaction.status.in_(tuple(statuses)),
        Transaction.occurred_at >= start,
        Transaction.occurred_at < end,
    )


def _target(
    program_id: int, campaign_id: int, version: int | None, start: datetime, end: datetime
) -> Campaign:
    row = db.session.scalar(
        select(CampaignRow).where(
            CampaignRow.id == campaign_id, CampaignRow.program_id == program_id
        )
    )
    if row is None:
        raise NotFound(f"Campaign {campaign_id} not found.")
    number = version or row.current_version
    definition = db.session.scalar(
        select(CampaignVersion.definition).where(
            CampaignVersion.campaign_id == campaign_id, CampaignVersion.version == number
        )
    )
    if definition is None:
        raise NotFound(f"Campaign {campaign_id} has no version {number}.")
    compiled = Campaign.compile(campaign_id, number, definition)
    return dataclasses.replace(compiled, starts_at=start, ends_at=end)


def _live_others(program_id: int, campaign_id: int) -> list[Campaign]:
    rows = db.session.execute(
        select(CampaignRow.id, CampaignVersion.version, CampaignVersion.definition)
        .join(
            CampaignVersion,
            (CampaignVersion.campaign_id == CampaignRow.id)
            & (CampaignVersion.version == CampaignRow.current_version),
        )
        .where(
            CampaignRow.program_id == program_id,
            CampaignRow.status.in_(LIVE),
            CampaignRow.id != campaign_id,
        )
    )
    return [Campaign.compile(cid, number, definition) for cid, number, definition in rows]


def _stream(
    program_id: int, start: datetime, end: datetime, statuses: Sequence[str]
) -> Iterable[Sequence[Any]]:
    """Batches of purchase rows in occurred_at/id order (a server-side cursor on PostgreSQL)."""
    customer: Any = Transaction.customer_id
    stmt: Select[Any]
    if tuple(statuses) == ("processed",):
        stmt = select(*_columns(customer))
    else:  # rows not processed yet have no customer: resolve it from the active card
        customer = func.coalesce(Transaction.customer_id, Card.customer_id)
        stmt = (
            select(*_columns(customer))
            .outerjoin(
                Card,
                (Card.program_id == Transaction.program_id)
                & (Card.token == Transaction.card_token),
            )
            .outerjoin(Customer, Customer.id == Card.customer_id)
            .where((Transaction.customer_id.is_not(None)) | (Customer.status == "active"))
        )
    stmt = stmt.where(_in_range(program_id, start, end, statuses)).order_by(
        Transaction.occurred_at, Transaction.id
    )
    connection = db.session.connection()
    if is_postgres():
        yield from _server_side(connection, stmt)
    else:
        yield from connection.execute(stmt.execution_options(yield_per=BATCH)).partitions()


def _server_side(connection: Connection, stmt: Select[Any]) -> Iterable[Sequence[Any]]:
    """`stmt`'s rows as plain tuples from a psycopg server-side cursor: the same values
    SQLAlchemy would give, at a third of its per-row cost. The cursor lives in the session's
    transaction, so other queries (shoppers, partners) can run between batches."""
    compiled = stmt.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    driver: Any = connection.connection.driver_connection
    with driver.cursor(name="campaign_simulation") as cursor:
        cursor.execute(str(compiled), compiled.params)
        while rows := cursor.fetchmany(BATCH):
            yield rows


def _columns(customer: Any) -> tuple[Any, ...]:
    return (
        Transaction.id,
        Transaction.amount_minor,
        Transaction.currency,
        Transaction.mcc,
        Transaction.category,
        Transaction.merchant_id,
        Transaction.merchant_name,
        Transaction.channel,
        Transaction.occurred_at,
        customer.label("customer_id"),
    )


class _Run:
    """The in-memory state of one simulation and its running totals."""

    def __init__(self, program: Program, rules: RuleSet, campaign_id: int, start: datetime):
        self.program_id = program.id
        self.rate = program.earn_rate
        self.excluded = frozenset(program.excluded_mccs or ())
        self.rules = rules
        self.zone = rules.zone
        self.campaign_id = campaign_id
        self.start = start
        self.now = utcnow()
        self.state = CapState(
            budget_left={c.id: c.budget_points for c in rules.campaigns},
            participants_left={c.id: c.max_participants for c in rules.campaigns},
        )
        self.shoppers: dict[int, Shopper] = {}
        self.base_points: dict[tuple[int, str], int] = {}
        # Merchant id → partner code, for the merchants looked up so far.
        self.partners: dict[str, str] = {}
        self.looked_up: set[str] = set()
        self.segments = {c.segment_id for c in rules.campaigns if c.segment_id is not None}
        self.offers = [c.id for c in rules.campaigns if c.requires_activation]
        self.tracks_merchants = any(c.first_purchase_at_merchant for c in rules.campaigns)
        self.scanned = self.matched = self.points = self.others = 0
        self.reached: set[int] = set()
        self.exhausted_on: str | None = None
        self.per_day: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self.categories: dict[str, int] = defaultdict(int)
        self.merchants: dict[tuple[str | None, str | None], int] = defaultdict(int)

    def batch(self, rows: Sequence[Any]) -> None:
        """Evaluate one batch of rows (tuples in `_columns` order)."""
        self._load_shoppers({row[-1] for row in rows if row[-1] is not None})
        self._load_partners({row[5] for row in rows if row[5] is not None})
        self.scanned += len(rows)
        excluded, partners, base = self.excluded, self.partners, self._base
        for tx_id, amount, currency, mcc, category, merchant, name, channel, at, customer in rows:
            if customer is None or mcc in excluded:
                continue
            partner = partners.get(merchant) if merchant is not None else None
            p = Purchase(
                tx_id,
                amount,
                currency,
                mcc,
                category,
                merchant,
                name,
                partner,
                channel,
                at,
                base(amount, currency),
            )
            self._evaluate(p, customer)

    def _base(self, amount_minor: int, currency: str) -> int:
        """Base points, as the feed's base award (amounts repeat a lot: remembered)."""
        key = (amount_minor, currency)
        points = self.base_points.get(key)
        if points is None:
            points = max(0, points_for_amount(amount_minor, currency, self.rate))
            self.base_points[key] = points
        return points

    def _evaluate(self, p: Purchase, customer_id: int) -> None:
        shopper = self.shoppers[customer_id]
        target = self.campaign_id
        points, others = self.rules.earn(p, shopper, self.state, target)
        if points:
            self._count(p, customer_id, points)
        self.others += others
        if self.exhausted_on is None and target in self.state.exhausted:
            self.exhausted_on = self._day(p.occurred_at)
        if self.tracks_merchants and p.merchant_id and p.merchant_id not in shopper.known_merchants:
            self.shoppers[customer_id] = dataclasses.replace(
                shopper, known_merchants=shopper.known_merchants | {p.merchant_id}
            )

    def _count(self, p: Purchase, customer_id: int, points: int) -> None:
        """Add the simulated campaign's points on `p` to the results."""
        day = self._day(p.occurred_at)
        self.points += points
        self.matched += 1
        self.reached.add(customer_id)
        self.per_day[day][0] += points
        self.per_day[day][1] += 1
        self.categories[p.category or "other"] += points
        self.merchants[(p.merchant_id, p.merchant_name)] += points

    def _day(self, moment: datetime) -> str:
        """The program-local day of `moment`, as per_day names it."""
        return moment.astimezone(self.zone).date().isoformat()

    def _load_partners(self, merchant_ids: set[str]) -> None:
        """Partner codes of merchants not seen yet, as the feed derives them (one query)."""
        new = merchant_ids - self.looked_up
        if new:
            self.partners.update(partners_for(self.program_id, new))
            self.looked_up |= new

    def _load_shoppers(self, customer_ids: set[int]) -> None:
        new = customer_ids - set(self.shoppers)
        if not new:
            return
        segments = segment_memberships(
            program_id=self.program_id, segment_ids=self.segments, customer_ids=new, now=self.now
        )
        self.shoppers.update(
            load_shoppers(
                new,
                offers=self.offers,
                segments=segments,
                known_merchants=self._known_merchants(new),
            )
        )

    def _known_merchants(self, customer_ids: set[int]) -> dict[int, set[str]]:
        """Merchants each customer bought from before the simulated range (if a rule asks)."""
        known: dict[int, set[str]] = defaultdict(set)
        if not self.tracks_merchants:
            return known
        for customer_id, merchant_id in db.session.execute(
            select(Transaction.customer_id, Transaction.merchant_id)
            .where(
                Transaction.customer_id.in_(customer_ids),
                Transaction.kind == "purchase",
                Transaction.status == "processed",
                Transaction.occurred_at < self.start,
                Transaction.merchant_id.is_not(None),
            )
            .distinct()
        ):
            if customer_id is not None and merchant_id is not None:
                known[customer_id].add(merchant_id)
        return known

    def result(self, seconds: float) -> dict[str, Any]:
        top_categories = sorted(self.categories.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
        top_merchants = sorted(
            self.merchants.items(), key=lambda kv: (-kv[1], kv[0][0] or "", kv[0][1] or "")
        )[:TOP]
        return {
            "campaign_id": self.campaign_id,
            "points": self.points,
            "customers_reached": len(self.reached),
            "transactions_matched": self.matched,
            "budget_exhausted_on": self.exhausted_on,
            "per_day": [
                {"date": day, "points": points, "transactions": count}
                for day, (points, count) in sorted(self.per_day.items())
            ],
            "top_categories": [{"category": c, "points": p} for c, p in top_categories],
            "top_merchants": [
                {"merchant_id": m, "merchant_name": n, "points": p} for (m, n), p in top_merchants
            ],
            "other_campaigns_points": self.others,
            "transactions_scanned": self.scanned,
            "duration_ms": int(seconds * 1000),
        }

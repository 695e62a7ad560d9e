"""Segments: rule-based audiences of a program, and who belongs to them right now.

A segment's rules are all optional and AND-ed (an empty rule set matches every customer):

- `min_age` / `max_age` (0-120, inclusive, age on `now`'s UTC date; no birth date: no match)
- `tiers`: the customer's tier is one of these
- `tags`: the customer has ANY of these tags
- `enrolled_within_days` (1-3650): the customer was created at most that many days ago
- `spent`: `{category, min_amount_minor?, min_transactions?, days}` (one of the minimums at
  least): processed purchases in `category` over the last `days` days (1-365) add up to at
  least `min_amount_minor` (net of refunds) and number at least `min_transactions` (fully
  refunded ones do not count).

`segment_memberships` evaluates many segments for many customers with a constant number of
set-based queries (segments, customer attributes, one aggregate over purchases), so the feed
can ask once per chunk. Creating, editing and deleting segments is the `SEGMENTS` kind of
`campaigns.resources` (audited, bumps the program's rules revision).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ForeignKey, String, and_, case, func, select
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.challenges.models import Challenge, ChallengeVersion
from campaigns.earning.definition import _checked, _Checker
from campaigns.earning.models import Campaign, CampaignVersion
from campaigns.resources import Item, Kind
from rewards.db import BigId, JSONType, Model, UTCDateTime, among, db
from rewards.errors import Conflict, InvalidInput
from rewards.mcc import CATEGORIES
from rewards.models import Customer, Transaction

FIELDS = ("name", "rules")
RULES = ("min_age", "max_age", "tiers", "tags", "enrolled_within_days", "spent")
SPENT = ("category", "min_amount_minor", "min_transactions", "days")
MAX_ID = 2**63 - 1
SAMPLE_SIZE = 20
# Campaign statuses that may still grant (or become able to): their segment must stay.
NOT_OVER = ("draft", "scheduled", "active", "paused")


class Segment(Model):
    """A named, rule-based audience of one program (see the module docstring for the rules)."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    rules: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )

    def snapshot(self) -> dict[str, Any]:
        """What the audit log keeps of the segment."""
        return {"name": self.name, "rules": self.rules}


# --- rules ---------------------------------------------------------------------------------


def validate_segment(raw: Any) -> dict[str, Any]:
    """`{"name", "rules"}` normalised, or InvalidInput naming every problem by its path
    (`name`, `rules.spent.days`, `rules.tags.1`); unknown keys are refused."""
    if not isinstance(raw, dict):
        raise InvalidInput("A segment is a JSON object.", errors={"_body": ["Must be an object."]})
    c = _Checker(())
    body = c.obj(raw, "", FIELDS)
    c.require(body, "", ("name",))
    name = c.text(body["name"], "name", 200) if "name" in body else None
    rules = _rules(c, body.get("rules"))
    if c.errors:
        raise InvalidInput("The segment is not valid; see errors.", errors=c.errors)
    return {"name": name, "rules": rules}


def _rules(c: _Checker, value: Any) -> dict[str, Any]:
    checks: dict[str, Callable[[Any, str], Any]] = {
        "min_age": lambda v, p: c.integer(v, p, 0, 120),
        "max_age": lambda v, p: c.integer(v, p, 0, 120),
        "tiers": lambda v, p: c.items(v, p, c.text),
        "tags": lambda v, p: c.items(v, p, c.text),
        "enrolled_within_days": lambda v, p: c.integer(v, p, 1, 3650),
        "spent": lambda v, p: _spent(c, v, p),
    }
    rules = _checked(c.obj(value, "rules", RULES), "rules", checks)
    low, high = rules.get("min_age"), rules.get("max_age")
    if low is not None and high is not None and low > high:
        c.fail("rules.max_age", "Must not be below min_age.")
    return rules


def _spent(c: _Checker, value: Any, path: str) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        c.fail(path, "Must be an object.")
        return None
    spent = c.obj(value, path, SPENT)
    c.require(spent, path, ("category", "days"))
    if "min_amount_minor" not in spent and "min_transactions" not in spent:
        c.fail(path, "Give min_amount_minor, min_transactions or both.")
    checks: dict[str, Callable[[Any, str], Any]] = {
        "category": lambda v, p: c.choice(v, p, CATEGORIES),
        "min_amount_minor": c.positive,
        "min_transactions": c.positive,
        "days": lambda v, p: c.integer(v, p, 1, 365),
    }
    checked = _checked(spent, path, checks)
    return checked if checked.keys() == spent.keys() else None


# --- the resource --------------------------------------------------------------------------


def _read(segment: Segment) -> dict[str, Any]:
    return segment.snapshot()


def _write(segment: Segment, values: dict[str, Any]) -> None:
    segment.name, segment.rules = values["name"], values["rules"]


def _not_targeted(item: Item) -> None:
    """409 while a campaign or challenge that is not over targets the segment."""
    program_id, segment_id = item.row.program_id, item.row.id
    users = [
        f"{what} {', '.join(str(i) for i in ids)}"
        for what, ids in (
            ("campaigns", campaigns_using(program_id, segment_id)),
            ("challenges", challenges_using(program_id, segment_id)),
        )
        if ids
    ]
    if users:
        listed = " and ".join(users)
        raise Conflict(f"{listed[0].upper()}{listed[1:]} target this segment.", field="segment_id")


SEGMENTS = Kind(
    name="segment",
    model=Segment,
    validate=lambda raw, program: validate_segment(raw),
    mirror=_write,
    read=_read,
    deletable=True,
    before_delete=_not_targeted,
)


def create_segment(
    *, program_id: int, body: Any, actor: str, actor_role: str = "marketer"
) -> Segment:
    """A new segment; InvalidInput names every bad field."""
    item = SEGMENTS.create(program_id=program_id, body=body, actor=actor, actor_role=actor_role)
    segment: Segment = item.row
    return segment


def update_segment(
    *,
    program_id: int,
    segment_id: int,
    changes: dict[str, Any],
    actor: str,
    actor_role: str = "marketer",
) -> Segment:
    """Apply a JSON Merge Patch to `{name, rules}` (null removes a rule); unchanged: no audit."""
    item = SEGMENTS.update(
        program_id=program_id,
        object_id=segment_id,
        changes=changes,
        actor=actor,
        actor_role=actor_role,
    )
    segment: Segment = item.row
    return segment


def delete_segment(
    *, program_id: int, segment_id: int, actor: str, actor_role: str = "marketer"
) -> None:
    """Delete a segment no campaign that can still grant (not ended) targets; else 409.
    Under the rules lock, so a campaign cannot start targeting it meanwhile."""
    SEGMENTS.delete(program_id=program_id, object_id=segment_id, actor=actor, actor_role=actor_role)


def get_segment(*, program_id: int, segment_id: int, for_update: bool = False) -> Segment:
    """The segment, or NotFound outside the caller's program."""
    item = SEGMENTS.get(program_id=program_id, object_id=segment_id, for_update=for_update)
    segment: Segment = item.row
    return segment


def list_segments(*, program_id: int, limit: int, before_id: int | None = None) -> list[Segment]:
    """Newest first."""
    items = SEGMENTS.list_items(program_id=program_id, limit=limit, before_id=before_id)
    return [item.row for item in items]


def segment_exists(program_id: int, segment_id: int) -> bool:
    """Whether the program has this segment (for checking a campaign's audience)."""
    if not 1 <= segment_id <= MAX_ID:
        return False
    stmt = select(Segment.id).where(Segment.id == segment_id, Segment.program_id == program_id)
    return db.session.scalar(stmt) is not None


def campaigns_using(program_id: int, segment_id: int, now: datetime | None = None) -> list[int]:
    """Ids of the program's campaigns not over yet whose current version targets the segment."""
    return _users(Campaign, CampaignVersion, "campaign_id", program_id, segment_id)


def challenges_using(program_id: int, segment_id: int) -> list[int]:
    """Ids of the program's challenges not over yet whose current version targets the segment."""
    return _users(Challenge, ChallengeVersion, "challenge_id", program_id, segment_id)


def _users(row: Any, version: Any, parent: str, program_id: int, segment_id: int) -> list[int]:
    stmt = (
        select(row.id, version.definition)
        .join(
            version,
            and_(getattr(version, parent) == row.id, version.version == row.current_version),
        )
        .where(row.program_id == program_id, row.status.in_(NOT_OVER))
        .order_by(row.id)
    )
    return [
        object_id
        for object_id, definition in db.session.execute(stmt)
        if (definition.get("audience") or {}).get("segment_id") == segment_id
    ]


# --- membership ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Person:
    id: int
    external_ref: str
    birth_date: date | None
    tier: str | None
    tags: frozenset[str]
    created_at: datetime


# (customer id, category) → {days: (net amount, purchases)}
_Spending = dict[tuple[int, str], dict[int, tuple[int, int]]]


@dataclass(frozen=True)
class Preview:
    members: int
    sample: list[str]


def segment_memberships(
    *, program_id: int, segment_ids: set[int], customer_ids: set[int], now: datetime
) -> dict[int, set[int]]:
    """Customer id → ids of the given segments they belong to at `now` (customers in none are
    left out). At most three queries, however many customers and segments."""
    if not segment_ids or not customer_ids:
        return {}
    segments = _load_segments(program_id, segment_ids)
    if not segments:
        return {}
    people = _people(program_id, customer_ids)
    spending = _spending(program_id, segments, customer_ids, now)
    result: dict[int, set[int]] = {}
    for person in people:
        ids = {s.id for s in segments if _matches(s.rules, person, spending, now)}
        if ids:
            result[person.id] = ids
    return result


def preview_segment(*, program_id: int, segment_id: int, now: datetime) -> Preview:
    """How many of the program's customers are members now, and up to 20 external refs."""
    segment = get_segment(program_id=program_id, segment_id=segment_id)
    people = _people(program_id, None)
    spending = _spending(program_id, [segment], None, now)
    refs = [p.external_ref for p in people if _matches(segment.rules, p, spending, now)]
    return Preview(members=len(refs), sample=refs[:SAMPLE_SIZE])


def _load_segments(program_id: int, segment_ids: Iterable[int]) -> list[Segment]:
    stmt = select(Segment).where(Segment.program_id == program_id, Segment.id.in_(segment_ids))
    return list(db.session.scalars(stmt))


def _people(program_id: int, customer_ids: set[int] | None) -> list[_Person]:
    """The attributes rules look at; every customer of the program when `customer_ids` is None."""
    stmt = (
        select(
            Customer.id,
            Customer.external_ref,
            Customer.birth_date,
            Customer.tier,
            Customer.tags,
            Customer.created_at,
        )
        .where(Customer.program_id == program_id)
        .order_by(Customer.id)
    )
    if customer_ids is not None:
        stmt = stmt.where(among(Customer.id, customer_ids))
    return [
        _Person(cid, ref, birth, tier, frozenset(tags or ()), created)
        for cid, ref, birth, tier, tags, created in db.session.execute(stmt)
    ]


def _spending(
    program_id: int, segments: list[Segment], customer_ids: set[int] | None, now: datetime
) -> _Spending:
    """One aggregate over processed purchases, grouped by (customer, category), with a net
    amount and a count per distinct window the segments ask for. No `spent` rule: no query."""
    spent = [s.rules["spent"] for s in segments if "spent" in s.rules]
    if not spent:
        return {}
    windows = sorted({rule["days"] for rule in spent})
    net = Transaction.amount_minor - Transaction.refunded_minor
    columns = []
    for days in windows:
        inside = Transaction.occurred_at >= now - timedelta(days=days)
        columns.append(func.sum(case((inside, net), else_=0)))
        columns.append(func.sum(case((and_(inside, net > 0), 1), else_=0)))
    stmt = (
        select(Transaction.customer_id, Transaction.category, *columns)
        .where(
            Transaction.program_id == program_id,
            Transaction.kind == "purchase",
            Transaction.status == "processed",
            Transaction.category.in_({rule["category"] for rule in spent}),
            Transaction.occurred_at >= now - timedelta(days=windows[-1]),
            Transaction.occurred_at <= now,
        )
        .group_by(Transaction.customer_id, Transaction.category)
    )
    if customer_ids is not None:
        stmt = stmt.where(among(Transaction.customer_id, customer_ids))
    result: _Spending = defaultdict(dict)
    for customer_id, category, *sums in db.session.execute(stmt):
        for i, days in enumerate(windows):
            result[(customer_id, category)][days] = (int(sums[2 * i]), int(sums[2 * i + 1]))
    return result


def _matches(rules: dict[str, Any], p: _Person, spending: _Spending, now: datetime) -> bool:
    return (
        _age_ok(rules, p, now)
        and ("tiers" not in rules or p.tier in rules["tiers"])
        and ("tags" not in rules or not p.tags.isdisjoint(rules["tags"]))
        and _enrolled_ok(rules, p, now)
        and _spent_ok(rules, p, spending)
    )


def _age_ok(rules: dict[str, Any], p: _Person, now: datetime) -> bool:
    low, high = rules.get("min_age"), rules.get("max_age")
    if low is None and high is None:
        return True
    if p.birth_date is None:
        return False
    today = now.date()
    born = p.birth_date
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return (low is None or age >= low) and (high is None or age <= high)


def _enrolled_ok(rules: dict[str, Any], p: _Person, now: datetime) -> bool:
    days = rules.get("enrolled_within_days")
    return days is None or p.created_at >= now - timedelta(days=days)


def _spent_ok(rules: dict[str, Any], p: _Person, spending: _Spending) -> bool:
    rule = rules.get("spent")
    if rule is None:
        return True
    amount, count = spending.get((p.id, rule["category"]), {}).get(rule["days"], (0, 0))
    return amount >= rule.get("min_amount_minor", 0) and count >= rule.get("min_transactions", 0)

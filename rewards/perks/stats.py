"""A partner's figures per program-local day: redemptions and cancellations, the points they
moved, and vouchers issued, used, expired and cancelled.

Every figure counts an event on the day it happened, in the program's timezone: a redemption
on the day it was made (whatever became of it later), a cancellation on the day it was
cancelled, a voucher on the day it was issued, used, expired or cancelled. So a day's figures
never change once the day is over, and a redemption made on Monday and cancelled on Tuesday
shows as one redemption on Monday and one cancellation on Tuesday (net points are
`points_redeemed - points_refunded`). Only the partner's own perks count.

One query: the events of the range, each as (instant, kind, points), grouped by local day.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, literal, select, union_all

from rewards.db import db
from rewards.errors import InvalidInput
from rewards.ledger import utcnow
from rewards.local_days import as_date, day_start, local_day, today
from rewards.models import Program
from rewards.perks.models import Perk, Redemption, Voucher

MAX_DAYS = 366
DEFAULT_DAYS = 30

# What each figure adds up: (event kind, summed column) — "count" counts the events.
FIGURES = {
    "redemptions": ("redeemed", "count"),
    "points_redeemed": ("redeemed", "points"),
    "cancellations": ("cancelled", "count"),
    "points_refunded": ("cancelled", "points"),
    "vouchers_issued": ("voucher_issued", "count"),
    "vouchers_used": ("voucher_used", "count"),
    "vouchers_expired": ("voucher_expired", "count"),
    "vouchers_cancelled": ("voucher_cancelled", "count"),
}


def stats_range(
    zone: ZoneInfo, first: date | None, last: date | None, now: datetime
) -> tuple[date, date]:
    """The days asked for (inclusive): `last` defaults to today, `first` to 30 days ending
    on `last`; InvalidInput naming the field for a reversed range or one over 366 days."""
    last = last or today(zone, now)
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise InvalidInput("Must not be before `from`.", field="to")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidInput(
            f"At most {MAX_DAYS} days from `from` (`to` defaults to today).", field="to"
        )
    return first, last


def partner_daily_stats(
    *,
    program_id: int,
    partner_id: int,
    first: date | None = None,
    last: date | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """`{"from", "to", "timezone", "totals", "days"}`: every day of the range, in order,
    with zeros for days without events."""
    program = db.session.get_one(Program, program_id)
    zone = ZoneInfo(program.timezone)
    first, last = stats_range(zone, first, last, now or utcnow())
    start, end = day_start(first, zone), day_start(last + timedelta(days=1), zone)
    events = _events(partner_id, start, end).subquery()
    day = local_day(events.c.at, zone, start, end).label("day")
    sums = [
        func.count().filter(events.c.kind == kind)
        if column == "count"
        else func.coalesce(func.sum(events.c.points).filter(events.c.kind == kind), 0)
        for kind, column in FIGURES.values()
    ]
    found = {
        as_date(row[0]): dict(zip(FIGURES, map(int, row[1:]), strict=True))
        for row in db.session.execute(select(day, *sums).group_by(day))
    }
    zero = dict.fromkeys(FIGURES, 0)
    every_day = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    totals = {name: sum(found.get(d, zero)[name] for d in every_day) for name in FIGURES}
    days = [{"date": d.isoformat(), **found.get(d, zero)} for d in every_day]
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "timezone": program.timezone,
        "totals": totals,
        "days": days,
    }


def _events(partner_id: int, start: datetime, end: datetime) -> Any:
    """Every event on the partner's perks in [start, end) as (at, kind, points)."""
    own = select(Perk.id).where(Perk.partner_id == partner_id).scalar_subquery()

    def happened(column: Any, kind: str, points: Any, model: Any) -> Any:
        return select(
            column.label("at"), literal(kind).label("kind"), points.label("points")
        ).where(model.perk_id.in_(own), column >= start, column < end)

    zero = literal(0)
    return union_all(
        happened(Redemption.created_at, "redeemed", Redemption.points, Redemption),
        happened(Redemption.cancelled_at, "cancelled", Redemption.points, Redemption),
        happened(Voucher.issued_at, "voucher_issued", zero, Voucher),
        happened(Voucher.used_at, "voucher_used", zero, Voucher),
        happened(Voucher.expired_at, "voucher_expired", zero, Voucher),
        happened(Voucher.cancelled_at, "voucher_cancelled", zero, Voucher),
    )

"""What a program owes a partner for one calendar month (in the program's timezone).

Points come from the ledger, so a settlement reconciles exactly with it: the `redeem`
entries of redemptions of the partner's perks made in the month, less the
`redemption_refund` entries of cancellations made in the month (whenever the redemption was
made: a redemption in October cancelled in November is paid in October's settlement and taken
back in November's). Vouchers used count in the month they were used.

The amount is `net points × point_value_per_1000 / 1000` in minor units of the program's
currency. Each perk's share is exact (a decimal: minor units with up to three decimals); the
amount owed is that exact total rounded once, half away from zero (so a month that nets
negative, a credit, rounds like the same debit). The point value is the program's current
setting: re-running an old month after it changed gives the new value's amount.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from rewards.db import db
from rewards.errors import InvalidInput
from rewards.local_days import day_start
from rewards.models import LedgerEntry, Program
from rewards.partners import get_partner
from rewards.perks.models import Perk, Redemption, Voucher
from rewards.perks.redemption import KIND as REDEEM
from rewards.perks.vouchers import REFUND_KIND as REFUND

# A month of 1970-2099 (the API's range of dates), as written in the OpenAPI spec too.
PERIOD_PATTERN = r"(19[7-9][0-9]|20[0-9][0-9])-(0[1-9]|1[0-2])"
PERIOD_MESSAGE = "A month as YYYY-MM, 1970-01 to 2099-12."
PER_POINTS = 1000  # the point value is per 1,000 points


@dataclass(frozen=True)
class PerkLine:
    """One perk's figures in the month."""

    perk_id: int
    title: str
    redemptions: int = 0
    points_redeemed: int = 0
    cancellations: int = 0
    points_refunded: int = 0
    vouchers_used: int = 0

    @property
    def net_points(self) -> int:
        """Points redeemed less points refunded (negative when refunds outweigh)."""
        return self.points_redeemed - self.points_refunded


@dataclass(frozen=True)
class Settlement:
    """A partner's month: per-perk lines, their totals and the amount owed."""

    period: str
    partner_id: int
    partner_code: str
    partner_name: str
    timezone: str
    starts_at: datetime
    ends_at: datetime
    currency: str
    point_value_per_1000: int | None
    perks: list[PerkLine]

    def total(self, figure: str) -> int:
        """The sum of one figure (`points_redeemed`, `net_points`...) over the perks."""
        return sum(int(getattr(line, figure)) for line in self.perks)

    def amount_exact(self, net_points: int) -> Decimal | None:
        """`net_points` at the point value, exact (None without a point value)."""
        if self.point_value_per_1000 is None:
            return None
        return Decimal(net_points * self.point_value_per_1000) / PER_POINTS

    @property
    def amount_owed_minor(self) -> int | None:
        """The month's exact amount, rounded once (half away from zero)."""
        exact = self.amount_exact(self.total("net_points"))
        return None if exact is None else int(exact.quantize(Decimal(1), ROUND_HALF_UP))


def parse_period(text: str) -> tuple[int, int]:
    """`2026-11` → (2026, 11); InvalidInput naming `period` otherwise."""
    found = re.fullmatch(PERIOD_PATTERN, text)
    if found is None:
        raise InvalidInput(PERIOD_MESSAGE, field="period")
    return int(found[1]), int(found[2])


def settlement(*, program_id: int, partner_id: int, period: str) -> Settlement:
    """The partner's settlement for `period` (YYYY-MM, program-local); NotFound for a
    partner of another program."""
    year, month = parse_period(period)
    partner = get_partner(program_id=program_id, partner_id=partner_id)
    program = db.session.get_one(Program, program_id)
    zone = ZoneInfo(program.timezone)
    start = day_start(date(year, month, 1), zone)
    end = day_start(date(year + month // 12, month % 12 + 1, 1), zone)
    lines: dict[int, dict[str, Any]] = {}
    for perk_id, *figures in _ledger_figures(program_id, partner_id, start, end):
        keys = ("redemptions", "points_redeemed", "cancellations", "points_refunded")
        lines.setdefault(perk_id, {}).update(zip(keys, map(int, figures), strict=True))
    for perk_id, used in _vouchers_used(partner_id, start, end):
        lines.setdefault(perk_id, {})["vouchers_used"] = int(used)
    titles = {
        perk_id: title
        for perk_id, title in db.session.execute(
            select(Perk.id, Perk.name).where(Perk.id.in_(list(lines)))
        )
    }
    return Settlement(
        period=f"{year:04d}-{month:02d}",
        partner_id=partner.id,
        partner_code=partner.code,
        partner_name=partner.name,
        timezone=program.timezone,
        starts_at=start,
        ends_at=end,
        currency=program.currency,
        point_value_per_1000=program.point_value_per_1000,
        perks=[PerkLine(perk_id, titles[perk_id], **lines[perk_id]) for perk_id in sorted(lines)],
    )


def _ledger_figures(program_id: int, partner_id: int, start: datetime, end: datetime) -> Any:
    """Per perk of the partner: redeem entries (count, points) and refund entries (count,
    points) that happened in [start, end), joined to their redemptions by source."""
    entry = LedgerEntry
    redeem, refund = entry.kind == REDEEM, entry.kind == REFUND
    return db.session.execute(
        select(
            Redemption.perk_id,
            func.count().filter(redeem),
            -func.coalesce(func.sum(entry.points).filter(redeem), 0),
            # A cancellation gives points back as a lot per expiry: count redemptions.
            func.count(func.distinct(entry.source_id)).filter(refund),
            func.coalesce(func.sum(entry.points).filter(refund), 0),
        )
        .join(Redemption, Redemption.id == entry.source_id)
        .join(Perk, Perk.id == Redemption.perk_id)
        .where(
            entry.source_type == "redemption",
            entry.program_id == program_id,
            entry.kind.in_((REDEEM, REFUND)),
            entry.occurred_at >= start,
            entry.occurred_at < end,
            Perk.partner_id == partner_id,
        )
        .group_by(Redemption.perk_id)
    )


def _vouchers_used(partner_id: int, start: datetime, end: datetime) -> Any:
    """Per perk of the partner: vouchers used in [start, end)."""
    return db.session.execute(
        select(Voucher.perk_id, func.count())
        .join(Perk, Perk.id == Voucher.perk_id)
        .where(Perk.partner_id == partner_id, Voucher.used_at >= start, Voucher.used_at < end)
        .group_by(Voucher.perk_id)
    )

"""Which perks cardholders of each age band redeem: redemptions (not cancelled) of the last
90 days per perk and band, and over all bands (`all`), recomputed by a scheduled job into
`perk_popularity` (a small table: perks × six bands). The catalog's cold start reads it."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select

from rewards.db import db
from rewards.ledger import utcnow
from rewards.models import Customer
from rewards.perks.models import PerkPopularity, Redemption
from rewards.perks.ranking import ANY_BAND, age_band

WINDOW = timedelta(days=90)


def recompute_popularity(*, now: datetime | None = None) -> int:
    """Replace `perk_popularity` with the counts as of `now`; returns the rows written."""
    now = now or utcnow()
    counts: Counter[tuple[int, str]] = Counter()
    for perk_id, birth_date, n in db.session.execute(
        select(Redemption.perk_id, Customer.birth_date, func.count())
        .join(Customer, Customer.id == Redemption.customer_id)
        .where(Redemption.status != "cancelled", Redemption.created_at >= now - WINDOW)
        .group_by(Redemption.perk_id, Customer.birth_date)
    ):
        band = age_band(birth_date, now.date())
        counts[(perk_id, band)] += n
        if band != ANY_BAND:
            counts[(perk_id, ANY_BAND)] += n
    db.session.execute(delete(PerkPopularity))
    rows = [
        {"perk_id": perk_id, "age_band": band, "redemptions": n, "computed_at": now}
        for (perk_id, band), n in sorted(counts.items())
    ]
    if rows:
        db.session.execute(insert(PerkPopularity), rows)
    return len(rows)


def popularity_in(band: str, perk_ids: list[int]) -> dict[int, int]:
    """Redemptions per perk in `band` (the overall counts for `all`)."""
    if not perk_ids:
        return {}
    stmt = select(PerkPopularity.perk_id, PerkPopularity.redemptions).where(
        PerkPopularity.age_band == band, PerkPopularity.perk_id.in_(perk_ids)
    )
    return {perk_id: int(n) for perk_id, n in db.session.execute(stmt)}

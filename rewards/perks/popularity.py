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
from rewards.perks.features import Features
from rewards.perks.models import CustomerFeatures, PerkPopularity, Redemption
from rewards.perks.ranking import age_band, cohorts

WINDOW = timedelta(days=90)


def recompute_popularity(*, now: datetime | None = None) -> int:
    """Replace `perk_popularity` with the counts as of `now`; returns the rows written."""
    now = now or utcnow()
    counts: Counter[tuple[int, str]] = Counter()
    redeemed = (
        select(Redemption.perk_id, Redemption.customer_id, func.count().label("n"))
        .where(Redemption.status != "cancelled", Redemption.created_at >= now - WINDOW)
        .group_by(Redemption.perk_id, Redemption.customer_id)
        .subquery()
    )
    for perk_id, birth_date, categories, n in db.session.execute(
        select(redeemed.c.perk_id, Customer.birth_date, CustomerFeatures.categories, redeemed.c.n)
        .join(Customer, Customer.id == redeemed.c.customer_id)
        .outerjoin(CustomerFeatures, CustomerFeatures.customer_id == redeemed.c.customer_id)
    ):
        band = age_band(birth_date, now.date())
        for cohort, _ in cohorts(band, Features(categories=dict(categories or {}))):
            counts[(perk_id, cohort)] += n
    db.session.execute(delete(PerkPopularity))
    rows = [
        {"perk_id": perk_id, "cohort": cohort, "redemptions": n, "computed_at": now}
        for (perk_id, cohort), n in sorted(counts.items())
    ]
    if rows:
        db.session.execute(insert(PerkPopularity), rows)
    return len(rows)


def popularity_for(
    band: str, features: Features, perk_ids: list[int]
) -> tuple[dict[int, int], str]:
    """Redemptions per perk among cardholders like this one, and how a reason names them, in
    one query: their age band's counts plus those of the band's cardholders who buy most in
    the same category (what similar cardholders redeemed weighs twice), else the age band's,
    else everybody's. Measured offline, the blend ranks as well as the band alone while the
    cohort alone, sparser, ranked worse (docs/benchmarks.md)."""
    tried = cohorts(band, features)
    if not perk_ids:
        return {}, tried[-1][1]
    found: dict[str, dict[int, int]] = {}
    for perk_id, cohort, n in db.session.execute(
        select(PerkPopularity.perk_id, PerkPopularity.cohort, PerkPopularity.redemptions).where(
            PerkPopularity.cohort.in_([c for c, _ in tried]),
            PerkPopularity.perk_id.in_(perk_ids),
        )
    ):
        found.setdefault(cohort, {})[perk_id] = int(n)
    alike, rest = tried[0], tried[1:]
    if len(tried) == 3 and found.get(alike[0]):
        blended = Counter(found.get(rest[0][0], {})) + Counter(found[alike[0]])
        return dict(blended), alike[1]
    for cohort, crowd in rest if len(tried) == 3 else tried:
        if found.get(cohort):
            return found[cohort], crowd
    return {}, tried[-1][1]

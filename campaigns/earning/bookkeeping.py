"""The feed's campaign bookkeeping writes: cap counters, participation, per-day figures, budget
and participant totals, and exhaustion events — each one set-based statement per chunk on
PostgreSQL (`json_to_recordset`, rows encoded by `rewards.db.json_rows`), a few on SQLite.
`campaigns.earning.feed` decides what to write."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select, text, update

from campaigns.earning.models import Campaign as CampaignRow
from campaigns.earning.usage import CampaignCounter, CampaignDay, CustomerCampaigns
from rewards.db import among, db, dialect_insert, is_postgres, json_rows
from rewards.models.event import Event

_UPSERT_COUNTERS = text(
    "INSERT INTO campaign_counters (campaign_id, customer_id, bucket, points, spend_minor) "
    "SELECT v.campaign_id, v.customer_id, v.bucket, v.points, v.spend_minor "
    "FROM json_to_recordset(CAST(:rows AS json)) AS v(campaign_id bigint, customer_id bigint, "
    "bucket text, points bigint, spend_minor bigint) "
    "ON CONFLICT (campaign_id, customer_id, bucket) DO UPDATE SET "
    "points = campaign_counters.points + EXCLUDED.points, "
    "spend_minor = campaign_counters.spend_minor + EXCLUDED.spend_minor"
)
# Appends: the chunk read these rows under the customers' account locks, so it knows which
# campaign ids are new to each customer and no other chunk appends meanwhile.
_ADD_PARTICIPATION = text(
    "INSERT INTO customer_campaigns (customer_id, campaign_ids) "
    "SELECT v.customer_id, v.campaign_ids FROM json_to_recordset(CAST(:rows AS json)) "
    "AS v(customer_id bigint, campaign_ids jsonb) ON CONFLICT (customer_id) DO UPDATE SET "
    "campaign_ids = customer_campaigns.campaign_ids || EXCLUDED.campaign_ids"
)
_UPSERT_DAYS = text(
    "INSERT INTO campaign_days "
    "(campaign_id, day, shard, points, clawed_back, purchases, participants) "
    "SELECT v.campaign_id, v.day, v.shard, v.points, v.clawed_back, v.purchases, "
    "v.participants FROM json_to_recordset(CAST(:rows AS json)) AS v(campaign_id bigint, "
    "day date, shard smallint, points bigint, clawed_back bigint, purchases integer, "
    "participants integer) "
    "ON CONFLICT (campaign_id, day, shard) DO UPDATE SET "
    "points = campaign_days.points + EXCLUDED.points, "
    "clawed_back = campaign_days.clawed_back + EXCLUDED.clawed_back, "
    "purchases = campaign_days.purchases + EXCLUDED.purchases, "
    "participants = campaign_days.participants + EXCLUDED.participants"
)
# Only campaigns `LimitChecks._confirm_limits` (campaigns.earning.feed.limits) locked (id
# order) get here.
_ADD_USAGE = text(
    "UPDATE campaigns AS c SET budget_used = GREATEST(0, c.budget_used + v.points), "
    "participants = c.participants + v.joined "
    "FROM json_to_recordset(CAST(:rows AS json)) AS v(id bigint, points bigint, joined bigint) "
    "WHERE c.id = v.id"
)


def add_counters(deltas: dict[tuple[int, int, str], list[int]]) -> None:
    """Add to the cap counters, creating missing ones: one statement on PostgreSQL. The
    customers' accounts are locked, so no other chunk writes these rows meanwhile (no need
    to sort them against deadlocks)."""
    rows = [
        {"campaign_id": c, "customer_id": u, "bucket": b, "points": p, "spend_minor": s}
        for (c, u, b), (p, s) in deltas.items()
        if p or s
    ]
    if not rows:
        return
    if is_postgres():
        db.session.execute(_UPSERT_COUNTERS, {"rows": json_rows(rows)})
        return
    for row in rows:
        stmt = dialect_insert(CampaignCounter).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=["campaign_id", "customer_id", "bucket"],
            set_={
                "points": CampaignCounter.points + stmt.excluded.points,
                "spend_minor": CampaignCounter.spend_minor + stmt.excluded.spend_minor,
            },
        )
        db.session.execute(stmt)


def participation(customer_ids: set[int]) -> dict[int, set[int]]:
    """The campaigns each of these customers has earned from (those with none are left out)."""
    if not customer_ids:
        return {}
    return {
        customer_id: set(campaign_ids)
        for customer_id, campaign_ids in db.session.execute(
            select(CustomerCampaigns.customer_id, CustomerCampaigns.campaign_ids).where(
                among(CustomerCampaigns.customer_id, customer_ids)
            )
        )
    }


def add_participation(new: dict[int, list[int]]) -> None:
    """Append campaigns customers earned from for the first time (customer → campaign ids,
    none already stored): one statement on PostgreSQL. The caller read the customers' rows
    with `participation` under their account locks."""
    new = {customer_id: ids for customer_id, ids in sorted(new.items()) if ids}
    if not new:
        return
    if is_postgres():
        rows = [{"customer_id": u, "campaign_ids": ids} for u, ids in new.items()]
        db.session.execute(_ADD_PARTICIPATION, {"rows": json_rows(rows)})
        return
    for customer_id, ids in new.items():
        found = db.session.get(CustomerCampaigns, customer_id)
        if found is None:
            db.session.add(CustomerCampaigns(customer_id=customer_id, campaign_ids=ids))
        else:
            found.campaign_ids = [*found.campaign_ids, *ids]
    db.session.flush()


def add_days(deltas: dict[tuple[int, date], list[int]], shard: int) -> None:
    """Add to the per-day figures, in key order, on `shard` (drawn afresh for each chunk by
    `CampaignRules`, so two chunks at once seldom add to the same row): one statement."""
    rows = [
        {
            "campaign_id": c,
            "day": d,
            "shard": shard,
            "points": p,
            "clawed_back": back,
            "purchases": n,
            "participants": joined,
        }
        for (c, d), (p, back, n, joined) in sorted(deltas.items())
        if p or back or n or joined
    ]
    if not rows:
        return
    if is_postgres():
        db.session.execute(_UPSERT_DAYS, {"rows": json_rows(rows)})
        return
    for row in rows:
        stmt = dialect_insert(CampaignDay).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=["campaign_id", "day", "shard"],
            set_={
                "points": CampaignDay.points + stmt.excluded.points,
                "clawed_back": CampaignDay.clawed_back + stmt.excluded.clawed_back,
                "purchases": CampaignDay.purchases + stmt.excluded.purchases,
                "participants": CampaignDay.participants + stmt.excluded.participants,
            },
        )
        db.session.execute(stmt)


def add_usage(spent: dict[int, int], joined: dict[int, int]) -> None:
    """Add bonus points to budgets and new participants to limited campaigns (row-locked by
    `LimitChecks._confirm_limits` (campaigns.earning.feed.limits)): one statement on PostgreSQL."""
    rows = [
        {"id": c, "points": spent.get(c, 0), "joined": joined.get(c, 0)}
        for c in sorted(set(spent) | set(joined))
        if spent.get(c) or joined.get(c)
    ]
    if not rows:
        return
    if is_postgres():
        db.session.execute(_ADD_USAGE, {"rows": json_rows(rows)})
        return
    for row in rows:
        db.session.execute(
            update(CampaignRow)
            .where(CampaignRow.id == row["id"])
            .values(
                budget_used=func.max(0, CampaignRow.budget_used + row["points"]),
                participants=CampaignRow.participants + row["joined"],
            )
        )


def announce_exhausted(program_id: int, campaign_id: int) -> None:
    db.session.execute(
        dialect_insert(Event)
        .values(
            program_id=program_id,
            type="campaign.budget_exhausted",
            key=f"campaign.budget_exhausted:{campaign_id}",
            payload={"campaign_id": campaign_id},
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )

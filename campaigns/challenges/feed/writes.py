"""The feed's challenge writes: counted purchases, refunded amounts, progress, badges and the
challenges' counters, each one set-based statement per chunk on PostgreSQL
(`json_to_recordset`), a statement per row on SQLite (embedded mode)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, text, update

from campaigns.challenges.feed.progress import Counted
from campaigns.challenges.models import (
    Badge,
    Challenge,
    ChallengeProgress,
    ChallengePurchase,
    CustomerBadge,
)
from rewards.db import db, dialect_insert, is_postgres, json_rows
from rewards.models import LedgerEntry

# A purchase stored before (reset and run again) gains only challenges it did not count
# for; one it already counted for leaves the row as it was, and the count of rows written
# comes up short (`CountedRace`).
_INSERT_COUNTED = text(
    "WITH written AS (INSERT INTO challenge_purchases AS p (transaction_id, customer_id, "
    "counted, local_day, amount_minor, refunded_minor, merchant_id, category) "
    "SELECT v.transaction_id, v.customer_id, v.counted, v.local_day, v.amount_minor, "
    "v.refunded_minor, v.merchant_id, v.category "
    "FROM json_to_recordset(CAST(:rows AS json)) AS v(transaction_id bigint, "
    "customer_id bigint, counted jsonb, local_day date, amount_minor bigint, "
    "refunded_minor bigint, merchant_id text, category text) "
    "ON CONFLICT (transaction_id) DO UPDATE SET counted = p.counted || EXCLUDED.counted "
    "WHERE NOT p.counted ?| ARRAY(SELECT jsonb_object_keys(EXCLUDED.counted)) RETURNING 1) "
    "SELECT count(*) FROM written"
)
_UPDATE_REFUNDED = text(
    "UPDATE challenge_purchases AS p SET refunded_minor = v.refunded_minor "
    "FROM json_to_recordset(CAST(:rows AS json)) AS v(transaction_id bigint, "
    "refunded_minor bigint) WHERE p.transaction_id = v.transaction_id"
)
# Absolute values: the chunk computed them under the customers' account locks. The target
# stays the one the row was created with; the live award's lot is found by its key.
_UPSERT_PROGRESS = text(
    "INSERT INTO challenge_progress (customer_id, challenge_id, period, value, target, status, "
    "completed_at, halfway_at, revoked_at, awards, reward_points, reward_entry_id, "
    "current_streak, best_streak, last_active_day, freeze_used_on, tally) "
    "SELECT v.customer_id, v.challenge_id, v.period, v.value, v.target, v.status, "
    "v.completed_at, v.halfway_at, v.revoked_at, v.awards, v.reward_points, e.id, "
    "v.current_streak, v.best_streak, v.last_active_day, v.freeze_used_on, v.tally "
    "FROM json_to_recordset(CAST(:rows AS json)) AS v(customer_id bigint, challenge_id bigint, "
    "period text, value bigint, target bigint, status text, completed_at timestamptz, "
    "halfway_at timestamptz, revoked_at timestamptz, awards integer, reward_points bigint, "
    "reward_key text, current_streak integer, best_streak integer, last_active_day date, "
    "freeze_used_on date, tally jsonb) "
    "LEFT JOIN ledger_entries AS e ON e.idempotency_key = v.reward_key "
    "ON CONFLICT (customer_id, challenge_id, period) DO UPDATE SET "
    "value = EXCLUDED.value, status = EXCLUDED.status, completed_at = EXCLUDED.completed_at, "
    "halfway_at = EXCLUDED.halfway_at, revoked_at = EXCLUDED.revoked_at, "
    "awards = EXCLUDED.awards, reward_points = EXCLUDED.reward_points, "
    "reward_entry_id = EXCLUDED.reward_entry_id, current_streak = EXCLUDED.current_streak, "
    "best_streak = EXCLUDED.best_streak, last_active_day = EXCLUDED.last_active_day, "
    "freeze_used_on = EXCLUDED.freeze_used_on, tally = EXCLUDED.tally, updated_at = now()"
)
# Only badges of the challenge's own program that are not retired: a badge id a marketer
# mistyped or retired must not fail the chunk (nor be given).
_AWARD_BADGES = text(
    "INSERT INTO customer_badges (customer_id, badge_id, awarded_at, source, source_id) "
    "SELECT v.customer_id, v.badge_id, v.awarded_at, 'challenge', v.challenge_id "
    "FROM json_to_recordset(CAST(:rows AS json)) AS v(customer_id bigint, badge_id bigint, "
    "awarded_at timestamptz, challenge_id bigint, program_id bigint) "
    "JOIN badges AS b ON b.id = v.badge_id AND b.program_id = v.program_id "
    "AND b.status <> 'retired' "
    "ON CONFLICT (customer_id, badge_id) DO NOTHING"
)
_ADD_COUNTERS = text(
    "UPDATE challenges AS c SET participants = c.participants + v.participants, "
    "completions = c.completions + v.completions "
    "FROM json_to_recordset(CAST(:rows AS json)) AS v(id bigint, participants bigint, "
    "completions bigint) WHERE c.id = v.id"
)


def insert_counted(counted: Iterable[Counted]) -> bool:
    """Store what these purchases newly counted towards, a row per purchase; False if a
    purchase had already counted towards one of those challenges (that purchase's row is left
    as it was; the caller rolls the chunk back)."""
    rows = _purchase_rows(counted)
    if not rows:
        return True
    if is_postgres():
        written = db.session.execute(_INSERT_COUNTED, {"rows": json_rows(rows)}).scalar_one()
        return int(written) == len(rows)
    written = 0
    for row in rows:
        stored = db.session.get(ChallengePurchase, row["transaction_id"])
        if stored is None:
            db.session.add(ChallengePurchase(**_typed(row)))
            written += 1
        elif not set(stored.counted) & set(row["counted"]):
            stored.counted = {**stored.counted, **row["counted"]}
            written += 1
    db.session.flush()
    return written == len(rows)


def update_refunded(counted: Iterable[Counted]) -> None:
    """Store the refunded amounts of these stored purchases (one per purchase: a refund
    lowers what the purchase brings to every challenge alike)."""
    refunded: dict[int, int] = {}
    for c in counted:
        refunded[c.transaction_id] = max(refunded.get(c.transaction_id, 0), c.refunded_minor)
    rows = [{"transaction_id": t, "refunded_minor": r} for t, r in sorted(refunded.items())]
    if not rows:
        return
    if is_postgres():
        db.session.execute(_UPDATE_REFUNDED, {"rows": json_rows(rows)})
        return
    for row in rows:
        db.session.execute(
            update(ChallengePurchase)
            .where(ChallengePurchase.transaction_id == row["transaction_id"])
            .values(refunded_minor=row["refunded_minor"])
        )


def _purchase_rows(counted: Iterable[Counted]) -> list[dict[str, Any]]:
    """One `challenge_purchases` row per purchase, with the challenge periods it counted for."""
    rows: dict[int, dict[str, Any]] = {}
    periods: dict[int, dict[str, str]] = defaultdict(dict)
    for c in counted:
        periods[c.transaction_id][str(c.challenge_id)] = c.period
        if c.transaction_id in rows:
            row = rows[c.transaction_id]
            row["refunded_minor"] = max(row["refunded_minor"], c.refunded_minor)
        else:
            rows[c.transaction_id] = {
                "transaction_id": c.transaction_id,
                "customer_id": c.customer_id,
                "counted": periods[c.transaction_id],
                "local_day": c.local_day.isoformat(),
                "amount_minor": c.amount_minor,
                "refunded_minor": c.refunded_minor,
                "merchant_id": c.merchant_id,
                "category": c.category,
            }
    return [rows[t] for t in sorted(rows)]


def upsert_progress(rows: list[dict[str, Any]]) -> None:
    """Write progress rows (created with their target, or updated)."""
    if not rows:
        return
    if is_postgres():
        db.session.execute(_UPSERT_PROGRESS, {"rows": json_rows(rows)})
        return
    for row in rows:
        values = _typed(row)
        key = values.pop("reward_key")
        values["reward_entry_id"] = (
            db.session.scalar(select(LedgerEntry.id).where(LedgerEntry.idempotency_key == key))
            if key
            else None
        )
        stmt = dialect_insert(ChallengeProgress).values(**values)
        changing = {k: v for k, v in values.items() if k not in ("customer_id", "challenge_id")}
        changing.pop("period")
        changing.pop("target")
        stmt = stmt.on_conflict_do_update(
            index_elements=["customer_id", "challenge_id", "period"], set_=changing
        )
        db.session.execute(stmt)


def award_badges(rows: list[dict[str, Any]]) -> None:
    """Give customers the badges of challenges they completed (once per badge)."""
    if not rows:
        return
    if is_postgres():
        db.session.execute(_AWARD_BADGES, {"rows": json_rows(rows)})
        return
    for row in rows:
        badge = db.session.get(Badge, row["badge_id"])
        if badge is None or badge.program_id != row["program_id"] or badge.status == "retired":
            continue
        stmt = dialect_insert(CustomerBadge).values(
            customer_id=row["customer_id"],
            badge_id=row["badge_id"],
            awarded_at=_typed(row)["awarded_at"],
            source="challenge",
            source_id=row["challenge_id"],
        )
        db.session.execute(stmt.on_conflict_do_nothing(index_elements=["customer_id", "badge_id"]))


def add_counters(deltas: dict[int, list[int]]) -> None:
    """Add new participants and completions (less revocations) to the challenges, in id
    order: rows every worker shares, locked by this statement until the commit."""
    rows = [
        {"id": cid, "participants": p, "completions": c}
        for cid, (p, c) in sorted(deltas.items())
        if p or c
    ]
    if not rows:
        return
    # Locked in id order first: an UPDATE ... FROM locks in whatever order its plan joins.
    ids = [row["id"] for row in rows]
    db.session.execute(
        select(Challenge.id)
        .where(Challenge.id.in_(ids))
        .order_by(Challenge.id)
        .with_for_update(key_share=True)
    ).all()
    if is_postgres():
        db.session.execute(_ADD_COUNTERS, {"rows": json_rows(rows)})
        return
    for row in rows:
        db.session.execute(
            update(Challenge)
            .where(Challenge.id == row["id"])
            .values(
                participants=Challenge.participants + row["participants"],
                completions=Challenge.completions + row["completions"],
            )
        )


_DAYS = ("local_day", "last_active_day", "freeze_used_on")
_MOMENTS = ("completed_at", "halfway_at", "revoked_at", "updated_at", "awarded_at", "created_at")


def _typed(row: dict[str, Any]) -> dict[str, Any]:
    """A row as the ORM wants it on SQLite: the ISO texts kept for `json_rows` (PostgreSQL
    casts them in `json_to_recordset`) back into dates and datetimes."""
    values = dict(row)
    for key in _DAYS:
        if isinstance(values.get(key), str):
            values[key] = date.fromisoformat(values[key])
    for key in _MOMENTS:
        if isinstance(values.get(key), str):
            values[key] = datetime.fromisoformat(values[key])
    return values

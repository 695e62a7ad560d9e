"""Challenge and badge tables: definitions and their versions, opt-ins, progress per period,
the purchases that counted, badges and the badges customers hold.

Progress and counted purchases are the feed's per-purchase bookkeeping and, like the campaign
counters, carry no foreign keys: the feed writes them set-based (`INSERT ... ON CONFLICT`) for
thousands of rows per chunk with ids it read from locked rows, and challenges and customers
are never deleted. Their unique keys are what make a re-run or a second worker harmless.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from rewards.db import BigId, JSONType, Model, UTCDateTime

CHALLENGE_STATUSES = ("draft", "scheduled", "active", "paused", "ended")
PROGRESS_STATUSES = ("active", "completed", "revoked")
BADGE_STATUSES = ("draft", "active", "retired")
BADGE_SOURCES = ("challenge", "milestone", "manual")


class Challenge(Model):
    """One challenge of a program. Name, window and goal type mirror the current version so
    the marketer's list filters and the feed's "live challenges" query read no JSON."""

    __tablename__ = "challenges"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'scheduled', 'active', 'paused', 'ended')", name="status_known"
        ),
        CheckConstraint("current_version >= 1", name="version_positive"),
        CheckConstraint("period IS NULL OR period IN ('week', 'month')", name="period_known"),
        CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="window_ordered"),
        CheckConstraint("participants >= 0", name="participants_not_negative"),
        CheckConstraint("completions >= 0", name="completions_not_negative"),
        Index("ix_challenges_program_id_status", "program_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    current_version: Mapped[int] = mapped_column(default=1)
    goal_type: Mapped[str] = mapped_column(String(24))
    # None for a fixed window; `week` (ISO, Monday 00:00 local) or `month` when recurring.
    period: Mapped[str | None] = mapped_column(String(8))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Customers with any progress, and completions not revoked (all periods); the feed
    # adds to them in the chunk's transaction, after the rows they count were inserted.
    participants: Mapped[int] = mapped_column(default=0, server_default="0")
    completions: Mapped[int] = mapped_column(default=0, server_default="0")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


class ChallengeVersion(Model):
    """The full definition a challenge had from one edit to the next (never changed)."""

    __tablename__ = "challenge_versions"
    __table_args__ = (
        UniqueConstraint("challenge_id", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenges.id"))
    version: Mapped[int]
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())


class ChallengeJoin(Model):
    """A cardholder opted in to an opt-in challenge; only purchases after `joined_at` count.

    Keyed customer first: the feed reads the joins of a chunk's customers by key prefix."""

    __tablename__ = "challenge_joins"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    challenge_id: Mapped[int] = mapped_column(
        ForeignKey("challenges.id"), primary_key=True, index=True
    )
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())


class ChallengeProgress(Model):
    """One customer's progress in one period of a challenge (`c` for a fixed window,
    `w:2026-W48` or `m:2026-11` in the program's timezone when recurring).

    `value` is what the goal compares with `target` (purchases, minor units, distinct
    merchants or categories, or the best streak length). `awards` counts the rewards granted
    so far: the n-th grant's ledger key is `chl:{challenge}:{customer}:{period}:{n}`, so a
    re-run grants nothing new and a completion after a revocation is a new, distinct grant.
    """

    __tablename__ = "challenge_progress"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'completed', 'revoked')", name="status_known"),
        CheckConstraint("value >= 0", name="value_not_negative"),
        CheckConstraint("target > 0", name="target_positive"),
        CheckConstraint("awards >= 0", name="awards_not_negative"),
        CheckConstraint("reward_points >= 0", name="reward_points_not_negative"),
        CheckConstraint(
            "current_streak >= 0 AND best_streak >= current_streak", name="streaks_ordered"
        ),
        # Per-challenge reads (stats, leaderboard rebuilds) without scanning every customer;
        # with the customer last, a board sync for a chunk's customers reads only their rows
        # (a period's rows lie scattered over the heap: 9,500 blocks for 25,000 rows).
        Index("ix_challenge_progress_board", "challenge_id", "period", "customer_id"),
        # A customer's completed periods (their XP) without reading every period they began.
        Index(
            "ix_challenge_progress_completed",
            "customer_id",
            postgresql_where=text("status = 'completed'"),
            sqlite_where=text("status = 'completed'"),
        ),
    )

    customer_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    challenge_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
    target: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="active")
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a purchase first took the period to half its target without completing it (the
    # "halfway there" milestone of the activity feed); never cleared.
    halfway_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    awards: Mapped[int] = mapped_column(default=0, server_default="0")
    # The live award: its points and ledger lot (a clawback on revocation reverses that lot).
    reward_points: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    reward_entry_id: Mapped[int | None] = mapped_column(BigInteger)
    # Streak goals only (0 / None otherwise); see campaigns.challenges.streaks.
    current_streak: Mapped[int] = mapped_column(default=0, server_default="0")
    best_streak: Mapped[int] = mapped_column(default=0, server_default="0")
    last_active_day: Mapped[date | None] = mapped_column(Date)
    # The latest missed day the current streak's weekly freeze forgave.
    freeze_used_on: Mapped[date | None] = mapped_column(Date)
    # Distinct and streak goals: the still-counting purchases' facts as multisets
    # (`campaigns.challenges.feed.progress`): {"n": count, "s": spend, "m": {merchant: n},
    # "c": {category: n}, "d": {"2026-03-29": n}}, so the feed never re-reads the period's
    # purchases. None for count and spend goals, and for rows written before 0012 (the feed
    # then recounts them from `challenge_purchases` once).
    tally: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


class ChallengePurchase(Model):
    """A purchase counted towards challenges: which period of each challenge it counted
    towards (`counted`, challenge id → period), with the facts goals read from it.

    One row per purchase, not per (purchase, challenge): a purchase meets about as many
    challenges as a program runs program-wide, and a row each made this the feed's largest
    write. The key is the purchase; the rule "a transaction counts at most once per
    challenge" is `counted` holding each challenge once, merged by the feed under the
    customer's account lock (a re-run adds only challenges not there yet; a conflicting
    write fails the chunk, which runs again). Rows are never deleted: a refund raises
    `refunded_minor`, and a purchase refunded in full stops counting everywhere (count,
    distinct sets, streak day) while its row keeps it from counting again on a replay.
    """

    __tablename__ = "challenge_purchases"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= amount_minor", name="refund_range"
        ),
    )

    transaction_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # A customer's purchases (recounts, streak views, XP streak days, badges).
    customer_id: Mapped[int] = mapped_column(BigId, index=True)
    counted: Mapped[dict[str, str]] = mapped_column(JSONType)
    # The purchase's day in the program's timezone (streaks count days, not instants).
    local_day: Mapped[date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    merchant_id: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())


class Badge(Model):
    """A collectible a marketer defines; `criteria` says what awards it (a challenge or a
    milestone such as a first purchase or a streak of N days)."""

    __tablename__ = "badges"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'active', 'retired')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(1000))
    image_url: Mapped[str | None] = mapped_column(String(500))
    criteria: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


class CustomerBadge(Model):
    """A badge a customer earned, once. It stays when the challenge reward that came with it
    is clawed back: the badge records that the goal was reached, the points were the prize."""

    __tablename__ = "customer_badges"
    __table_args__ = (
        CheckConstraint("source IN ('challenge', 'milestone', 'manual')", name="source_known"),
    )

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    badge_id: Mapped[int] = mapped_column(ForeignKey("badges.id"), primary_key=True, index=True)
    awarded_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    source: Mapped[str] = mapped_column(String(16))
    # The challenge (for `challenge`) that awarded it; None for milestones and manual awards.
    source_id: Mapped[int | None] = mapped_column(BigInteger)

"""Which boards a program has right now: their public ids, titles, periods and windows.

Every program has three XP boards: `xp-week` (the current ISO week, Monday 00:00 in the
program's timezone), `xp-month` (the current calendar month, local) and `xp-all`. Every live
challenge (active, inside its window) has one board, `challenge-{id}`, for its current period
(`c` for a fixed window, `w:2026-W13` or `m:2026-03` when recurring). A cardholder sees the
challenge boards of the challenges whose audience admits them; other ids are unknown (404).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from campaigns.audiences.segments import segment_memberships
from campaigns.challenges.models import Challenge, ChallengeVersion
from campaigns.challenges.windows import Window, local_day, local_midnight
from campaigns.leaderboards.store import Board
from campaigns.rules.audience import Audience
from campaigns.rules.facts import Shopper
from rewards.balances import zone as program_zone
from rewards.db import db
from rewards.errors import NotFound
from rewards.models import Customer, Program

XP_WEEK, XP_MONTH, XP_ALL = "xp-week", "xp-month", "xp-all"
XP_METRIC = "xp"
ALL_TIME = "all"
# A finished period's board stays in Redis this long after its end, then expires.
GRACE = timedelta(days=8)
_CHALLENGE_ID = re.compile(r"^challenge-([1-9][0-9]{0,17})$")


@dataclass(frozen=True)
class BoardSpec:
    """One board as clients and the PostgreSQL sources know it.

    `starts_at`/`ends_at` bound the period in UTC (end excluded; None when open); XP boards
    sum the XP changes inside them, challenge boards read the progress of `period`."""

    id: str
    title: str
    period: str
    board: Board
    starts_at: datetime | None
    ends_at: datetime | None
    challenge_id: int | None = None

    @property
    def expires_at(self) -> datetime | None:
        """When Redis may forget the board (None: never)."""
        return None if self.ends_at is None else self.ends_at + GRACE


def xp_boards(program_id: int, zone: ZoneInfo, now: datetime) -> list[BoardSpec]:
    """The program's weekly, monthly and all-time XP boards current at `now`."""
    today = local_day(now, zone)
    monday = today - timedelta(days=today.weekday())
    first = today.replace(day=1)
    after = (first + timedelta(days=32)).replace(day=1)
    iso_year, iso_week, _ = today.isocalendar()
    week, month = f"{iso_year}-W{iso_week:02d}", f"{first:%Y-%m}"
    return [
        BoardSpec(
            id=XP_WEEK,
            title="XP this week",
            period=week,
            board=Board(program_id, XP_METRIC, week),
            starts_at=local_midnight(monday, zone),
            ends_at=local_midnight(monday + timedelta(days=7), zone),
        ),
        BoardSpec(
            id=XP_MONTH,
            title="XP this month",
            period=month,
            board=Board(program_id, XP_METRIC, month),
            starts_at=local_midnight(first, zone),
            ends_at=local_midnight(after, zone),
        ),
        BoardSpec(
            id=XP_ALL,
            title="XP of all time",
            period=ALL_TIME,
            board=Board(program_id, XP_METRIC, ALL_TIME),
            starts_at=None,
            ends_at=None,
        ),
    ]


def challenge_board(challenge: Challenge, zone: ZoneInfo, now: datetime) -> BoardSpec | None:
    """The board of `challenge`'s current period, or None if it is not live at `now`."""
    window = Window(
        kind="recurring" if challenge.period else "fixed",
        period=challenge.period,
        starts_at=challenge.starts_at,
        ends_at=challenge.ends_at,
    )
    key = window.period_of(now, zone)
    if challenge.status != "active" or key is None:
        return None
    starts_at, ends_at = window.bounds(key, zone)
    return BoardSpec(
        id=f"challenge-{challenge.id}",
        title=challenge.name,
        period=key,
        board=Board(challenge.program_id, f"challenge:{challenge.id}", key),
        starts_at=starts_at,
        ends_at=ends_at,
        challenge_id=challenge.id,
    )


def live_challenges(program_id: int, now: datetime) -> list[Challenge]:
    """The program's active challenges whose window contains `now`, oldest first."""
    return list(
        db.session.scalars(
            select(Challenge)
            .where(
                Challenge.program_id == program_id,
                Challenge.status == "active",
                Challenge.starts_at <= now,
                (Challenge.ends_at.is_(None)) | (Challenge.ends_at > now),
            )
            .order_by(Challenge.id)
        )
    )


def program_boards(program_id: int, now: datetime) -> list[BoardSpec]:
    """Every board of the program current at `now` (what a rebuild or a sync writes)."""
    zone = _zone_of(program_id)
    boards = xp_boards(program_id, zone, now)
    for challenge in live_challenges(program_id, now):
        spec = challenge_board(challenge, zone, now)
        if spec is not None:
            boards.append(spec)
    return boards


def boards_for(customer: Customer, now: datetime, zone: ZoneInfo | None = None) -> list[BoardSpec]:
    """The boards `customer` may read: the XP boards and their visible challenges' boards.
    `zone`: the program's timezone, if the caller has it already."""
    zone = zone or _zone_of(customer.program_id)
    boards = xp_boards(customer.program_id, zone, now)
    live = live_challenges(customer.program_id, now)
    admitted = _admitted(customer, live, now, zone)
    for challenge in live:
        spec = challenge_board(challenge, zone, now)
        if spec is not None and challenge.id in admitted:
            boards.append(spec)
    return boards


def find_board(
    customer: Customer, board_id: str, now: datetime, zone: ZoneInfo | None = None
) -> BoardSpec:
    """The board `board_id` as `customer` may read it; NotFound for anything else (another
    program's challenge, a challenge not live or not for them, an unknown id). `zone`: the
    program's timezone, if the caller has it already."""
    zone = zone or _zone_of(customer.program_id)
    for spec in xp_boards(customer.program_id, zone, now):
        if spec.id == board_id:
            return spec
    match = _CHALLENGE_ID.match(board_id)
    if match:
        challenge = db.session.get(Challenge, int(match[1]))
        if challenge is not None and challenge.program_id == customer.program_id:
            board = challenge_board(challenge, zone, now)
            if board is not None and challenge.id in _admitted(customer, [challenge], now, zone):
                return board
    raise NotFound("No such leaderboard in your program.")


def _admitted(
    customer: Customer, challenges: list[Challenge], now: datetime, zone: ZoneInfo
) -> set[int]:
    """Ids of `challenges` whose audience (current version) admits `customer` at `now`."""
    if not challenges:
        return set()
    definitions: dict[int, dict[str, Any]] = dict(
        db.session.execute(  # type: ignore[arg-type]
            select(ChallengeVersion.challenge_id, ChallengeVersion.definition)
            .join(Challenge, Challenge.id == ChallengeVersion.challenge_id)
            .where(
                ChallengeVersion.challenge_id.in_([c.id for c in challenges]),
                ChallengeVersion.version == Challenge.current_version,
            )
        ).all()
    )
    audiences = {
        c.id: Audience.compile(definitions.get(c.id, {}).get("audience")) for c in challenges
    }
    wanted = {a.segment_id for a in audiences.values() if a.segment_id is not None}
    segments = segment_memberships(
        program_id=customer.program_id, segment_ids=wanted, customer_ids={customer.id}, now=now
    )
    shopper = Shopper(
        customer_id=customer.id,
        birth_date=customer.birth_date,
        tier=customer.tier,
        segments=frozenset(segments.get(customer.id, ())),
    )
    today = local_day(now, zone)
    return {cid for cid, audience in audiences.items() if audience.admits(shopper, today)}


def _zone_of(program_id: int) -> ZoneInfo:
    return program_zone(db.session.get_one(Program, program_id).timezone)

"""State set-up for leaderboard tests: customers with privacy settings, XP and progress.

Until the XP feed lands, tests write `customers.xp` and `xp_entries` rows themselves (the
state the feed will leave), never mocks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from campaigns.challenges.definition import validate_challenge
from campaigns.challenges.models import Challenge, ChallengeProgress, ChallengeVersion
from campaigns.earning.definition import iso
from campaigns.levels.models import XpEntry
from campaigns.rules import section_validator
from rewards.db import db
from rewards.models import Customer
from tests.conftest import bearer, make_token
from tests.factories import CustomerFactory

ADULT = date(1995, 5, 5)
MINOR = date(2012, 5, 5)
LONG_AGO = datetime(2024, 1, 1, tzinfo=UTC)


def person(
    program: Any,
    ref: str,
    *,
    xp: int = 0,
    birth: date | None = ADULT,
    consent: bool = True,
    opted_in: bool = False,
    nickname: str | None = "",
    status: str = "active",
    week_xp: int | None = None,
    at: datetime | None = None,
) -> Customer:
    """A customer of `program` with all-time XP `xp` and `week_xp` (default: all of it)
    earned at `at` (default now). `opted_in`: switched consent on themself in the app."""
    customer = CustomerFactory(
        program=program,
        external_ref=ref,
        birth_date=birth,
        consent_leaderboard=consent,
        leaderboard_opted_in_at=LONG_AGO + timedelta(days=30) if opted_in else None,
        nickname=(ref.removeprefix("ref-").capitalize() if nickname == "" else nickname),
        status=status,
        xp=xp,
        created_at=LONG_AGO,
    )
    earned = xp if week_xp is None else week_xp
    if earned:
        add_xp(customer, earned, at=at)
    db.session.flush()
    return customer


def add_xp(customer: Customer, xp: int, *, at: datetime | None = None) -> None:
    """One XP change of `customer` at `at` (the running total is not needed by boards)."""
    entry = XpEntry(
        program_id=customer.program_id,
        customer_id=customer.id,
        xp=xp,
        total=customer.xp,
        reason="points",
    )
    if at is not None:
        entry.created_at = at
    db.session.add(entry)


def challenge(
    program: Any,
    *,
    name: str = "Three coffees",
    period: str | None = "week",
    audience: dict[str, Any] | None = None,
    status: str = "active",
) -> Challenge:
    """A live challenge (started long ago, recurring weekly by default) whose definition
    passed `validate_challenge`. Its goal (100 purchases) is out of reach of these tests'
    purchases, and progress rows are written by hand."""
    window: dict[str, Any] = {
        "type": "recurring" if period else "fixed",
        "starts_at": iso(LONG_AGO),
    }
    if period:
        window["period"] = period
    raw = {
        "name": name,
        "goal": {"type": "count", "target": 100},
        "window": window,
        "audience": audience or {},
    }
    if period:
        raw["repeatable"] = True
    definition = validate_challenge(raw, shared_sections=section_validator())
    row = Challenge(
        program_id=program.id,
        name=name,
        status=status,
        goal_type="count",
        period=period,
        starts_at=LONG_AGO,
        ends_at=None,
        created_by="test",
    )
    db.session.add(row)
    db.session.flush()
    db.session.add(
        ChallengeVersion(challenge_id=row.id, version=1, definition=definition, created_by="test")
    )
    db.session.flush()
    return row


def progress(customer: Customer, challenge_id: int, period: str, value: int) -> None:
    db.session.add(
        ChallengeProgress(
            customer_id=customer.id,
            challenge_id=challenge_id,
            period=period,
            value=value,
            target=100,
        )
    )


def headers_of(ref: str, program_slug: str = "youth") -> dict[str, str]:
    return bearer(make_token(sub=ref, program=program_slug, roles=["cardholder"]))


def expected_ranking(scores: dict[int, int]) -> list[tuple[int, int]]:
    """(customer id, score), highest first, ties by the lowest id, nothing for 0: by hand."""
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return [(c, s) for c, s in ranked if s > 0]

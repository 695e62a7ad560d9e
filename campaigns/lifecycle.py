"""The lifecycle shared by marketer resources that run in a window (campaigns, challenges):
draft → scheduled/active → paused → ended, where scheduled and active follow the window
(`effective_status`), the legal moves (`move`), and the list filters that go with it
(`status` as effective now, `active_on` a day in the program's timezone)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, or_

from rewards.db import db
from rewards.errors import Conflict, InvalidInput, NotFound
from rewards.lifecycle import LIVE, effective_status
from rewards.models import Program

STATUSES = ("draft", "scheduled", "active", "paused", "ended")
EDITABLE = ("draft", "scheduled", "active", "paused")
TRANSITIONS = ("activate", "pause", "end")


@dataclass
class Scope:
    """What a list filter may look at: the caller's program and the moment of the request."""

    program_id: int
    now: datetime

    @cached_property
    def program(self) -> Program:
        return load_program(self.program_id)


Filter = Callable[[Any, Scope, Any], ColumnElement[bool]]  # (model, scope, value) → SQL


def status_filter(model: Any, scope: Scope, status: str) -> ColumnElement[bool]:
    """SQL for `effective_status(row, scope.now) == status`; an unknown status names `status`."""
    if status not in STATUSES:
        raise InvalidInput(f"Unknown status {status!r}.", field="status")
    live = model.status.in_(LIVE)
    over = and_(model.ends_at.is_not(None), model.ends_at <= scope.now)
    if status == "ended":
        return or_(model.status == "ended", and_(live, over))
    if status == "scheduled":
        return and_(live, ~over, model.starts_at > scope.now)
    if status == "active":
        return and_(live, ~over, model.starts_at <= scope.now)
    return model.status == status  # type: ignore[no-any-return]


def active_on_filter(model: Any, scope: Scope, day: date) -> ColumnElement[bool]:
    """SQL: the window overlaps `day` in the program's timezone."""
    zone = ZoneInfo(scope.program.timezone)
    day_start = datetime.combine(day, time(0), tzinfo=zone)
    day_end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return and_(model.starts_at < day_end, or_(model.ends_at.is_(None), model.ends_at > day_start))


LIFECYCLE_FILTERS: Mapping[str, Filter] = {"status": status_filter, "active_on": active_on_filter}


def mirror_window(row: Any, values: dict[str, Any]) -> None:
    """Copy the name and window of a definition onto its row (what list filters read)."""
    row.name = values["name"]
    row.starts_at = datetime.fromisoformat(values["starts_at"])
    ends_at = values["ends_at"]
    row.ends_at = datetime.fromisoformat(ends_at) if ends_at else None


def load_program(program_id: int) -> Program:
    """The program, or NotFound."""
    program = db.session.get(Program, program_id)
    if program is None:
        raise NotFound(f"Program {program_id} not found.")
    return program


def move(verb: str, row: Any, now: datetime, noun: str) -> tuple[str, str]:
    """(effective status before, stored status after) of `verb` (`activate`, `pause`, `end`)
    on `row` at `now`; an illegal move is Conflict naming `status` (or `ends_at`)."""
    if verb == "end":
        if row.status == "ended":
            raise Conflict(f"The {noun} has already ended.", field="status")
        return effective_status(row, now), "ended"
    status = effective_status(row, now)
    if verb == "pause":
        if status not in LIVE:
            raise Conflict(f"A {status} {noun} cannot be paused.", field="status")
        return status, "paused"
    if verb != "activate":
        raise ValueError(f"Unknown transition {verb!r}.")
    if status not in ("draft", "paused"):
        raise Conflict(f"A {status} {noun} cannot be activated.", field="status")
    if row.ends_at is not None and row.ends_at <= now:
        raise Conflict(f"The {noun}'s window is over; move ends_at first.", field="ends_at")
    return status, "scheduled" if row.starts_at > now else "active"

"""Programs: create, change and look up the tenants every other row belongs to. Audited."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import exists, select, text, update
from sqlalchemy.exc import IntegrityError

from rewards.audit import record
from rewards.currencies import is_currency
from rewards.db import db, is_postgres
from rewards.errors import Conflict, InvalidInput, NotFound
from rewards.models import Program, Transaction
from rewards.models.program import DEFAULT_EXCLUDED_MCCS

SLUG_PATTERN = re.compile(r"^[a-z0-9-]{2,64}$")
MCC_PATTERN = re.compile(r"^[0-9]{4}$")
MAX_EARN_RATE = Decimal("99999999.9999")  # Numeric(12, 4)
MAX_POINT_VALUE = 10**9  # minor units per 1,000 points: far above any real agreement

# Settings a PATCH may change; the slug is the program's identity in tokens and URLs.
MUTABLE_FIELDS = (
    "name",
    "brand_partner",
    "currency",
    "points_name",
    "earn_rate",
    "timezone",
    "pending_days",
    "expiry_months",
    "min_age",
    "max_age",
    "excluded_mccs",
    "point_value_per_1000",
)


def check_slug(slug: str) -> str | None:
    """The problem with `slug`, or None when it is acceptable."""
    if not SLUG_PATTERN.match(slug):
        return "2-64 characters: lowercase letters, digits and dashes"
    return None


def check_currency(code: str) -> str | None:
    """The problem with an ISO 4217 `code`, or None."""
    return None if is_currency(code) else "not an ISO 4217 currency in circulation"


def check_timezone(name: str) -> str | None:
    """The problem with an IANA time zone `name`, or None."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "not an IANA time zone (e.g. Asia/Tokyo)"
    return None


def check_earn_rate(value: Any) -> str | None:
    """The problem with an earn rate (points per major unit, ≥ 0, ≤ 4 decimals), or None."""
    try:
        rate = Decimal(str(value))
    except InvalidOperation:
        return "not a decimal number"
    if not rate.is_finite() or rate < 0 or rate > MAX_EARN_RATE:
        return f"must be between 0 and {MAX_EARN_RATE}"
    exponent = rate.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:
        return "at most 4 decimal places"
    return None


def check_mccs(codes: list[str]) -> str | None:
    """The problem with a list of merchant category codes, or None."""
    bad = [c for c in codes if not isinstance(c, str) or not MCC_PATTERN.match(c)]
    return "each MCC is a string of 4 digits" if bad else None


def _validate(values: dict[str, Any]) -> None:
    """Raise InvalidInput naming every unacceptable field of `values`."""
    checks: dict[str, Callable[[Any], str | None]] = {
        "slug": check_slug,
        "currency": check_currency,
        "timezone": check_timezone,
        "earn_rate": check_earn_rate,
        "excluded_mccs": check_mccs,
    }
    errors = {
        name: [message]
        for name, check in checks.items()
        if name in values and (message := check(values[name])) is not None
    }
    ranges = {"pending_days": (0, 365), "expiry_months": (0, 120), "min_age": (0, 120)}
    ranges["max_age"] = (0, 120)
    ranges["point_value_per_1000"] = (0, MAX_POINT_VALUE)
    for name, (low, high) in ranges.items():
        value = values.get(name)
        if value is not None and not low <= value <= high:
            errors[name] = [f"must be between {low} and {high}"]
    low_age, high_age = values.get("min_age"), values.get("max_age")
    if low_age is not None and high_age is not None and low_age > high_age:
        errors.setdefault("max_age", ["must not be below min_age"])
    if errors:
        raise InvalidInput("Some program settings are not acceptable.", errors=errors)


def snapshot(program: Program) -> dict[str, Any]:
    """The program's settings as JSON-ready values (for the audit log)."""
    return {
        "slug": program.slug,
        "name": program.name,
        "brand_partner": program.brand_partner,
        "currency": program.currency,
        "points_name": program.points_name,
        "earn_rate": format_rate(program.earn_rate),
        "timezone": program.timezone,
        "pending_days": program.pending_days,
        "expiry_months": program.expiry_months,
        "min_age": program.min_age,
        "max_age": program.max_age,
        "excluded_mccs": list(program.excluded_mccs or []),
        "point_value_per_1000": program.point_value_per_1000,
    }


def format_rate(rate: Decimal | None) -> str | None:
    """`Decimal('1.5000')` → `'1.5'`, `Decimal('100')` → `'100'` (never an exponent)."""
    if rate is None:
        return None
    return format(Decimal(rate).normalize(), "f")


def create_program(
    *,
    slug: str,
    name: str,
    currency: str,
    earn_rate: Decimal | str | int,
    actor: str,
    actor_role: str = "admin",
    brand_partner: str | None = None,
    points_name: str = "points",
    timezone: str = "UTC",
    pending_days: int = 0,
    expiry_months: int = 0,
    min_age: int | None = None,
    max_age: int | None = None,
    excluded_mccs: list[str] | None = None,
    point_value_per_1000: int | None = None,
) -> Program:
    """Create a program; a taken slug is a Conflict. Writes an audit row."""
    values: dict[str, Any] = {
        "slug": slug,
        "name": name,
        "brand_partner": brand_partner,
        "currency": currency,
        "points_name": points_name,
        "earn_rate": earn_rate,
        "timezone": timezone,
        "pending_days": pending_days,
        "expiry_months": expiry_months,
        "min_age": min_age,
        "max_age": max_age,
        "excluded_mccs": list(DEFAULT_EXCLUDED_MCCS if excluded_mccs is None else excluded_mccs),
        "point_value_per_1000": point_value_per_1000,
    }
    _validate(values)
    values["earn_rate"] = Decimal(str(earn_rate))
    if db.session.scalar(select(exists().where(Program.slug == slug))):
        raise Conflict(f"A program with slug {slug!r} already exists.", field="slug")
    program = Program(**values)
    try:
        with db.session.begin_nested():  # a concurrent create of the same slug loses here
            db.session.add(program)
    except IntegrityError as exc:
        raise Conflict(f"A program with slug {slug!r} already exists.", field="slug") from exc
    record(
        program_id=program.id,
        actor=actor,
        actor_role=actor_role,
        action="program.create",
        object_type="program",
        object_id=slug,
        before=None,
        after=snapshot(program),
    )
    return program


def update_program(
    *, program: Program, changes: dict[str, Any], actor: str, actor_role: str = "admin"
) -> Program:
    """Apply `changes` (a subset of MUTABLE_FIELDS) to `program`. Writes an audit row.

    The currency is fixed once transactions exist: their amounts are in it.
    """
    unknown = sorted(set(changes) - set(MUTABLE_FIELDS))
    if unknown:
        raise InvalidInput(
            "These settings cannot be changed.", errors={f: ["cannot be changed"] for f in unknown}
        )
    merged = {**snapshot(program), **changes}
    _validate({k: merged[k] for k in (*changes, "min_age", "max_age")})
    currency = changes.get("currency", program.currency)
    if currency != program.currency and _has_transactions(program.id):
        raise Conflict("The currency cannot change once transactions exist.", field="currency")
    before = snapshot(program)
    for name, value in changes.items():
        if name == "earn_rate":
            value = Decimal(str(value))
        setattr(program, name, value)
    db.session.flush()
    after = snapshot(program)
    if after["timezone"] != before["timezone"]:
        # Compiled rules work out cap periods and windows in the program's time zone.
        bump_rules_revision(program.id)
    if after != before:
        record(
            program_id=program.id,
            actor=actor,
            actor_role=actor_role,
            action="program.update",
            object_type="program",
            object_id=program.slug,
            before={k: v for k, v in before.items() if after[k] != v},
            after={k: v for k, v in after.items() if before[k] != v},
        )
    return program


def _has_transactions(program_id: int) -> bool:
    return bool(db.session.scalar(select(exists().where(Transaction.program_id == program_id))))


def get_program(slug: str) -> Program:
    """The program with `slug`, or NotFound."""
    program = db.session.scalar(select(Program).where(Program.slug == slug))
    if program is None:
        raise NotFound(f"Program {slug!r} not found.")
    return program


def list_programs(*, limit: int, after_id: int | None = None) -> list[Program]:
    """Programs in creation order, `limit` of them after id `after_id`."""
    stmt = select(Program).order_by(Program.id).limit(limit)
    if after_id is not None:
        stmt = stmt.where(Program.id > after_id)
    return list(db.session.scalars(stmt))


# Advisory lock class (first of two int4 keys; the program id is the second) that orders rule
# changes against the feed chunks using a program's rules.
RULES_LOCK = 0x52554C45  # "RULE"


def lock_rules(program_id: int) -> None:
    """Take the program's rules lock exclusively, before touching any rule (campaign,
    segment, partner): changes of one program take turns, so each one's checks see what the
    previous one committed, and a change waits for feed chunks still using the old rules.

    An advisory lock, not the program row: waiters queue fairly (a waiting change holds new
    chunks back, so a pause is never starved by a busy feed) and inserts that reference the
    program are not blocked. Held until commit; nothing to take on SQLite (one writer)."""
    if is_postgres():
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(:rules, :program)"),
            {"rules": RULES_LOCK, "program": program_id},
        )


def share_rules(program_ids: Iterable[int]) -> None:
    """Take the programs' rules locks shared, in id order, for a feed chunk: several chunks
    run at once, and a rule change waits for them (and they for it) until commit."""
    if is_postgres():
        for program_id in sorted(set(program_ids)):
            db.session.execute(
                text("SELECT pg_advisory_xact_lock_shared(:rules, :program)"),
                {"rules": RULES_LOCK, "program": program_id},
            )


def bump_rules_revision(program_id: int) -> int:
    """Increment the program's `rules_revision` (row-locked until commit); the new value.

    Workers cache compiled rules per (program, revision), so every change to what rules read
    (campaigns, segments, partners) bumps it in the same transaction.
    """
    stmt = (
        update(Program)
        .where(Program.id == program_id)
        # A rules change is not a settings change: updated_at stays as it was.
        .values(rules_revision=Program.rules_revision + 1, updated_at=Program.updated_at)
        .returning(Program.rules_revision)
    )
    return db.session.execute(stmt).scalar_one()


def record_rule_change(
    program_id: int,
    *,
    object_type: str,
    object_id: Any,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    actor: str,
    actor_role: str,
) -> None:
    """A change to what rules read (campaign, segment, partner): bump the program's rules
    revision, so every worker recompiles, and write the audit row, in the caller's
    transaction."""
    bump_rules_revision(program_id)
    record(
        program_id=program_id,
        actor=actor,
        actor_role=actor_role,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
    )

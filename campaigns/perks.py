"""Perks as a marketer resource: the `PERKS` kind of `campaigns.resources` (versioned, with
the lifecycle of campaigns). The perk tables and redemption are `rewards.perks`; this module
is only the marketer's definition and its checks.

A definition:

    {"title": "Free coffee", "description": "...", "image_url": "https://...",
     "category": "dining", "partner": "star-cafe", "cost_points": 500,
     "stock": 1000,                                # null or absent: unlimited
     "limit": {"count": 1, "per": "week"},         # per customer; per lifetime|day|week|month
     "starts_at": "2026-12-01T00:00:00Z", "ends_at": null,
     "min_age": 18, "min_tier": "gold",
     "voucher": {"codes": "generated", "valid_days": 30, "cancel_within_hours": 24}}

Each redemption issues a voucher: a code the platform generates, or the next code of the
pool the partner uploaded (`codes: uploaded`; the pool running dry is "out of stock"). It is
valid `valid_days` from issue, and the cardholder may cancel it (points back) within
`cancel_within_hours` of issue while unused (0: never). `voucher.codes` is fixed once live.

A live perk's edit is a new version; a redemption records the version whose price it paid.
Stock is the number of units ever offered: it cannot go below what was already redeemed.
The partner is fixed once the perk has been live (settlement is per partner).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from campaigns.resources import LIFECYCLE_FILTERS, Item, Kind, Versions
from campaigns.rules import Checker, checked
from campaigns.rules.checking import iso
from rewards.db import db
from rewards.errors import Conflict, InvalidInput
from rewards.mcc import CATEGORIES
from rewards.models import Partner, Program
from rewards.perks.models import Perk, PerkVersion
from rewards.tiers.config import ladder_rows

INVALID = "The perk definition is not valid; see errors."
FIELDS = (
    "title",
    "description",
    "image_url",
    "category",
    "partner",
    "cost_points",
    "stock",
    "limit",
    "starts_at",
    "ends_at",
    "min_age",
    "min_tier",
    "voucher",
)
CODE_SOURCES = ("generated", "uploaded")
DEFAULT_VOUCHER = {"codes": "generated", "valid_days": 90, "cancel_within_hours": 24}
LIMIT_PERIODS = ("lifetime", "day", "week", "month")
MAX_COST = 10**9
MAX_STOCK = 10**9


def validate_perk(raw: Any, program: Program | None = None) -> dict[str, Any]:
    """The normalised perk definition, or InvalidInput naming every bad field by its path
    (`limit.per`, `cost_points`). `starts_at` defaults to now."""
    c = Checker()
    if not isinstance(raw, dict):
        c.fail("_body", "Must be an object.")
        raise InvalidInput("A perk is a JSON object.", errors=c.errors)
    values = c.obj(raw, "", FIELDS)
    c.require(values, "", ("title", "partner", "cost_points"))
    found = checked(
        values,
        "",
        {
            "title": lambda v, p: c.text(v, p, 120),
            "description": lambda v, p: c.text(v, p, 2000),
            "image_url": c.https_url,
            "category": lambda v, p: c.choice(v, p, CATEGORIES),
            "partner": lambda v, p: c.text(v, p, 64),
            "cost_points": lambda v, p: c.integer(v, p, 1, MAX_COST),
            "stock": lambda v, p: c.integer(v, p, 0, MAX_STOCK),
            "limit": lambda v, p: _limit(c, v, p),
            "starts_at": c.timestamp,
            "ends_at": c.timestamp,
            "min_age": lambda v, p: c.integer(v, p, 0, 120),
            "min_tier": lambda v, p: c.text(v, p, 32),
            "voucher": lambda v, p: _voucher(c, v, p),
        },
    )
    starts_at = found.get("starts_at") or datetime.now(UTC).replace(microsecond=0)
    ends_at = found.get("ends_at")
    if ends_at is not None and ends_at <= starts_at:
        c.fail("ends_at", "Must be after starts_at.")
    if c.errors:
        raise InvalidInput(INVALID, errors=c.errors)
    return {
        "title": found["title"],
        "description": found.get("description"),
        "image_url": found.get("image_url"),
        "category": found.get("category"),
        "partner": found["partner"],
        "cost_points": found["cost_points"],
        "stock": found.get("stock"),
        "limit": found.get("limit"),
        "starts_at": iso(starts_at),
        "ends_at": iso(ends_at) if ends_at else None,
        "min_age": found.get("min_age"),
        "min_tier": found.get("min_tier"),
        "voucher": found.get("voucher") or dict(DEFAULT_VOUCHER),
    }


def _voucher(c: Checker, value: Any, path: str) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        c.fail(path, "Must be an object: {codes, valid_days, cancel_within_hours}.")
        return None
    given = {**DEFAULT_VOUCHER, **c.obj(value, path, tuple(DEFAULT_VOUCHER))}
    found = checked(
        given,
        path,
        {
            "codes": lambda v, p: c.choice(v, p, CODE_SOURCES),
            "valid_days": lambda v, p: c.integer(v, p, 1, 3650),
            "cancel_within_hours": lambda v, p: c.integer(v, p, 0, 720),
        },
    )
    return found if len(found) == len(DEFAULT_VOUCHER) else None


def _limit(c: Checker, value: Any, path: str) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        c.fail(path, "Must be an object: {count, per}.")
        return None
    given = c.obj(value, path, ("count", "per"))
    c.require(given, path, ("count", "per"))
    found = checked(
        given,
        path,
        {
            "count": lambda v, p: c.integer(v, p, 1, 1000),
            "per": lambda v, p: c.choice(v, p, LIMIT_PERIODS),
        },
    )
    if found.get("count") is None or found.get("per") is None:
        return None
    return {"count": found["count"], "per": found["per"]}


def mirror(row: Perk, values: dict[str, Any]) -> None:
    """Copy title, window, price, stock and partner onto the row (what redemption and the
    catalog read); `check` made sure the partner exists."""
    row.name = values["title"]
    row.starts_at = datetime.fromisoformat(values["starts_at"])
    ends_at = values["ends_at"]
    row.ends_at = datetime.fromisoformat(ends_at) if ends_at else None
    row.cost_points = values["cost_points"]
    row.stock_total = values["stock"]
    row.partner_id = _partner_id(row.program_id, values["partner"])


def check(program_id: int, values: dict[str, Any], current: Item | None) -> None:
    """The partner is an active partner of the program (and the same once live), the minimum
    tier is one of the program's tiers, and stock covers what was already redeemed."""
    errors: dict[str, list[str]] = {}
    live_before = current is not None and current.row.status != "draft"
    if live_before:
        _keep_fixed(current.version.definition, values)  # type: ignore[union-attr]
    partner_id = _partner_id(program_id, values["partner"])
    if partner_id is None:
        errors["partner"] = ["No active partner with this code in the program."]
    tier = values["min_tier"]
    if tier is not None and tier not in {t.code for t in ladder_rows(program_id)}:
        errors["min_tier"] = ["No tier with this code in the program."]
    used = current.row.stock_used if current is not None else 0
    if values["stock"] is not None and values["stock"] < used:
        errors["stock"] = [f"Must be at least the {used} units already redeemed."]
    if errors:
        raise InvalidInput(INVALID, errors=errors)


def _keep_fixed(before: dict[str, Any], after: dict[str, Any]) -> None:
    """409 if a perk that has been live changes its partner or where its codes come from."""
    if after["partner"] != before["partner"]:
        raise Conflict("A perk's partner cannot change once it has been live.", field="partner")
    was = (before.get("voucher") or DEFAULT_VOUCHER)["codes"]
    if after["voucher"]["codes"] != was:
        raise Conflict(
            "Where a perk's codes come from cannot change once it has been live.",
            field="voucher.codes",
        )


def _partner_id(program_id: int, code: str) -> Any:
    return db.session.scalar(
        select(Partner.id).where(
            Partner.program_id == program_id, Partner.code == code, Partner.status == "active"
        )
    )


PERKS = Kind(
    name="perk",
    model=Perk,
    validate=validate_perk,
    mirror=mirror,
    versions=Versions(PerkVersion, parent="perk_id"),
    lifecycle=True,
    # `partner_id`: what a partner key lists (`/v1/partner/perks`), not a marketer filter.
    filters={**LIFECYCLE_FILTERS, "partner_id": lambda model, _, value: model.partner_id == value},
    check=check,
    rules=False,  # the feed never reads perks
)


def propose_perk(*, program_id: int, partner_id: int, body: Any, actor: str) -> Item:
    """A partner's proposal: a draft perk of its own (`partner` may be left out; naming
    another partner is a 422), for the program's marketers to review and activate."""
    own = db.session.get_one(Partner, partner_id).code
    given = body.get("partner", own) if isinstance(body, dict) else own
    if given != own:
        raise InvalidInput("A partner creates only its own perks.", field="partner")
    proposal = {**body, "partner": own} if isinstance(body, dict) else body
    return PERKS.create(program_id=program_id, body=proposal, actor=actor, actor_role="partner")

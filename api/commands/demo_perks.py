"""What `rewards demo` seeds for spending: a second partner, four perks (two with generated
codes, two with the cinema's own uploaded codes), and after the demo month is imported, one
redemption of Alice's, so the catalog, vouchers and the partner's till have real rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from campaigns.perks import PERKS
from rewards.db import db
from rewards.models import Partner, Program
from rewards.partners import create_partner
from rewards.perks.pools import upload_codes
from rewards.perks.redemption import redeem

ACTOR = "demo"
CINEMA_CODES = [f"STAR-CINEMA-{n:04d}" for n in range(1, 21)]
SNACK_CODES = [f"POPCORN-{n:04d}" for n in range(1, 41)]


def seed_perks(program: Program) -> None:
    """Partner star-cinema and the perks of both partners, live, with their code pools."""
    create_partner(
        program_id=program.id, body={"code": "star-cinema", "name": "Star Cinema"}, actor=ACTOR
    )
    for body, codes in (
        (
            {
                "title": "Free gyoza",
                "description": "A plate of six with any bowl at Noodle Bar.",
                "category": "dining",
                "partner": "noodle-bar",
                "cost_points": 300,
                "stock": 500,
                "limit": {"count": 1, "per": "week"},
            },
            None,
        ),
        (
            {
                "title": "Ramen for two",
                "category": "dining",
                "partner": "noodle-bar",
                "cost_points": 2500,
                "min_age": 18,
                "voucher": {"codes": "generated", "valid_days": 30, "cancel_within_hours": 48},
            },
            None,
        ),
        (
            {
                "title": "Movie ticket",
                "description": "Any 2D screening, any day.",
                "category": "entertainment",
                "partner": "star-cinema",
                "cost_points": 1500,
                "limit": {"count": 2, "per": "month"},
                "voucher": {"codes": "uploaded", "valid_days": 60, "cancel_within_hours": 24},
            },
            CINEMA_CODES,
        ),
        (
            {
                "title": "Popcorn",
                "category": "entertainment",
                "partner": "star-cinema",
                "cost_points": 200,
                "min_tier": "gold",
                "voucher": {"codes": "uploaded", "valid_days": 30, "cancel_within_hours": 0},
            },
            SNACK_CODES,
        ),
    ):
        _perk(program, body, codes)


def _perk(program: Program, body: dict[str, Any], codes: list[str] | None) -> None:
    perk_id = int(PERKS.create(program_id=program.id, body=body, actor=ACTOR).row.id)
    PERKS.transition("activate", program_id=program.id, object_id=perk_id, actor=ACTOR)
    if codes:
        partner = db.session.scalars(
            select(Partner.id).where(
                Partner.program_id == program.id, Partner.code == body["partner"]
            )
        ).one()
        upload_codes(perk_id=perk_id, partner_id=partner, codes=codes)


def redeem_for_alice(program: Program) -> None:
    """Alice spends points earned in the demo month on a movie ticket."""
    perk_id = db.session.scalars(
        select(PERKS.model.id).where(
            PERKS.model.program_id == program.id, PERKS.model.name == "Movie ticket"
        )
    ).one()
    redeem(program_id=program.id, external_ref="demo-alice", perk_id=perk_id)

"""What `rewards demo` seeds: a program with a partner, a segment, three live campaigns (one an
activate-to-earn offer), three cardholders with cards, the game (`demo_gamification`) and a
month of their card transactions.

The transactions are imported as a processor's file and processed by the real feed and
campaign engine, so every bonus in the demo ledgers was computed, not written by hand.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from api.commands.demo_gamification import seed_gamification
from api.commands.demo_perks import seed_perks
from campaigns.audiences.segments import create_segment
from campaigns.earning.offers import activate_offer
from campaigns.earning.service import activate_campaign, create_campaign
from rewards.customers import enrol_card, upsert_customer
from rewards.db import db
from rewards.feed_rows import FIELDS
from rewards.models import Program
from rewards.partners import create_partner
from rewards.programs import create_program

SLUG = "demo"
ACTOR = "demo"
CUSTOMERS = [("demo-alice", "Alice"), ("demo-bob", "Bob"), ("demo-chika", "Chika")]
HISTORY_DAYS = 20


@dataclass(frozen=True)
class Merchant:
    mcc: str
    merchant_id: str
    name: str
    prices: tuple[int, int] = (0, 0)  # what a young cardholder spends there, in yen


NOODLE_BAR = Merchant("5812", "m-noodle", "Noodle Bar", (780, 1500))
COFFEE = Merchant("5814", "m-coffee", "Bean There Coffee", (350, 750))
MART = Merchant("5411", "m-mart", "Corner Mart", (200, 2500))
CINEMA = Merchant("7832", "m-cinema", "Star Cinema", (1500, 2200))
MERCHANTS = [
    NOODLE_BAR,
    COFFEE,
    Merchant("5814", "m-burger", "Burger Stand", (500, 1200)),
    MART,
    CINEMA,
    Merchant("4111", "m-metro", "City Metro", (180, 480)),
    Merchant("5651", "m-threads", "Threads Clothing", (1900, 8900)),
    Merchant("5735", "m-vinyl", "Vinyl Records", (1500, 4200)),
]
ATM = Merchant("6011", "m-atm-shibuya", "Shibuya Station ATM")


def seed_program(start: datetime) -> Program:
    """The demo program, its partners, segment, live campaigns, game and perks, and the
    cardholders."""
    program = create_program(
        slug=SLUG,
        name="Demo Youth Card",
        currency="JPY",
        earn_rate="1",
        actor=ACTOR,
        brand_partner="Noodle Bar Group",
        points_name="points",
        timezone="Asia/Tokyo",
        pending_days=0,
        expiry_months=12,
        min_age=16,
        max_age=30,
    )
    db.session.flush()
    for ref, nickname in CUSTOMERS:
        upsert_customer(
            program_id=program.id, external_ref=ref, birth_date=date(2006, 5, 1), nickname=nickname
        )
        enrol_card(program_id=program.id, external_ref=ref, token=f"tok_{ref}")
    create_partner(
        program_id=program.id,
        body={"code": "noodle-bar", "name": "Noodle Bar Group", "merchant_ids": ["m-noodle"]},
        actor=ACTOR,
    )
    segment = create_segment(
        program_id=program.id, body={"name": "Under 25", "rules": {"max_age": 24}}, actor=ACTOR
    )
    offer_id = 0
    for definition in _campaigns(segment.id, start):
        view = create_campaign(program_id=program.id, definition=definition, actor=ACTOR)
        activate_campaign(program_id=program.id, campaign_id=view.campaign.id, actor=ACTOR)
        if definition.get("requires_activation"):
            offer_id = view.campaign.id
    # Alice switched the cinema offer on before her month of purchases; Bob and Chika did not.
    activate_offer(
        program_id=program.id, external_ref="demo-alice", campaign_id=offer_id, now=start
    )
    seed_gamification(program, start, COFFEE.merchant_id)
    seed_perks(program)
    return program


def _campaigns(segment_id: int, start: datetime) -> list[dict[str, Any]]:
    starts_at = (start - timedelta(days=10)).isoformat()
    return [
        {
            "name": "Dining 2x",
            "starts_at": starts_at,
            "audience": {"segment_id": segment_id},
            "conditions": {"categories": ["dining"]},
            "effect": {"type": "multiplier", "value": "2"},
            "caps": {"per_customer": [{"period": "week", "points": 1000}]},
        },
        {
            "name": "Weekend coffee",
            "starts_at": starts_at,
            "conditions": {"merchant_ids": [COFFEE.merchant_id], "weekdays": [6, 7]},
            "effect": {"type": "fixed_bonus", "value": 50},
        },
        {
            "name": "Star Cinema 3x (activate to earn)",
            "starts_at": starts_at,
            "requires_activation": True,
            "conditions": {"merchant_ids": [CINEMA.merchant_id]},
            "effect": {"type": "multiplier", "value": "3"},
        },
    ]


def _row(external_id: str, token: str, kind: str, amount: int, merchant: Merchant, when: datetime,
         original: str = "", channel: str = "in_store") -> dict[str, Any]:  # fmt: skip
    return {
        "external_id": external_id,
        "card_token": token,
        "kind": kind,
        "amount_minor": amount,
        "currency": "JPY",
        "mcc": merchant.mcc,
        "merchant_id": merchant.merchant_id,
        "merchant_name": merchant.name,
        "channel": channel,
        "occurred_at": when.isoformat(),
        "original_external_id": original,
    }


def sample_rows(start: datetime) -> list[dict[str, Any]]:
    """Sixty purchases over twenty days, then the rows a real month also has: a partial refund
    at the merchant of an earlier purchase, an ATM withdrawal (excluded, earns nothing) and a
    purchase on a card nobody enrolled (stays unmatched)."""
    rng = random.Random(7)
    rows = []
    for n in range(60):
        ref = CUSTOMERS[n % 3][0]
        merchant = rng.choice(MERCHANTS)
        rows.append(
            _row(
                f"demo-tx-{n}",
                f"tok_{ref}",
                "purchase",
                rng.randint(*merchant.prices) // 10 * 10,
                merchant,
                start + timedelta(hours=8 * n),
                channel=rng.choice(["in_store", "online", "contactless"]),
            )
        )
    bought = next(
        r for r in rows if r["card_token"] == "tok_demo-alice" and r["amount_minor"] >= 1000
    )
    merchant = next(m for m in MERCHANTS if m.merchant_id == bought["merchant_id"])
    returned = datetime.fromisoformat(bought["occurred_at"]) + timedelta(days=2)
    rows += [
        _row("demo-refund-1", "tok_demo-alice", "refund", bought["amount_minor"] // 2, merchant,
             returned, original=bought["external_id"]),
        _row("demo-atm-1", "tok_demo-bob", "purchase", 10000, ATM, start + timedelta(days=5)),
        _row("demo-unknown-card", "tok_not_enrolled", "purchase", 800, MART,
             start + timedelta(days=6, hours=3)),
    ]  # fmt: skip
    return rows


def write_sample_file(path: Path, start: datetime) -> None:
    """The demo month as the processor's CSV file."""
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(sample_rows(start))


def history_start() -> datetime:
    """When the demo month begins: twenty days ago, on the hour."""
    return (datetime.now(UTC) - timedelta(days=HISTORY_DAYS)).replace(
        minute=0, second=0, microsecond=0
    )

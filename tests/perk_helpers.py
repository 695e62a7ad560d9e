"""Test helpers for perks: a partner and perks made through the marketer API, points given
through adjustments, and committed counts read on a separate connection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from rewards.models import Account, Customer, LedgerEntry
from rewards.perks.models import Perk, Redemption


def make_partner(client, headers, code: str = "star-cafe", name: str = "Star Cafe") -> None:
    created = client.post("/v1/partners", json={"code": code, "name": name}, headers=headers)
    assert created.status_code == 201, created.json


def make_perk(client, headers, *, activate: bool = True, **definition: Any) -> int:
    """A perk of partner `star-cafe` (which must exist), open since yesterday; its id."""
    body = {
        "title": "Free coffee",
        "partner": "star-cafe",
        "cost_points": 300,
        "starts_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        **definition,
    }
    created = client.post("/v1/perks", json=body, headers=headers)
    assert created.status_code == 201, created.json
    perk_id = int(created.json["id"])
    if activate:
        done = client.post(f"/v1/perks/{perk_id}/activate", headers=headers)
        assert done.status_code == 200, done.json
    return perk_id


def give_points(client, headers, ref: str, points: int, **extra: Any) -> None:
    url = f"/v1/customers/{ref}/adjustments"
    given = client.post(url, json={"points": points, "reason": "test", **extra}, headers=headers)
    assert given.status_code == 201, given.json


def committed(db, stmt: Any) -> Any:
    """A scalar read on a separate connection: what other requests see after commits."""
    with db.engine.connect() as conn:
        return conn.scalar(stmt)


def available(db, ref: str) -> int:
    return committed(
        db,
        select(Account.available)
        .join(Customer, Customer.id == Account.customer_id)
        .where(Customer.external_ref == ref),
    )


def redemptions(db) -> int:
    return committed(db, select(func.count()).select_from(Redemption))


def redeem_entries(db) -> int:
    return committed(
        db, select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "redeem")
    )


def stock_used(db, perk_id: int) -> int:
    return committed(db, select(Perk.stock_used).where(Perk.id == perk_id))

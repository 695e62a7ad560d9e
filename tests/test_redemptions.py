"""Redeeming points for perks: the debit (oldest lots first, the price of the version in
force), every refusal with its problem type and nothing changed, Idempotency-Key, isolation,
and the catalog and history a cardholder sees."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from rewards.models import Customer, IdempotencyRecord, LedgerEntry
from rewards.perks.models import Redemption
from rewards.reconcile import reconcile
from tests.conftest import bearer, make_token
from tests.factories import CustomerFactory, ProgramFactory
from tests.perk_helpers import (
    available,
    committed,
    give_points,
    make_partner,
    make_perk,
    redeem_entries,
    redemptions,
    stock_used,
)

URL = "/v1/me/redemptions"
PROBLEMS = "https://rewards.example/problems/"


@pytest.fixture
def shop(client, db, program, marketer_headers):
    """Partner `star-cafe` and cardholder `cust-1` (born 2005-04-01) with no points yet."""
    make_partner(client, marketer_headers)
    CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()


def redeem(client, headers, perk_id, key="k-1"):
    return client.post(URL, json={"perk_id": perk_id}, headers={**headers, "Idempotency-Key": key})


def test_a_redemption_debits_the_price_from_the_lots_expiring_first(
    client, db, shop, marketer_headers, cardholder_headers
):
    soon = (datetime.now(UTC) + timedelta(days=20)).isoformat()
    give_points(client, marketer_headers, "cust-1", 500)  # expires with the program (12 months)
    give_points(client, marketer_headers, "cust-1", 200, expires_at=soon)
    perk_id = make_perk(client, marketer_headers, cost_points=300, stock=10)

    response = redeem(client, cardholder_headers, perk_id)

    assert response.status_code == 201, response.json
    body = response.json
    assert (body["points"], body["perk_version"], body["available"]) == (300, 1, 400)
    assert body["partner"] == {"code": "star-cafe", "name": "Star Cafe"}
    assert available(db, "cust-1") == 400
    assert stock_used(db, perk_id) == 1
    entry = db.session.get(LedgerEntry, body["ledger_entry_id"])
    assert (entry.kind, entry.points, entry.source_type) == ("redeem", -300, "redemption")
    assert entry.explanation["summary"] == "Redeemed: Free coffee from Star Cafe (-300 pts)"
    lots = db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.kind == "adjust").order_by(LedgerEntry.points)
    ).all()
    # 300 = all 200 of the lot expiring in 20 days, then 100 of the 12-month lot.
    assert [(lot.points, lot.remaining) for lot in lots] == [(200, 0), (500, 400)]
    assert reconcile() == []


def test_a_redemption_pays_the_price_of_the_version_in_force(
    client, db, shop, marketer_headers, cardholder_headers
):
    give_points(client, marketer_headers, "cust-1", 1000)
    perk_id = make_perk(client, marketer_headers, cost_points=300)
    first = redeem(client, cardholder_headers, perk_id, key="a")
    client.patch(f"/v1/perks/{perk_id}", json={"cost_points": 450}, headers=marketer_headers)
    second = redeem(client, cardholder_headers, perk_id, key="b")

    assert [(r.json["perk_version"], r.json["points"]) for r in (first, second)] == [
        (1, 300),
        (2, 450),
    ]
    assert available(db, "cust-1") == 1000 - 300 - 450


def _tiers(client, headers):
    ladder = [
        {"code": "green", "name": "Green", "threshold": 0, "earn_multiplier": "1"},
        {"code": "gold", "name": "Gold", "threshold": 1000, "earn_multiplier": "1.25"},
    ]
    assert client.put("/v1/tiers", json={"tiers": ladder}, headers=headers).status_code == 200


@pytest.mark.parametrize(
    "definition, points, slug, rule",
    [
        ({"cost_points": 300}, 120, "insufficient-points", "points"),
        ({"stock": 0}, 1000, "out-of-stock", "stock"),
        ({"min_age": 30}, 1000, "not-eligible", "min_age"),
        ({"min_tier": "gold"}, 1000, "not-eligible", "min_tier"),
        (
            {"starts_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
            1000,
            "perk-not-active",
            "active",
        ),
    ],
)
def test_a_refused_redemption_names_why_and_changes_nothing(
    client, db, shop, marketer_headers, cardholder_headers, definition, points, slug, rule
):
    _tiers(client, marketer_headers)
    give_points(client, marketer_headers, "cust-1", points)
    perk_id = make_perk(client, marketer_headers, **definition)

    response = redeem(client, cardholder_headers, perk_id)

    assert response.status_code == 409, response.json
    assert response.mimetype == "application/problem+json"
    assert response.json["type"] == PROBLEMS + slug
    assert response.json["rule"] == rule
    assert "perk_id" in response.json["errors"]
    if rule == "points":
        assert response.json["points_missing"] == 180
        assert "180 more points" in response.json["detail"]
    assert available(db, "cust-1") == points
    assert (redemptions(db), redeem_entries(db), stock_used(db, perk_id)) == (0, 0, 0)
    assert committed(db, select(func.count()).select_from(IdempotencyRecord)) == 0


def test_a_paused_perk_is_not_redeemable(client, db, shop, marketer_headers, cardholder_headers):
    give_points(client, marketer_headers, "cust-1", 1000)
    perk_id = make_perk(client, marketer_headers)
    client.post(f"/v1/perks/{perk_id}/pause", headers=marketer_headers)

    response = redeem(client, cardholder_headers, perk_id)

    assert response.status_code == 409
    assert response.json["type"] == PROBLEMS + "perk-not-active"


def test_the_per_customer_limit_counts_the_current_period_only(
    client, db, shop, marketer_headers, cardholder_headers
):
    give_points(client, marketer_headers, "cust-1", 1000)
    perk_id = make_perk(
        client, marketer_headers, cost_points=100, limit={"count": 2, "per": "week"}
    )
    assert redeem(client, cardholder_headers, perk_id, key="1").status_code == 201
    assert redeem(client, cardholder_headers, perk_id, key="2").status_code == 201

    third = redeem(client, cardholder_headers, perk_id, key="3")
    assert third.status_code == 409
    assert third.json["type"] == PROBLEMS + "limit-reached"
    assert third.json["detail"] == "You can redeem this perk 2 times per week, and you have."

    # Redemptions of an earlier week no longer count.
    with db.engine.begin() as conn:
        conn.execute(
            Redemption.__table__.update().values(created_at=datetime.now(UTC) - timedelta(days=8))
        )
    assert redeem(client, cardholder_headers, perk_id, key="4").status_code == 201
    assert available(db, "cust-1") == 700


def test_the_idempotency_key_is_required_and_a_retry_replays_without_spending(
    client, db, shop, marketer_headers, cardholder_headers
):
    give_points(client, marketer_headers, "cust-1", 1000)
    perk_id = make_perk(client, marketer_headers, cost_points=300)
    other = make_perk(client, marketer_headers, cost_points=100)

    missing = client.post(URL, json={"perk_id": perk_id}, headers=cardholder_headers)
    first = redeem(client, cardholder_headers, perk_id, key="tap-1")
    retry = redeem(client, cardholder_headers, perk_id, key="tap-1")
    reused = redeem(client, cardholder_headers, other, key="tap-1")

    assert missing.status_code == 400
    assert list(missing.json["errors"]) == ["Idempotency-Key"]
    assert first.status_code == retry.status_code == 201
    assert retry.json == first.json
    assert reused.status_code == 409
    assert (redemptions(db), redeem_entries(db), available(db, "cust-1")) == (1, 1, 700)


@pytest.mark.parametrize("body", [{}, {"perk_id": "7"}, {"perk_id": 0}, {"perk_id": 2**63}])
def test_a_bad_body_is_422_naming_perk_id(client, shop, cardholder_headers, body):
    response = client.post(URL, json=body, headers={**cardholder_headers, "Idempotency-Key": "x"})
    assert response.status_code == 422
    assert "perk_id" in response.json["errors"]


def test_another_programs_perk_is_404(client, db, shop, marketer_headers):
    perk_id = make_perk(client, marketer_headers)
    other = ProgramFactory(slug="other")
    CustomerFactory(program=other, external_ref="cust-9")
    db.session.commit()
    headers = bearer(make_token(sub="cust-9", program="other", roles=["cardholder"]))

    response = redeem(client, headers, perk_id)

    assert response.status_code == 404
    assert redemptions(db) == 0


def test_the_catalog_shows_open_perks_with_what_stops_me_best_first(
    client, db, shop, marketer_headers, cardholder_headers
):
    give_points(client, marketer_headers, "cust-1", 250)
    pricey = make_perk(client, marketer_headers, title="Headphones", cost_points=400)
    cheap = make_perk(
        client,
        marketer_headers,
        title="Cookie",
        cost_points=100,
        limit={"count": 1, "per": "lifetime"},
    )
    sold_out = make_perk(client, marketer_headers, title="Tickets", cost_points=50, stock=0)
    make_perk(client, marketer_headers, title="Draft", activate=False)

    before = client.get("/v1/me/perks", headers=cardholder_headers).json["data"]
    redeem(client, cardholder_headers, cheap)
    after = client.get("/v1/me/perks", headers=cardholder_headers).json["data"]

    assert [(p["id"], p["redeemable"], p["points_missing"]) for p in before] == [
        (cheap, True, 0),
        (pricey, False, 150),
        (sold_out, False, 0),
    ]
    assert before[2]["refusals"] == [{"rule": "stock", "detail": "This perk is out of stock."}]
    assert before[2]["stock_left"] == 0
    mine = {p["id"]: p for p in after}
    assert mine[cheap]["redeemed_in_period"] == 1
    assert [r["rule"] for r in mine[cheap]["refusals"]] == ["limit"]
    assert mine[pricey]["points_missing"] == 250  # 150 points left after the cookie


def test_my_redemptions_newest_first_with_a_cursor(
    client, db, shop, marketer_headers, cardholder_headers
):
    give_points(client, marketer_headers, "cust-1", 1000)
    perk_id = make_perk(client, marketer_headers, cost_points=100)
    ids = [redeem(client, cardholder_headers, perk_id, key=f"k{i}").json["id"] for i in range(3)]

    first = client.get(URL, query_string={"limit": 2}, headers=cardholder_headers).json
    rest = client.get(
        URL, query_string={"limit": 2, "cursor": first["next_cursor"]}, headers=cardholder_headers
    ).json

    assert [r["id"] for r in first["data"]] == ids[::-1][:2]
    assert [r["id"] for r in rest["data"]] == ids[:1]
    assert rest["next_cursor"] is None
    assert first["data"][0]["title"] == "Free coffee"


def test_age_is_judged_on_the_program_day(client, db, shop, marketer_headers, cardholder_headers):
    """A cardholder turning 18 today (program timezone) may redeem an 18+ perk."""
    today = datetime.now(UTC).date()
    customer = db.session.scalar(select(Customer).where(Customer.external_ref == "cust-1"))
    customer.birth_date = date(today.year - 18, today.month, min(today.day, 28))
    db.session.commit()
    give_points(client, marketer_headers, "cust-1", 500)
    perk_id = make_perk(client, marketer_headers, min_age=18)

    assert redeem(client, cardholder_headers, perk_id).status_code == 201

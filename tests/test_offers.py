"""Cardholder offers: eligible activate-to-earn campaigns, caps left, activation, and the rule
that only purchases made after activation earn (through the real feed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from campaigns.earning.usage import OfferActivation
from rewards.db import db as _db
from rewards.models import Customer
from tests.conftest import bearer, make_token
from tests.factories import CustomerFactory, ProgramFactory
from tests.ledger_helpers import assert_reconciled, enrol, entries, store
from workers.jobs import process_transactions

NOW = datetime.now(UTC)


@pytest.fixture
def launch(client, marketer_headers):
    """Create (and unless `draft`) activate a campaign through the marketer API; its id."""

    def launch(draft: bool = False, headers=None, **definition):
        headers = headers or marketer_headers
        body = {
            "name": "Dining offer",
            "starts_at": (NOW - timedelta(days=30)).isoformat(),
            "effect": {"type": "fixed_bonus", "value": "300"},
            "requires_activation": True,
            **definition,
        }
        created = client.post("/v1/campaigns", json=body, headers=headers)
        assert created.status_code == 201, created.json
        if not draft:
            activated = client.post(f"/v1/campaigns/{created.json['id']}/activate", headers=headers)
            assert activated.status_code == 200, activated.json
        return created.json["id"]

    return launch


def _offers(client, headers) -> dict[int, dict]:
    response = client.get("/v1/me/offers", headers=headers)
    assert response.status_code == 200, response.json
    return {offer["id"]: offer for offer in response.json["data"]}


def _activate(client, headers, campaign_id: int):
    return client.post(f"/v1/me/offers/{campaign_id}/activate", headers=headers)


def _bonuses(customer_id: int) -> list[int]:
    return [e.points for e in entries(customer_id) if e.kind == "bonus"]


def _set(db, customer_id: int, **values) -> None:
    customer = db.session.get(Customer, customer_id)
    for key, value in values.items():
        setattr(customer, key, value)
    db.session.commit()


def test_only_live_activate_to_earn_campaigns_are_listed_with_their_terms(
    db, program, launch, client, marketer_headers, cardholder_headers
):
    enrol(program.id, external_ref="cust-1")
    offer = launch(
        name="Weekend noodles",
        ends_at=(NOW + timedelta(days=10)).isoformat(),
        conditions={"categories": ["dining"], "merchant_ids": ["m-1"], "channels": ["in_store"]},
    )
    upcoming = launch(name="Soon", starts_at=(NOW + timedelta(days=2)).isoformat())
    launch(name="Always on", requires_activation=False)
    launch(name="Draft offer", draft=True)
    paused = launch(name="Paused offer")
    client.post(f"/v1/campaigns/{paused}/pause", headers=marketer_headers)

    listed = _offers(client, cardholder_headers)

    assert set(listed) == {offer, upcoming}
    body = listed[offer]
    assert (body["name"], body["version"], body["status"]) == ("Weekend noodles", 1, "active")
    assert body["effect"] == {"type": "fixed_bonus", "value": "300"}
    assert body["conditions"]["categories"] == ["dining"]
    assert body["conditions"]["merchant_ids"] == ["m-1"]
    assert body["conditions"]["channels"] == ["in_store"]
    assert body["starts_at"].endswith("Z") and body["ends_at"].endswith("Z")
    assert (body["activated"], body["activated_at"]) == (False, None)
    assert body["budget_left"] is None
    assert listed[upcoming]["status"] == "scheduled"


def test_activation_is_idempotent_and_shown_in_the_list(
    db, program, launch, client, cardholder_headers
):
    enrol(program.id, external_ref="cust-1")
    offer = launch()

    first = _activate(client, cardholder_headers, offer)
    again = _activate(client, cardholder_headers, offer)

    assert first.status_code == 201, first.json
    assert again.status_code == 200
    assert first.json["activated"] is True and first.json["activated_at"].endswith("Z")
    assert again.json["activated_at"] == first.json["activated_at"]
    assert _offers(client, cardholder_headers)[offer]["activated_at"] == first.json["activated_at"]


def test_eligibility_by_age_and_tier_for_listing_and_activation(
    db, program, launch, client, cardholder_headers
):
    card = enrol(program.id, external_ref="cust-1")
    today = NOW.date()
    _set(db, card.customer_id, tier="silver", birth_date=today.replace(year=today.year - 18))
    adults = launch(name="18+", audience={"min_age": 18})
    twenty = launch(name="20+", audience={"min_age": 20})
    teens = launch(name="Teens", audience={"max_age": 17})
    silver = launch(name="Silver", audience={"tiers": ["silver", "gold"]})
    gold = launch(name="Gold", audience={"tiers": ["gold"]})

    assert set(_offers(client, cardholder_headers)) == {adults, silver}
    for refused in (twenty, teens, gold):
        response = _activate(client, cardholder_headers, refused)
        assert response.status_code == 404, refused
        assert response.content_type == "application/problem+json"
    assert _activate(client, cardholder_headers, adults).status_code == 201

    _set(db, card.customer_id, birth_date=None)
    assert set(_offers(client, cardholder_headers)) == {silver}


def test_segment_offers_follow_segment_membership(
    db, program, launch, client, marketer_headers, cardholder_headers
):
    card = enrol(program.id, external_ref="cust-1")
    segment = client.post(
        "/v1/segments",
        json={"name": "Gold", "rules": {"tiers": ["gold"]}},
        headers=marketer_headers,
    )
    assert segment.status_code == 201, segment.json
    offer = launch(audience={"segment_id": segment.json["id"]})

    assert _offers(client, cardholder_headers) == {}
    assert _activate(client, cardholder_headers, offer).status_code == 404
    _set(db, card.customer_id, tier="gold")
    assert set(_offers(client, cardholder_headers)) == {offer}
    assert _activate(client, cardholder_headers, offer).status_code == 201


def test_only_purchases_after_activation_earn(db, program, launch, client, cardholder_headers):
    card = enrol(program.id, external_ref="cust-1")
    offer = launch(conditions={"categories": ["dining"]})
    before = datetime.now(UTC) - timedelta(seconds=1)
    process_transactions([store(program.id, card.token, "p-1", occurred_at=before)])
    assert _bonuses(card.customer_id) == []

    # A purchase made before activation but reported after it still earns nothing.
    late = store(program.id, card.token, "p-late", occurred_at=before)
    assert _activate(client, cardholder_headers, offer).status_code == 201
    process_transactions([late])
    assert _bonuses(card.customer_id) == []

    process_transactions([store(program.id, card.token, "p-2", occurred_at=datetime.now(UTC))])
    assert _bonuses(card.customer_id) == [300]
    assert_reconciled()


def test_caps_left_and_budget_left_after_real_purchases(
    db, program, launch, client, cardholder_headers
):
    card = enrol(program.id, external_ref="cust-1")
    offer = launch(
        caps={
            "per_customer": [
                {"period": "week", "points": 500},
                {"period": "campaign", "points": 2000},
            ],
            "qualifying_spend": {"period": "month", "amount_minor": 5000},
            "per_transaction": 400,
        },
        budget_points=10_000,
    )
    fresh = _offers(client, cardholder_headers)[offer]
    assert fresh["caps_left"]["per_customer"][0] == {
        "period": "week",
        "points": 500,
        "used": 0,
        "left": 500,
    }
    assert fresh["budget_left"] == 10_000

    assert _activate(client, cardholder_headers, offer).status_code == 201
    for n in range(2):
        tx = store(program.id, card.token, f"p-{n}", amount_minor=1500)
        process_transactions([tx])
    assert _bonuses(card.customer_id) == [300, 200]

    caps = _offers(client, cardholder_headers)[offer]
    assert caps["caps_left"] == {
        "per_transaction": 400,
        "per_customer": [
            {"period": "week", "points": 500, "used": 500, "left": 0},
            {"period": "campaign", "points": 2000, "used": 500, "left": 1500},
        ],
        "qualifying_spend": {"period": "month", "amount_minor": 5000, "used": 3000, "left": 2000},
    }
    assert caps["budget_left"] == 9_500


def test_ended_offer_is_a_409_and_other_campaigns_are_404(
    db, program, launch, client, marketer_headers, cardholder_headers
):
    enrol(program.id, external_ref="cust-1")
    ended = launch(name="Over")
    client.post(f"/v1/campaigns/{ended}/end", headers=marketer_headers)
    not_an_offer = launch(requires_activation=False)
    draft = launch(draft=True)

    response = _activate(client, cardholder_headers, ended)
    assert response.status_code == 409 and response.content_type == "application/problem+json"
    assert ended not in _offers(client, cardholder_headers)
    for campaign_id in (not_an_offer, draft, 999_999):
        assert _activate(client, cardholder_headers, campaign_id).status_code == 404


def test_no_offer_crosses_programs_or_cardholders(db, program, launch, client, cardholder_headers):
    enrol(program.id, external_ref="cust-1")
    enrol(program.id, external_ref="cust-2")
    other = ProgramFactory(slug="other")
    CustomerFactory(program=other, external_ref="cust-1")
    db.session.commit()
    offer = launch()
    theirs = launch(headers=bearer(make_token(sub="m", program="other", roles=["marketer"])))
    other_cardholder = bearer(make_token(sub="cust-1", program="other", roles=["cardholder"]))
    neighbour = bearer(make_token(sub="cust-2", program="youth", roles=["cardholder"]))

    assert _activate(client, cardholder_headers, offer).status_code == 201

    assert set(_offers(client, other_cardholder)) == {theirs}
    assert _activate(client, other_cardholder, offer).status_code == 404
    assert _activate(client, cardholder_headers, theirs).status_code == 404
    assert _offers(client, neighbour)[offer]["activated"] is False
    stranger = bearer(make_token(sub="nobody", program="youth", roles=["cardholder"]))
    assert client.get("/v1/me/offers", headers=stranger).status_code == 404


def test_pagination_walks_every_offer_once(db, program, launch, client, cardholder_headers):
    enrol(program.id, external_ref="cust-1")
    ids = [launch(name=f"Offer {n}") for n in range(3)]
    seen, url = [], "/v1/me/offers?limit=2"
    while url:
        page = client.get(url, headers=cardholder_headers).json
        seen += [o["id"] for o in page["data"]]
        url = page["next_cursor"] and f"/v1/me/offers?limit=2&cursor={page['next_cursor']}"
    assert seen == sorted(ids, reverse=True)


def test_openapi_lists_the_offer_paths_with_security(client):
    paths = client.get("/v1/openapi.json").json["paths"]
    listing = paths["/v1/me/offers"]["get"]
    activation = paths["/v1/me/offers/{campaign_id}/activate"]["post"]
    assert listing["security"] == [{"bearerJWT": []}]
    assert activation["security"] == [{"bearerJWT": []}]
    assert {"200", "201", "404", "409"} <= set(activation["responses"])


def test_listing_writes_nothing(db, program, launch, client, cardholder_headers):
    card = enrol(program.id, external_ref="cust-1")
    launch()
    _offers(client, cardholder_headers)
    rows = _db.session.scalars(
        select(OfferActivation).where(OfferActivation.customer_id == card.customer_id)
    )
    assert list(rows) == []

"""Marketer perks: create, validate with exact paths, versions on live edits, stock guards,
the partner fixed once live, lifecycle, program isolation and audit."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from rewards.models import AuditLog
from rewards.perks.models import Perk, PerkVersion
from tests.conftest import bearer, make_token
from tests.factories import ProgramFactory
from tests.perk_helpers import committed, make_partner, make_perk


@pytest.fixture
def partner(client, marketer_headers):
    make_partner(client, marketer_headers)


def test_a_perk_is_created_as_a_draft_with_defaults_and_audited(
    client, db, partner, marketer_headers
):
    created = client.post(
        "/v1/perks",
        json={"title": "Free coffee", "partner": "star-cafe", "cost_points": 300, "stock": 5},
        headers=marketer_headers,
    )

    assert created.status_code == 201, created.json
    body = created.json
    assert body["status"] == "draft"
    assert body["version"] == 1
    assert body["cost_points"] == 300
    assert (body["stock"], body["stock_left"], body["redeemed"]) == (5, 5, 0)
    assert body["limit"] is None and body["min_age"] is None and body["ends_at"] is None
    assert body["starts_at"].endswith("Z")
    actions = committed(
        db, select(func.count()).select_from(AuditLog).where(AuditLog.action == "perk.create")
    )
    assert actions == 1


@pytest.mark.parametrize(
    "body, paths",
    [
        ({}, {"title", "partner", "cost_points"}),
        ({"title": "x", "partner": "star-cafe", "cost_points": 0}, {"cost_points"}),
        ({"title": "x", "partner": "star-cafe", "cost_points": "5"}, {"cost_points"}),
        ({"title": "x", "partner": "nobody", "cost_points": 5}, {"partner"}),
        ({"title": "x", "partner": "star-cafe", "cost_points": 5, "stock": -1}, {"stock"}),
        (
            {"title": "x", "partner": "star-cafe", "cost_points": 5, "limit": {"count": 0}},
            {"limit.count", "limit.per"},
        ),
        (
            {
                "title": "x",
                "partner": "star-cafe",
                "cost_points": 5,
                "limit": {"count": 1, "per": "year"},
            },
            {"limit.per"},
        ),
        (
            {"title": "x", "partner": "star-cafe", "cost_points": 5, "image_url": "http://a.b/c"},
            {"image_url"},
        ),
        (
            {"title": "x", "partner": "star-cafe", "cost_points": 5, "category": "cars"},
            {"category"},
        ),
        (
            {"title": "x", "partner": "star-cafe", "cost_points": 5, "min_tier": "gold"},
            {"min_tier"},
        ),
        ({"title": "x", "partner": "star-cafe", "cost_points": 5, "min_age": 200}, {"min_age"}),
        (
            {
                "title": "x",
                "partner": "star-cafe",
                "cost_points": 5,
                "starts_at": "2026-12-01T00:00:00Z",
                "ends_at": "2026-11-01T00:00:00Z",
            },
            {"ends_at"},
        ),
        ({"title": "x", "partner": "star-cafe", "cost_points": 5, "colour": "red"}, {"colour"}),
    ],
)
def test_an_invalid_perk_is_422_naming_each_path_and_stores_nothing(
    client, db, partner, marketer_headers, body, paths
):
    response = client.post("/v1/perks", json=body, headers=marketer_headers)

    assert response.status_code == 422, response.json
    assert response.mimetype == "application/problem+json"
    assert set(response.json["errors"]) == paths
    assert committed(db, select(func.count()).select_from(Perk)) == 0


def test_a_live_perks_price_change_is_a_new_version_and_the_old_one_stays_readable(
    client, db, partner, marketer_headers
):
    perk_id = make_perk(client, marketer_headers, cost_points=300)

    changed = client.patch(
        f"/v1/perks/{perk_id}", json={"cost_points": 450}, headers=marketer_headers
    )

    assert changed.status_code == 200, changed.json
    assert (changed.json["version"], changed.json["cost_points"]) == (2, 450)
    first = client.get(f"/v1/perks/{perk_id}/versions/1", headers=marketer_headers)
    assert first.json["cost_points"] == 300
    assert committed(db, select(func.count()).select_from(PerkVersion)) == 2
    assert committed(db, select(Perk.cost_points).where(Perk.id == perk_id)) == 450


def test_stock_cannot_go_below_what_was_redeemed(client, db, partner, marketer_headers):
    perk_id = make_perk(client, marketer_headers, stock=10)
    with db.engine.begin() as conn:
        conn.execute(Perk.__table__.update().where(Perk.id == perk_id).values(stock_used=4))

    lowered = client.patch(f"/v1/perks/{perk_id}", json={"stock": 3}, headers=marketer_headers)
    allowed = client.patch(f"/v1/perks/{perk_id}", json={"stock": 4}, headers=marketer_headers)

    assert lowered.status_code == 422
    assert "4 units already redeemed" in lowered.json["errors"]["stock"][0]
    assert allowed.status_code == 200
    assert (allowed.json["stock_left"], allowed.json["redeemed"]) == (0, 4)


def test_the_partner_is_fixed_once_the_perk_has_been_live(client, partner, marketer_headers):
    make_partner(client, marketer_headers, code="moon-books", name="Moon Books")
    draft = make_perk(client, marketer_headers, activate=False)
    live = make_perk(client, marketer_headers)

    moved = client.patch(
        f"/v1/perks/{draft}", json={"partner": "moon-books"}, headers=marketer_headers
    )
    refused = client.patch(
        f"/v1/perks/{live}", json={"partner": "moon-books"}, headers=marketer_headers
    )

    assert moved.status_code == 200 and moved.json["partner"] == "moon-books"
    assert refused.status_code == 409
    assert refused.json["errors"] == {"partner": [refused.json["detail"]]}


def test_lifecycle_moves_and_an_ended_perk_is_not_editable(client, partner, marketer_headers):
    perk_id = make_perk(client, marketer_headers)
    paused = client.post(f"/v1/perks/{perk_id}/pause", headers=marketer_headers)
    ended = client.post(f"/v1/perks/{perk_id}/end", headers=marketer_headers)
    edit = client.patch(f"/v1/perks/{perk_id}", json={"cost_points": 1}, headers=marketer_headers)

    assert paused.json["status"] == "paused"
    assert ended.json["status"] == "ended"
    assert edit.status_code == 409


def test_another_programs_perk_is_404_and_not_listed(client, db, partner, marketer_headers):
    perk_id = make_perk(client, marketer_headers)
    ProgramFactory(slug="other")
    db.session.commit()
    other = bearer(make_token(sub="mkt-2", program="other", roles=["marketer"]))

    assert client.get(f"/v1/perks/{perk_id}", headers=other).status_code == 404
    assert client.get("/v1/perks", headers=other).json["data"] == []
    assert [p["id"] for p in client.get("/v1/perks", headers=marketer_headers).json["data"]] == [
        perk_id
    ]


def test_cardholders_cannot_manage_perks(client, db, program, partner, cardholder_headers):
    response = client.post(
        "/v1/perks",
        json={"title": "x", "partner": "star-cafe", "cost_points": 5},
        headers=cardholder_headers,
    )
    assert response.status_code == 403

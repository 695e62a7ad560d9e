"""GET /v1/me's tier and level progress, and PATCH /v1/me (nickname, leaderboard opt-in)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from campaigns.levels.models import Level
from rewards.models import AuditLog, Customer
from rewards.tiers.config import replace_ladder
from tests.ledger_helpers import enrol, store
from workers.jobs import process_transactions

LADDER = {
    "tiers": [
        {"code": "green", "name": "Green", "threshold": 0, "earn_multiplier": "1"},
        {"code": "gold", "name": "Gold", "threshold": 1000, "earn_multiplier": "1.25"},
        {"code": "black", "name": "Black", "threshold": 5000, "earn_multiplier": "1.5"},
    ]
}


def test_without_tiers_or_levels_the_profile_is_as_before(db, client, program, cardholder_headers):
    enrol(program.id, external_ref="cust-1")
    me = client.get("/v1/me", headers=cardholder_headers).json
    assert me["tier"] is None and me["tier_status"] is None
    assert me["level_progress"] == {
        "level": 1,
        "xp": 0,
        "next_level": None,
        "xp_to_next_level": None,
    }


def test_the_tier_shows_what_is_needed_for_the_next_and_to_keep_it(
    db, client, program, cardholder_headers
):
    replace_ladder(program_id=program.id, body=LADDER, actor="user:m", actor_role="marketer")
    db.session.commit()
    card = enrol(program.id, external_ref="cust-1")
    now = datetime.now(UTC)
    first = store(program.id, card.token, "t-1", amount_minor=1200, occurred_at=now)
    process_transactions([first])  # 1,200 qualifying points: Gold
    me = client.get("/v1/me", headers=cardholder_headers).json
    status = me["tier_status"]
    review_on = date.fromisoformat(status["review_on"])
    assert me["tier"] == "gold" and status["code"] == "gold" and status["name"] == "Gold"
    assert status["earn_multiplier"] == "1.25"
    assert status["next_tier"] == "black"
    assert status["points_to_next_tier"] == 5000 - 1200
    # The review counts the 12 months ending on it: today's purchase is outside them.
    assert status["keep_by"] == status["review_on"]
    assert status["points_to_keep"] == 1000
    assert timedelta(days=364) <= review_on - now.date() <= timedelta(days=367)

    second = store(program.id, card.token, "t-2", amount_minor=400, occurred_at=now)
    process_transactions([second])  # earns 500 at Gold
    status = client.get("/v1/me", headers=cardholder_headers).json["tier_status"]
    assert status["points_to_next_tier"] == 5000 - 1700
    assert status["points_to_keep"] == 1000  # still today: outside the review's 12 months


def test_level_progress_comes_from_the_levels_table(db, client, program, cardholder_headers):
    card = enrol(program.id, external_ref="cust-1")
    db.session.add_all(
        [
            Level(program_id=program.id, level=1, xp=0, name="Rookie"),
            Level(program_id=program.id, level=2, xp=100, name="Regular"),
            Level(program_id=program.id, level=3, xp=300, name="Pro"),
        ]
    )
    customer = db.session.get(Customer, card.customer_id)
    customer.level, customer.xp = 2, 140
    db.session.commit()
    me = client.get("/v1/me", headers=cardholder_headers).json
    assert me["level_progress"] == {"level": 2, "xp": 140, "next_level": 3, "xp_to_next_level": 160}


def _customer(db) -> Customer:
    db.session.expire_all()
    return db.session.scalar(select(Customer).where(Customer.external_ref == "cust-1"))


def test_opting_in_is_the_cardholders_own_consent_and_opting_out_clears_it(
    db, client, program, cardholder_headers
):
    enrol(program.id, external_ref="cust-1")
    on = client.patch("/v1/me", json={"leaderboard_opt_in": True}, headers=cardholder_headers)
    assert on.status_code == 200, on.json
    assert on.json["consents"]["leaderboard"] is True
    first_time = _customer(db).leaderboard_opted_in_at
    assert first_time is not None and on.json["leaderboard_opted_in_at"] is not None
    assert _customer(db).consent_leaderboard is True

    again = client.patch("/v1/me", json={"leaderboard_opt_in": True}, headers=cardholder_headers)
    assert again.status_code == 200
    assert _customer(db).leaderboard_opted_in_at == first_time  # the first opt-in stands

    nickname = client.patch("/v1/me", json={"nickname": "Kai"}, headers=cardholder_headers)
    assert nickname.json["nickname"] == "Kai"
    assert _customer(db).consent_leaderboard is True  # merge: opt-in untouched

    off = client.patch("/v1/me", json={"leaderboard_opt_in": False}, headers=cardholder_headers)
    assert off.json["consents"]["leaderboard"] is False
    assert off.json["leaderboard_opted_in_at"] is None
    customer = _customer(db)
    assert (customer.consent_leaderboard, customer.leaderboard_opted_in_at) == (False, None)
    assert customer.nickname == "Kai"

    audits = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "customer.update_own_profile")
    ).all()
    assert len(audits) == 3  # the repeated opt-in changed nothing and is not logged
    assert audits[-1].before["consent_leaderboard"] is True
    assert audits[-1].after == {
        "nickname": "Kai",
        "consent_leaderboard": False,
        "leaderboard_opted_in_at": None,
    }
    assert audits[0].actor == "user:cust-1"


def test_bank_given_consent_becomes_the_cardholders_own_when_they_opt_in(
    db, client, program, cardholder_headers
):
    card = enrol(program.id, external_ref="cust-1")
    customer = db.session.get(Customer, card.customer_id)
    customer.consent_leaderboard = True  # from the enrolment file
    db.session.commit()
    client.patch("/v1/me", json={"leaderboard_opt_in": True}, headers=cardholder_headers)
    assert _customer(db).leaderboard_opted_in_at is not None


def test_bad_bodies_are_refused_with_the_field_named(db, client, program, cardholder_headers):
    enrol(program.id, external_ref="cust-1")
    cases = [
        ({"leaderboard_opt_in": True, "tier": "black"}, "tier"),
        ({"nickname": "x" * 65}, "nickname"),
        ({"nickname": ""}, "nickname"),
        ({"leaderboard_opt_in": "maybe"}, "leaderboard_opt_in"),
        ({"leaderboard_opt_in": None}, "leaderboard_opt_in"),
    ]
    for body, field in cases:
        response = client.patch("/v1/me", json=body, headers=cardholder_headers)
        assert response.status_code == 422, (body, response.json)
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert field in str(response.json.get("errors")), (body, response.json)
    customer = _customer(db)
    assert customer.consent_leaderboard is False and customer.nickname != "x" * 65


def test_a_card_number_in_the_nickname_is_masked_and_null_removes_it(
    db, client, program, cardholder_headers
):
    enrol(program.id, external_ref="cust-1")
    response = client.patch(
        "/v1/me", json={"nickname": "me 4111 1111 1111 1111"}, headers=cardholder_headers
    )
    assert response.status_code == 200
    assert "4111 1111 1111 1111" not in response.get_data(as_text=True)
    assert "411111******1111" in _customer(db).nickname
    cleared = client.patch("/v1/me", json={"nickname": None}, headers=cardholder_headers)
    assert cleared.json["nickname"] is None


def test_the_spec_documents_the_patch(client):
    spec = client.get("/v1/openapi.json").json
    patch = spec["paths"]["/v1/me"]["patch"]
    assert patch["operationId"] == "updateMyProfile"
    assert {"404", "422"} <= set(patch["responses"])
    body = spec["components"]["schemas"][
        patch["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    ]
    assert set(body["properties"]) == {"leaderboard_opt_in", "nickname"}

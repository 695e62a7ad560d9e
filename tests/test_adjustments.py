"""Manual adjustments: credits, debits, the no-debt rule, Idempotency-Key, validation, audit."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from rewards.models import Account, AuditLog, IdempotencyRecord, LedgerEntry
from tests.conftest import bearer, make_token
from tests.factories import CustomerFactory, ProgramFactory

URL = "/v1/customers/cust-1/adjustments"


def stored(db, model) -> int:
    """Committed rows of `model`, read on a separate connection (what other requests see)."""
    with db.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(model))


def committed_available(db, external_ref: str = "cust-1") -> int:
    from rewards.models import Customer

    with db.engine.connect() as conn:
        return conn.scalar(
            select(Account.available)
            .join(Customer, Customer.id == Account.customer_id)
            .where(Customer.external_ref == external_ref)
        )


@pytest.fixture
def customer(db, program):
    customer = CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()
    return customer


def adjust(client, headers, points, reason="goodwill", key=None, **extra):
    if key:
        headers = {**headers, "Idempotency-Key": key}
    return client.post(URL, json={"points": points, "reason": reason, **extra}, headers=headers)


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_positive_adjustment_adds_an_available_lot_expiring_per_program(
    client, db, customer, marketer_headers, cardholder_headers
):
    response = adjust(client, marketer_headers, 500, reason="Perk never delivered (ticket 42)")

    assert response.status_code == 201
    body = response.json
    assert body["customer"] == "cust-1"
    assert body["balance"] == {
        "available": 500,
        "pending": 0,
        "lifetime_earned": 500,
        "lifetime_redeemed": 0,
    }
    entry = body["entry"]
    assert (entry["kind"], entry["points"], entry["state"]) == ("adjust", 500, "available")
    months_12 = parse(entry["expires_at"]) - datetime.now(UTC)
    assert timedelta(days=364) < months_12 <= timedelta(days=366)
    assert entry["details"]["reason"] == "Perk never delivered (ticket 42)"
    assert stored(db, LedgerEntry) == 1
    # The cardholder sees a neutral text, never the back-office reason or who did it.
    [mine] = client.get("/v1/me/ledger", headers=cardholder_headers).json["data"]
    assert mine["explanation"] == "Points added by customer care"
    assert "reason" not in mine["details"] and "actor" not in mine["details"]
    balance = client.get("/v1/me/balance", headers=cardholder_headers).json
    assert balance["available"] == 500


def test_positive_adjustment_with_own_expiry_and_message(
    client, customer, marketer_headers, cardholder_headers
):
    expires = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    response = adjust(
        client,
        marketer_headers,
        25,
        expires_at=expires.isoformat(),
        message="Sorry for the wait!",
    )

    assert response.status_code == 201
    assert parse(response.json["entry"]["expires_at"]) == expires
    balance = client.get("/v1/me/balance", headers=cardholder_headers).json
    assert sum(day["points"] for day in balance["expiring"]) == 25
    [mine] = client.get("/v1/me/ledger", headers=cardholder_headers).json["data"]
    assert mine["explanation"] == "Sorry for the wait!"


def test_negative_adjustment_spends_available_points(client, db, customer, marketer_headers):
    adjust(client, marketer_headers, 300)

    response = adjust(client, marketer_headers, -120, reason="Duplicate goodwill credit")

    assert response.status_code == 201
    assert response.json["entry"]["points"] == -120
    assert response.json["entry"]["expires_at"] is None
    assert response.json["balance"]["available"] == 180
    assert response.json["balance"]["lifetime_earned"] == 300
    assert committed_available(db) == 180
    remaining = db.session.scalar(select(func.sum(LedgerEntry.remaining)))
    assert remaining == 180


def test_overdraft_is_refused_and_nothing_is_stored(client, db, customer, marketer_headers):
    adjust(client, marketer_headers, 100)
    entries, audits = stored(db, LedgerEntry), stored(db, AuditLog)

    response = adjust(client, marketer_headers, -101, key="over-1")

    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    assert "points" in response.json["errors"]
    assert (stored(db, LedgerEntry), stored(db, AuditLog)) == (entries, audits)
    assert stored(db, IdempotencyRecord) == 0
    assert committed_available(db) == 100


def test_replay_with_the_same_key_returns_the_first_response_and_writes_once(
    client, db, customer, marketer_headers
):
    first = adjust(client, marketer_headers, 40, key="adj-123")
    again = adjust(client, marketer_headers, 40, key="adj-123")

    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert stored(db, LedgerEntry) == 1
    assert stored(db, AuditLog) == 1
    assert committed_available(db) == 40


def test_same_key_with_another_body_is_a_409(client, db, customer, marketer_headers):
    adjust(client, marketer_headers, 40, key="adj-123")

    response = adjust(client, marketer_headers, 41, key="adj-123")

    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    assert "Idempotency-Key" in response.json["errors"]
    assert stored(db, LedgerEntry) == 1


def _concurrently(app, headers: dict[str, str], body: dict, n: int = 2) -> list:
    barrier = threading.Barrier(n)
    responses: list = [None] * n

    def call(i: int) -> None:
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            responses[i] = client.post(URL, json=body, headers=headers)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return responses


@pytest.mark.parametrize("points", [250, -100])
def test_concurrent_requests_with_one_key_write_exactly_one_entry(
    app, client, db, customer, marketer_headers, points
):
    if points < 0:
        adjust(client, marketer_headers, 100)  # exactly enough for one debit, not two
    before = stored(db, LedgerEntry)
    headers = {**marketer_headers, "Idempotency-Key": f"race-{points}"}

    responses = _concurrently(app, headers, {"points": points, "reason": "race"})

    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].json == responses[1].json
    assert stored(db, LedgerEntry) == before + 1
    assert committed_available(db) == max(points, 0)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"points": 0, "reason": "x"}, "points"),
        ({"points": 1_000_001, "reason": "x"}, "points"),
        ({"points": -1_000_001, "reason": "x"}, "points"),
        ({"points": "10", "reason": "x"}, "points"),
        ({"points": 1.5, "reason": "x"}, "points"),
        ({"points": True, "reason": "x"}, "points"),
        ({"reason": "x"}, "points"),
        ({"points": 10}, "reason"),
        ({"points": 10, "reason": ""}, "reason"),
        ({"points": 10, "reason": "   "}, "reason"),
        ({"points": 10, "reason": "x" * 501}, "reason"),
        ({"points": 10, "reason": 7}, "reason"),
        ({"points": 10, "reason": "x", "note": "hi"}, "note"),
        ({"points": 10, "reason": "x", "expires_at": "tomorrow"}, "expires_at"),
        ({"points": 10, "reason": "x", "expires_at": "2030-01-01T00:00:00"}, "expires_at"),
        ({"points": 10, "reason": "x", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"points": -10, "reason": "x", "expires_at": "2099-01-01T00:00:00Z"}, "expires_at"),
        ({"points": 10, "reason": "x", "message": "m" * 141}, "message"),
    ],
)
def test_bad_bodies_are_422_naming_the_field_and_store_nothing(
    client, db, customer, marketer_headers, body, field
):
    response = client.post(URL, json=body, headers={**marketer_headers, "Idempotency-Key": "k"})

    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"
    assert field in response.json["errors"]
    assert stored(db, LedgerEntry) == stored(db, AuditLog) == stored(db, IdempotencyRecord) == 0


def test_malformed_json_is_a_problem_and_stores_nothing(client, db, customer, marketer_headers):
    response = client.post(
        URL, data="{points: 1", content_type="application/json", headers=marketer_headers
    )

    assert response.status_code in (400, 422)
    assert response.content_type == "application/problem+json"
    assert stored(db, LedgerEntry) == 0


def test_only_marketers_of_the_program_can_adjust(
    client, db, customer, cardholder_headers, processor_headers, partner_headers, admin_headers
):
    for headers in (cardholder_headers, processor_headers, partner_headers, admin_headers):
        response = adjust(client, headers, 10)
        assert response.status_code == 403
        assert response.content_type == "application/problem+json"
    assert adjust(client, {}, 10).status_code == 401
    other = ProgramFactory(slug="other")
    db.session.commit()
    foreign = bearer(make_token(sub="mkt-9", program=other.slug, roles=["marketer"]))
    response = adjust(client, foreign, 10)
    assert response.status_code == 404  # cust-1 does not exist in "other"
    assert stored(db, LedgerEntry) == 0


def test_unknown_customer_is_a_404(client, db, program, marketer_headers):
    response = client.post(
        "/v1/customers/nobody/adjustments",
        json={"points": 5, "reason": "x"},
        headers=marketer_headers,
    )
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


def test_adjustment_is_audited_with_balances_before_and_after(
    client, db, customer, marketer_headers
):
    adjust(client, marketer_headers, 70)
    response = adjust(client, marketer_headers, -20, reason="Correction of ticket 9")

    rows = client.get("/v1/audit-log?action=customer.adjust", headers=marketer_headers).json
    latest = rows["data"][0]
    assert latest["id"] == response.json["audit_log_id"]
    assert latest["actor"] == "user:mkt-1"
    assert latest["actor_role"] == "marketer"
    assert (latest["object_type"], latest["object_id"]) == ("customer", "cust-1")
    assert latest["before"]["available"] == 70
    assert latest["after"]["available"] == 50
    assert latest["after"]["points"] == -20
    assert latest["after"]["reason"] == "Correction of ticket 9"
    assert latest["after"]["ledger_entry_id"] == response.json["entry"]["id"]


def test_openapi_documents_adjustments_with_the_idempotency_header(client):
    operation = client.get("/v1/openapi.json").json["paths"][
        "/v1/customers/{external_ref}/adjustments"
    ]["post"]
    assert {"201", "401", "403", "404", "409", "422"} <= set(operation["responses"])
    assert "Idempotency-Key" in {p["name"] for p in operation["parameters"]}
    assert operation["security"] == [{"bearerJWT": []}]

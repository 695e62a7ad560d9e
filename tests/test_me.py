"""Cardholder API: profile, balance (pending, expiring, debt) and the paginated ledger."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from rewards.ledger import Movement, account_of_customer, credit, debit
from tests.conftest import bearer, make_token
from tests.factories import CardFactory, CustomerFactory, ProgramFactory, TransactionFactory


def cardholder(program, ref: str) -> dict[str, str]:
    return bearer(make_token(sub=ref, program=program.slug, roles=["cardholder"]))


def move(db, customer, points: int, key: str, **fields) -> None:
    """Write one ledger entry through the ledger primitives and commit it."""
    account = account_of_customer(customer.id, lock=True)
    fields.setdefault("kind", "earn" if points > 0 else "redeem")
    fields.setdefault("explanation", {"summary": f"test {key}"})
    movement = Movement(
        points=points,
        source_type="transaction",
        idempotency_key=key,
        occurred_at=fields.pop("occurred_at", datetime.now(UTC)),
        **fields,
    )
    assert (credit if points > 0 else debit)(account, movement) is not None
    db.session.commit()


def test_me_returns_the_profile_and_program_but_never_the_birth_date(
    client, db, program, cardholder_headers
):
    CustomerFactory(program=program, external_ref="cust-1", nickname="mika", tier="silver")
    db.session.commit()

    response = client.get("/v1/me", headers=cardholder_headers)

    assert response.status_code == 200
    body = response.json
    assert body["external_ref"] == "cust-1"
    assert body["nickname"] == "mika"
    assert (body["status"], body["tier"], body["level"], body["xp"]) == ("active", "silver", 1, 0)
    assert body["consents"] == {"leaderboard": False, "marketing": False}
    assert body["member_since"].endswith("Z")
    assert body["program"]["slug"] == "youth"
    assert body["program"]["points_name"] == "points"
    assert "birth_date" not in body


def test_unknown_or_erased_customer_is_a_404_problem(client, db, program, cardholder_headers):
    CustomerFactory(program=program, external_ref="gone", status="erased")
    db.session.commit()

    for headers in (cardholder_headers, cardholder(program, "gone")):
        for path in ("/v1/me", "/v1/me/balance", "/v1/me/ledger"):
            response = client.get(path, headers=headers)
            assert response.status_code == 404, path
            assert response.content_type == "application/problem+json"


def test_balance_shows_totals_expiring_per_local_day_and_next_release(
    client, db, program, cardholder_headers
):
    customer = CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()
    now = datetime.now(UTC)
    day = (now + timedelta(days=10)).date()
    # Asia/Tokyo is UTC+9: 13:00 and 14:00 UTC are still `day` there, 16:00 UTC is the next day.
    at = lambda hour: datetime.combine(day, time(hour), tzinfo=UTC)  # noqa: E731
    move(db, customer, 30, "a", expires_at=at(13))
    move(db, customer, 100, "b", expires_at=at(14))
    move(db, customer, 40, "c", expires_at=at(16))
    move(db, customer, 50, "d", expires_at=now + timedelta(days=40))
    release_at = now + timedelta(days=5)
    move(db, customer, 70, "e", available_at=release_at, expires_at=now + timedelta(days=365))
    move(db, customer, 80, "f", available_at=now + timedelta(days=6))
    move(db, customer, -20, "spend")  # consumes the lot expiring first ("a")

    response = client.get("/v1/me/balance", headers=cardholder_headers)

    assert response.status_code == 200
    body = response.json
    assert body["available"] == 30 + 100 + 40 + 50 - 20
    assert body["pending"] == 150
    assert body["lifetime_earned"] == 370
    assert body["lifetime_redeemed"] == 20
    assert body["expiring"] == [
        {"date": day.isoformat(), "points": 10 + 100},
        {"date": (day + timedelta(days=1)).isoformat(), "points": 40},
    ]
    assert body["next_release"]["points"] == 70
    released = datetime.fromisoformat(body["next_release"]["available_at"].replace("Z", "+00:00"))
    assert abs(released - release_at) < timedelta(milliseconds=1)


def test_a_debt_shows_as_negative_available_with_nothing_expiring(
    client, db, program, cardholder_headers
):
    customer = CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()
    move(db, customer, 30, "earn", expires_at=datetime.now(UTC) + timedelta(days=3))
    move(db, customer, -50, "claw", kind="clawback")

    body = client.get("/v1/me/balance", headers=cardholder_headers).json

    assert body["available"] == -20
    assert body["pending"] == 0
    assert body["expiring"] == []
    assert body["next_release"] is None


def test_a_new_customer_without_account_has_zero_balance(client, db, program, cardholder_headers):
    customer = CustomerFactory(program=program, external_ref="cust-1")
    db.session.delete(account_of_customer(customer.id))
    db.session.commit()

    body = client.get("/v1/me/balance", headers=cardholder_headers).json
    assert (body["available"], body["pending"], body["expiring"]) == (0, 0, [])
    assert client.get("/v1/me/ledger", headers=cardholder_headers).json == {
        "data": [],
        "next_cursor": None,
    }


def test_ledger_entry_explains_itself_and_links_its_transaction(
    client, db, program, cardholder_headers
):
    customer = CustomerFactory(program=program, external_ref="cust-1")
    tx = TransactionFactory(card=CardFactory(customer=customer), external_id="tx-77")
    db.session.commit()
    why = {
        "summary": "1 pt per ¥1 at Noodle Bar (dining)",
        "rule": "base",
        "rate": "1",
        "amount_minor": 1200,
        "currency": "JPY",
        "merchant_name": "Noodle Bar",
        "category": "dining",
    }
    move(db, customer, 1200, "tx:1:base", explanation=why, transaction_id=tx.id)

    response = client.get("/v1/me/ledger", headers=cardholder_headers)

    assert response.status_code == 200
    [entry] = response.json["data"]
    assert entry["explanation"] == "1 pt per ¥1 at Noodle Bar (dining)"
    assert entry["details"] == {k: v for k, v in why.items() if k != "summary"}
    assert entry["transaction"] == {"external_id": "tx-77", "merchant_name": "Noodle Bar"}
    assert (entry["kind"], entry["points"], entry["state"]) == ("earn", 1200, "available")
    for stamp in ("available_at", "occurred_at", "created_at", "expires_at"):
        assert entry[stamp] is None or entry[stamp].endswith("Z")
    assert response.json["next_cursor"] is None


def test_ledger_pagination_walks_every_entry_exactly_once_newest_first(
    client, db, program, cardholder_headers
):
    customer = CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()
    for n in range(45):
        move(db, customer, n + 1, f"k{n}")

    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 20} | ({"cursor": cursor} if cursor else {})
        body = client.get("/v1/me/ledger", query_string=query, headers=cardholder_headers).json
        seen += [entry["id"] for entry in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert len(seen) == len(set(seen)) == 45
    assert seen == sorted(seen, reverse=True)
    default = client.get("/v1/me/ledger", headers=cardholder_headers).json
    assert len(default["data"]) == 20


def test_ledger_filters_by_kind(client, db, program, cardholder_headers):
    customer = CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()
    move(db, customer, 100, "earn")
    move(db, customer, -30, "spend")

    body = client.get("/v1/me/ledger?kind=redeem", headers=cardholder_headers).json

    assert [(e["kind"], e["points"]) for e in body["data"]] == [("redeem", -30)]
    assert body["data"][0]["explanation"] == "test spend"


@pytest.mark.parametrize(
    "query, field",
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=eHl6", "cursor"),
        ("kind=bogus", "kind"),
    ],
)
def test_bad_ledger_query_is_a_422_naming_the_parameter(
    client, db, program, cardholder_headers, query, field
):
    CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()

    response = client.get(f"/v1/me/ledger?{query}", headers=cardholder_headers)

    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert list(response.json["errors"]) == [field]


def test_a_cardholder_only_ever_sees_their_own_points(client, db, program):
    other_program = ProgramFactory(slug="other")
    mine = CustomerFactory(program=program, external_ref="cust-1")
    neighbour = CustomerFactory(program=program, external_ref="cust-2")
    twin = CustomerFactory(program=other_program, external_ref="cust-1")
    db.session.commit()
    move(db, mine, 10, "mine")
    move(db, neighbour, 20, "neighbour")
    move(db, twin, 30, "twin")

    for prog, ref, points in ((program, "cust-1", 10), (program, "cust-2", 20)):
        headers = cardholder(prog, ref)
        assert client.get("/v1/me/balance", headers=headers).json["available"] == points
        ledger = client.get("/v1/me/ledger", headers=headers).json["data"]
        assert [e["points"] for e in ledger] == [points]
    twin_headers = cardholder(other_program, "cust-1")
    assert client.get("/v1/me/balance", headers=twin_headers).json["available"] == 30
    assert client.get("/v1/me", headers=twin_headers).json["program"]["slug"] == "other"
    # A cursor is only a position: it never reveals another account's entries.
    cursor_past_all = "azE6OTk5OTk5"  # k1:999999
    ledger = client.get(f"/v1/me/ledger?cursor={cursor_past_all}", headers=twin_headers).json
    assert [e["points"] for e in ledger["data"]] == [30]


def test_only_cardholders_use_the_me_endpoints(
    client, db, program, marketer_headers, processor_headers, admin_headers
):
    CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()
    for path in ("/v1/me", "/v1/me/balance", "/v1/me/ledger"):
        assert client.get(path).status_code == 401
        for headers in (marketer_headers, processor_headers, admin_headers):
            response = client.get(path, headers=headers)
            assert response.status_code == 403, (path, headers)
            assert response.content_type == "application/problem+json"


def test_openapi_lists_the_cardholder_paths(client):
    paths = client.get("/v1/openapi.json").json["paths"]
    for path in ("/v1/me", "/v1/me/balance", "/v1/me/ledger"):
        assert paths[path]["get"]["security"] == [{"bearerJWT": []}]
    params = {p["name"] for p in paths["/v1/me/ledger"]["get"]["parameters"]}
    assert {"limit", "cursor", "kind"} <= params


def test_expiry_date_is_the_local_day(client, db, program, cardholder_headers):
    customer = CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()
    soon = datetime.now(UTC) + timedelta(days=2)
    late_evening_utc = datetime.combine(soon.date(), time(20), tzinfo=UTC)  # 05:00 JST next day
    move(db, customer, 5, "late", expires_at=late_evening_utc)

    body = client.get("/v1/me/balance", headers=cardholder_headers).json

    assert body["expiring"] == [
        {"date": (soon.date() + timedelta(days=1)).isoformat(), "points": 5}
    ]
    assert isinstance(date.fromisoformat(body["expiring"][0]["date"]), date)

"""Customer and card enrolment by the processor; customer profiles for marketers."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from sqlalchemy import func, select

from rewards.models import Account, Card, Customer, Transaction
from tests.factories import CardFactory, CustomerFactory, ProgramFactory

PAN = "4111 1111 1111 1111"  # a Luhn-valid test card number
PAN_DIGITS = PAN.replace(" ", "")


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_enrol_customer_creates_then_updates(client, db, program, processor_headers):
    body = {"external_ref": "cust-1", "birth_date": "2006-05-01", "nickname": "mika"}

    created = client.post("/v1/customers", json=body, headers=processor_headers)
    again = client.post(
        "/v1/customers",
        json={"external_ref": "cust-1", "nickname": "mika2"},
        headers=processor_headers,
    )

    assert created.status_code == 201, created.json
    assert created.json["external_ref"] == "cust-1" and created.json["status"] == "active"
    assert again.status_code == 200
    assert again.json["nickname"] == "mika2"
    assert again.json["birth_date"] == "2006-05-01"  # fields left out are kept
    assert _count(db, Customer) == 1
    account = db.session.scalar(select(Account))
    assert (account.available, account.pending, account.program_id) == (0, 0, program.id)


def test_concurrent_enrolments_of_one_ref_make_one_customer(app, db, program, processor_headers):
    statuses: list[int] = []

    def enrol() -> None:
        with app.test_client() as own_client:
            response = own_client.post(
                "/v1/customers", json={"external_ref": "race"}, headers=processor_headers
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=enrol) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] * 5 + [201]
    assert _count(db, Customer) == 1 and _count(db, Account) == 1


def test_bad_customer_bodies_are_422_and_store_nothing(client, db, program, processor_headers):
    for body, field in (
        ({"birth_date": "2006-01-01"}, "external_ref"),
        ({"external_ref": "c", "birth_date": "not-a-date"}, "birth_date"),
        ({"external_ref": "c", "shoe_size": 42}, "shoe_size"),
        ({"external_ref": "c", "nickname": "x" * 65}, "nickname"),
        ({"external_ref": PAN_DIGITS}, "external_ref"),
        ({"external_ref": 12}, "external_ref"),
    ):
        response = client.post("/v1/customers", json=body, headers=processor_headers)
        assert response.status_code == 422, body
        assert response.content_type == "application/problem+json"
        assert field in response.json["errors"], body
    assert _count(db, Customer) == 0


def test_enrol_card_is_idempotent(client, db, program, processor_headers):
    client.post("/v1/customers", json={"external_ref": "cust-1"}, headers=processor_headers)

    first = client.post(
        "/v1/customers/cust-1/cards", json={"token": "tok_1"}, headers=processor_headers
    )
    second = client.post(
        "/v1/customers/cust-1/cards", json={"token": "tok_1"}, headers=processor_headers
    )

    assert first.status_code == 201, first.json
    assert first.json == {**second.json}
    assert second.status_code == 200
    assert first.json["token"] == "tok_1" and first.json["customer"] == "cust-1"
    assert _count(db, Card) == 1


def test_pan_like_token_is_refused_never_stored_logged_or_echoed(
    client, db, program, processor_headers, caplog
):
    client.post("/v1/customers", json={"external_ref": "cust-1"}, headers=processor_headers)
    caplog.set_level(logging.DEBUG)

    for token in (PAN, PAN_DIGITS, "4111-1111-1111-1111"):
        response = client.post(
            "/v1/customers/cust-1/cards", json={"token": token}, headers=processor_headers
        )
        assert response.status_code == 422
        assert response.content_type == "application/problem+json"
        assert list(response.json["errors"]) == ["token"]
        text = response.get_data(as_text=True)
        assert PAN_DIGITS not in text.replace(" ", "").replace("-", "")
    assert _count(db, Card) == 0
    assert PAN_DIGITS[:12] not in caplog.text.replace(" ", "").replace("-", "")
    # Long digit strings that fail Luhn are ordinary tokens.
    ok = client.post(
        "/v1/customers/cust-1/cards", json={"token": "4111111111111112"}, headers=processor_headers
    )
    assert ok.status_code == 201


def test_bad_tokens_are_422(client, db, program, processor_headers):
    client.post("/v1/customers", json={"external_ref": "cust-1"}, headers=processor_headers)
    for body in ({}, {"token": ""}, {"token": "x" * 65}, {"token": "has space"}, {"token": 7}):
        response = client.post("/v1/customers/cust-1/cards", json=body, headers=processor_headers)
        assert response.status_code == 422, body
        assert "token" in response.json["errors"]
    assert _count(db, Card) == 0


def test_token_of_another_customer_is_409(client, db, program, processor_headers):
    for ref in ("cust-1", "cust-2"):
        client.post("/v1/customers", json={"external_ref": ref}, headers=processor_headers)
    client.post("/v1/customers/cust-1/cards", json={"token": "tok_1"}, headers=processor_headers)

    response = client.post(
        "/v1/customers/cust-2/cards", json={"token": "tok_1"}, headers=processor_headers
    )

    assert response.status_code == 409
    assert "token" in response.json["errors"]
    card = db.session.scalar(select(Card))
    assert card.customer_id == db.session.scalar(
        select(Customer.id).where(Customer.external_ref == "cust-1")
    )


def test_card_for_unknown_customer_is_404(client, db, program, processor_headers):
    response = client.post(
        "/v1/customers/ghost/cards", json={"token": "tok_1"}, headers=processor_headers
    )
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert _count(db, Card) == 0


def test_enrolling_a_card_releases_its_unmatched_transactions(
    client, db, app, program, processor_headers, run_jobs
):
    CardFactory(customer=CustomerFactory(program=program), token="tok_other")
    tx = Transaction(
        program_id=program.id,
        external_id="early-1",
        card_token="tok_new",
        kind="purchase",
        amount_minor=1500,
        currency="JPY",
        mcc="5812",
        category="dining",
        merchant_id="m-1",
        merchant_name="Noodle Bar",
        channel="in_store",
        occurred_at=datetime.now(UTC),
        status="unmatched",
    )
    db.session.add(tx)
    db.session.commit()
    tx_id = tx.id
    client.post("/v1/customers", json={"external_ref": "late"}, headers=processor_headers)

    response = client.post(
        "/v1/customers/late/cards", json={"token": "tok_new"}, headers=processor_headers
    )

    assert response.status_code == 201
    queues = app.extensions["rewards_queues"].all_queues()
    assert sum(q.count for q in queues) == 1  # enqueued after the commit
    run_jobs()
    processed = db.session.get(Transaction, tx_id)
    assert processed.status == "processed"
    account = db.session.scalar(
        select(Account).join(Customer).where(Customer.external_ref == "late")
    )
    assert account.available + account.pending == 1500


def test_marketer_reads_profile_cards_and_totals(
    client, db, program, processor_headers, marketer_headers
):
    client.post(
        "/v1/customers",
        json={"external_ref": "cust-1", "nickname": "mika", "birth_date": "2007-02-03"},
        headers=processor_headers,
    )
    for token in ("tok_a", "tok_b"):
        client.post("/v1/customers/cust-1/cards", json={"token": token}, headers=processor_headers)

    response = client.get("/v1/customers/cust-1", headers=marketer_headers)

    assert response.status_code == 200
    body = response.json
    assert body["nickname"] == "mika" and body["birth_date"] == "2007-02-03"
    assert [c["token"] for c in body["cards"]] == ["tok_a", "tok_b"]
    assert set(body["cards"][0]) == {"token", "status", "created_at"}
    assert body["account"] == {
        "available": 0,
        "pending": 0,
        "lifetime_earned": 0,
        "lifetime_redeemed": 0,
    }
    assert client.get("/v1/customers/ghost", headers=marketer_headers).status_code == 404


def test_nothing_crosses_programs(client, db, program, processor_headers):
    from rewards.access import mint_api_key
    from tests.conftest import bearer, make_token

    other = ProgramFactory(slug="other")
    other_key = bearer(
        mint_api_key(program=other, role="processor", name="b", created_by="t").secret
    )
    db.session.commit()
    client.post("/v1/customers", json={"external_ref": "cust-1"}, headers=processor_headers)
    client.post("/v1/customers/cust-1/cards", json={"token": "tok_1"}, headers=processor_headers)

    # Program B's key cannot attach cards to A's customer; the same ref in B is B's own customer.
    assert (
        client.post(
            "/v1/customers/cust-1/cards", json={"token": "tok_2"}, headers=other_key
        ).status_code
        == 404
    )
    assert (
        client.post("/v1/customers", json={"external_ref": "cust-1"}, headers=other_key).status_code
        == 201
    )
    # The same token may exist in another program (tokens are unique per processor program).
    assert (
        client.post(
            "/v1/customers/cust-1/cards", json={"token": "tok_1"}, headers=other_key
        ).status_code
        == 201
    )
    other_marketer = bearer(make_token(sub="m", program="other", roles=["marketer"]))
    cards = client.get("/v1/customers/cust-1", headers=other_marketer).json["cards"]
    assert [c["token"] for c in cards] == ["tok_1"]
    rows = db.session.execute(select(Customer.program_id, Customer.external_ref)).all()
    assert sorted(rows) == [(program.id, "cust-1"), (other.id, "cust-1")]


def test_one_token_raced_onto_two_customers_lands_on_one(app, db, program, processor_headers):
    statuses: list[int] = []
    with app.test_client() as setup:
        for ref in ("cust-1", "cust-2", "cust-3"):
            setup.post("/v1/customers", json={"external_ref": ref}, headers=processor_headers)

    def enrol(ref: str) -> None:
        with app.test_client() as own_client:
            url = f"/v1/customers/{ref}/cards"
            response = own_client.post(url, json={"token": "tok_hot"}, headers=processor_headers)
            statuses.append(response.status_code)

    threads = [threading.Thread(target=enrol, args=(r,)) for r in ("cust-1", "cust-2", "cust-3")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201, 409, 409]
    assert _count(db, Card) == 1

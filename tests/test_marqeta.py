"""POST /v1/feeds/marqeta: Marqeta transaction webhooks mapped onto our transaction kinds."""

from __future__ import annotations

import base64
import copy

import pytest
from sqlalchemy import func, select

from rewards.access import mint_api_key
from rewards.models import Batch, Transaction
from tests.factories import ProgramFactory
from tests.test_ingest_api import PAN, feed_jobs


def basic(secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"marqeta:{secret}".encode()).decode()}


@pytest.fixture
def marqeta_headers(processor_headers) -> dict[str, str]:
    return basic(processor_headers["Authorization"].removeprefix("Bearer "))


def mq(token: str, type_: str, **changes):
    """A Marqeta transaction object, shaped as in Marqeta's transaction webhook."""
    item = {
        "token": token,
        "type": type_,
        "state": "COMPLETION",
        "user_token": "user-1",
        "card_token": "card_tok_000001",
        "amount": 1200,
        "currency_code": "JPY",
        "created_time": "2024-05-01T03:00:05Z",
        "user_transaction_time": "2024-05-01T03:00:00Z",
        "response": {"code": "0000", "memo": "Approved or completed successfully"},
        "card_acceptor": {"mid": "m-77", "mcc": "5812", "name": "Noodle Bar"},
    }
    item.update(changes)
    return item


def post(client, headers, items):
    return client.post("/v1/feeds/marqeta", json={"transactions": items}, headers=headers)


def stored(db) -> dict[str, Transaction]:
    return {t.external_id: t for t in db.session.scalars(select(Transaction))}


WEBHOOK = [
    mq("a1", "authorization", state="PENDING"),
    mq(
        "c1",
        "authorization.clearing",
        preceding_related_transaction_token="a1",
        pos={"pan_entry_mode": "CONTACTLESS", "card_presence": True},
    ),
    mq("a2", "authorization"),  # an authorization whose state became COMPLETION: still no money
    mq("p1", "pindebit", pos={"card_presence": True}),
    mq(
        "p2",
        "pindebit",
        state="COMPLETION",
        response={"code": "1016", "memo": "Insufficient funds"},
    ),
    mq("r1", "refund", amount=300, pos={"card_presence": False}),
    mq("pr1", "pindebit.reversal", preceding_related_transaction_token="p1"),
    mq("ar1", "authorization.reversal", preceding_related_transaction_token="a9"),
    mq("ar2", "authorization.reversal", amount=200, preceding_related_transaction_token="c1"),
    mq("g1", "gpa.credit"),
]


def test_webhook_maps_settled_types_and_ignores_the_rest(app, client, db, marqeta_headers):
    response = post(client, marqeta_headers, WEBHOOK)

    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in ("accepted", "duplicates", "ignored", "rejected")} == {
        "accepted": 5,
        "duplicates": 0,
        "ignored": 5,
        "rejected": 0,
    }
    rows = stored(db)
    assert {k: (t.kind, t.original_external_id) for k, t in rows.items()} == {
        "c1": ("purchase", None),
        "p1": ("purchase", None),
        "r1": ("refund", None),
        "pr1": ("reversal", "p1"),
        "ar2": ("reversal", "c1"),
    }
    c1 = rows["c1"]
    assert (c1.amount_minor, c1.currency, c1.mcc, c1.category) == (1200, "JPY", "5812", "dining")
    assert (c1.merchant_id, c1.merchant_name, c1.card_token) == (
        "m-77",
        "Noodle Bar",
        "card_tok_000001",
    )
    assert c1.occurred_at.isoformat() == "2024-05-01T03:00:00+00:00"
    assert (rows["c1"].channel, rows["p1"].channel, rows["r1"].channel) == (
        "contactless",
        "in_store",
        "online",
    )
    assert all(t.status == "received" and t.customer_id is None for t in rows.values())
    assert db.session.get(Batch, body["batch_id"]).source == "marqeta"
    assert feed_jobs(app) == 1


def test_retried_message_is_deduplicated(app, client, db, marqeta_headers):
    first = post(client, marqeta_headers, WEBHOOK).get_json()
    retry = post(client, marqeta_headers, copy.deepcopy(WEBHOOK)).get_json()

    assert (first["accepted"], retry["accepted"], retry["duplicates"]) == (5, 0, 5)
    assert db.session.scalar(select(func.count()).select_from(Transaction)) == 5
    assert feed_jobs(app) == 1


def test_reversal_of_a_clearing_stored_earlier(client, db, marqeta_headers):
    post(client, marqeta_headers, [mq("c5", "authorization.clearing")])
    body = post(
        client,
        marqeta_headers,
        [mq("ar5", "authorization.reversal", preceding_related_transaction_token="c5")],
    ).get_json()

    assert body["accepted"] == 1
    assert stored(db)["ar5"].original_external_id == "c5"


def test_missing_user_transaction_time_falls_back_to_created_time(client, db, marqeta_headers):
    item = mq("c1", "authorization.clearing")
    del item["user_transaction_time"]
    post(client, marqeta_headers, [item])

    assert stored(db)["c1"].occurred_at.isoformat() == "2024-05-01T03:00:05+00:00"


def test_decimal_amounts_become_exact_minor_units(client, db):
    program = ProgramFactory(slug="usd-card", currency="USD")
    secret = mint_api_key(program=program, role="processor", name="mq", created_by="t").secret
    db.session.commit()
    items = [
        mq("u1", "authorization.clearing", amount=10.10, currency_code="USD"),
        mq("u2", "authorization.clearing", amount=0.29, currency_code="USD"),
        mq("u3", "authorization.clearing", amount=10.105, currency_code="USD"),
        mq("u4", "authorization.clearing", amount="abc", currency_code="USD"),
    ]
    body = post(client, basic(secret), items).get_json()

    rows = stored(db)
    assert (rows["u1"].amount_minor, rows["u2"].amount_minor) == (1010, 29)
    assert body["rejected"] == 2
    rejections = client.get(f"/v1/batches/{body['batch_id']}/rejections", headers=basic(secret))
    assert [(r["index"], list(r["errors"])) for r in rejections.get_json()["data"]] == [
        (2, ["amount"]),
        (3, ["amount"]),
    ]


def test_bad_objects_are_rejected_naming_marqeta_fields(client, db, marqeta_headers):
    items = [
        mq("c1", "authorization.clearing", card_token=PAN),
        mq("c2", "authorization.clearing", card_acceptor={"mcc": "58", "name": "X"}),
        mq("c3", "authorization.clearing", currency_code="USD"),
        mq("c4", "authorization.clearing"),
    ]
    response = post(client, marqeta_headers, items)

    body = response.get_json()
    assert response.status_code == 200 and body["accepted"] == 1 and body["rejected"] == 3
    assert PAN not in response.get_data(as_text=True)
    pages = client.get(f"/v1/batches/{body['batch_id']}/rejections", headers=marqeta_headers)
    assert PAN not in pages.get_data(as_text=True)
    assert [list(r["errors"]) for r in pages.get_json()["data"]] == [
        ["card_token"],
        ["card_acceptor.mcc"],
        ["currency_code"],
    ]
    assert list(stored(db)) == ["c4"]


def test_basic_auth_with_a_processor_key_is_required(client, db, marketer_headers, partner_headers):
    assert post(client, {}, WEBHOOK).status_code == 401
    assert post(client, basic("rwk_nope_nope"), WEBHOOK).status_code == 401
    assert post(client, marketer_headers, WEBHOOK).status_code == 403
    partner = basic(partner_headers["Authorization"].removeprefix("Bearer "))
    assert post(client, partner, WEBHOOK).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Transaction)) == 0


def test_malformed_webhook_body(client, db, marqeta_headers):
    broken = client.post(
        "/v1/feeds/marqeta", data=b"{", content_type="application/json", headers=marqeta_headers
    )
    wrong = client.post("/v1/feeds/marqeta", json={"transactions": 5}, headers=marqeta_headers)
    other_events = client.post(
        "/v1/feeds/marqeta", json={"cardtransitions": []}, headers=marqeta_headers
    )

    assert broken.status_code == 400 and broken.mimetype == "application/problem+json"
    assert wrong.status_code == 422 and "transactions" in wrong.get_json()["errors"]
    assert other_events.status_code == 200 and other_events.get_json()["accepted"] == 0

"""POST /v1/transactions: JSON batches, per-row validation, duplicates, Idempotency-Key."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, text

from rewards.models import Batch, BatchRejection, Transaction

PAN = "4111111111111111"  # Luhn-valid test card number


def tx_row(n: int, **changes):
    row = {
        "external_id": f"tx-{n}",
        "card_token": "card_tok_000001",
        "kind": "purchase",
        "amount_minor": 1200,
        "currency": "JPY",
        "mcc": "5812",
        "merchant_id": "m-1",
        "merchant_name": "Noodle Bar",
        "channel": "in_store",
        "occurred_at": "2024-05-01T12:00:00+09:00",
    }
    row.update(changes)
    return {k: v for k, v in row.items() if v is not None}


def post_batch(client, headers, rows, **kwargs):
    return client.post("/v1/transactions", json={"transactions": rows}, headers=headers, **kwargs)


def feed_jobs(app) -> int:
    return app.extensions["rewards_queues"].queue("feed").count


def stored(db):
    return db.session.scalars(select(Transaction).order_by(Transaction.external_id)).all()


def test_good_batch_is_stored_as_received_and_queued(app, client, db, processor_headers):
    response = post_batch(client, processor_headers, [tx_row(1), tx_row(2, kind="refund")])

    assert response.status_code == 202
    body = response.get_json()
    assert body["accepted"] == 2 and body["duplicates"] == 0 and body["rejected"] == []
    rows = stored(db)
    assert [r.external_id for r in rows] == ["tx-1", "tx-2"]
    first = rows[0]
    assert first.status == "received" and first.customer_id is None
    assert first.batch_id == body["batch_id"]
    assert first.category == "dining"
    assert first.occurred_at.isoformat() == "2024-05-01T03:00:00+00:00"
    assert feed_jobs(app) == 1
    batch = db.session.get(Batch, body["batch_id"])
    assert (batch.source, batch.status, batch.accepted) == ("api", "queued", 2)


def test_same_batch_twice_stores_each_row_once(app, client, db, processor_headers):
    rows = [tx_row(n) for n in range(5)]
    first = post_batch(client, processor_headers, rows).get_json()
    second = post_batch(client, processor_headers, rows).get_json()

    assert (first["accepted"], first["duplicates"]) == (5, 0)
    assert (second["accepted"], second["duplicates"]) == (0, 5)
    assert db.session.scalar(select(func.count()).select_from(Transaction)) == 5
    assert feed_jobs(app) == 1  # nothing new to process the second time


def test_repeated_external_id_within_a_batch_counts_as_duplicate(client, db, processor_headers):
    body = post_batch(client, processor_headers, [tx_row(1), tx_row(1, amount_minor=5)]).get_json()

    assert (body["accepted"], body["duplicates"]) == (1, 1)
    assert stored(db)[0].amount_minor == 1200  # the first occurrence wins


BAD_ROWS = [
    ({"amount_minor": "1200"}, "amount_minor"),
    ({"amount_minor": 12.5}, "amount_minor"),
    ({"amount_minor": True}, "amount_minor"),
    ({"amount_minor": 0}, "amount_minor"),
    ({"amount_minor": -100}, "amount_minor"),
    ({"currency": "XYZ"}, "currency"),
    ({"currency": "USD"}, "currency"),
    ({"mcc": "581"}, "mcc"),
    ({"mcc": 5812}, "mcc"),
    ({"mcc": "58a2"}, "mcc"),
    ({"occurred_at": "2024-05-01T12:00:00"}, "occurred_at"),
    ({"occurred_at": "yesterday"}, "occurred_at"),
    ({"kind": "reversal"}, "original_external_id"),
    ({"kind": "chargeback"}, "kind"),
    ({"channel": "phone"}, "channel"),
    ({"external_id": 17}, "external_id"),
    ({"external_id": None}, "external_id"),
    ({"card_token": None}, "card_token"),
    ({"merchant_name": "x" * 201}, "merchant_name"),
    ({"colour": "blue"}, "colour"),
]


@pytest.mark.parametrize(("changes", "field"), BAD_ROWS)
def test_bad_row_is_rejected_naming_the_field_and_good_rows_kept(
    client, db, processor_headers, changes, field
):
    bad = tx_row(2, **changes)
    if changes.get("external_id", 0) is None:
        bad.pop("external_id", None)
    response = post_batch(client, processor_headers, [tx_row(1), bad, tx_row(3)])

    assert response.status_code == 202
    body = response.get_json()
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1]
    assert field in body["rejected"][0]["errors"]
    assert [r.external_id for r in stored(db)] == ["tx-1", "tx-3"]
    rejection = db.session.scalar(select(BatchRejection))
    assert rejection.row_index == 1 and field in rejection.errors


def test_other_currency_message_names_the_programs_currency(client, processor_headers):
    body = post_batch(client, processor_headers, [tx_row(1, currency="USD")]).get_json()

    assert body["rejected"][0]["errors"]["currency"] == ["must be the program's currency JPY"]


def test_pan_like_card_token_is_rejected_and_never_stored_or_echoed(client, db, processor_headers):
    response = post_batch(client, processor_headers, [tx_row(1, card_token=PAN), tx_row(2)])

    assert response.status_code == 202
    assert PAN not in response.get_data(as_text=True)
    assert "card_token" in response.get_json()["rejected"][0]["errors"]
    dump = db.session.execute(
        text(
            "SELECT coalesce(string_agg(t::text, '|'), '') FROM transactions t "
            "UNION ALL SELECT coalesce(string_agg(r::text, '|'), '') FROM batch_rejections r "
            "UNION ALL SELECT coalesce(string_agg(b::text, '|'), '') FROM batches b "
            "UNION ALL SELECT coalesce(string_agg(i::text, '|'), '') FROM idempotency_records i"
        )
    ).scalars()
    assert all(PAN not in chunk for chunk in dump)
    assert [r.external_id for r in stored(db)] == ["tx-2"]


def test_malformed_json_is_a_400_problem(client, db, processor_headers):
    response = client.post(
        "/v1/transactions",
        data=b'{"transactions": [',
        content_type="application/json",
        headers=processor_headers,
    )

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert "_body" in response.get_json()["errors"]
    assert db.session.scalar(select(func.count()).select_from(Batch)) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([1, 2], "transactions"),
        ({"rows": []}, "transactions"),
        ({"transactions": {}}, "transactions"),
        ({"transactions": [], "extra": 1}, "extra"),
    ],
)
def test_wrong_body_shape_is_a_422_naming_the_field(client, db, processor_headers, body, field):
    response = client.post("/v1/transactions", json=body, headers=processor_headers)

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert field in response.get_json()["errors"]
    assert db.session.scalar(select(func.count()).select_from(Batch)) == 0


def test_too_many_rows_is_refused_naming_transactions(app, client, db, processor_headers):
    limit = app.config["MAX_BATCH_ROWS"]
    rows = [tx_row(n) for n in range(limit + 1)]
    response = post_batch(client, processor_headers, rows)

    assert response.status_code == 422
    assert "transactions" in response.get_json()["errors"]
    assert db.session.scalar(select(func.count()).select_from(Transaction)) == 0


def test_oversized_body_is_a_413_problem(app, client, db, processor_headers):
    size = app.config["MAX_CONTENT_LENGTH"] + 1
    payload = b'{"transactions": [], "pad": "' + b"x" * size + b'"}'
    response = client.post(
        "/v1/transactions", data=payload, content_type="application/json", headers=processor_headers
    )

    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert db.session.scalar(select(func.count()).select_from(Batch)) == 0


def test_idempotency_key_replays_the_first_answer_and_refuses_another_body(
    app, client, db, processor_headers
):
    headers = {**processor_headers, "Idempotency-Key": "feed-2024-05-01"}
    first = post_batch(client, headers, [tx_row(1), tx_row(2, mcc="12")])
    replay = post_batch(client, headers, [tx_row(1), tx_row(2, mcc="12")])
    other = post_batch(client, headers, [tx_row(3)])

    assert first.status_code == replay.status_code == 202
    assert replay.get_json() == first.get_json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 409
    assert other.mimetype == "application/problem+json"
    assert db.session.scalar(select(func.count()).select_from(Batch)) == 1
    assert [r.external_id for r in stored(db)] == ["tx-1"]
    assert feed_jobs(app) == 1


def test_only_processors_may_submit(client, marketer_headers, cardholder_headers):
    payload = {"transactions": [tx_row(1)]}
    assert client.post("/v1/transactions", json=payload).status_code == 401
    assert (
        client.post("/v1/transactions", json=payload, headers=marketer_headers).status_code == 403
    )
    response = client.post("/v1/transactions", json=payload, headers=cardholder_headers)
    assert response.status_code == 403


def test_unreadable_row_objects_are_rejected_per_row(client, processor_headers):
    body = post_batch(client, processor_headers, [tx_row(1), "tx-2", [1]]).get_json()

    assert body["accepted"] == 1
    assert [(r["index"], list(r["errors"])) for r in body["rejected"]] == [
        (1, ["_row"]),
        (2, ["_row"]),
    ]


def test_openapi_documents_the_feed_endpoints(client):
    spec = client.get("/v1/openapi.json").get_json()

    post = spec["paths"]["/v1/transactions"]["post"]
    assert "202" in post["responses"] and "requestBody" in post
    assert "/v1/transaction-files" in spec["paths"]
    assert "/v1/feeds/marqeta" in spec["paths"]
    assert "/v1/batches/{batch_id}" in spec["paths"]
    assert json.dumps(post["security"]) == '[{"apiKey": []}]'

"""GET /v1/batches/{id} and its rejections: counts a processor follows, scoped to its program."""

from __future__ import annotations

from sqlalchemy import update

from rewards.access import mint_api_key
from rewards.models import Transaction
from tests.conftest import bearer
from tests.factories import CardFactory, ProgramFactory
from tests.test_ingest_api import post_batch, tx_row


def test_batch_counts_follow_processing(client, db, processor_headers):
    rows = [tx_row(n) for n in range(6)] + [tx_row(90, mcc="x"), tx_row(91, amount_minor=0)]
    post_batch(client, processor_headers, rows[:2])  # stored by an earlier batch
    batch_id = post_batch(client, processor_headers, rows).get_json()["batch_id"]
    for external_id, status in [
        ("tx-2", "processed"),
        ("tx-3", "unmatched"),
        ("tx-4", "waiting_for_original"),
        ("tx-5", "excluded"),
    ]:
        db.session.execute(
            update(Transaction).where(Transaction.external_id == external_id).values(status=status)
        )
    db.session.commit()

    response = client.get(f"/v1/batches/{batch_id}", headers=processor_headers)

    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in ("status", "rows", "accepted", "duplicates", "rejected")} == {
        "status": "queued",
        "rows": 8,
        "accepted": 4,
        "duplicates": 2,
        "rejected": 2,
    }
    assert {k: body[k] for k in ("received", "processed", "unmatched", "waiting", "excluded")} == {
        "received": 0,
        "processed": 1,
        "unmatched": 1,
        "waiting": 1,
        "excluded": 1,
    }
    assert body["complete"] is True
    assert body["source"] == "api" and body["created_at"].endswith("Z")


def test_fresh_batch_is_received_not_complete(client, processor_headers):
    batch_id = post_batch(client, processor_headers, [tx_row(1)]).get_json()["batch_id"]

    body = client.get(f"/v1/batches/{batch_id}", headers=processor_headers).get_json()

    assert (body["received"], body["processed"], body["complete"]) == (1, 0, False)


def test_other_programs_batch_is_404(client, db, processor_headers):
    other = ProgramFactory(slug="other-card")
    other_key = bearer(
        mint_api_key(program=other, role="processor", name="o", created_by="t").secret
    )
    db.session.commit()
    batch_id = post_batch(client, processor_headers, [tx_row(1, mcc="1")]).get_json()["batch_id"]

    for path in (f"/v1/batches/{batch_id}", f"/v1/batches/{batch_id}/rejections"):
        response = client.get(path, headers=other_key)
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"
    assert client.get("/v1/batches/999999", headers=processor_headers).status_code == 404


def test_rejections_are_cursor_paginated(client, processor_headers):
    rows = [tx_row(n, mcc="bad") for n in range(5)]
    batch_id = post_batch(client, processor_headers, rows).get_json()["batch_id"]
    url = f"/v1/batches/{batch_id}/rejections"

    first = client.get(f"{url}?limit=2", headers=processor_headers).get_json()
    second = client.get(f"{url}?limit=2&cursor={first['next_cursor']}", headers=processor_headers)
    rest = client.get(
        f"{url}?limit=2&cursor={second.get_json()['next_cursor']}", headers=processor_headers
    ).get_json()

    assert [r["index"] for r in first["data"]] == [0, 1]
    assert [r["index"] for r in second.get_json()["data"]] == [2, 3]
    assert [r["index"] for r in rest["data"]] == [4] and rest["next_cursor"] is None
    assert first["data"][0]["errors"] == {"mcc": ["must be exactly 4 digits, as a string"]}
    assert client.get(f"{url}?limit=500", headers=processor_headers).status_code == 422
    assert client.get(f"{url}?cursor=abc", headers=processor_headers).status_code == 422


def test_cardholders_cannot_read_batches(client, processor_headers, cardholder_headers):
    batch_id = post_batch(client, processor_headers, [tx_row(1)]).get_json()["batch_id"]

    assert client.get(f"/v1/batches/{batch_id}", headers=cardholder_headers).status_code == 403
    assert client.get(f"/v1/batches/{batch_id}").status_code == 401


def test_batch_counts_after_real_processing(client, db, program, processor_headers, run_jobs):
    CardFactory(customer__program=program, token="card_tok_000001")
    db.session.commit()
    rows = [tx_row(1), tx_row(2, card_token="card_tok_unknown"), tx_row(3, mcc="6011")]
    batch_id = post_batch(client, processor_headers, rows).get_json()["batch_id"]

    run_jobs()
    body = client.get(f"/v1/batches/{batch_id}", headers=processor_headers).get_json()

    assert {k: body[k] for k in ("received", "processed", "unmatched", "excluded")} == {
        "received": 0,
        "processed": 1,
        "unmatched": 1,  # card not enrolled yet
        "excluded": 1,  # 6011: cash at an ATM earns nothing
    }
    assert body["complete"] is True

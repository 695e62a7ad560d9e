"""Redis unreachable while the processor sends a feed (a file, a JSON batch, a Marqeta
webhook): the rows are stored, the answer says they are not queued yet, and the sweeper
queues them once Redis answers again."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from api import create_app
from rewards.models import Transaction
from tests.ledger_helpers import balance, enrol
from tests.test_ingest_files import csv_file, csv_line, upload
from tests.test_marqeta import basic, mq, post
from workers.jobs import sweep_stranded
from workers.queues import enqueue_transactions


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app_without_redis(app_config) -> Iterator[Flask]:
    """The API with REDIS_URL pointing at a closed port (the shared Redis keeps running)."""
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    yield create_app({**app_config, "REDIS_URL": url, "RATELIMIT_STORAGE_URI": "memory://"})


def test_an_upload_while_redis_is_down_says_the_rows_are_stored_not_queued(
    app, app_without_redis, db, program, processor_headers, run_jobs
):
    card = enrol(program.id, token="card_tok_000001")
    data = csv_file([csv_line(n) for n in range(1, 4)])
    with app_without_redis.app_context():
        response = upload(app_without_redis.test_client(), processor_headers, data)

    assert response.status_code == 202
    body = response.get_json()
    assert (body["status"], body["accepted"]) == ("stored", 3)
    assert "sweeper" in body["detail"]
    stored = db.session.execute(select(Transaction.status)).scalars().all()
    assert stored == ["received"] * 3  # safe in PostgreSQL ...
    assert app.extensions["rewards_queues"].queue("feed").count == 0  # ... and in no queue

    # Redis answers again (the test app's): the sweeper queues the rows, a worker credits them.
    assert sweep_stranded(older_than_seconds=0) == 3
    run_jobs()
    assert balance(card.customer_id) == (3 * 1200, 0)


def test_an_upload_with_redis_up_says_queued_without_a_detail(
    client, db, program, processor_headers
):
    response = upload(client, processor_headers, csv_file([csv_line(1)]))
    assert response.status_code == 202
    assert response.get_json()["status"] == "queued"
    assert "detail" not in response.get_json()


def _tx(n: int) -> dict:
    return {
        "external_id": f"j-{n}",
        "card_token": "card_tok_000001",
        "kind": "purchase",
        "amount_minor": 500,
        "currency": "JPY",
        "mcc": "5812",
        "occurred_at": "2026-05-01T12:00:00+09:00",
    }


def test_a_json_batch_and_a_marqeta_webhook_while_redis_is_down_say_stored_not_queued(
    app, app_without_redis, db, program, processor_headers, run_jobs
):
    card = enrol(program.id, token="card_tok_000001")
    marqeta = basic(processor_headers["Authorization"].removeprefix("Bearer "))
    with app_without_redis.app_context():
        client = app_without_redis.test_client()
        batch = client.post(
            "/v1/transactions",
            json={"transactions": [_tx(1), _tx(2)]},
            headers={**processor_headers, "Idempotency-Key": "batch-1"},
        )
        webhook = post(client, marqeta, [mq("c1", "authorization.clearing")])

    assert batch.status_code == 202 and webhook.status_code == 200
    for body, accepted in ((batch.get_json(), 2), (webhook.get_json(), 1)):
        assert (body["status"], body["accepted"]) == ("stored", accepted)
        assert "sweeper" in body["detail"]
    assert app.extensions["rewards_queues"].queue("feed").count == 0
    assert sweep_stranded(older_than_seconds=0) == 3
    run_jobs()
    assert balance(card.customer_id) == (2 * 500 + 1200, 0)


def test_a_json_batch_and_a_webhook_with_redis_up_say_queued(
    client, db, program, processor_headers
):
    enrol(program.id, token="card_tok_000001")
    marqeta = basic(processor_headers["Authorization"].removeprefix("Bearer "))
    batch = client.post(
        "/v1/transactions", json={"transactions": [_tx(1)]}, headers=processor_headers
    )
    webhook = post(client, marqeta, [mq("c1", "authorization.clearing")])
    for body in (batch.get_json(), webhook.get_json()):
        assert body["status"] == "queued" and "detail" not in body
    spec = client.get("/v1/openapi.json").get_json()["components"]["schemas"]
    for name in ("TransactionBatch", "MarqetaResult"):
        assert spec[name]["properties"]["status"]["enum"] == ["queued", "stored"]


def test_enqueueing_reports_chunks_it_could_not_queue_without_raising(
    app_without_redis, db, program
):
    with app_without_redis.app_context():
        result = enqueue_transactions([1, 2, 3])
    assert (result.jobs, result.not_queued, result.complete) == (0, 1, False)


def test_the_file_upload_spec_documents_both_statuses(client):
    spec = client.get("/v1/openapi.json").get_json()
    schema = spec["components"]["schemas"]["TransactionFile"]["properties"]
    assert schema["status"]["enum"] == ["queued", "stored"]
    assert "detail" in schema


def test_the_import_file_command_says_when_rows_are_stored_but_not_queued(
    app, app_without_redis, db, program, tmp_path
):
    enrol(program.id, token="card_tok_000001")
    path = tmp_path / "feed.csv"
    path.write_bytes(csv_file([csv_line(n) for n in range(1, 4)]))
    with app_without_redis.app_context():
        result = app_without_redis.test_cli_runner().invoke(
            args=["import-file", str(path), "--program", program.slug]
        )
    assert result.exit_code == 0, result.output
    assert "accepted 3" in result.output
    assert "stored, not queued: 3 rows wait for the sweeper" in result.output
    assert sweep_stranded(older_than_seconds=0) == 3

    ok = app.test_cli_runner().invoke(args=["import-file", str(path), "--program", program.slug])
    assert "not queued" not in ok.output  # all duplicates now, and the queue answers

"""Text that cannot be stored and JSON nested too deep never reach a 500 or the database."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from rewards.models import Batch, Customer, LedgerEntry, Transaction
from tests.test_ingest_api import tx_row

UNSTORABLE = {"nul": "Noodle\x00Bar", "lone surrogate": "Noodle \ud800 Bar"}


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    return response.json


def _raw_json(value) -> bytes:
    """JSON as a client would send it, escapes included (`\\u0000`, `\\ud800`)."""
    return json.dumps(value).encode()


@pytest.mark.parametrize("kind", UNSTORABLE)
def test_unstorable_text_in_a_body_is_422_naming_the_field(
    client, db, marketer_headers, processor_headers, kind
):
    bad = UNSTORABLE[kind]
    cases = [
        ("/v1/customers", processor_headers, {"external_ref": "c-1", "nickname": bad}, "nickname"),
        ("/v1/segments", marketer_headers, {"name": "s", "rules": {"tags": [bad]}}, "rules.tags.0"),
        ("/v1/partners", marketer_headers, {"code": "p", "name": bad}, "name"),
    ]
    for url, headers, body, field in cases:
        response = client.post(
            url, data=_raw_json(body), headers={**headers, "Content-Type": "application/json"}
        )
        assert list(_problem(response, 422)["errors"]) == [field], url
    assert client.get("/v1/partners", headers=marketer_headers).json["data"] == []


def test_unstorable_query_args_and_headers_are_422(client, marketer_headers):
    response = client.get("/v1/audit-log?action=a%00b", headers=marketer_headers)
    assert list(_problem(response, 422)["errors"]) == ["action"]
    response = client.post(
        "/v1/customers/c-1/adjustments",
        json={"points": 5, "reason": "x"},
        headers={**marketer_headers, "Idempotency-Key": "k\x00"},
    )
    assert "Idempotency-Key" in _problem(response, 422)["errors"]


@pytest.mark.parametrize("kind", UNSTORABLE)
def test_unstorable_text_rejects_only_its_row_in_a_json_batch(client, db, processor_headers, kind):
    rows = [tx_row(1), tx_row(2, merchant_name=UNSTORABLE[kind]), tx_row(3)]
    response = client.post(
        "/v1/transactions",
        data=_raw_json({"transactions": rows}),
        headers={**processor_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.json
    assert response.json["accepted"] == 2
    assert response.json["rejected"] == [
        {
            "index": 1,
            "errors": {
                "merchant_name": [response.json["rejected"][0]["errors"]["merchant_name"][0]]
            },
        }
    ]
    assert sorted(db.session.scalars(select(Transaction.external_id))) == ["tx-1", "tx-3"]


CSV_HEADER = "external_id,card_token,kind,amount_minor,currency,mcc,merchant_name,occurred_at\n"


def _csv_line(n: int, merchant: bytes) -> bytes:
    return (
        f"tx-{n},card_tok_000001,purchase,1200,JPY,5812,".encode()
        + merchant
        + b",2024-05-01T12:00:00+09:00\n"
    )


@pytest.mark.parametrize(
    ("merchant", "file_format"),
    [
        (b"Noodle \xff\xfe Bar", "csv"),  # bytes that are not UTF-8
        (b"Noodle \x00 Bar", "csv"),
        (b"Noodle \xc3 Bar", "jsonl"),
        (b"Noodle \\u0000 Bar", "jsonl"),
        (b"Noodle \\ud800 Bar", "jsonl"),
    ],
)
def test_a_bad_row_in_a_file_is_rejected_alone(
    client, db, processor_headers, merchant, file_format
):
    if file_format == "csv":
        body = CSV_HEADER.encode() + b"".join(
            _csv_line(n, merchant if n == 2 else b"Noodle Bar") for n in (1, 2, 3)
        )
        content_type = "text/csv"
    else:
        lines = []
        for n in (1, 2, 3):
            row = json.dumps(tx_row(n, merchant_name="MERCHANT")).encode()
            lines.append(row.replace(b"MERCHANT", merchant if n == 2 else b"Noodle Bar"))
        body = b"\n".join(lines)
        content_type = "application/x-ndjson"

    response = client.post(
        "/v1/transaction-files",
        data=body,
        headers={**processor_headers, "Content-Type": content_type},
    )

    assert response.status_code == 202, response.json
    assert response.json["accepted"] == 2 and response.json["rejected"] == 1
    assert [r["index"] for r in response.json["rejections"]] == [1]
    assert list(response.json["rejections"][0]["errors"]) == ["merchant_name"]
    assert sorted(db.session.scalars(select(Transaction.external_id))) == ["tx-1", "tx-3"]
    assert db.session.scalar(select(Batch.status)) == "queued"


class BreaksMidUpload:
    """A request body whose reading fails with an error nobody planned for, after two rows."""

    def __init__(self) -> None:
        self.parts = [CSV_HEADER.encode(), _csv_line(1, b"A"), _csv_line(2, b"B")]

    def read(self, size: int = -1) -> bytes:
        if not self.parts:
            raise RuntimeError("the storage under the proxy went away")
        return self.parts.pop(0)

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


def test_a_batch_never_stays_receiving_after_an_unexpected_error(client, db, processor_headers):
    response = client.post(
        "/v1/transaction-files",
        environ_overrides={"wsgi.input": BreaksMidUpload(), "CONTENT_LENGTH": "100000"},
        headers={**processor_headers, "Content-Type": "text/csv"},
    )

    assert response.status_code == 500
    assert response.content_type == "application/problem+json"
    db.session.remove()
    batch = db.session.scalars(select(Batch)).one()
    assert batch.status == "failed" and batch.completed_at is not None
    assert "unexpected" in batch.error


def _nested(depth: int) -> bytes:
    return b'{"name": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def test_json_nested_deeper_than_32_levels_is_400_on_every_endpoint(app, client, processor_headers):
    posts = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if "POST" in (rule.methods or ()) and "<" not in rule.rule
    ]
    assert "/v1/transactions" in posts and "/v1/feeds/marqeta" in posts
    for url in posts:
        for body in (_nested(33), b"[" * 100_000 + b"]" * 100_000):
            response = client.post(
                url, data=body, headers={**processor_headers, "Content-Type": "application/json"}
            )
            body_json = _problem(response, 400)
            assert "32" in body_json["detail"], url
    # 32 levels is still JSON the views judge (here: a schema error, not a depth error).
    response = client.post(
        "/v1/transactions",
        data=_nested(32),
        headers={**processor_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422


def test_brackets_inside_strings_do_not_count_as_depth(client, processor_headers):
    row = tx_row(1, merchant_name="[" * 50 + "{" * 50)
    response = client.post(
        "/v1/transactions", json={"transactions": [row]}, headers=processor_headers
    )
    assert response.status_code == 202 and response.json["accepted"] == 1


def test_display_text_keeps_its_words_with_the_card_number_masked(client, db, processor_headers):
    response = client.post(
        "/v1/customers",
        json={"external_ref": "c-1", "nickname": "Ken ５５５５ ５５５５ ５５５５ ４４４４!"},
        headers=processor_headers,
    )

    assert response.status_code == 201, response.json
    assert response.json["nickname"] == "Ken 555555******4444!"
    assert db.session.scalar(select(Customer.nickname)) == "Ken 555555******4444!"


def test_a_purchase_whose_merchant_name_holds_a_card_number_still_earns(
    client, db, processor_headers, run_jobs
):
    client.post("/v1/customers", json={"external_ref": "c-1"}, headers=processor_headers)
    client.post(
        "/v1/customers/c-1/cards", json={"token": "card_tok_000001"}, headers=processor_headers
    )
    now = datetime.now(UTC).isoformat()
    row = tx_row(1, merchant_name="Noodle Bar 4111-1111-1111-1111", occurred_at=now)

    response = client.post(
        "/v1/transactions", json={"transactions": [row]}, headers=processor_headers
    )
    assert response.json["accepted"] == 1
    run_jobs()

    tx = db.session.scalars(select(Transaction)).one()
    assert tx.merchant_name == "Noodle Bar 411111******1111"
    assert tx.status == "processed"
    # 1,200 JPY at 1 point per major unit
    assert db.session.scalar(select(func.sum(LedgerEntry.points))) == 1200

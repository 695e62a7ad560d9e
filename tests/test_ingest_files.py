"""POST /v1/transaction-files (CSV / JSON Lines, raw or multipart, streamed) and `import-file`."""

from __future__ import annotations

import io
import json

from sqlalchemy import func, select

from rewards.feed_rows import FIELDS
from rewards.models import Batch, Transaction
from tests.test_ingest_api import PAN, feed_jobs, tx_row

HEADER = ",".join(FIELDS)


def csv_line(n: int, *, amount: str = "1200", token: str = "card_tok_000001") -> str:
    return (
        f"tx-{n},{token},purchase,{amount},JPY,5812,m-{n % 50},"
        f'"Noodle Bar, Shibuya",in_store,2024-05-01T12:00:00+09:00,'
    )


def csv_file(rows: list[str]) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def jsonl_file(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def upload(client, headers, data, content_type="text/csv", **kwargs):
    return client.post(
        "/v1/transaction-files", data=data, content_type=content_type, headers=headers, **kwargs
    )


def count(db, model=Transaction) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_raw_csv_upload_stores_good_rows_and_reports_bad_ones(app, client, db, processor_headers):
    data = csv_file([csv_line(1), csv_line(2, amount="-5"), csv_line(3, token=PAN), csv_line(4)])
    response = upload(client, processor_headers, data)

    assert response.status_code == 202
    body = response.get_json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 0, 2)
    assert body["status"] == "queued"
    assert [(r["index"], list(r["errors"])) for r in body["rejections"]] == [
        (1, ["amount_minor"]),
        (2, ["card_token"]),
    ]
    assert PAN not in response.get_data(as_text=True)
    names = db.session.scalars(select(Transaction.merchant_name)).all()
    assert names == ["Noodle Bar, Shibuya"] * 2
    assert feed_jobs(app) == 1


def test_raw_jsonl_upload_and_bad_lines(client, db, processor_headers):
    data = jsonl_file([tx_row(1), tx_row(2, amount_minor="1200")]) + b"{not json\n\n"
    data += jsonl_file([tx_row(3)])
    response = upload(client, processor_headers, data, content_type="application/x-ndjson")

    body = response.get_json()
    assert response.status_code == 202
    assert (body["accepted"], body["rejected"]) == (2, 2)
    assert [(r["index"], list(r["errors"])) for r in body["rejections"]] == [
        (1, ["amount_minor"]),  # JSON amounts must be integers, not strings
        (2, ["_row"]),
    ]


def test_multipart_uploads_csv_and_jsonl(client, db, processor_headers):
    csv_response = client.post(
        "/v1/transaction-files",
        data={"file": (io.BytesIO(csv_file([csv_line(1), csv_line(2)])), "feed.csv")},
        headers=processor_headers,
        content_type="multipart/form-data",
    )
    jsonl_response = client.post(
        "/v1/transaction-files",
        data={"file": (io.BytesIO(jsonl_file([tx_row(2), tx_row(3)])), "feed.jsonl")},
        headers=processor_headers,
        content_type="multipart/form-data",
    )

    assert csv_response.status_code == jsonl_response.status_code == 202
    assert csv_response.get_json()["accepted"] == 2
    assert (jsonl_response.get_json()["accepted"], jsonl_response.get_json()["duplicates"]) == (
        1,
        1,
    )
    batch = db.session.get(Batch, csv_response.get_json()["batch_id"])
    assert (batch.source, batch.filename) == ("file", "feed.csv")


def test_multipart_without_file_field_names_file(client, db, processor_headers):
    response = client.post(
        "/v1/transaction-files",
        data={"other": "x"},
        headers=processor_headers,
        content_type="multipart/form-data",
    )

    assert response.status_code == 422
    assert "file" in response.get_json()["errors"]


def test_other_content_type_is_415(client, db, processor_headers):
    response = upload(client, processor_headers, b"<xml/>", content_type="application/xml")

    assert response.status_code == 415
    assert response.mimetype == "application/problem+json"
    assert count(db, Batch) == 0


def test_bad_csv_header_refuses_the_file_naming_the_column(client, db, processor_headers):
    data = csv_file([csv_line(1)]).replace(b"merchant_name", b"shop_name", 1)
    response = upload(client, processor_headers, data)

    assert response.status_code == 422
    assert "shop_name" in response.get_json()["errors"]
    assert count(db, Batch) == 0 and count(db) == 0


def test_large_csv_is_streamed_in_committed_chunks(app, client, db, processor_headers):
    rows = 50_000
    data = csv_file([csv_line(n) for n in range(rows)])
    response = upload(client, processor_headers, data)

    body = response.get_json()
    assert response.status_code == 202
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (rows, 0, 0)
    assert count(db) == rows
    assert feed_jobs(app) == rows // app.config["CHUNK_SIZE"]
    again = upload(client, processor_headers, data).get_json()
    assert (again["accepted"], again["duplicates"]) == (0, rows)


class BrokenStream(io.RawIOBase):
    """A request body announced as `announced` bytes whose connection resets after `data`."""

    def __init__(self, data: bytes, announced: int) -> None:
        self.body = io.BytesIO(data)
        self.announced = announced
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True  # the test client measures the body by seeking to its end

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = self.announced if whence == 2 else offset
        return self.position

    def readinto(self, buffer) -> int:
        chunk = self.body.read(len(buffer))
        if not chunk:
            raise ConnectionResetError("connection reset by peer")
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_upload_that_breaks_off_keeps_committed_chunks_and_fails_the_batch(
    client, db, processor_headers
):
    data = csv_file([csv_line(n) for n in range(25_000)])
    cut = data[: len(data) * 9 // 10]  # the connection drops before the rest arrives
    response = client.post(
        "/v1/transaction-files",
        input_stream=BrokenStream(cut, announced=len(data)),
        content_type="text/csv",
        headers=processor_headers,
    )

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    batch = db.session.scalars(select(Batch)).one()
    assert batch.status == "failed" and "broke off" in batch.error
    assert count(db) == 20_000  # two committed chunks of 10,000 stay
    assert batch.accepted == 20_000


def test_cli_import_file(app, db, program, tmp_path):
    path = tmp_path / "feed.csv"
    path.write_bytes(csv_file([csv_line(1), csv_line(2), csv_line(3, amount="0")]))
    runner = app.test_cli_runner()

    result = runner.invoke(args=["import-file", str(path), "--program", program.slug])

    assert result.exit_code == 0, result.output
    assert "accepted 2, duplicates 0, rejected 1" in result.output
    assert count(db) == 2
    assert feed_jobs(app) == 1
    batch = db.session.scalars(select(Batch)).one()
    assert (batch.source, batch.filename, batch.status) == ("cli", "feed.csv", "queued")


def test_cli_import_jsonl_with_format_option(app, db, program, tmp_path):
    path = tmp_path / "feed.txt"
    path.write_bytes(jsonl_file([tx_row(1)]))
    result = app.test_cli_runner().invoke(
        args=["import-file", str(path), "--program", program.slug, "--format", "jsonl"]
    )

    assert result.exit_code == 0, result.output
    assert count(db) == 1


def test_cli_refuses_missing_file_and_unknown_program(app, db, program, tmp_path):
    runner = app.test_cli_runner()
    missing = runner.invoke(args=["import-file", str(tmp_path / "nope.csv"), "--program", "youth"])
    path = tmp_path / "feed.csv"
    path.write_bytes(csv_file([csv_line(1)]))
    unknown = runner.invoke(args=["import-file", str(path), "--program", "no-such-program"])

    assert missing.exit_code != 0
    assert unknown.exit_code != 0 and "no-such-program" in unknown.output
    assert count(db) == 0 and count(db, Batch) == 0

"""POST /v1/customer-files: bulk enrolment of customers and cards through the real stack."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from rewards.models import Account, Card, Customer, Transaction
from tests.conftest import bearer, make_token
from tests.test_ingest_api import post_batch, tx_row

PAN = "4111111111111111"  # a Luhn-valid Visa test number: must never be stored or echoed
HEADER = "external_ref,birth_date,nickname,card_tokens,consent_leaderboard,tags"


def csv_file(*lines: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


def jsonl_file(*rows: dict) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def upload(client, headers, data, content_type="text/csv"):
    return client.post("/v1/customer-files", data=data, content_type=content_type, headers=headers)


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def cards_of(db) -> dict[str, str]:
    """card token → its customer's external ref."""
    rows = db.session.execute(
        select(Card.token, Customer.external_ref).join(Customer, Card.customer_id == Customer.id)
    )
    return dict(rows.all())


MIXED_CSV = csv_file(
    "c-1,2005-04-01,Aki,tok_a1 tok_a2,true,student tokyo",  # 0 good, two cards
    "c-2,2005-02-30,Ben,tok_b1,false,",  # 1 no 30 February
    f"{PAN},2004-01-01,Cat,tok_c1,,",  # 2 a card number as the ref
    "c-4,,,tok_d1,,",  # 3 good, only a card
    f"c-5,2003-03-03,Dee,{PAN},,",  # 4 a card number as the token
    "c-1,2001-01-01,Again,tok_x1,,",  # 5 the ref of row 0 again
    "c-7,2002-02-02,Eve,tok_a2,,",  # 6 a token of row 0 again
    "c-8,2002-02-02,Fay,tok_f1,maybe,",  # 7 not a boolean
    "c-9,2030-01-01,Gus,tok_g1,,",  # 8 born in the future
    "c-10,,Hal,,yes,",  # 9 good, no card
)


def test_good_rows_are_stored_around_bad_ones(client, db, processor_headers):
    response = upload(client, processor_headers, MIXED_CSV)

    assert response.status_code == 200, response.json
    body = response.json
    assert (body["rows"], body["created"], body["updated"], body["unchanged"]) == (10, 3, 0, 0)
    assert (body["rejected"], body["cards_enrolled"]) == (7, 3)
    assert [(r["index"], sorted(r["errors"])) for r in body["rejections"]] == [
        (1, ["birth_date"]),
        (2, ["external_ref"]),
        (4, ["card_tokens.0"]),
        (5, ["external_ref"]),
        (6, ["card_tokens.0"]),
        (7, ["consent_leaderboard"]),
        (8, ["birth_date"]),
    ]
    assert body["rejections"][3]["errors"]["external_ref"] == [
        "appears earlier in this file (row 0)"
    ]
    assert PAN not in response.get_data(as_text=True)

    customers = {c.external_ref: c for c in db.session.scalars(select(Customer))}
    assert sorted(customers) == ["c-1", "c-10", "c-4"]
    aki = customers["c-1"]
    assert (aki.birth_date, aki.nickname, aki.consent_leaderboard) == (
        date(2005, 4, 1),
        "Aki",
        True,
    )
    assert (aki.tags, aki.consent_marketing, aki.status) == (["student", "tokyo"], False, "active")
    assert (customers["c-4"].nickname, customers["c-4"].birth_date) == (None, None)
    assert customers["c-10"].consent_leaderboard is True
    assert cards_of(db) == {"tok_a1": "c-1", "tok_a2": "c-1", "tok_d1": "c-4"}
    assert count(db, Account) == 3


def test_the_same_file_twice_changes_nothing(client, db, processor_headers):
    first = upload(client, processor_headers, MIXED_CSV).json
    second = upload(client, processor_headers, MIXED_CSV)

    assert second.status_code == 200
    body = second.json
    assert (body["created"], body["updated"], body["unchanged"]) == (0, 0, 3)
    assert (body["rejected"], body["cards_enrolled"]) == (first["rejected"], 0)
    assert (count(db, Customer), count(db, Card), count(db, Account)) == (3, 3, 3)


def test_a_later_file_updates_given_fields_and_keeps_the_rest(client, db, processor_headers):
    upload(client, processor_headers, csv_file("c-1,2005-04-01,Aki,tok_a1,true,student"))
    later = csv_file("c-1,Akiko,tok_a9", "c-1b,,", header="external_ref,nickname,card_token")
    body = upload(client, processor_headers, later).json

    assert (body["created"], body["updated"], body["unchanged"], body["rejected"]) == (1, 1, 0, 0)
    aki = db.session.scalar(select(Customer).where(Customer.external_ref == "c-1"))
    assert (aki.nickname, aki.birth_date, aki.consent_leaderboard) == (
        "Akiko",
        date(2005, 4, 1),
        True,
    )
    assert aki.tags == ["student"]
    assert cards_of(db) == {"tok_a1": "c-1", "tok_a9": "c-1"}


def test_a_token_of_another_customer_rejects_the_row_and_stores_nothing_of_it(
    client, db, processor_headers
):
    assert (
        client.post(
            "/v1/customers", json={"external_ref": "owner"}, headers=processor_headers
        ).status_code
        == 201
    )
    enrolled = client.post(
        "/v1/customers/owner/cards", json={"token": "tok_taken"}, headers=processor_headers
    )
    assert enrolled.status_code == 201
    data = jsonl_file(
        {"external_ref": "thief", "nickname": "T", "card_tokens": ["tok_new", "tok_taken"]},
        {"external_ref": "fine", "card_token": "tok_fine"},
    )
    response = upload(client, processor_headers, data, content_type="application/x-ndjson")

    body = response.json
    assert (body["created"], body["rejected"]) == (1, 1)
    assert body["rejections"] == [
        {"index": 0, "errors": {"card_tokens.1": ["is enrolled to another customer"]}}
    ]
    assert set(db.session.scalars(select(Customer.external_ref))) == {"owner", "fine"}
    assert cards_of(db) == {"tok_taken": "owner", "tok_fine": "fine"}

    own = jsonl_file({"external_ref": "owner", "card_token": "tok_taken"})
    again = upload(client, processor_headers, own, content_type="application/x-ndjson").json
    assert (again["unchanged"], again["rejected"]) == (1, 0)


def test_an_erased_customer_is_not_re_enrolled(client, db, processor_headers, program):
    client.post("/v1/customers", json={"external_ref": "gone"}, headers=processor_headers)
    db.session.execute(Customer.__table__.update().values(status="erased"))
    db.session.commit()

    body = upload(client, processor_headers, csv_file("gone,,Back,tok_z,,")).json

    assert (body["created"], body["updated"], body["rejected"]) == (0, 0, 1)
    assert body["rejections"][0]["errors"] == {"external_ref": ["this customer was erased"]}
    assert count(db, Card) == 0


def test_jsonl_rows_that_cannot_be_read_are_rejected_alone(client, db, processor_headers):
    data = (
        jsonl_file({"external_ref": "j-1", "card_tokens": ["tok_j1"], "consent_marketing": True})
        + b"{not json\n\n"
        + jsonl_file(
            {"external_ref": "j-2", "favourite": "blue"},
            {"external_ref": "j-3", "nickname": "bad\ud800"},
            ["j-4"],
            {"external_ref": "j-5", "tags": ["Upper Case"]},
            {"external_ref": "j-6", "card_tokens": "tok_j6 tok_j7"},
        )
    )
    body = upload(client, processor_headers, data, content_type="application/x-ndjson").json

    assert (body["created"], body["rejected"]) == (2, 5)
    assert [(r["index"], sorted(r["errors"])) for r in body["rejections"]] == [
        (1, ["_row"]),
        (2, ["favourite"]),
        (3, ["nickname"]),
        (4, ["_row"]),
        (5, ["tags.0"]),
    ]
    assert cards_of(db) == {"tok_j1": "j-1", "tok_j6": "j-6", "tok_j7": "j-6"}
    j1 = db.session.scalar(select(Customer).where(Customer.external_ref == "j-1"))
    assert (j1.consent_marketing, j1.consent_leaderboard) == (True, False)


def test_a_bad_header_refuses_the_whole_file(client, db, processor_headers):
    data = csv_file("c-1,tok_1,blue", header=f"external_ref,card_token,{PAN}")
    response = upload(client, processor_headers, data)

    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert list(response.json["errors"]) == ["_header.2"]
    assert PAN not in response.get_data(as_text=True)
    assert count(db, Customer) == 0


def test_multipart_upload_and_unknown_media_type(client, db, processor_headers):
    multipart = client.post(
        "/v1/customer-files",
        data={"file": (io.BytesIO(csv_file("m-1,,,tok_m1,,")), "launch.csv")},
        headers=processor_headers,
        content_type="multipart/form-data",
    )
    assert multipart.status_code == 200
    assert multipart.json["created"] == 1

    refused = upload(client, processor_headers, b"<xml/>", content_type="application/xml")
    assert refused.status_code == 415
    assert refused.content_type == "application/problem+json"


def test_only_processors_may_upload(client, db, program, marketer_headers):
    assert upload(client, marketer_headers, csv_file("x,,,,,")).status_code == 403
    assert upload(client, {}, csv_file("x,,,,,")).status_code == 401
    assert count(db, Customer) == 0


def test_enrolled_cardholders_log_in_and_their_cards_earn(
    app, client, db, program, processor_headers, run_jobs
):
    # A purchase arrives before the bank's launch file: it waits as unmatched. (Recent, so its
    # points are far from their 12-month expiry.)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    early = post_batch(
        client, processor_headers, [tx_row(1, card_token="tok_early", occurred_at=yesterday)]
    )
    assert early.status_code == 202
    run_jobs()
    status = db.session.scalar(select(Transaction.status))
    assert status == "unmatched"

    data = csv_file("early-bird,2004-06-01,Ema,tok_early,,", "c-2,2006-01-01,Ken,tok_k1,,")
    assert upload(client, processor_headers, data).json["created"] == 2
    later = post_batch(
        client,
        processor_headers,
        [tx_row(2, card_token="tok_k1", amount_minor=3456, occurred_at=yesterday)],
    )
    assert later.status_code == 202
    run_jobs()

    # 1 point per yen (the program's rate): ¥1,200 and ¥3,456.
    for ref, points in (("early-bird", 1200), ("c-2", 3456)):
        headers = bearer(make_token(sub=ref, program=program.slug, roles=["cardholder"]))
        me = client.get("/v1/me", headers=headers)
        assert me.status_code == 200
        assert me.json["external_ref"] == ref
        balance = client.get("/v1/me/balance", headers=headers).json
        assert balance["available"] == points


def test_the_spec_documents_the_upload_as_it_behaves(client):
    operation = client.get("/v1/openapi.json").json["paths"]["/v1/customer-files"]["post"]

    body = operation["requestBody"]
    assert body["required"] is True
    assert set(body["content"]) == {"text/csv", "application/x-ndjson", "multipart/form-data"}
    assert {"200", "400", "401", "403", "415", "422"} <= set(operation["responses"])
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/CustomerFile")
    for column in ("external_ref", "birth_date", "card_tokens", "consent_marketing", "tags"):
        assert f"`{column}`" in operation["description"]


def test_card_numbers_are_refused_in_identifiers_and_masked_in_the_nickname(
    client, db, processor_headers
):
    data = jsonl_file(
        {"external_ref": "4111-1111-1111-1111"},
        {"external_ref": "p-2", "card_tokens": ["tok_ok", "tok_4111.1111.1111.1111"]},
        {"external_ref": "p-3", "tags": ["4111111111111111"]},
        {"external_ref": "p-4", "nickname": "my card ４１１１ １１１１ １１１１ １１１１"},
    )
    response = upload(client, processor_headers, data, content_type="application/x-ndjson")

    body = response.json
    assert (body["created"], body["rejected"]) == (1, 3)
    assert [(r["index"], sorted(r["errors"])) for r in body["rejections"]] == [
        (0, ["external_ref"]),
        (1, ["card_tokens.1"]),
        (2, ["tags.0"]),
    ]
    assert "1111" not in response.get_data(as_text=True)
    stored = db.session.execute(select(Customer.external_ref, Customer.nickname)).all()
    assert stored == [("p-4", "my card 411111******1111")]
    assert count(db, Card) == 0


def test_the_cli_enrols_a_file_with_a_progress_bar(app, db, program, tmp_path):
    launch = tmp_path / "launch.csv"
    launch.write_bytes(MIXED_CSV)
    rejected = tmp_path / "rejected.jsonl"
    runner = app.test_cli_runner()

    result = runner.invoke(
        args=["import-customers", str(launch), "--program", "youth", "--rejections", str(rejected)]
    )

    assert result.exit_code == 0, result.output
    assert "launch.csv" in result.output  # the progress bar's label
    assert (
        "customers: created 3, updated 0, unchanged 0, rejected 7; cards enrolled 3"
        in result.output
    )
    lines = [json.loads(line) for line in rejected.read_text().splitlines()]
    assert [line["index"] for line in lines] == [1, 2, 4, 5, 6, 7, 8]
    assert PAN not in rejected.read_text() + result.output
    assert cards_of(db) == {"tok_a1": "c-1", "tok_a2": "c-1", "tok_d1": "c-4"}

    again = runner.invoke(args=["import-customers", str(launch), "--program", "youth"])
    assert "created 0, updated 0, unchanged 3, rejected 7" in again.output
    assert "row 5: {'external_ref': ['appears earlier in this file (row 0)']}" in again.output


def test_the_cli_refuses_an_unknown_program(app, db, tmp_path):
    launch = tmp_path / "launch.csv"
    launch.write_bytes(MIXED_CSV)
    result = app.test_cli_runner().invoke(
        args=["import-customers", str(launch), "--program", "nope"]
    )
    assert result.exit_code == 1
    assert "No program with slug 'nope'" in result.output

"""The partner's side: only its own perks, drafts it proposes, code pools it uploads (refusals
per row, never echoing a code), and vouchers confirmed once at its till, with misses
throttled and no code in any log line."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections import Counter

import psycopg
import pytest
from sqlalchemy import select

from api import create_app
from rewards.logsafe import mask_record
from rewards.perks.codes import new_code
from rewards.perks.models import Voucher, VoucherCode
from tests.factories import CustomerFactory
from tests.perk_helpers import give_points, make_partner, make_perk
from tests.test_ingest_files import BrokenStream

CODES = "/v1/partner/perks/{}/codes"


@pytest.fixture
def shop(client, db, program, marketer_headers, partner_key):
    """Partners star-cafe and moon-books, a key for each, cardholder cust-1 with points."""
    make_partner(client, marketer_headers)
    make_partner(client, marketer_headers, code="moon-books", name="Moon Books")
    CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()
    give_points(client, marketer_headers, "cust-1", 5000)
    return {"star": partner_key("star-cafe"), "moon": partner_key("moon-books")}


def test_a_partner_sees_only_its_own_perks(client, shop, marketer_headers):
    mine = make_perk(client, marketer_headers)
    theirs = make_perk(client, marketer_headers, partner="moon-books", title="Book")

    listed = client.get("/v1/partner/perks", headers=shop["star"]).json["data"]

    assert [p["id"] for p in listed] == [mine]
    assert client.get(f"/v1/partner/perks/{mine}", headers=shop["star"]).status_code == 200
    assert client.get(f"/v1/partner/perks/{theirs}", headers=shop["star"]).status_code == 404
    other = client.post(CODES.format(theirs), json={"codes": ["A1B2C3"]}, headers=shop["star"])
    assert other.status_code == 404


def test_a_partner_proposes_drafts_of_its_own_perks_only(client, shop):
    body = {"title": "Free tea", "cost_points": 200}
    created = client.post("/v1/partner/perks", json=body, headers=shop["star"])
    foreign = client.post(
        "/v1/partner/perks", json={**body, "partner": "moon-books"}, headers=shop["star"]
    )

    assert created.status_code == 201, created.json
    assert (created.json["partner"], created.json["status"]) == ("star-cafe", "draft")
    assert foreign.status_code == 422 and "partner" in foreign.json["errors"]


def test_an_upload_reports_refusals_by_row_without_echoing_codes(
    client, db, shop, marketer_headers
):
    perk_id = make_perk(client, marketer_headers, voucher={"codes": "uploaded"})
    first = client.post(CODES.format(perk_id), json={"codes": ["KEEP-0001"]}, headers=shop["star"])
    pan = "4111 1111 1111 1111"
    csv_body = "\n".join(
        ["code", "CAFE-0001", "CAFE-0002", "CAFE-0001", pan, "ab", "KEEP-0001", "CAFE-0003"]
    )

    response = client.post(
        CODES.format(perk_id),
        data=csv_body,
        headers={**shop["star"], "Content-Type": "text/csv"},
    )

    assert first.json["added"] == 1
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["received"], body["added"], body["refused_count"]) == (7, 3, 4)
    assert [r["row"] for r in body["refused"]] == [3, 4, 5, 6]
    assert "Duplicate of an earlier row" in body["refused"][0]["message"]
    assert "card number" in body["refused"][1]["message"]
    assert "Already among this partner's codes" in body["refused"][3]["message"]
    assert body["available"] == 4
    text = json.dumps(body)
    assert "CAFE-000" not in text and "4111" not in text and "KEEP" not in text
    stored = db.session.scalars(select(VoucherCode.code_sealed)).all()
    assert stored and not any("CAFE" in s or "KEEP" in s for s in stored)


def test_json_lines_uploads_and_generated_perks_refuse_uploads(client, shop, marketer_headers):
    pooled = make_perk(client, marketer_headers, voucher={"codes": "uploaded"})
    generated = make_perk(client, marketer_headers, title="Generated")
    lines = "\n".join(json.dumps({"code": f"LINE-{i:04d}"}) for i in range(5)) + "\nnot json\n"

    response = client.post(
        CODES.format(pooled),
        data=lines,
        headers={**shop["star"], "Content-Type": "application/x-ndjson"},
    )
    refused = client.post(CODES.format(generated), json={"codes": ["X1Y2Z3"]}, headers=shop["star"])
    wrong_type = client.post(
        CODES.format(pooled), data="x", headers={**shop["star"], "Content-Type": "text/plain"}
    )

    assert (response.json["added"], response.json["refused_count"]) == (5, 1)
    assert refused.status_code == 409
    assert wrong_type.status_code == 415


def _redeem(client, cardholder_headers, perk_id, key="k") -> dict:
    response = client.post(
        "/v1/me/redemptions",
        json={"perk_id": perk_id},
        headers={**cardholder_headers, "Idempotency-Key": key},
    )
    assert response.status_code == 201, response.json
    return response.json["voucher"]


def test_the_till_uses_a_voucher_once_by_its_typed_code(
    client, db, shop, marketer_headers, cardholder_headers
):
    perk_id = make_perk(client, marketer_headers, cost_points=300)
    voucher = _redeem(client, cardholder_headers, perk_id)
    typed = voucher["code"].lower().replace("-", " ")
    url = f"/v1/partner/vouchers/{typed}/redeem"

    elsewhere = client.post(url, headers=shop["moon"])
    used = client.post(url, headers=shop["star"])
    again = client.post(url, headers=shop["star"])
    cancel = client.post(f"/v1/me/vouchers/{voucher['id']}/cancel", headers=cardholder_headers)

    assert elsewhere.status_code == 404  # another partner's till finds nothing
    assert used.status_code == 200, used.json
    assert (used.json["status"], used.json["points"], used.json["id"]) == (
        "used",
        300,
        voucher["id"],
    )
    assert again.status_code == 409
    assert again.json["type"].endswith("/voucher-not-usable")
    assert again.json["used_at"] == used.json["used_at"]
    assert cancel.status_code == 409
    mine = client.get("/v1/me/vouchers", headers=cardholder_headers).json["data"][0]
    assert mine["status"] == "used" and mine["cancellable_until"] is None


def test_an_uploaded_code_is_used_exactly_as_uploaded(
    client, shop, marketer_headers, cardholder_headers
):
    perk_id = make_perk(client, marketer_headers, voucher={"codes": "uploaded"})
    client.post(CODES.format(perk_id), json={"codes": ["Summer 2026/7"]}, headers=shop["star"])
    code = _redeem(client, cardholder_headers, perk_id)["code"]

    used = client.post("/v1/partner/vouchers/Summer%202026%2F7/redeem", headers=shop["star"])

    assert code == "Summer 2026/7"
    assert used.status_code == 200, used.json


def test_concurrent_till_confirmations_use_the_voucher_once(
    app, client, db, shop, marketer_headers, cardholder_headers
):
    perk_id = make_perk(client, marketer_headers)
    voucher = _redeem(client, cardholder_headers, perk_id)
    url = f"/v1/partner/vouchers/{voucher['code']}/redeem"
    responses: list = [None] * 4
    conninfo = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def call(i: int) -> None:
        with app.app_context():
            responses[i] = app.test_client().post(url, headers=shop["star"])

    with psycopg.connect(conninfo) as holder:
        holder.execute(f"SELECT 1 FROM vouchers WHERE id = {voucher['id']} FOR UPDATE")
        threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        with psycopg.connect(conninfo, autocommit=True) as watcher:
            waiting = 0
            while waiting < 4:
                assert time.monotonic() < deadline, "the confirmations never queued"
                waiting = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                ).fetchone()[0]
                time.sleep(0.01)
        holder.rollback()
    for thread in threads:
        thread.join(timeout=60)

    assert Counter(r.status_code for r in responses) == {200: 1, 409: 3}
    db.session.expire_all()
    assert db.session.get(Voucher, voucher["id"]).status == "used"


def test_misses_lock_out_the_key_then_the_partner_and_are_logged_without_the_code(
    app_config, client, db, shop, marketer_headers, cardholder_headers, partner_key, caplog
):
    perk_id = make_perk(client, marketer_headers)
    voucher = _redeem(client, cardholder_headers, perk_id)
    second_till = partner_key("star-cafe")  # another key of the same partner
    guarded = create_app(
        {
            **app_config,
            "RATELIMIT_ENABLED": True,
            "RATE_LIMIT": "1000 per minute",
            "VOUCHER_MISS_LIMIT": "3 per minute",  # per key
            "VOUCHER_MISS_PARTNER_LIMIT": "5 per minute",  # all the partner's keys
            "RATELIMIT_KEY_PREFIX": f"vm-test-{os.getpid()}-{uuid.uuid4().hex[:8]}",
        }
    )
    logging.getLogger("api.resources.partner_perks").disabled = False
    caplog.set_level(logging.WARNING)
    real = f"/v1/partner/vouchers/{voucher['code']}/redeem"
    with guarded.test_client() as till:

        def guess(headers: dict[str, str], n: int) -> int:
            return till.post(
                f"/v1/partner/vouchers/GUESS-{n:04d}/redeem", headers=headers
            ).status_code

        first_key = [guess(shop["star"], n) for n in range(3)]
        key_locked = till.post(real, headers=shop["star"])
        second_key = [guess(second_till, n) for n in range(3, 5)]
        partner_locked = till.post(real, headers=second_till)
        other_partner = guess(shop["moon"], 9)

    assert first_key == [404, 404, 404] and key_locked.status_code == 429
    assert 0 < int(key_locked.headers["Retry-After"]) <= 60
    # One till's typos lock that till only; the partner's keys together get 5, not 3 each.
    assert second_key == [404, 404] and partner_locked.status_code == 429
    assert other_partner == 404  # another partner has its own allowance
    lines = [r.getMessage() for r in caplog.records if "matched nothing" in r.getMessage()]
    assert len(lines) == 6
    assert not any("GUESS" in line for line in caplog.text.splitlines())
    db.session.expire_all()
    assert db.session.get(Voucher, voucher["id"]).status == "issued"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/partner/vouchers/K7QM-2XHD-9WPA-R4TX/redeem",
        "/v1/partner/vouchers/SUMMER'24-AB12/redeem",  # an uploaded code with a quote
        '/v1/partner/vouchers/A"B/redeem?x=1',
        "/v1/partner/vouchers/K7QM-2XHD-9WPA-R4TX",  # a mistyped path
    ],
)
def test_log_lines_never_carry_a_code_from_a_till_path(path):
    record = logging.LogRecord(
        "werkzeug", logging.INFO, __file__, 1, f'127.0.0.1 - - "POST {path} HTTP/1.1" 200 -',
        None, None,
    )  # fmt: skip

    mask_record(record)

    message = record.getMessage()
    assert "/v1/partner/vouchers/[code]" in message and message.endswith('HTTP/1.1" 200 -')
    assert not any(secret in message for secret in ("K7QM", "SUMMER", 'A"B'))


def test_a_partner_with_perks_or_live_keys_cannot_be_deleted(client, shop, marketer_headers):
    make_perk(client, marketer_headers)
    partners = client.get("/v1/partners", headers=marketer_headers).json["data"]
    ids = {p["code"]: p["id"] for p in partners}

    with_perk = client.delete(f"/v1/partners/{ids['star-cafe']}", headers=marketer_headers)
    with_key = client.delete(f"/v1/partners/{ids['moon-books']}", headers=marketer_headers)

    assert with_perk.status_code == with_key.status_code == 409
    assert "inactive instead" in with_perk.json["detail"]


def test_an_upload_that_breaks_off_is_400_and_stores_nothing(client, db, shop, marketer_headers):
    perk_id = make_perk(client, marketer_headers, voucher={"codes": "uploaded"})
    data = ("code\n" + "".join(f"CODE-{i:05d}\n" for i in range(3000))).encode()

    response = client.post(
        CODES.format(perk_id),
        input_stream=BrokenStream(data[: len(data) // 2], announced=len(data)),
        content_type="text/csv",
        headers=shop["star"],
    )

    assert response.status_code == 400
    assert list(response.json["errors"]) == ["file"]
    assert db.session.scalars(select(VoucherCode)).all() == []


def test_two_spellings_of_one_code_are_one_code_and_the_till_uses_one_voucher(
    client, db, shop, marketer_headers, cardholder_headers
):
    perk_id = make_perk(client, marketer_headers, voucher={"codes": "uploaded"})
    code = new_code()  # a code a till would also read as a generated one
    spelled = code.lower().replace("-", " ")
    first = client.post(CODES.format(perk_id), json={"codes": [code]}, headers=shop["star"])
    second = client.post(CODES.format(perk_id), json={"codes": [spelled]}, headers=shop["star"])
    both = client.post(
        CODES.format(perk_id), json={"codes": ["ZZ-1", "zz-1 "]}, headers=shop["star"]
    )
    voucher = _redeem(client, cardholder_headers, perk_id)

    used = client.post(f"/v1/partner/vouchers/{spelled}/redeem", headers=shop["star"])

    assert first.json["added"] == 1
    assert second.json["refused"][0]["message"] == "Already among this partner's codes."
    assert both.json["added"] == 2  # not a generated code: its spelling is the partner's own
    assert voucher["code"] == code and used.status_code == 200
    assert db.session.scalars(select(Voucher.status)).all() == ["used"]


def test_a_json_upload_refuses_odd_items_in_their_rows(client, shop, marketer_headers):
    perk_id = make_perk(client, marketer_headers, voucher={"codes": "uploaded"})

    response = client.post(
        CODES.format(perk_id), json={"codes": ["GOOD-0001", None, 7, "GOOD-0002"]},
        headers=shop["star"],
    )  # fmt: skip

    assert response.status_code == 200, response.json
    assert (response.json["added"], [r["row"] for r in response.json["refused"]]) == (2, [2, 3])

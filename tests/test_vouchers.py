"""Vouchers: issued by each redemption (generated or from the partner's pool), stored sealed
and hashed, shown only to their cardholder; cancelled with points, stock and limit given
back; expired by the scheduled job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from rewards import sealing
from rewards.maintenance import expire_lots
from rewards.models import IdempotencyRecord, LedgerEntry
from rewards.perks.codes import check_code
from rewards.perks.models import Perk, Redemption, Voucher, VoucherCode
from rewards.perks.vouchers import cancel as cancel_voucher
from rewards.perks.vouchers import code_key
from rewards.reconcile import reconcile
from tests.conftest import bearer, make_token
from tests.factories import CustomerFactory
from tests.perk_helpers import available, give_points, make_partner, make_perk, stock_used
from workers.jobs import expire_vouchers

PROBLEMS = "https://rewards.example/problems/"


@pytest.fixture
def shop(client, db, program, marketer_headers):
    make_partner(client, marketer_headers)
    CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()


def redeem(client, headers, perk_id, key="k-1"):
    return client.post(
        "/v1/me/redemptions",
        json={"perk_id": perk_id},
        headers={**headers, "Idempotency-Key": key},
    )


def cancel(client, headers, voucher_id):
    return client.post(f"/v1/me/vouchers/{voucher_id}/cancel", headers=headers)


def test_a_redemption_issues_a_generated_code_stored_only_sealed_and_hashed(
    client, db, shop, marketer_headers, cardholder_headers
):
    give_points(client, marketer_headers, "cust-1", 500)
    perk_id = make_perk(client, marketer_headers, voucher={"valid_days": 30})

    response = redeem(client, cardholder_headers, perk_id)

    voucher = response.json["voucher"]
    code = voucher["code"]
    assert check_code(code) and len(code) == 19
    issued = datetime.fromisoformat(response.json["created_at"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(voucher["expires_at"].replace("Z", "+00:00"))
    assert expires - issued == timedelta(days=30)
    listed = client.get("/v1/me/vouchers", headers=cardholder_headers).json["data"]
    assert [(v["id"], v["code"], v["status"]) for v in listed] == [(voucher["id"], code, "issued")]
    row = db.session.get(Voucher, voucher["id"])
    assert code not in row.code_sealed and row.code_hash == code_key(code)
    stored = db.session.scalar(select(IdempotencyRecord.response_body))
    assert code not in str(stored)


def _pool(db, perk_id: int, codes: list[str]) -> None:
    partner_id = db.session.get(Perk, perk_id).partner_id
    for code in codes:
        db.session.add(
            VoucherCode(
                perk_id=perk_id,
                partner_id=partner_id,
                code_hash=code_key(code),
                code_sealed=sealing.seal(code),
            )
        )
    db.session.commit()


def test_an_uploaded_pool_issues_its_codes_oldest_first_then_is_out_of_stock(
    client, db, shop, marketer_headers, cardholder_headers
):
    give_points(client, marketer_headers, "cust-1", 1000)
    perk_id = make_perk(client, marketer_headers, cost_points=100, voucher={"codes": "uploaded"})
    _pool(db, perk_id, ["STAR-0001", "STAR-0002"])

    codes = [
        redeem(client, cardholder_headers, perk_id, key=k).json["voucher"]["code"] for k in "ab"
    ]
    dry = redeem(client, cardholder_headers, perk_id, key="c")
    shown = client.get("/v1/me/perks", headers=cardholder_headers).json["data"][0]

    assert codes == ["STAR-0001", "STAR-0002"]
    assert dry.status_code == 409 and dry.json["type"] == PROBLEMS + "out-of-stock"
    assert [r["rule"] for r in shown["refusals"]] == ["stock"]
    assert available(db, "cust-1") == 800


def test_cancelling_gives_points_back_with_the_expiries_they_had_and_frees_stock_and_limit(
    client, db, shop, marketer_headers, cardholder_headers
):
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    later = soon + timedelta(days=200)
    give_points(client, marketer_headers, "cust-1", 200, expires_at=soon.isoformat())
    give_points(client, marketer_headers, "cust-1", 300, expires_at=later.isoformat())
    perk_id = make_perk(
        client, marketer_headers, cost_points=400, stock=1, limit={"count": 1, "per": "lifetime"}
    )
    voucher_id = redeem(client, cardholder_headers, perk_id).json["voucher"]["id"]
    assert available(db, "cust-1") == 100

    response = cancel(client, cardholder_headers, voucher_id)

    assert response.status_code == 200, response.json
    assert (response.json["status"], response.json["points_refunded"]) == ("cancelled", 400)
    assert response.json["available"] == 500 == available(db, "cust-1")
    assert stock_used(db, perk_id) == 0
    refunds = db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.kind == "redemption_refund").order_by(LedgerEntry.id)
    ).all()
    # 400 = all 200 of the lot expiring soon, then 200 of the later one: each part back with
    # the expiry it had (the 100 never spent stays in the later lot).
    assert [(r.points, r.remaining, r.expires_at) for r in refunds] == [
        (200, 200, soon),
        (200, 200, later),
    ]
    assert db.session.scalar(select(Redemption.status)) == "cancelled"
    assert reconcile() == []
    # The unit and the lifetime limit are free again.
    again = redeem(client, cardholder_headers, perk_id, key="k-2")
    assert again.status_code == 201, again.json


def test_points_spent_from_a_lot_that_lapsed_since_come_back_lapsed_and_expire(
    client, db, shop, program, marketer_headers, cardholder_headers
):
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    give_points(client, marketer_headers, "cust-1", 10, expires_at=soon.isoformat())
    give_points(client, marketer_headers, "cust-1", 990)  # the program's 12 months
    perk_id = make_perk(
        client, marketer_headers, cost_points=1000, voucher={"cancel_within_hours": 96}
    )
    voucher_id = redeem(client, cardholder_headers, perk_id).json["voucher"]["id"]
    three_days_on = datetime.now(UTC) + timedelta(days=3)

    cancel_voucher(
        program_id=program.id, external_ref="cust-1", voucher_id=voucher_id, now=three_days_on
    )
    db.session.commit()
    expired = expire_lots(now=three_days_on)
    db.session.commit()

    # What was spent from the 990-point lot is back; the 10 spent from the lapsed lot came
    # back already past its expiry, and went, as the lot itself would have.
    assert expired == 1
    assert available(db, "cust-1") == 990
    assert reconcile() == []


def test_lapsed_points_are_never_spent_even_before_the_hourly_expiry(
    client, db, shop, marketer_headers, cardholder_headers
):
    give_points(client, marketer_headers, "cust-1", 300)
    with db.engine.begin() as conn:
        conn.execute(
            LedgerEntry.__table__.update().values(
                expires_at=datetime.now(UTC) - timedelta(minutes=5)
            )
        )
    perk_id = make_perk(client, marketer_headers, cost_points=300)

    response = redeem(client, cardholder_headers, perk_id)

    assert response.status_code == 409
    assert response.json["type"] == PROBLEMS + "insufficient-points"
    assert response.json["points_missing"] == 300
    assert available(db, "cust-1") == 300  # nothing stored: the refusal rolled it all back
    assert client.get("/v1/me/balance", headers=cardholder_headers).json["available"] == 0


def test_a_voucher_is_cancelled_once_and_only_in_its_window(
    client, db, shop, marketer_headers, cardholder_headers
):
    give_points(client, marketer_headers, "cust-1", 1000)
    never = make_perk(client, marketer_headers, voucher={"cancel_within_hours": 0})
    window = make_perk(client, marketer_headers, title="Tea")
    fixed = redeem(client, cardholder_headers, never, key="a").json["voucher"]
    open_one = redeem(client, cardholder_headers, window, key="b").json["voucher"]
    assert fixed["cancellable_until"] is None and open_one["cancellable_until"] is not None

    refused = cancel(client, cardholder_headers, fixed["id"])
    first = cancel(client, cardholder_headers, open_one["id"])
    second = cancel(client, cardholder_headers, open_one["id"])

    assert refused.status_code == 409
    assert refused.json["type"] == PROBLEMS + "voucher-not-cancellable"
    assert first.status_code == 200
    assert second.status_code == 409 and second.json["detail"] == "This voucher is cancelled."
    assert available(db, "cust-1") == 700


def test_another_customers_voucher_is_404(
    client, db, shop, program, marketer_headers, cardholder_headers
):
    give_points(client, marketer_headers, "cust-1", 500)
    perk_id = make_perk(client, marketer_headers)
    voucher_id = redeem(client, cardholder_headers, perk_id).json["voucher"]["id"]
    CustomerFactory(program=program, external_ref="cust-2")
    db.session.commit()
    other = bearer(make_token(sub="cust-2", program=program.slug, roles=["cardholder"]))

    assert cancel(client, other, voucher_id).status_code == 404
    assert client.get("/v1/me/vouchers", headers=other).json["data"] == []


def test_the_expiry_job_expires_due_vouchers_which_can_no_longer_be_cancelled(
    client, db, shop, marketer_headers, cardholder_headers
):
    give_points(client, marketer_headers, "cust-1", 1000)
    perk_id = make_perk(client, marketer_headers, cost_points=100)
    due = redeem(client, cardholder_headers, perk_id, key="a").json["voucher"]["id"]
    fresh = redeem(client, cardholder_headers, perk_id, key="b").json["voucher"]["id"]
    with db.engine.begin() as conn:
        conn.execute(
            Voucher.__table__.update()
            .where(Voucher.id == due)
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )

    assert expire_vouchers() == 1
    assert expire_vouchers() == 0

    db.session.expire_all()
    assert db.session.get(Voucher, due).status == "expired"
    assert db.session.get(Voucher, fresh).status == "issued"
    assert cancel(client, cardholder_headers, due).status_code == 409
    assert available(db, "cust-1") == 800  # an expired voucher's points stay spent


def test_codes_sealed_under_another_data_key_answer_503_not_500(
    app, client, db, shop, marketer_headers, cardholder_headers
):
    """A changed or lost DATA_KEY is the server's fault: a clear 503 problem, logged, and the
    request changes nothing; the old key brings the codes back."""
    give_points(client, marketer_headers, "cust-1", 500)
    perk_id = make_perk(client, marketer_headers)
    issued = redeem(client, cardholder_headers, perk_id)
    assert issued.status_code == 201
    original = app.extensions["rewards.sealing"]

    sealing.configure("another-data-key-of-at-least-32-characters", app)
    try:
        listed = client.get("/v1/me/vouchers", headers=cardholder_headers)
        replayed = redeem(client, cardholder_headers, perk_id)  # the stored first answer
    finally:
        app.extensions["rewards.sealing"] = original

    for response in (listed, replayed):
        assert response.status_code == 503, response.get_data()
        assert response.mimetype == "application/problem+json"
        assert response.json["type"] == PROBLEMS + "data-key-unavailable"
    assert available(db, "cust-1") == 200
    again = client.get("/v1/me/vouchers", headers=cardholder_headers)
    assert again.json["data"][0]["code"] == issued.json["voucher"]["code"]

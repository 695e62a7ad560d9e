"""Signed partner events in: links made by the cardholder with a one-time code, signatures and
replays, and `partner.purchase` earning through `partner_event` campaigns only, within their
budgets, and clawed back exactly by `partner.purchase.refunded`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from rewards.events.inbound_models import InboundEvent
from rewards.models import Event, LedgerEntry, Transaction
from tests.factories import CustomerFactory
from tests.perk_helpers import available, make_partner

EVENTS = "/v1/partner/events"


@pytest.fixture
def partner(client, db, program, marketer_headers, partner_key, cardholder_headers):
    """Partner star-cafe with an inbound secret; cardholder cust-1 linked as its `u-42`."""
    make_partner(client, marketer_headers)
    CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()
    headers = partner_key("star-cafe")
    secret = client.post("/v1/partner/inbound-secret", json={}, headers=headers).json["secret"]
    code = client.post("/v1/partner/link-codes", json={"customer_id": "u-42"}, headers=headers)
    assert code.status_code == 201, code.json
    linked = client.post(
        "/v1/me/partner-links", json={"code": code.json["code"]}, headers=cardholder_headers
    )
    assert linked.status_code == 201, linked.json
    return {"headers": headers, "secret": secret}


def purchase(amount=2000, reference="order-1", kind="partner.purchase", **data):
    return {
        "type": kind,
        "timestamp": datetime.now(UTC).isoformat(),
        "data": {
            "customer_id": "u-42",
            "amount_minor": amount,
            "currency": "JPY",
            "occurred_at": datetime.now(UTC).isoformat(),
            "reference": reference,
            **data,
        },
    }


def send(client, partner, event, msg_id="msg_1", secret=None, at=None):
    body = json.dumps(event)
    signed = Webhook(secret or partner["secret"]).sign(msg_id, at or datetime.now(UTC), body)
    headers = {
        **partner["headers"],
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int((at or datetime.now(UTC)).timestamp())),
        "webhook-signature": signed,
    }
    return client.post(EVENTS, data=body, headers=headers)


def test_a_signed_purchase_is_accepted_once_however_often_it_is_delivered(client, db, partner):
    first = send(client, partner, purchase())
    again = send(client, partner, purchase())

    assert first.status_code == again.status_code == 202, first.json
    assert first.json == again.json and first.json["status"] == "accepted"
    assert again.headers["Idempotent-Replayed"] == "true"
    rows = db.session.scalars(select(Transaction).where(Transaction.source == "partner")).all()
    assert len(rows) == 1 and rows[0].amount_minor == 2000
    assert db.session.scalar(select(func.count()).select_from(InboundEvent)) == 1


@pytest.mark.parametrize(
    "tamper, header",
    [
        ("no-signature", "webhook-id"),
        ("wrong-secret", "webhook-signature"),
        ("old", "webhook-timestamp"),
    ],
)
def test_unsigned_or_stale_events_are_401_and_change_nothing(client, db, partner, tamper, header):
    event = purchase()
    if tamper == "no-signature":
        response = client.post(EVENTS, json=event, headers=partner["headers"])
    elif tamper == "wrong-secret":
        response = send(client, partner, event, secret="whsec_" + "QUJD" * 8)
    else:
        response = send(client, partner, event, at=datetime.now(UTC) - timedelta(minutes=6))

    assert response.status_code == 401, response.json
    assert response.mimetype == "application/problem+json"
    assert header in response.json["errors"]
    assert db.session.scalar(select(func.count()).select_from(Transaction)) == 0


def test_an_unlinked_customer_id_is_422_naming_it(client, db, partner):
    response = send(client, partner, purchase(customer_id="someone-else"))
    assert response.status_code == 422
    assert "data.customer_id" in response.json["errors"]


def test_a_link_code_works_once_and_only_in_its_program(client, db, program, partner, partner_key):
    code = client.post(
        "/v1/partner/link-codes", json={"customer_id": "u-43"}, headers=partner["headers"]
    ).json["code"]
    CustomerFactory(program=program, external_ref="cust-2")
    db.session.commit()
    from tests.conftest import bearer, make_token

    other = bearer(make_token(sub="cust-2", program=program.slug, roles=["cardholder"]))
    assert (
        client.post("/v1/me/partner-links", json={"code": code}, headers=other).status_code == 201
    )
    again = client.post("/v1/me/partner-links", json={"code": code}, headers=other)
    assert again.status_code == 404
    listed = client.get("/v1/me/partner-links", headers=other).json["data"]
    assert [link["partner_code"] for link in listed] == ["star-cafe"]


def _bonus(db, customer_id=None):
    stmt = select(LedgerEntry.points, LedgerEntry.kind).order_by(LedgerEntry.id)
    return [(p, k) for p, k in db.session.execute(stmt) if k != "adjust"]


def _process(db):
    from workers.jobs import process_transactions

    ids = db.session.scalars(select(Transaction.id).where(Transaction.status == "received")).all()
    process_transactions(list(ids))
    db.session.expire_all()


def test_a_partner_purchase_earns_only_through_partner_event_campaigns_within_their_budget(
    client, db, program, partner, launch
):
    launch(name="App orders", effect={"type": "points_per_unit", "value": "1"},
           conditions={"partner_event": True}, budget_points=2500)  # fmt: skip
    launch(name="Card bonus", effect={"type": "fixed_bonus", "value": "50"})

    assert send(client, partner, purchase(amount=2000, reference="o-1")).status_code == 202
    _process(db)
    # 2,000 yen at 1 point per yen; no base rate (not a card purchase); the card campaign no.
    assert _bonus(db) == [(2000, "bonus")]
    assert available(db, "cust-1") == 2000

    assert send(client, partner, purchase(amount=2000, reference="o-2"), "msg_2").status_code == 202
    _process(db)
    assert _bonus(db) == [(2000, "bonus"), (500, "bonus")]  # the budget's last 500

    credited = db.session.scalars(
        select(Event.payload).where(Event.type == "partner.purchase.credited").order_by(Event.id)
    ).all()
    assert [(c["reference"], c["points"]) for c in credited] == [("o-1", 2000), ("o-2", 500)]
    assert all("cust-1" not in json.dumps(c) for c in credited)


def test_a_partner_refund_claws_back_exactly_its_share(client, db, program, partner, launch):
    launch(name="App orders", effect={"type": "points_per_unit", "value": "3"},
           conditions={"partner_event": True})  # fmt: skip
    send(client, partner, purchase(amount=1000, reference="o-1"))
    _process(db)
    refund = purchase(amount=400, reference="o-1", kind="partner.purchase.refunded",
                      refund_reference="r-1")  # fmt: skip
    assert send(client, partner, refund, "msg_r1").status_code == 202
    _process(db)
    # 3,000 points for 1,000 yen; 400 of 1,000 yen refunded takes back 40% of them: 1,200.
    assert available(db, "cust-1") == 3000 - 1200
    kinds = db.session.scalars(
        select(Transaction.status).where(Transaction.source == "partner").order_by(Transaction.id)
    ).all()
    assert kinds == ["processed", "processed"]


def test_a_refund_names_its_refund_reference(client, db, partner):
    refund = purchase(amount=400, reference="o-1", kind="partner.purchase.refunded")
    response = send(client, partner, refund)
    assert response.status_code == 422
    assert "refund_reference" in json.dumps(response.json["errors"])


def test_card_purchases_never_meet_partner_event_campaigns(db, program, launch):
    from tests.ledger_helpers import enrol, store
    from workers.jobs import process_transactions

    launch(name="App orders", effect={"type": "fixed_bonus", "value": "700"},
           conditions={"partner_event": True})  # fmt: skip
    card = enrol(program.id)
    process_transactions([store(program.id, card.token, "p-1", amount_minor=1000)])
    kinds = db.session.scalars(select(LedgerEntry.kind)).all()
    assert kinds == ["earn"]  # the base rate only


def test_partner_purchases_count_for_partner_event_challenges_only(client, db, program, partner):
    from rewards.models import Customer
    from tests.challenge_feed_helpers import make_challenge, progress

    app_orders = make_challenge(program.id, name="App orders", conditions={"partner_event": True},
                                goal={"type": "count", "target": 2})  # fmt: skip
    card_only = make_challenge(program.id, name="Card", goal={"type": "count", "target": 2})
    for n in (1, 2):
        assert send(client, partner, purchase(reference=f"o-{n}"), f"msg_{n}").status_code == 202
    _process(db)

    customer_id = db.session.scalar(select(Customer.id).where(Customer.external_ref == "cust-1"))
    ((value, status, *_),) = progress(customer_id, app_orders).values()
    assert (value, status) == (2, "completed")
    assert progress(customer_id, card_only) == {}
    assert available(db, "cust-1") == 200  # the challenge's reward, and nothing else


def test_a_multiplier_cannot_target_partner_events(client, marketer_headers):
    response = client.post(
        "/v1/campaigns",
        json={"name": "x", "starts_at": datetime.now(UTC).isoformat(),
              "effect": {"type": "multiplier", "value": "2"},
              "conditions": {"partner_event": True}},
        headers=marketer_headers,
    )  # fmt: skip
    assert response.status_code == 422 and "effect.type" in response.json["errors"]


def test_a_signed_body_that_is_not_json_is_400(client, db, partner):
    body = '{"type": "partner.purchase", "data": '
    at = datetime.now(UTC)
    headers = {
        **partner["headers"],
        "Content-Type": "application/json",
        "webhook-id": "msg_bad",
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(partner["secret"]).sign("msg_bad", at, body),
    }
    response = client.post(EVENTS, data=body, headers=headers)
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert db.session.scalar(select(func.count()).select_from(InboundEvent)) == 0


def test_a_refund_after_unlinking_still_claws_back_from_the_buyer(
    client, db, program, partner, launch, cardholder_headers
):
    launch(name="App orders", effect={"type": "fixed_bonus", "value": "500"},
           conditions={"partner_event": True})  # fmt: skip
    send(client, partner, purchase(amount=1000, reference="o-1"))
    _process(db)
    (link,) = client.get("/v1/me/partner-links", headers=cardholder_headers).json["data"]
    assert (
        client.delete(f"/v1/me/partner-links/{link['id']}", headers=cardholder_headers).status_code
        == 204
    )
    refund = purchase(amount=1000, reference="o-1", kind="partner.purchase.refunded",
                      refund_reference="r-1")  # fmt: skip
    assert send(client, partner, refund, "msg_r").status_code == 202
    _process(db)
    assert available(db, "cust-1") == 0
    unknown = purchase(amount=10, reference="o-404", kind="partner.purchase.refunded",
                       refund_reference="r-2")  # fmt: skip
    response = send(client, partner, unknown, "msg_r2")
    assert response.status_code == 422 and "data.reference" in response.json["errors"]


def test_an_overlong_webhook_id_is_refused_before_anything_is_stored(client, db, partner):
    response = send(client, partner, purchase(), msg_id="m" * 201)
    assert response.status_code == 401 and "webhook-id" in response.json["errors"]
    assert db.session.scalar(select(func.count()).select_from(Transaction)) == 0


def test_a_card_refund_never_claws_back_a_partner_purchase(client, db, program, partner, launch):
    from tests.ledger_helpers import enrol, store

    launch(name="App orders", effect={"type": "fixed_bonus", "value": "500"},
           conditions={"partner_event": True})  # fmt: skip
    send(client, partner, purchase(amount=1000, reference="o-1"))
    _process(db)
    (purchase_row,) = db.session.scalars(select(Transaction).where(Transaction.source == "partner"))
    card = enrol(program.id)
    store(program.id, card.token, "r-x", kind="refund", amount_minor=1000,
          original_external_id=purchase_row.external_id)  # fmt: skip
    _process(db)
    assert available(db, "cust-1") == 500
    refund = db.session.scalar(select(Transaction).where(Transaction.external_id == "r-x"))
    assert refund.status == "waiting_for_original"

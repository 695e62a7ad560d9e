"""Partner webhooks end to end against a real local HTTP receiver: events written with the
change that causes them, fanned out, signed (checked with the `standardwebhooks` package),
retried on the published schedule (time injected, never slept), 410 and 429 handled, secrets
rotated with an overlap, the delivery log and replays, and partners kept apart."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from api.commands.webhooks import webhooks_group
from rewards.db import db as database
from rewards.events.delivery import SCHEDULE, deliver_endpoint
from rewards.events.dispatch import dispatch
from rewards.events.models import WebhookDelivery, WebhookEndpoint
from rewards.models import Event
from tests.factories import CustomerFactory
from tests.perk_helpers import give_points, make_partner, make_perk
from tests.process_helpers import poll, start_worker, stop
from tests.webhook_helpers import receiving

TYPES = ["perk.redeemed", "voucher.issued", "voucher.used", "voucher.cancelled"]


@pytest.fixture
def local_delivery(app):
    """Let deliveries reach this machine's loopback over http, as development would."""
    before = (app.config["WEBHOOK_ALLOW_NETWORKS"], app.config["WEBHOOK_REQUIRE_HTTPS"])
    app.config["WEBHOOK_ALLOW_NETWORKS"], app.config["WEBHOOK_REQUIRE_HTTPS"] = (
        ["127.0.0.1/32"],
        False,
    )
    yield
    app.config["WEBHOOK_ALLOW_NETWORKS"], app.config["WEBHOOK_REQUIRE_HTTPS"] = before


@pytest.fixture
def shop(client, db, program, marketer_headers, partner_key):
    make_partner(client, marketer_headers)
    make_partner(client, marketer_headers, code="moon-books", name="Moon Books")
    CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()
    give_points(client, marketer_headers, "cust-1", 5000)
    return {
        "star": partner_key("star-cafe"),
        "moon": partner_key("moon-books"),
        "perk": make_perk(client, marketer_headers, cost_points=100),
    }


def register(client, headers, url, types=TYPES):
    made = client.post(
        "/v1/partner/webhook-endpoints", json={"url": url, "event_types": types}, headers=headers
    )
    assert made.status_code == 201, made.json
    return made.json


def redeem(client, headers, perk_id, key="k-1"):
    done = client.post(
        "/v1/me/redemptions", json={"perk_id": perk_id}, headers={**headers, "Idempotency-Key": key}
    )
    assert done.status_code == 201, done.json
    return done.json


def pump(endpoint_id, at):
    dispatch(now=at)
    database.session.commit()
    return deliver_endpoint(endpoint_id, clock=lambda: at)


def test_a_redemption_reaches_the_partner_signed_without_personal_data(
    client, db, local_delivery, shop, cardholder_headers
):
    with receiving() as receiver:
        endpoint = register(client, shop["star"], receiver.url())
        assert endpoint["secret"].startswith("whsec_")
        listed = client.get("/v1/partner/webhook-endpoints", headers=shop["star"]).json["data"]
        assert "secret" not in listed[0]
        redeemed = redeem(client, cardholder_headers, shop["perk"])

        assert pump(endpoint["id"], datetime.now(UTC)) == 2

    types = []
    for request in receiver.received:
        payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
        types.append(payload["type"])
        text = request.body.decode()
        assert "cust-1" not in text and redeemed["voucher"]["code"] not in text
    assert types == ["perk.redeemed", "voucher.issued"]
    data = json.loads(receiver.received[0].body)["data"]
    assert data["redemption_id"] == redeemed["id"] and data["points"] == 100
    assert data["partner_customer_id"].startswith("cus_")
    log = client.get("/v1/partner/deliveries", headers=shop["star"]).json["data"]
    assert [(d["event_type"], d["status"], d["last_status_code"]) for d in log] == [
        ("voucher.issued", "delivered", 200),
        ("perk.redeemed", "delivered", 200),
    ]


def test_events_are_written_in_the_transaction_of_their_change(
    client, db, program, shop, cardholder_headers
):
    """A rolled-back redemption leaves no event behind; a committed one leaves both."""
    from rewards.perks.redemption import redeem as redeem_perk

    redeem_perk(program_id=program.id, external_ref="cust-1", perk_id=shop["perk"])
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Event)) == 0

    redeem_perk(program_id=program.id, external_ref="cust-1", perk_id=shop["perk"])
    db.session.commit()
    types = db.session.scalars(select(Event.type).order_by(Event.id)).all()
    assert types == ["perk.redeemed", "voucher.issued"]


@pytest.mark.slow
def test_a_real_worker_pumps_and_delivers(
    app, client, db, local_delivery, shop, cardholder_headers, monkeypatch
):
    monkeypatch.setenv("WEBHOOK_ALLOW_NETWORKS", "127.0.0.1/32")
    monkeypatch.setenv("WEBHOOK_REQUIRE_HTTPS", "0")
    with receiving() as receiver:
        endpoint = register(client, shop["star"], receiver.url())
        redeem(client, cardholder_headers, shop["perk"])
        queues = app.extensions["rewards_queues"]
        queues.enqueue("workers.webhooks.pump_webhooks", queue="maintenance")
        worker = start_worker(app, "--burst", "--no-scheduler")
        try:
            poll(lambda: len(receiver.received) >= 2, 60, "two deliveries")
            worker.wait(timeout=60)
        finally:
            stop(worker)
    for request in receiver.received:
        Webhook(endpoint["secret"]).verify(request.body, request.headers)
    statuses = db.session.scalars(select(WebhookDelivery.status)).all()
    assert statuses == ["delivered", "delivered"]


def test_a_failing_receiver_gets_the_event_on_the_retry_schedule(
    client, db, local_delivery, shop, cardholder_headers
):
    with receiving([(500, {}), (502, {}), (200, {})]) as receiver:
        endpoint = register(client, shop["star"], receiver.url(), types=["perk.redeemed"])
        redeem(client, cardholder_headers, shop["perk"])
        start = datetime.now(UTC)

        assert pump(endpoint["id"], start) == 0
        first = db.session.scalar(select(WebhookDelivery))
        wait = first.next_attempt_at - start
        assert SCHEDULE[0] * 0.9 <= wait <= SCHEDULE[0] * 1.1  # 5 s, jittered
        assert pump(endpoint["id"], start + SCHEDULE[0] * 0.85) == 0  # not yet due
        assert len(receiver.received) == 1
        second_at = first.next_attempt_at
        assert pump(endpoint["id"], second_at) == 0
        db.session.refresh(first)
        wait = first.next_attempt_at - second_at
        assert SCHEDULE[1] * 0.9 <= wait <= SCHEDULE[1] * 1.1  # 5 min
        assert pump(endpoint["id"], first.next_attempt_at) == 1

    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert len(receiver.received) == 3 and len(ids) == 1  # one message, three attempts
    shown = client.get(f"/v1/partner/deliveries/{first.id}", headers=shop["star"]).json
    assert shown["status"] == "delivered"
    assert [a["status_code"] for a in shown["recent_attempts"]] == [200, 502, 500]


def test_the_schedule_ends_in_failed_after_its_last_retry(
    client, db, local_delivery, shop, cardholder_headers
):
    with receiving([(500, {})]) as receiver:
        endpoint = register(client, shop["star"], receiver.url(), types=["perk.redeemed"])
        redeem(client, cardholder_headers, shop["perk"])
        at = datetime.now(UTC)
        for _ in range(len(SCHEDULE) + 1):
            pump(endpoint["id"], at)
            row = db.session.scalar(
                select(WebhookDelivery).execution_options(populate_existing=True)
            )
            at = row.next_attempt_at or at
    assert len(receiver.received) == len(SCHEDULE) + 1
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 8, None)


def test_410_disables_the_endpoint_and_announces_it(
    client, db, local_delivery, shop, cardholder_headers
):
    with receiving([(410, {})]) as receiver:
        endpoint = register(client, shop["star"], receiver.url(), types=["perk.redeemed"])
        redeem(client, cardholder_headers, shop["perk"])
        pump(endpoint["id"], datetime.now(UTC))
        redeem(client, cardholder_headers, shop["perk"], key="k-2")
        pump(endpoint["id"], datetime.now(UTC) + timedelta(hours=1))

    assert len(receiver.received) == 1
    shown = client.get(f"/v1/partner/webhook-endpoints/{endpoint['id']}", headers=shop["star"])
    assert shown.json["enabled"] is False and "410" in shown.json["disabled_reason"]
    disabled = db.session.scalar(select(Event).where(Event.type == "webhook_endpoint.disabled"))
    assert disabled.payload["endpoint_id"] == endpoint["id"]


def test_429_retries_when_retry_after_says(client, db, local_delivery, shop, cardholder_headers):
    with receiving([(429, {"Retry-After": "7"}), (200, {})]) as receiver:
        endpoint = register(client, shop["star"], receiver.url(), types=["perk.redeemed"])
        redeem(client, cardholder_headers, shop["perk"])
        at = datetime.now(UTC).replace(microsecond=0)
        pump(endpoint["id"], at)
        row = db.session.scalar(select(WebhookDelivery))
        assert row.next_attempt_at == at + timedelta(seconds=7)
        assert pump(endpoint["id"], at + timedelta(seconds=7)) == 1
    assert len(receiver.received) == 2


def test_a_rotated_secret_signs_alongside_the_old_one_during_the_overlap(
    client, db, local_delivery, shop, cardholder_headers
):
    with receiving() as receiver:
        endpoint = register(client, shop["star"], receiver.url(), types=["perk.redeemed"])
        url = f"/v1/partner/webhook-endpoints/{endpoint['id']}/rotate-secret"
        rotated = client.post(url, json={"overlap_hours": 1}, headers=shop["star"])
        assert rotated.status_code == 200
        redeem(client, cardholder_headers, shop["perk"])
        pump(endpoint["id"], datetime.now(UTC))
        client.post(url, json={"overlap_hours": 0}, headers=shop["star"])
        newest = client.post(url, json={"overlap_hours": 0}, headers=shop["star"]).json["secret"]
        redeem(client, cardholder_headers, shop["perk"], key="k-2")
        pump(endpoint["id"], datetime.now(UTC))

    during, after = receiver.received
    assert len(during.headers["webhook-signature"].split()) == 2
    for secret in (endpoint["secret"], rotated.json["secret"]):
        Webhook(secret).verify(during.body, during.headers)
    assert len(after.headers["webhook-signature"].split()) == 1
    Webhook(newest).verify(after.body, after.headers)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(rotated.json["secret"]).verify(after.body, after.headers)


def test_replays_send_again_with_the_same_webhook_id(
    client, db, local_delivery, shop, cardholder_headers
):
    with receiving() as receiver:
        endpoint = register(client, shop["star"], receiver.url(), types=["perk.redeemed"])
        redeem(client, cardholder_headers, shop["perk"])
        pump(endpoint["id"], datetime.now(UTC))
        delivery = client.get("/v1/partner/deliveries", headers=shop["star"]).json["data"][0]
        again = client.post(f"/v1/partner/deliveries/{delivery['id']}/replay", headers=shop["star"])
        assert again.status_code == 202 and again.json["status"] == "pending"
        pump(endpoint["id"], datetime.now(UTC))
        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        replayed = client.post(
            f"/v1/partner/webhook-endpoints/{endpoint['id']}/replay",
            json={"since": since},
            headers=shop["star"],
        )
        assert replayed.status_code == 202 and replayed.json == {"queued": 1}
        pump(endpoint["id"], datetime.now(UTC))

    assert len(receiver.received) == 3
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1


def test_partners_see_only_their_own_endpoints_deliveries_and_events(
    client, db, local_delivery, shop, cardholder_headers
):
    with receiving() as receiver:
        star = register(client, shop["star"], receiver.url("/star"))
        moon = register(client, shop["moon"], receiver.url("/moon"))
        redeem(client, cardholder_headers, shop["perk"])  # a star-cafe perk
        for endpoint in (star, moon):
            pump(endpoint["id"], datetime.now(UTC))

    assert {r.path for r in receiver.received} == {"/star"}
    moon_sees = client.get("/v1/partner/deliveries", headers=shop["moon"]).json["data"]
    assert moon_sees == []
    star_delivery = client.get("/v1/partner/deliveries", headers=shop["star"]).json["data"][0]
    for path in (
        f"/v1/partner/webhook-endpoints/{star['id']}",
        f"/v1/partner/deliveries/{star_delivery['id']}",
    ):
        assert client.get(path, headers=shop["moon"]).status_code == 404
    assert client.get("/v1/webhook-endpoints", headers=shop["moon"]).status_code == 403


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hooks",
        "https://localhost/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.8/x",
        "https://[::1]/x",
        "https://2130706433/x",
        "https://0x7f.0.0.1/x",
        "https://user:pw@example.com/x",
        "ftp://example.com/x",
        "http://example.com/x",  # https only outside development
    ],
)
def test_unsafe_urls_are_refused_at_registration(client, db, shop, url):
    made = client.post(
        "/v1/partner/webhook-endpoints",
        json={"url": url, "event_types": ["perk.redeemed"]},
        headers=shop["star"],
    )
    assert made.status_code == 422, made.json
    assert "url" in made.json["errors"]
    assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


def test_a_marketer_registers_program_endpoints_for_program_events(
    client, db, local_delivery, program, marketer_headers, shop
):
    made = client.post(
        "/v1/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/x", "event_types": ["campaign.budget_exhausted"]},
        headers=marketer_headers,
    )
    assert made.status_code == 201, made.json
    refused = client.post(
        "/v1/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/x", "event_types": ["perk.redeemed"]},
        headers=marketer_headers,
    )
    assert refused.status_code == 422 and "event_types" in refused.json["errors"]
    partner_view = client.get("/v1/partner/webhook-endpoints", headers=shop["star"]).json["data"]
    assert partner_view == []


def test_an_operator_sees_the_failing_endpoint_disables_it_and_replays_after(
    app,
    client,
    db,
    local_delivery,
    shop,
    cardholder_headers,
):
    cli = app.test_cli_runner()
    with receiving([(500, {}), (200, {})]) as receiver:
        endpoint = register(client, shop["star"], receiver.url(), types=["perk.redeemed"])
        redeem(client, cardholder_headers, shop["perk"])
        sent = cli.invoke(webhooks_group, ["send"])
        assert "0 delivered to 1 endpoint(s)" in sent.output, sent.output

        failing = cli.invoke(webhooks_group, ["failing"])
        assert f"endpoint {endpoint['id']} [partner" in failing.output
        assert "failing since" in failing.output and "1 pending" in failing.output

        disabled = cli.invoke(webhooks_group, ["disable", str(endpoint["id"]), "--reason", "ops"])
        assert disabled.exit_code == 0
        db.session.expire_all()
        assert db.session.get(WebhookEndpoint, endpoint["id"]).disabled_reason == "ops"

        client.patch(
            f"/v1/partner/webhook-endpoints/{endpoint['id']}",
            json={"enabled": True},
            headers=shop["star"],
        )
        delivery_id = db.session.scalar(select(WebhookDelivery.id))
        replayed = cli.invoke(webhooks_group, ["replay", "--delivery", str(delivery_id)])
        assert "1 delivery(ies) queued" in replayed.output
        sent = cli.invoke(webhooks_group, ["send"])
        assert "1 delivered" in sent.output, sent.output

    assert len(receiver.received) == 2
    assert cli.invoke(webhooks_group, ["replay"]).exit_code == 2


def test_metrics_count_deliveries_attempts_failures_and_latency(
    client, db, local_delivery, shop, cardholder_headers
):
    from prometheus_client.parser import text_string_to_metric_families

    with receiving([(500, {}), (200, {})]) as receiver:
        endpoint = register(client, shop["star"], receiver.url(), types=["perk.redeemed"])
        redeem(client, cardholder_headers, shop["perk"])
        pump(endpoint["id"], datetime.now(UTC))
        pump(endpoint["id"], datetime.now(UTC) + timedelta(seconds=6))
        redeem(client, cardholder_headers, shop["perk"], key="k-2")  # in the outbox only

    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for s in family.samples
    }
    assert samples[("rewards_webhook_pending", ())] == 0
    assert samples[("rewards_webhook_attempts_last_hour", ())] == 2
    assert samples[("rewards_webhook_failures_last_hour", ())] == 1
    assert samples[("rewards_webhook_latency_last_hour_seconds_count", ())] == 2
    assert samples[("rewards_outbox_unpublished", ())] == 2  # perk.redeemed, voucher.issued
    assert samples[("rewards_feed_waiting", (("status", "received"),))] == 0
    assert samples[("rewards_webhook_endpoints", (("state", "enabled"),))] == 1


def test_a_sponsored_challenge_completion_reaches_its_sponsor_only(
    client, db, program, local_delivery, shop
):
    from tests.challenge_feed_helpers import make_challenge
    from tests.ledger_helpers import enrol, store
    from workers.jobs import process_transactions

    sponsored = make_challenge(program.id, name="Cafe week", sponsor="star-cafe",
                               goal={"type": "count", "target": 1})  # fmt: skip
    make_challenge(program.id, name="Anyone", goal={"type": "count", "target": 1})
    with receiving() as receiver:
        star = register(client, shop["star"], receiver.url("/star"), types=["challenge.completed"])
        moon = register(client, shop["moon"], receiver.url("/moon"), types=["challenge.completed"])
        card = enrol(program.id)
        process_transactions([store(program.id, card.token, "p-1", amount_minor=1000)])
        for endpoint in (star, moon):
            pump(endpoint["id"], datetime.now(UTC))

    (request,) = receiver.received
    assert request.path == "/star"
    data = Webhook(star["secret"]).verify(request.body, request.headers)["data"]
    assert (data["challenge_id"], data["name"]) == (sponsored, "Cafe week")
    assert data["partner_customer_id"].startswith("cus_")


def test_a_lease_another_worker_took_meanwhile_is_left_to_it(
    client, db, local_delivery, shop, cardholder_headers
):
    """A run that outlived its lease (a slow receiver) must not clear the next worker's."""
    from rewards.events import transport

    theirs = datetime.now(UTC) + timedelta(minutes=3)

    def slow_send(*args):
        outcome = transport.send(*args)  # the real exchange; meanwhile another worker takes over
        with database.engine.begin() as conn:
            conn.execute(
                WebhookEndpoint.__table__.update()
                .where(WebhookEndpoint.id == endpoint["id"])
                .values(lease_until=theirs)
            )
        return outcome

    with receiving() as receiver:
        endpoint = register(client, shop["star"], receiver.url(), types=["perk.redeemed"])
        redeem(client, cardholder_headers, shop["perk"])
        redeem(client, cardholder_headers, shop["perk"], key="k-2")
        dispatch(now=datetime.now(UTC))
        db.session.commit()
        assert deliver_endpoint(endpoint["id"], send=slow_send) >= 1

    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint["id"]).lease_until == theirs

"""Embedded mode (SQLite, no Redis, jobs inline): the flows `make run` relies on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import select

from api import create_app
from rewards.access import mint_api_key
from rewards.db import db
from rewards.models import Batch, Program
from tests.conftest import JWT_SECRET, bearer, make_token
from tests.factories import ProgramFactory


@pytest.fixture
def embedded(tmp_path) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/embedded.sqlite3",
            "REDIS_URL": None,
            "JOBS_INLINE": True,
            "JWT_SECRET": JWT_SECRET,
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        upgrade(directory=app.config["MIGRATIONS_DIR"])
        yield app
        db.session.remove()


@pytest.fixture
def processor(embedded):
    program = ProgramFactory(slug="embedded", currency="JPY")
    db.session.flush()
    key = mint_api_key(program=program, role="processor", name="p", created_by="test")
    db.session.commit()
    return bearer(key.secret)


def _row(n: int, token: str = "tok-1", **extra) -> dict:
    return {
        "external_id": f"e-{n}",
        "card_token": token,
        "kind": "purchase",
        "amount_minor": 100,
        "currency": "JPY",
        "mcc": "5812",
        "occurred_at": "2026-01-05T10:00:00+09:00",
        **extra,
    }


def test_unmatched_then_enrolled_credits_points_inline(embedded, processor):
    client = embedded.test_client()
    assert (
        client.post(
            "/v1/transactions", json={"transactions": [_row(1)]}, headers=processor
        ).status_code
        == 202
    )
    assert (
        client.post("/v1/customers", json={"external_ref": "c-1"}, headers=processor).status_code
        == 201
    )
    enrolled = client.post("/v1/customers/c-1/cards", json={"token": "tok-1"}, headers=processor)
    assert enrolled.status_code == 201, enrolled.json
    me = bearer(make_token(sub="c-1", program="embedded", roles=["cardholder"]))
    assert client.get("/v1/me/balance", headers=me).json["available"] == 100


def test_large_file_upload_runs_every_chunk_inline(embedded, processor):
    client = embedded.test_client()
    client.post("/v1/customers", json={"external_ref": "c-1"}, headers=processor)
    client.post("/v1/customers/c-1/cards", json={"token": "tok-1"}, headers=processor)
    lines = ["external_id,card_token,kind,amount_minor,currency,mcc,occurred_at"]
    lines += [f"f-{n},tok-1,purchase,10,JPY,5812,2026-01-05T10:00:00Z" for n in range(12_000)]
    response = client.post(
        "/v1/transaction-files",
        data="\n".join(lines),
        headers={**processor, "Content-Type": "text/csv"},
    )
    assert response.status_code == 202, response.json
    assert response.json["accepted"] == 12_000
    batch = db.session.get(Batch, response.json["batch_id"])
    assert batch.status == "queued" and batch.completed_at is not None
    me = bearer(make_token(sub="c-1", program="embedded", roles=["cardholder"]))
    assert client.get("/v1/me/balance", headers=me).json["available"] == 120_000


def test_demo_command_seeds_imports_and_processes(embedded):
    result = embedded.test_cli_runner().invoke(args=["demo", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "Cardholder JWT" in result.output and "rwk_" in result.output
    program = db.session.scalar(select(Program).where(Program.slug == "demo"))
    batch = db.session.scalar(select(Batch).where(Batch.program_id == program.id))
    assert batch.status == "queued" and batch.accepted == 63
    token = result.output.split("Cardholder JWT (demo-alice), valid 24 h:\n")[1].splitlines()[0]
    balance = embedded.test_client().get("/v1/me/balance", headers=bearer(token))
    assert balance.status_code == 200 and balance.json["available"] > 0


def test_campaign_caps_budget_and_refunds_are_booked_inline(embedded, processor):
    """SQLite and inline jobs run the same campaign bookkeeping as the stack: cap counters,
    budget, daily figures and exhaustion, and what a refund gives back."""
    from campaigns.earning.models import Campaign
    from campaigns.earning.usage import CampaignCounter
    from rewards.models import Customer, Event, LedgerEntry

    client = embedded.test_client()
    marketer = bearer(make_token(sub="m-1", program="embedded", roles=["marketer"]))
    created = client.post(
        "/v1/campaigns",
        headers=marketer,
        json={
            "name": "Dining 3x",
            "starts_at": "2025-12-01T00:00:00Z",
            "effect": {"type": "multiplier", "value": "3"},
            "caps": {
                "qualifying_spend": {"period": "week", "amount_minor": 500},
                "per_customer": [{"period": "week", "points": 600}],
            },
            "budget_points": 1000,
        },
    )
    assert created.status_code == 201, created.json
    campaign_id = created.json["id"]
    assert client.post(f"/v1/campaigns/{campaign_id}/activate", headers=marketer).status_code == 200
    for ref in ("c-1", "c-2"):
        client.post("/v1/customers", json={"external_ref": ref}, headers=processor)
        client.post(f"/v1/customers/{ref}/cards", json={"token": f"tok-{ref}"}, headers=processor)
    for n, (ref, amount) in enumerate([("c-1", 300), ("c-1", 300), ("c-2", 250), ("c-2", 100)]):
        row = _row(n, token=f"tok-{ref}", amount_minor=amount)
        posted = client.post("/v1/transactions", json={"transactions": [row]}, headers=processor)
        assert posted.status_code == 202, posted.json

    customers = dict(db.session.execute(select(Customer.external_ref, Customer.id)).all())

    def counters() -> dict[str, tuple[int, int]]:
        db.session.expire_all()
        by_id = {v: k for k, v in customers.items()}
        return {
            by_id[c.customer_id]: (c.points, c.spend_minor)
            for c in db.session.scalars(select(CampaignCounter))
        }

    def balances() -> dict[str, int]:
        found = {}
        for ref in customers:
            me = bearer(make_token(sub=ref, program="embedded", roles=["cardholder"]))
            found[ref] = client.get("/v1/me/balance", headers=me).json["available"]
        return found

    # By hand. c-1: ¥300 qualifies whole, 2 × 300 = 600 bonus, the weekly 600 points are
    # used; the next ¥300 has ¥200 of spend room but no points room: nothing, nothing charged.
    # c-2: ¥250 earns 2 × 250 = 500, cut to the 400 left of the budget; then nothing.
    lots = select(LedgerEntry.points).where(LedgerEntry.kind == "bonus")
    assert sorted(db.session.scalars(lots)) == [400, 600]
    assert counters() == {"c-1": (600, 300), "c-2": (400, 250)}
    assert db.session.get(Campaign, campaign_id).budget_used == 1000
    assert db.session.scalar(select(Event.type)) == "campaign.budget_exhausted"
    assert balances() == {"c-1": 300 + 300 + 600, "c-2": 250 + 100 + 400}
    stats = client.get(f"/v1/campaigns/{campaign_id}/stats", headers=marketer).json
    assert (stats["points_issued"], stats["participants"], stats["budget_remaining"]) == (
        1000,
        2,
        0,
    )

    # c-2's ¥250 purchase refunded whole: its base and bonus come back, and so do the
    # budget and c-2's cap room.
    refund = _row(9, token="tok-c-2", kind="refund", amount_minor=250, original_external_id="e-2")
    client.post("/v1/transactions", json={"transactions": [refund]}, headers=processor)
    db.session.expire_all()
    assert counters() == {"c-1": (600, 300), "c-2": (0, 0)}
    assert db.session.get(Campaign, campaign_id).budget_used == 600
    assert balances() == {"c-1": 1200, "c-2": 100}
    stats = client.get(f"/v1/campaigns/{campaign_id}/stats", headers=marketer).json
    assert (stats["clawed_back"], stats["net_points"], stats["budget_remaining"]) == (400, 600, 400)

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
    token = result.output.split("Cardholder JWT (demo-alice):\n")[1].splitlines()[0]
    balance = embedded.test_client().get("/v1/me/balance", headers=bearer(token))
    assert balance.status_code == 200 and balance.json["available"] > 0

"""`Idempotency-Key` first responses are stored sealed, and replay exactly; old plain ones too."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text, update

from rewards.models import IdempotencyRecord, LedgerEntry
from rewards.sealing import Keyring
from tests.factories import CustomerFactory

URL = "/v1/customers/cust-7/adjustments"
REASON = "Goodwill for ticket 4242"


@pytest.fixture
def customer(db, program):
    customer = CustomerFactory(program=program, external_ref="cust-7")
    db.session.commit()
    return customer


def _adjust(client, headers, key: str, points: int = 40):
    return client.post(
        URL,
        json={"points": points, "reason": REASON},
        headers={**headers, "Idempotency-Key": key},
    )


def _stored_text(db) -> str:
    """The stored response body as the database holds it (what a database reader sees)."""
    with db.engine.connect() as conn:
        return conn.scalar(text("SELECT response_body::text FROM idempotency_records"))


def _leaves(value) -> list:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def test_the_stored_first_response_is_sealed_not_clear_text(
    app, client, db, customer, marketer_headers
):
    first = _adjust(client, marketer_headers, "adj-sealed")
    assert first.status_code == 201

    raw = _stored_text(db)

    stored = json.loads(raw)
    assert list(stored) == ["sealed"]
    strings = {leaf for leaf in _leaves(first.json) if isinstance(leaf, str) and len(leaf) >= 6}
    assert {REASON, "cust-7", first.json["entry"]["expires_at"]} <= strings
    for value in strings | {"balance", "lifetime_earned", "entry"}:
        assert value not in raw
    # What the token holds is the first response itself, for whoever has the data key.
    opened = Keyring.from_master(app.config["DATA_KEY"]).unseal(stored["sealed"])
    assert json.loads(opened) == first.json


def test_a_replay_returns_the_identical_first_response(client, db, customer, marketer_headers):
    first = _adjust(client, marketer_headers, "adj-replay")

    again = _adjust(client, marketer_headers, "adj-replay")

    assert (again.status_code, again.json) == (first.status_code, first.json)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(db.session.scalars(select(LedgerEntry)).all()) == 1


def test_another_body_under_a_sealed_key_is_still_a_409(client, customer, marketer_headers):
    _adjust(client, marketer_headers, "adj-409")

    response = _adjust(client, marketer_headers, "adj-409", points=41)

    assert response.status_code == 409
    assert "Idempotency-Key" in response.json["errors"]


@pytest.mark.parametrize(
    "plain",
    [
        {"legacy": "a plain body written before sealing", "points": 40},
        [{"legacy": "a list body"}, 2],
        {"sealed": 7},  # a plain body that merely has a key named "sealed"
    ],
)
def test_a_record_stored_in_clear_before_sealing_still_replays(
    client, db, customer, marketer_headers, plain
):
    first = _adjust(client, marketer_headers, "adj-legacy")
    assert first.status_code == 201
    # Turn the record into one written by the previous version: the body as plain JSON.
    db.session.execute(update(IdempotencyRecord).values(response_body=plain))
    db.session.commit()

    again = _adjust(client, marketer_headers, "adj-legacy")

    assert again.status_code == 201
    assert again.json == plain
    assert again.headers["Idempotent-Replayed"] == "true"

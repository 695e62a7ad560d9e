"""Data-moving migrations keep what they move, up and down, on PostgreSQL and SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from api import create_app
from rewards.db import db
from tests.conftest import TEST_DATABASE_URL, _admin_conninfo

PARTICIPANTS = [(7, 100), (3, 100), (7, 200), (9, 300)]  # (campaign, customer)


@pytest.fixture(params=["postgresql", "sqlite"])
def scratch(request, tmp_path, database_url) -> Iterator[Flask]:
    """An app on an empty database of its own (the suite's database stays at head)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/migrations.sqlite3"
    else:
        name = f"{make_url(database_url).database}_migrations"
        with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = make_url(TEST_DATABASE_URL).set(drivername="postgresql+psycopg", database=name)
        url = url.render_as_string(False)
    config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None}
    # The limiter is one object per process: an app of this test must not re-arm it.
    app = create_app({**config, "JWT_SECRET": "x" * 40, "RATELIMIT_ENABLED": False})
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    if request.param == "postgresql":
        with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _participation() -> dict[int, list[int]]:
    rows = db.session.execute(text("SELECT customer_id, campaign_ids FROM customer_campaigns"))
    return {
        customer: sorted(ids if isinstance(ids, list) else json.loads(ids))
        for customer, ids in rows
    }


def test_0008_moves_participants_to_one_row_per_customer_and_back(scratch):
    directory = scratch.config["MIGRATIONS_DIR"]
    upgrade(directory=directory, revision="0007")
    for campaign_id, customer_id in PARTICIPANTS:
        db.session.execute(
            text("INSERT INTO campaign_participants (campaign_id, customer_id) VALUES (:c, :u)"),
            {"c": campaign_id, "u": customer_id},
        )
    db.session.commit()

    upgrade(directory=directory, revision="0008")
    assert _participation() == {100: [3, 7], 200: [7], 300: [9]}
    db.session.commit()

    downgrade(directory=directory, revision="0007")
    back = db.session.execute(text("SELECT campaign_id, customer_id FROM campaign_participants"))
    assert sorted(back) == sorted(PARTICIPANTS)


def test_0009_keys_counters_by_customer_first_and_back(scratch):
    directory = scratch.config["MIGRATIONS_DIR"]
    upgrade(directory=directory, revision="0008")
    db.session.execute(
        text(
            "INSERT INTO campaign_counters (campaign_id, customer_id, bucket, points, spend_minor) "
            "VALUES (7, 100, 'm:2026-11', 40, 0)"
        )
    )
    db.session.commit()

    def key() -> list[str]:
        return inspect(db.engine).get_pk_constraint("campaign_counters")["constrained_columns"]

    upgrade(directory=directory, revision="0009")
    assert key() == ["customer_id", "bucket", "campaign_id"]
    counters = text("SELECT campaign_id, customer_id, bucket, points FROM campaign_counters")
    assert list(db.session.execute(counters)) == [(7, 100, "m:2026-11", 40)]
    db.session.commit()

    downgrade(directory=directory, revision="0008")
    assert key() == ["campaign_id", "customer_id", "bucket"]
    assert list(db.session.execute(counters)) == [(7, 100, "m:2026-11", 40)]

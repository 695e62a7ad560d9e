"""Migration 0010 creates the challenge and badge tables with the keys the feed relies on,
and removes them again, on PostgreSQL and SQLite."""

from __future__ import annotations

import json

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from rewards.db import db
from tests.test_migrations import scratch  # noqa: F401  (the fixture: an empty database)

TABLES = {
    "challenges",
    "challenge_versions",
    "challenge_joins",
    "challenge_progress",
    "challenge_contributions",
    "badges",
    "customer_badges",
}
CONTRIBUTION = (
    "INSERT INTO challenge_contributions (transaction_id, challenge_id, customer_id, period, "
    "local_day, amount_minor, refunded_minor) VALUES (:t, :c, 100, 'c', '2026-03-29', :a, :r)"
)


def _tables() -> set[str]:
    return set(inspect(db.engine).get_table_names()) & TABLES


def test_0010_creates_the_challenge_tables_and_drops_them(scratch):  # noqa: F811
    directory = scratch.config["MIGRATIONS_DIR"]
    upgrade(directory=directory, revision="0009")
    assert _tables() == set()

    upgrade(directory=directory, revision="0010")
    assert _tables() == TABLES
    keys = inspect(db.engine).get_pk_constraint("challenge_contributions")
    assert keys["constrained_columns"] == ["transaction_id", "challenge_id"]
    keys = inspect(db.engine).get_pk_constraint("challenge_progress")
    assert keys["constrained_columns"] == ["customer_id", "challenge_id", "period"]

    db.session.execute(text(CONTRIBUTION), {"t": 1, "c": 7, "a": 500, "r": 0})
    db.session.commit()
    # A transaction counts once per challenge: a second row for (1, 7) is refused ...
    with pytest.raises(IntegrityError):
        db.session.execute(text(CONTRIBUTION), {"t": 1, "c": 7, "a": 500, "r": 0})
    db.session.rollback()
    # ... and a refund cannot take back more than the purchase contributed.
    with pytest.raises(IntegrityError):
        db.session.execute(text(CONTRIBUTION), {"t": 2, "c": 7, "a": 500, "r": 501})
    db.session.rollback()
    # The same transaction may count towards another challenge.
    db.session.execute(text(CONTRIBUTION), {"t": 1, "c": 8, "a": 500, "r": 0})
    db.session.commit()

    downgrade(directory=directory, revision="0009")
    assert _tables() == set()
    upgrade(directory=directory, revision="0010")
    assert _tables() == TABLES


def test_0012_adds_the_progress_tally_and_the_board_index_and_removes_them(scratch):  # noqa: F811
    directory = scratch.config["MIGRATIONS_DIR"]
    upgrade(directory=directory, revision="0011")
    db.session.execute(
        text(
            "INSERT INTO challenge_progress (customer_id, challenge_id, period, value, target, "
            "status) VALUES (100, 7, 'c', 2, 3, 'active')"
        )
    )
    db.session.commit()

    upgrade(directory=directory, revision="0012")
    columns = {c["name"] for c in inspect(db.engine).get_columns("challenge_progress")}
    assert "tally" in columns
    indexes = {i["name"]: i["column_names"] for i in _indexes()}
    assert indexes["ix_challenge_progress_board"] == ["challenge_id", "period", "customer_id"]
    assert "ix_challenge_progress_challenge_id_period" not in indexes
    # A row stored before keeps its progress and has no tally (the feed recounts it).
    row = db.session.execute(text("SELECT value, tally FROM challenge_progress")).one()
    assert tuple(row) == (2, None)
    db.session.commit()

    downgrade(directory=directory, revision="0011")
    columns = {c["name"] for c in inspect(db.engine).get_columns("challenge_progress")}
    assert "tally" not in columns
    indexes = {i["name"]: i["column_names"] for i in _indexes()}
    assert indexes["ix_challenge_progress_challenge_id_period"] == ["challenge_id", "period"]
    assert db.session.execute(text("SELECT value FROM challenge_progress")).scalar() == 2
    db.session.commit()


def test_0015_folds_contributions_into_a_row_per_purchase_and_back(scratch):  # noqa: F811
    directory = scratch.config["MIGRATIONS_DIR"]
    upgrade(directory=directory, revision="0014")
    # Purchase 1 counted towards challenges 7 and 8 (refunded 200 since), purchase 2 to 7.
    for tx, challenge, refunded in ((1, 7, 200), (1, 8, 200), (2, 7, 0)):
        db.session.execute(text(CONTRIBUTION), {"t": tx, "c": challenge, "a": 500, "r": refunded})
    db.session.commit()

    upgrade(directory=directory, revision="0015")
    assert "challenge_contributions" not in inspect(db.engine).get_table_names()
    rows = db.session.execute(
        text(
            "SELECT transaction_id, customer_id, counted, local_day, amount_minor, "
            "refunded_minor FROM challenge_purchases ORDER BY transaction_id"
        )
    ).all()
    found = [(t, u, _json(c), str(d), a, r) for t, u, c, d, a, r in rows]
    assert found == [
        (1, 100, {"7": "c", "8": "c"}, "2026-03-29", 500, 200),
        (2, 100, {"7": "c"}, "2026-03-29", 500, 0),
    ]
    db.session.commit()

    downgrade(directory=directory, revision="0014")
    rows = db.session.execute(
        text(
            "SELECT transaction_id, challenge_id, customer_id, period, amount_minor, "
            "refunded_minor FROM challenge_contributions ORDER BY transaction_id, challenge_id"
        )
    ).all()
    assert [tuple(r) for r in rows] == [
        (1, 7, 100, "c", 500, 200),
        (1, 8, 100, "c", 500, 200),
        (2, 7, 100, "c", 500, 0),
    ]
    db.session.commit()


def _json(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value


def _indexes() -> list[dict]:
    return inspect(db.engine).get_indexes("challenge_progress")

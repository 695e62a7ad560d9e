"""Data-moving migrations keep what they move, up and down, on PostgreSQL and SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
from flask import Flask
from flask_migrate import downgrade, stamp, upgrade
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

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


LEDGER_ROW = (
    "INSERT INTO ledger_entries (id, program_id, account_id, kind, points, state, available_at, "
    "source_type, idempotency_key, explanation, occurred_at, reverses_entry_id) VALUES "
    "(:id, 1, :account, :kind, :points, 'available', '2026-03-01 00:00:00+00', 'transaction', "
    ":key, '{}', '2026-03-01 00:00:00+00', :reverses)"
)


def test_0014_backfills_the_xp_points_and_their_watermark_from_the_ledger(scratch):
    """What a customer's XP counts as points, summed here by hand: activity lots and the
    clawbacks taken from a lot; not adjustments, expiry or a clawback with no lot."""
    directory = scratch.config["MIGRATIONS_DIR"]
    upgrade(directory=directory, revision="0013")
    db.session.execute(
        text(
            "INSERT INTO programs (id, slug, name, currency, points_name, earn_rate, timezone, "
            "pending_days, expiry_months, excluded_mccs) VALUES "
            "(1, 'p', 'P', 'JPY', 'points', 1, 'UTC', 0, 0, '[]')"
        )
    )
    for customer in (10, 11, 12):
        db.session.execute(
            text(
                "INSERT INTO customers (id, program_id, external_ref, status, "
                "consent_leaderboard, consent_marketing, tags, level, xp) VALUES "
                "(:c, 1, :ref, 'active', false, false, '[]', 1, 0)"
            ),
            {"c": customer, "ref": f"ref-{customer}"},
        )
        db.session.execute(
            text(
                "INSERT INTO accounts (id, program_id, customer_id, available, pending, "
                "lifetime_earned, lifetime_redeemed) VALUES (:c, 1, :c, 0, 0, 0, 0)"
            ),
            {"c": customer},
        )
    rows = [  # (id, account, kind, points, reverses)
        (1, 10, "earn", 500, None),
        (2, 10, "bonus", 250, None),
        (3, 11, "earn", 100, None),
        (4, 10, "clawback", -200, 1),  # from a lot: counts
        (5, 10, "adjust", 1000, None),  # not activity
        (6, 10, "clawback", -50, None),  # no lot: not counted
        (7, 11, "challenge_reward", 300, None),
        (8, 10, "expire", -30, 2),  # expiry undoes no activity
    ]
    for entry_id, account, kind, points, reverses in rows:
        db.session.execute(
            text(LEDGER_ROW),
            {
                "id": entry_id,
                "account": account,
                "kind": kind,
                "points": points,
                "key": f"k-{entry_id}",
                "reverses": reverses,
            },
        )
    db.session.commit()

    upgrade(directory=directory, revision="0014")
    found = db.session.execute(
        text("SELECT id, xp_points, xp_points_upto FROM customers ORDER BY id")
    ).all()
    assert [tuple(r) for r in found] == [(10, 550, 8), (11, 400, 7), (12, 0, 0)]
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        # A run that failed after its columns were committed can simply be run again.
        stamp(directory=directory, revision="0013")
        upgrade(directory=directory, revision="0014")
        again = db.session.execute(
            text("SELECT id, xp_points, xp_points_upto FROM customers ORDER BY id")
        ).all()
        assert [tuple(r) for r in again] == [(10, 550, 8), (11, 400, 7), (12, 0, 0)]
        db.session.commit()

    downgrade(directory=directory, revision="0013")
    columns = {c["name"] for c in inspect(db.engine).get_columns("customers")}
    assert "xp_points" not in columns and "xp_points_upto" not in columns


API_KEY_ROW = (
    "INSERT INTO api_keys (id, program_id, role, name, prefix, secret_hash, scopes, revoked_at) "
    "VALUES (:id, 1, :role, :name, :prefix, 'digest', '[]', :revoked)"
)


def test_0017_revokes_the_unbound_partner_keys_audited_and_the_check_holds(scratch):
    """Partner keys minted before keys named a partner cannot be bound to one: each live one
    is revoked and audited; processor keys and keys revoked before are untouched. Going back
    down keeps them revoked."""
    directory = scratch.config["MIGRATIONS_DIR"]
    upgrade(directory=directory, revision="0016")
    db.session.execute(
        text(
            "INSERT INTO programs (id, slug, name, currency, points_name, earn_rate, timezone, "
            "pending_days, expiry_months, excluded_mccs) VALUES "
            "(1, 'p', 'P', 'JPY', 'points', 1, 'UTC', 0, 0, '[]')"
        )
    )
    for key_id, role, revoked in (
        (1, "processor", None),
        (2, "partner", None),
        (3, "partner", "2026-01-01 00:00:00+00"),
    ):
        db.session.execute(
            text(API_KEY_ROW),
            {"id": key_id, "role": role, "name": f"k{key_id}", "prefix": f"p{key_id}",
             "revoked": revoked},
        )  # fmt: skip
    db.session.commit()

    upgrade(directory=directory, revision="0017")

    keys = db.session.execute(
        text("SELECT id, partner_id, revoked_at IS NOT NULL FROM api_keys ORDER BY id")
    ).all()
    assert [tuple(k) for k in keys] == [(1, None, False), (2, None, True), (3, None, True)]
    kept = db.session.scalar(text("SELECT revoked_at FROM api_keys WHERE id = 3"))
    assert str(kept).startswith("2026-01-01")
    audit = db.session.execute(
        text("SELECT program_id, actor, action, object_type, object_id, before, after "
             "FROM audit_log")
    ).all()  # fmt: skip
    assert len(audit) == 1
    program_id, actor, action, object_type, object_id, before, after = audit[0]
    decoded = [v if isinstance(v, dict) else json.loads(v) for v in (before, after)]
    assert (program_id, actor, action, object_type, object_id) == (
        1, "migration:0017", "api_key.revoke", "api_key", "2"
    )  # fmt: skip
    assert decoded[0] == {"revoked": False} and decoded[1]["revoked"] is True
    assert "mint a new key" in decoded[1]["reason"]
    db.session.commit()
    with pytest.raises(IntegrityError, match="partner_bound"):
        db.session.execute(
            text(API_KEY_ROW),
            {"id": 4, "role": "partner", "name": "k4", "prefix": "p4", "revoked": None},
        )
    db.session.rollback()

    downgrade(directory=directory, revision="0016")
    columns = {c["name"] for c in inspect(db.engine).get_columns("api_keys")}
    assert "partner_id" not in columns
    revoked = db.session.execute(
        text("SELECT id FROM api_keys WHERE revoked_at IS NOT NULL ORDER BY id")
    ).scalars()
    assert list(revoked) == [2, 3]

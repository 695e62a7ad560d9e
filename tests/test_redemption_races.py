"""Concurrent redemptions against real PostgreSQL: one customer tapping many times never
overspends, many customers never oversell the stock. Each test first holds the lock the
requests queue on and waits until every request is queued behind it (seen in
`pg_stat_activity`), so they really contend at the moment that matters."""

from __future__ import annotations

import threading
import time
from collections import Counter

import psycopg
import pytest
from sqlalchemy import func, select

from rewards.models import Account, Customer
from rewards.perks.models import Voucher
from rewards.reconcile import reconcile
from tests.conftest import bearer, make_token
from tests.factories import CustomerFactory
from tests.perk_helpers import (
    available,
    give_points,
    make_partner,
    make_perk,
    redeem_entries,
    redemptions,
    stock_used,
)

URL = "/v1/me/redemptions"


def _conninfo(db) -> str:
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _waiting_on_locks(conn: psycopg.Connection) -> int:
    return conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    ).fetchone()[0]


def _race(app, db, lock_sql: str, calls: list[tuple[dict, dict]], *, commit: bool = False) -> list:
    """Hold `lock_sql`'s lock, start every call, wait until all are queued on a lock, let go
    (rolled back, or with `commit` what `lock_sql` changed committed first)."""
    responses: list = [None] * len(calls)

    def call(i: int) -> None:
        headers, body = calls[i]
        with app.app_context():
            responses[i] = app.test_client().post(URL, json=body, headers=headers)

    with psycopg.connect(_conninfo(db)) as holder:
        holder.execute(lock_sql)
        threads = [threading.Thread(target=call, args=(i,)) for i in range(len(calls))]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        with psycopg.connect(_conninfo(db), autocommit=True) as watcher:
            while _waiting_on_locks(watcher) < len(calls):
                assert time.monotonic() < deadline, "the requests never queued on the lock"
                time.sleep(0.01)
        if commit:
            holder.commit()
        else:
            holder.rollback()  # let them all go at once
    for thread in threads:
        thread.join(timeout=60)
    return responses


@pytest.fixture
def partner(client, marketer_headers):
    make_partner(client, marketer_headers)


@pytest.fixture
def wide_app(app_config):
    """The app with a connection pool wide enough for every racing request at once (the
    default pool of 15 would queue the rest in the pool, not on the lock that matters)."""
    from api import create_app
    from rewards.db import db as database

    options = {"pool_pre_ping": True, "hide_parameters": True, "pool_size": 60, "max_overflow": 0}
    app = create_app({**app_config, "SQLALCHEMY_ENGINE_OPTIONS": options})
    yield app
    with app.app_context():
        database.engine.dispose()


def _account_lock(db, ref: str) -> str:
    account_id = db.session.scalar(
        select(Account.id).join(Customer).where(Customer.external_ref == ref)
    )
    return f"SELECT 1 FROM accounts WHERE id = {account_id} FOR UPDATE"


def test_fifty_taps_on_a_100_point_perk_with_1000_points_spend_exactly_ten(
    wide_app, client, db, program, partner, marketer_headers
):
    CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()
    give_points(client, marketer_headers, "cust-1", 1000)
    perk_id = make_perk(client, marketer_headers, cost_points=100, stock=100)
    headers = bearer(make_token(sub="cust-1", program=program.slug, roles=["cardholder"]))
    calls = [({**headers, "Idempotency-Key": f"tap-{i}"}, {"perk_id": perk_id}) for i in range(50)]

    responses = _race(wide_app, db, _account_lock(db, "cust-1"), calls)

    assert Counter(r.status_code for r in responses) == {201: 10, 409: 40}
    refused = {r.json["type"].rsplit("/", 1)[1] for r in responses if r.status_code == 409}
    assert refused == {"insufficient-points"}
    assert available(db, "cust-1") == 0
    assert (redemptions(db), redeem_entries(db), stock_used(db, perk_id)) == (10, 10, 10)
    vouchers = {r.json["voucher"]["code"] for r in responses if r.status_code == 201}
    assert len(vouchers) == 10
    assert reconcile() == []


def test_one_key_sent_twenty_times_at_once_has_one_effect_and_one_answer(
    wide_app, client, db, program, partner, marketer_headers
):
    CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()
    give_points(client, marketer_headers, "cust-1", 1000)
    perk_id = make_perk(client, marketer_headers, cost_points=100)
    headers = {
        **bearer(make_token(sub="cust-1", program=program.slug, roles=["cardholder"])),
        "Idempotency-Key": "the-same-tap",
    }

    responses = _race(
        wide_app, db, _account_lock(db, "cust-1"), [(headers, {"perk_id": perk_id})] * 20
    )

    assert {r.status_code for r in responses} == {201}
    assert len({r.get_data() for r in responses}) == 1  # byte for byte the first answer
    assert (redemptions(db), redeem_entries(db), available(db, "cust-1")) == (1, 1, 900)


@pytest.mark.parametrize("buyers, stock", [(20, 1), (8, 3)])
def test_buyers_racing_for_the_last_units_get_exactly_the_stock(
    wide_app, client, db, program, partner, marketer_headers, buyers, stock
):
    refs = [f"cust-{i}" for i in range(buyers)]
    for ref in refs:
        CustomerFactory(program=program, external_ref=ref)
    db.session.commit()
    for ref in refs:
        give_points(client, marketer_headers, ref, 500)
    perk_id = make_perk(client, marketer_headers, cost_points=200, stock=stock)
    calls = [
        (
            {
                **bearer(make_token(sub=ref, program=program.slug, roles=["cardholder"])),
                "Idempotency-Key": "tap",
            },
            {"perk_id": perk_id},
        )
        for ref in refs
    ]

    responses = _race(wide_app, db, f"SELECT 1 FROM perks WHERE id = {perk_id} FOR UPDATE", calls)

    assert Counter(r.status_code for r in responses) == {201: stock, 409: buyers - stock}
    refused = {r.json["type"].rsplit("/", 1)[1] for r in responses if r.status_code == 409}
    assert refused == {"out-of-stock"}
    assert (redemptions(db), redeem_entries(db), stock_used(db, perk_id)) == (stock,) * 3
    vouchers = db.session.scalar(select(func.count()).select_from(Voucher))
    assert vouchers == stock
    balances = sorted(available(db, ref) for ref in refs)
    assert balances == [300] * stock + [500] * (buyers - stock)
    assert reconcile() == []


@pytest.mark.parametrize("before, after, status", [("green", "gold", 201), ("gold", "green", 409)])
def test_the_tier_checked_is_the_one_a_concurrent_tier_change_commits(
    wide_app, client, db, program, partner, marketer_headers, before, after, status
):
    """A tier change holds the account lock (rewards.tiers.standing): a redemption queued
    behind it must judge `min_tier` by the tier committed, not the one read before."""
    ladder = [
        {"code": "green", "name": "Green", "threshold": 0, "earn_multiplier": "1"},
        {"code": "gold", "name": "Gold", "threshold": 1000, "earn_multiplier": "1.25"},
    ]
    assert (
        client.put("/v1/tiers", json={"tiers": ladder}, headers=marketer_headers).status_code == 200
    )
    customer = CustomerFactory(program=program, external_ref="cust-1", tier=before)
    db.session.commit()
    give_points(client, marketer_headers, "cust-1", 1000)
    perk_id = make_perk(client, marketer_headers, cost_points=100, min_tier="gold")
    headers = {
        **bearer(make_token(sub="cust-1", program=program.slug, roles=["cardholder"])),
        "Idempotency-Key": "tap",
    }
    tier_change = f"UPDATE customers SET tier = '{after}' WHERE id = {customer.id}"
    change = f"{_account_lock(db, 'cust-1')}; {tier_change}"

    (response,) = _race(wide_app, db, change, [(headers, {"perk_id": perk_id})], commit=True)

    assert response.status_code == status, response.json
    if status == 409:
        assert response.json["rule"] == "min_tier"
    assert available(db, "cust-1") == (900 if status == 201 else 1000)

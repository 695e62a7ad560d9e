"""GET /v1/partner/stats: a partner's redemptions, points and vouchers per program-local day
(the program is in Asia/Tokyo, UTC+9), each event on the day it happened, only its own perks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import literal, select

from api import create_app
from rewards.db import UTCDateTime
from rewards.db import db as _db
from rewards.local_days import day_start, local_day, utc_offsets
from tests.factories import CustomerFactory
from tests.perk_helpers import give_points, make_partner, make_perk
from tests.perk_timeline import at, cancel_at, expire_at, redeem_at, use_at

STATS = "/v1/partner/stats"
OPEN = "2026-01-01T00:00:00Z"
ZERO = {
    "redemptions": 0,
    "points_redeemed": 0,
    "cancellations": 0,
    "points_refunded": 0,
    "vouchers_issued": 0,
    "vouchers_used": 0,
    "vouchers_expired": 0,
    "vouchers_cancelled": 0,
}


@pytest.fixture
def shop(client, db, program, marketer_headers, partner_key):
    """star-cafe (coffee 300, vouchers valid one day; cake 500) and moon-books (book 700)."""
    make_partner(client, marketer_headers)
    make_partner(client, marketer_headers, code="moon-books", name="Moon Books")
    CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()
    give_points(client, marketer_headers, "cust-1", 10_000)
    coffee = make_perk(
        client, marketer_headers, starts_at=OPEN, voucher={"valid_days": 1}, cost_points=300
    )
    cake = make_perk(
        client,
        marketer_headers,
        title="Cake",
        cost_points=500,
        starts_at=OPEN,
        voucher={"valid_days": 30, "cancel_within_hours": 48},
    )
    book = make_perk(
        client,
        marketer_headers,
        partner="moon-books",
        title="Book",
        cost_points=700,
        starts_at=OPEN,
    )
    return {
        "perks": {"coffee": coffee, "cake": cake, "book": book},
        "star": partner_key("star-cafe"),
        "moon": partner_key("moon-books"),
    }


@pytest.fixture
def november(db, program, shop):
    """Three days of events around Tokyo midnights (JST = UTC+9)."""
    perks = shop["perks"]
    first = redeem_at(db, program.id, perks["coffee"], "2026-11-09T14:59:59Z")  # 11-09 23:59:59
    redeem_at(db, program.id, perks["coffee"], "2026-11-09T15:00:00Z")  # 11-10 00:00 JST
    cake = redeem_at(db, program.id, perks["cake"], "2026-11-10T03:00:00Z")  # 11-10 12:00
    redeem_at(db, program.id, perks["book"], "2026-11-10T04:00:00Z")  # moon-books' perk
    use_at(db, first, "2026-11-10T01:00:00Z")  # 11-10 10:00 JST
    cancel_at(db, program.id, cake, "2026-11-11T00:30:00Z")  # 11-11 09:30 JST
    # The second coffee's voucher ran out at 11-11 00:00 JST; the job saw it at 00:30.
    assert expire_at(db, "2026-11-10T15:30:00Z") == 1
    return shop


def test_each_event_counts_on_its_tokyo_day_for_the_partner_s_own_perks(client, november):
    response = client.get(f"{STATS}?from=2026-11-08&to=2026-11-12", headers=november["star"])

    assert response.status_code == 200, response.json
    assert (response.json["from"], response.json["to"]) == ("2026-11-08", "2026-11-12")
    assert response.json["timezone"] == "Asia/Tokyo"
    assert response.json["days"] == [
        {"date": "2026-11-08", **ZERO},
        {
            "date": "2026-11-09",
            **ZERO,
            "redemptions": 1,
            "points_redeemed": 300,
            "vouchers_issued": 1,
        },
        {
            "date": "2026-11-10",
            **ZERO,
            "redemptions": 2,
            "points_redeemed": 800,
            "vouchers_issued": 2,
            "vouchers_used": 1,
        },
        {
            "date": "2026-11-11",
            **ZERO,
            "cancellations": 1,
            "points_refunded": 500,
            "vouchers_expired": 1,
            "vouchers_cancelled": 1,
        },
        {"date": "2026-11-12", **ZERO},
    ]
    assert response.json["totals"] == {
        "redemptions": 3,
        "points_redeemed": 1100,
        "cancellations": 1,
        "points_refunded": 500,
        "vouchers_issued": 3,
        "vouchers_used": 1,
        "vouchers_expired": 1,
        "vouchers_cancelled": 1,
    }


def test_another_partner_sees_only_its_own_perk(client, november):
    response = client.get(f"{STATS}?from=2026-11-09&to=2026-11-11", headers=november["moon"])

    assert [d for d in response.json["days"] if d != {**ZERO, "date": d["date"]}] == [
        {
            "date": "2026-11-10",
            **ZERO,
            "redemptions": 1,
            "points_redeemed": 700,
            "vouchers_issued": 1,
        }
    ]


def test_the_range_is_inclusive_and_cut_at_tokyo_midnight(client, november):
    one_day = client.get(f"{STATS}?from=2026-11-10&to=2026-11-10", headers=november["star"])

    assert [d["date"] for d in one_day.json["days"]] == ["2026-11-10"]
    assert one_day.json["totals"]["redemptions"] == 2  # not the one a second before midnight


def test_by_default_the_last_30_days_up_to_today_in_tokyo(client, shop):
    before = datetime.now(ZoneInfo("Asia/Tokyo")).date()
    response = client.get(STATS, headers=shop["star"])
    after = datetime.now(ZoneInfo("Asia/Tokyo")).date()

    days = [d["date"] for d in response.json["days"]]
    assert len(days) == 30
    assert days[-1] == response.json["to"] and response.json["to"] in (str(before), str(after))
    last = date.fromisoformat(days[-1])
    assert days[0] == response.json["from"] == str(last - timedelta(days=29))


def test_366_days_are_served_and_367_are_a_422_naming_to(client, shop):
    full = client.get(f"{STATS}?from=2028-01-01&to=2028-12-31", headers=shop["star"])
    over = client.get(f"{STATS}?from=2026-01-01&to=2027-01-02", headers=shop["star"])

    assert full.status_code == 200 and len(full.json["days"]) == 366  # 2028 is a leap year
    assert over.status_code == 422
    assert over.content_type == "application/problem+json"
    assert list(over.json["errors"]) == ["to"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-11-12&to=2026-11-11", "to"),
        ("from=2026-02-30", "from"),
        ("to=yesterday", "to"),
        ("from=2020-01-01", "to"),  # `to` defaults to today: far more than 366 days
    ],
)
def test_a_bad_range_is_a_422_naming_the_field(client, shop, query, field):
    response = client.get(f"{STATS}?{query}", headers=shop["star"])

    assert response.status_code == 422
    assert field in response.json["errors"]


# --- the local day in SQL, on PostgreSQL and on SQLite (the embedded mode) ----------------

BERLIN = ZoneInfo("Europe/Berlin")
# Instants around Berlin's summer time changes of 2026 (03-29 and 10-25, at 01:00 UTC) and
# the program-local day they fall on, worked out by hand (CET = UTC+1, CEST = UTC+2).
BERLIN_DAYS = [
    ("2026-03-28T22:59:59Z", "2026-03-28"),
    ("2026-03-28T23:00:00Z", "2026-03-29"),
    ("2026-03-29T21:59:59Z", "2026-03-29"),
    ("2026-03-29T22:00:00Z", "2026-03-30"),
    ("2026-10-24T21:59:59Z", "2026-10-24"),
    ("2026-10-24T22:00:00Z", "2026-10-25"),
    ("2026-10-25T22:59:59Z", "2026-10-25"),
    ("2026-10-25T23:00:00Z", "2026-10-26"),
]


def _local_days() -> list[str]:
    start, end = day_start(date(2026, 1, 1), BERLIN), day_start(date(2027, 1, 1), BERLIN)
    return [
        str(_db.session.scalar(select(local_day(literal(at(t), UTCDateTime), BERLIN, start, end))))
        for t, _ in BERLIN_DAYS
    ]


def test_summer_time_moves_the_day_boundary_on_postgresql(db):
    assert _local_days() == [day for _, day in BERLIN_DAYS]


def test_summer_time_moves_the_day_boundary_on_sqlite():
    embedded = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "REDIS_URL": None,
            "JOBS_INLINE": True,
            "RATELIMIT_ENABLED": False,
        }
    )
    with embedded.app_context():
        try:
            assert _db.session.get_bind().dialect.name == "sqlite"
            assert _local_days() == [day for _, day in BERLIN_DAYS]
        finally:
            _db.session.remove()


def test_the_offsets_change_at_the_second_summer_time_begins_and_ends():
    start, end = day_start(date(2026, 1, 1), BERLIN), day_start(date(2027, 1, 1), BERLIN)

    assert utc_offsets(BERLIN, start, end) == [
        (datetime(2026, 3, 29, 1, tzinfo=UTC), 3600),
        (datetime(2026, 10, 25, 1, tzinfo=UTC), 7200),
        (end, 3600),
    ]

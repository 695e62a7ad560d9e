"""Dates and timestamps outside 1970..2100 are 422 naming the field, never a 500 or a row.

Year 1 and year 9999 parse, but moving them into UTC (or a program's timezone) overflows
Python's datetime; far-future values are typos that would grant points forever.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import marshmallow as ma
import pytest
from sqlalchemy import func, select

from api.fields import CalendarDate, DateOrDateTime, UtcDateTime
from rewards.models import AuditLog, LedgerEntry
from tests.factories import CustomerFactory

OUT_OF_RANGE_TIMESTAMPS = [
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC: overflows
    "9999-12-31T23:59:59-05:00",  # after year 9999 in UTC: overflows
    "9999-01-01T00:00:00Z",
    "2100-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
]


class _Example(ma.Schema):
    at = UtcDateTime(required=True)
    day = CalendarDate()
    when = DateOrDateTime()


@pytest.mark.parametrize("value", OUT_OF_RANGE_TIMESTAMPS)
def test_utc_timestamps_outside_1970_to_2100_name_the_field(value):
    with pytest.raises(ma.ValidationError) as caught:
        _Example().load({"at": value})
    assert caught.value.messages == {"at": [UtcDateTime.default_error_messages["range"]]}


def test_utc_timestamps_at_the_edges_load_in_utc():
    assert _Example().load({"at": "1970-01-01T09:00:00+09:00"})["at"] == datetime(
        1970, 1, 1, tzinfo=UTC
    )
    last = _Example().load({"at": "2099-12-31T23:59:59Z"})["at"]
    assert last == datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "value", "loads"),
    [
        ("day", "0001-01-01", None),
        ("day", "9999-12-31", None),
        ("day", "1899-12-31", None),
        ("day", "1900-01-01", date(1900, 1, 1)),
        ("day", "2099-12-31", date(2099, 12, 31)),
        ("when", "0001-01-01", None),
        ("when", "0001-01-01T00:00:00", None),
        ("when", "9999-12-31T23:59:59", None),
        ("when", "9999-12-31T23:59:59-05:00", None),
        ("when", "2100-01-01", None),
        ("when", "1970-01-01", date(1970, 1, 1)),
        ("when", "2099-12-31T23:00:00", datetime(2099, 12, 31, 23)),
    ],
)
def test_dates_outside_their_range_name_the_field(field, value, loads):
    if loads is None:
        with pytest.raises(ma.ValidationError) as caught:
            _Example().load({"at": "2026-01-01T00:00:00Z", field: value})
        assert list(caught.value.messages) == [field]
        assert "between" in caught.value.messages[field][0]
    else:
        assert _Example().load({"at": "2026-01-01T00:00:00Z", field: value})[field] == loads


# --- through the API: adjustments -------------------------------------------------------

URL = "/v1/customers/cust-1/adjustments"


@pytest.fixture
def customer(db, program):
    CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()


def _stored(db, model) -> int:
    with db.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(model))


def _years_ahead(years: int, days: int = 0) -> str:
    moment = datetime.now(UTC).replace(microsecond=0)
    return (moment.replace(year=moment.year + years) + timedelta(days=days)).isoformat()


@pytest.mark.parametrize(
    "expires_at",
    [*OUT_OF_RANGE_TIMESTAMPS, _years_ahead(10, days=2), _years_ahead(50)],
    ids=[*OUT_OF_RANGE_TIMESTAMPS, "10-years-and-2-days", "50-years"],
)
def test_adjustment_expiry_out_of_range_is_422_and_nothing_is_stored(
    client, db, customer, marketer_headers, expires_at
):
    body = {"points": 50, "reason": "goodwill", "expires_at": expires_at}
    response = client.post(URL, json=body, headers=marketer_headers)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert list(response.json["errors"]) == ["expires_at"]
    assert _stored(db, LedgerEntry) == 0
    assert _stored(db, AuditLog) == 0


def test_adjustment_expiry_just_under_ten_years_is_kept(client, db, customer, marketer_headers):
    expires_at = _years_ahead(10, days=-2)
    body = {"points": 50, "reason": "goodwill", "expires_at": expires_at}
    response = client.post(URL, json=body, headers=marketer_headers)
    assert response.status_code == 201, response.json
    stored = datetime.fromisoformat(response.json["entry"]["expires_at"].replace("Z", "+00:00"))
    assert stored == datetime.fromisoformat(expires_at)


# --- through the API: query parameters and other bodies ----------------------------------


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1899-12-31"])
def test_campaign_active_on_out_of_range_is_422_naming_the_parameter(
    client, program, marketer_headers, day
):
    response = client.get(f"/v1/campaigns?active_on={day}", headers=marketer_headers)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert "active_on" in str(response.json["errors"])


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_customer_birth_date_out_of_range_is_422_and_nothing_is_stored(
    client, db, program, processor_headers, day
):
    from rewards.models import Customer

    body = {"external_ref": "cust-9", "birth_date": day}
    response = client.post("/v1/customers", json=body, headers=processor_headers)
    assert response.status_code == 422
    assert list(response.json["errors"]) == ["birth_date"]
    assert _stored(db, Customer) == 0

"""GET /v1/partners/{id}/settlement: what the program owes a partner for a Tokyo calendar
month, from the ledger, per perk, at the program's point value; JSON or CSV.

The timeline (JST = UTC+9; the program pays 1,235 yen per 1,000 points, 1.235 per point):

    coffee (300) C1 redeemed 10-31 23:30 JST, cancelled 11-01 00:30 JST
    coffee       C2 redeemed 11-01 00:00 JST, used 11-05
    cake (500)   C3 redeemed 11-20, used 12-01 00:00 JST
    coffee       C4 redeemed 11-30 23:59:59 JST, cancelled 12-01 01:00 JST
    cake         C5 redeemed and cancelled on 11-15
    book (700, moon-books) redeemed 11-10
"""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from api.resources.settlements import CSV_COLUMNS
from rewards.models import AuditLog, LedgerEntry
from rewards.perks.models import Perk, Redemption
from tests.conftest import bearer, make_token
from tests.factories import CustomerFactory, ProgramFactory
from tests.perk_helpers import give_points, make_partner, make_perk
from tests.perk_timeline import cancel_at, partner_id_of, redeem_at, use_at

OPEN = "2026-01-01T00:00:00Z"
LONG_CANCEL = {"valid_days": 60, "cancel_within_hours": 48}


def url(partner: int, query: str) -> str:
    return f"/v1/partners/{partner}/settlement?{query}"


@pytest.fixture
def timeline(client, db, program, marketer_headers, admin_headers):
    make_partner(client, marketer_headers)
    make_partner(client, marketer_headers, code="moon-books", name="Moon Books")
    CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()
    give_points(client, marketer_headers, "cust-1", 10_000)
    valued = client.patch(
        "/v1/programs/youth", json={"point_value_per_1000": 1235}, headers=admin_headers
    )
    assert valued.status_code == 200, valued.json
    coffee = make_perk(client, marketer_headers, starts_at=OPEN, voucher=LONG_CANCEL)
    cake = make_perk(
        client, marketer_headers, title="Cake", cost_points=500, starts_at=OPEN, voucher=LONG_CANCEL
    )
    book = make_perk(
        client,
        marketer_headers,
        partner="moon-books",
        title="Book",
        cost_points=700,
        starts_at=OPEN,
    )
    c1 = redeem_at(db, program.id, coffee, "2026-10-31T14:30:00Z")
    c2 = redeem_at(db, program.id, coffee, "2026-10-31T15:00:00Z")
    cancel_at(db, program.id, c1, "2026-10-31T15:30:00Z")
    use_at(db, c2, "2026-11-05T03:00:00Z")
    c3 = redeem_at(db, program.id, cake, "2026-11-20T03:00:00Z")
    use_at(db, c3, "2026-11-30T15:00:00Z")
    c4 = redeem_at(db, program.id, coffee, "2026-11-30T14:59:59Z")
    cancel_at(db, program.id, c4, "2026-11-30T16:00:00Z")
    c5 = redeem_at(db, program.id, cake, "2026-11-15T00:00:00Z")
    cancel_at(db, program.id, c5, "2026-11-15T01:00:00Z")
    redeem_at(db, program.id, book, "2026-11-10T04:00:00Z")
    return {
        "star": partner_id_of(db, "star-cafe"),
        "moon": partner_id_of(db, "moon-books"),
        "coffee": coffee,
        "cake": cake,
        "book": book,
    }


def test_november_nets_redemptions_made_less_cancellations_made_in_the_month(
    client, timeline, marketer_headers
):
    response = client.get(url(timeline["star"], "period=2026-11"), headers=marketer_headers)

    assert response.status_code == 200, response.json
    assert response.mimetype == "application/json"
    body = response.json
    assert body["period"] == "2026-11" and body["partner_code"] == "star-cafe"
    # The Tokyo month: 11-01 00:00 JST to 12-01 00:00 JST.
    assert (body["starts_at"], body["ends_at"]) == ("2026-10-31T15:00:00Z", "2026-11-30T15:00:00Z")
    assert (body["currency"], body["point_value_per_1000"]) == ("JPY", 1235)
    assert body["perks"] == [
        {
            "perk_id": timeline["coffee"],
            "title": "Free coffee",
            "redemptions": 2,  # C2, C4
            "points_redeemed": 600,
            "cancellations": 1,  # C1, redeemed in October
            "points_refunded": 300,
            "net_points": 300,
            "vouchers_used": 1,  # C2
            "amount_minor_exact": "370.5",  # 300 x 1.235
        },
        {
            "perk_id": timeline["cake"],
            "title": "Cake",
            "redemptions": 2,  # C3, C5
            "points_redeemed": 1000,
            "cancellations": 1,  # C5
            "points_refunded": 500,
            "net_points": 500,
            "vouchers_used": 0,  # C3 was used on 12-01 in Tokyo
            "amount_minor_exact": "617.5",  # 500 x 1.235
        },
    ]
    assert body["totals"] == {
        "redemptions": 4,
        "points_redeemed": 1600,
        "cancellations": 2,
        "points_refunded": 800,
        "net_points": 800,
        "vouchers_used": 1,
        "amount_minor_exact": "988",
    }
    # Rounded once: 988, where rounding each perk (371 + 618) would have said 989.
    assert body["amount_owed_minor"] == 988


def test_the_neighbouring_months_take_the_cancellations_that_crossed_midnight(
    client, timeline, marketer_headers
):
    october = client.get(url(timeline["star"], "period=2026-10"), headers=marketer_headers).json
    december = client.get(url(timeline["star"], "period=2026-12"), headers=marketer_headers).json

    # October: C1 was redeemed (300 points, 370.5 yen: half rounds up to 371).
    assert october["totals"] == {
        "redemptions": 1,
        "points_redeemed": 300,
        "cancellations": 0,
        "points_refunded": 0,
        "net_points": 300,
        "vouchers_used": 0,
        "amount_minor_exact": "370.5",
    }
    assert october["amount_owed_minor"] == 371
    # December: C4's cancellation gives 300 points back (a credit), C3's voucher was used.
    assert [(p["title"], p["net_points"], p["vouchers_used"]) for p in december["perks"]] == [
        ("Free coffee", -300, 0),
        ("Cake", 0, 1),
    ]
    assert december["totals"]["amount_minor_exact"] == "-370.5"
    assert december["amount_owed_minor"] == -371  # half away from zero, like October's debit


def test_the_months_add_up_to_the_partner_s_ledger_entries(client, db, timeline, marketer_headers):
    months = [
        client.get(url(timeline["star"], f"period={m}"), headers=marketer_headers).json
        for m in ("2026-09", "2026-10", "2026-11", "2026-12", "2027-01")
    ]
    ledger = db.session.scalar(
        select(func.sum(LedgerEntry.points))
        .join(Redemption, Redemption.id == LedgerEntry.source_id)
        .join(Perk, Perk.id == Redemption.perk_id)
        .where(LedgerEntry.source_type == "redemption", Perk.partner_id == timeline["star"])
    )

    # 300 (October) + 800 (November) - 300 (December); nothing before or after.
    assert [m["totals"]["net_points"] for m in months] == [0, 300, 800, -300, 0]
    assert sum(m["totals"]["net_points"] for m in months) == 800 == -ledger


def test_another_partner_s_perks_stay_out(client, timeline, marketer_headers):
    moon = client.get(url(timeline["moon"], "period=2026-11"), headers=marketer_headers).json

    assert [(p["title"], p["redemptions"], p["net_points"]) for p in moon["perks"]] == [
        ("Book", 1, 700)
    ]
    assert moon["amount_owed_minor"] == 865  # 700 x 1.235 = 864.5


@pytest.mark.parametrize(
    ("query", "headers"),
    [("period=2026-11&format=csv", {}), ("period=2026-11", {"Accept": "text/csv"})],
)
def test_the_csv_has_one_line_per_perk_and_a_total_line(
    client, timeline, marketer_headers, query, headers
):
    response = client.get(url(timeline["star"], query), headers={**marketer_headers, **headers})

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "settlement-star-cafe-2026-11.csv" in response.headers["Content-Disposition"]
    reader = csv.DictReader(io.StringIO(response.get_data(as_text=True)))
    rows = list(reader)
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    star = str(timeline["star"])
    shared = {"period": "2026-11", "partner_id": star, "partner_code": "star-cafe"}
    money = {"currency": "JPY", "point_value_per_1000": "1235"}
    assert rows == [
        {
            "line": "perk",
            **shared,
            "perk_id": str(timeline["coffee"]),
            "perk_title": "Free coffee",
            "redemptions": "2",
            "points_redeemed": "600",
            "cancellations": "1",
            "points_refunded": "300",
            "net_points": "300",
            "vouchers_used": "1",
            **money,
            "amount_minor_exact": "370.5",
            "amount_owed_minor": "",
        },
        {
            "line": "perk",
            **shared,
            "perk_id": str(timeline["cake"]),
            "perk_title": "Cake",
            "redemptions": "2",
            "points_redeemed": "1000",
            "cancellations": "1",
            "points_refunded": "500",
            "net_points": "500",
            "vouchers_used": "0",
            **money,
            "amount_minor_exact": "617.5",
            "amount_owed_minor": "",
        },
        {
            "line": "total",
            **shared,
            "perk_id": "",
            "perk_title": "",
            "redemptions": "4",
            "points_redeemed": "1600",
            "cancellations": "2",
            "points_refunded": "800",
            "net_points": "800",
            "vouchers_used": "1",
            **money,
            "amount_minor_exact": "988",
            "amount_owed_minor": "988",
        },
    ]


def test_format_json_wins_over_accept(client, timeline, marketer_headers):
    response = client.get(
        url(timeline["star"], "period=2026-11&format=json"),
        headers={**marketer_headers, "Accept": "text/csv"},
    )

    assert response.mimetype == "application/json"
    assert response.json["amount_owed_minor"] == 988


def test_a_title_is_never_a_spreadsheet_formula(client, db, program, marketer_headers):
    make_partner(client, marketer_headers)
    CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()
    give_points(client, marketer_headers, "cust-1", 1000)
    perk = make_perk(client, marketer_headers, title='=HYPERLINK("x")', starts_at=OPEN)
    redeem_at(db, program.id, perk, "2026-11-02T00:00:00Z")

    response = client.get(
        url(partner_id_of(db, "star-cafe"), "period=2026-11&format=csv"), headers=marketer_headers
    )

    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0]["perk_title"] == '\'=HYPERLINK("x")'


def test_without_a_point_value_the_points_come_without_an_amount(
    client, db, program, marketer_headers
):
    make_partner(client, marketer_headers)
    CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()
    give_points(client, marketer_headers, "cust-1", 1000)
    perk = make_perk(client, marketer_headers, starts_at=OPEN)
    redeem_at(db, program.id, perk, "2026-11-02T00:00:00Z")
    star = partner_id_of(db, "star-cafe")

    body = client.get(url(star, "period=2026-11"), headers=marketer_headers).json
    rows = list(
        csv.DictReader(
            io.StringIO(
                client.get(
                    url(star, "period=2026-11&format=csv"), headers=marketer_headers
                ).get_data(as_text=True)
            )
        )
    )

    assert body["point_value_per_1000"] is None and body["amount_owed_minor"] is None
    assert (body["totals"]["net_points"], body["totals"]["amount_minor_exact"]) == (300, None)
    assert [(r["line"], r["net_points"], r["amount_owed_minor"]) for r in rows] == [
        ("perk", "300", ""),
        ("total", "300", ""),
    ]


def test_the_point_value_is_a_program_setting_an_admin_changes_audited(
    client, db, program, admin_headers
):
    changed = client.patch(
        "/v1/programs/youth", json={"point_value_per_1000": 800}, headers=admin_headers
    )
    negative = client.patch(
        "/v1/programs/youth", json={"point_value_per_1000": -1}, headers=admin_headers
    )

    assert changed.status_code == 200 and changed.json["point_value_per_1000"] == 800
    assert negative.status_code == 422 and "point_value_per_1000" in negative.json["errors"]
    audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "program.update")).one()
    assert (audit.before, audit.after) == (
        {"point_value_per_1000": None},
        {"point_value_per_1000": 800},
    )


def test_an_admin_names_the_program(client, timeline, admin_headers):
    named = client.get(url(timeline["star"], "period=2026-11&program=youth"), headers=admin_headers)
    unnamed = client.get(url(timeline["star"], "period=2026-11"), headers=admin_headers)

    assert named.status_code == 200 and named.json["amount_owed_minor"] == 988
    assert unnamed.status_code == 422 and "program" in unnamed.json["errors"]


@pytest.mark.parametrize(
    "query", ["period=2026-13", "period=1969-12", "period=2026-1", "period=２０２６-11", ""]
)
def test_a_bad_or_missing_period_is_a_422_naming_it(client, timeline, marketer_headers, query):
    response = client.get(url(timeline["star"], query), headers=marketer_headers)

    assert response.status_code == 422
    assert "period" in response.json["errors"]


def test_a_partner_of_another_program_is_not_found(client, db, timeline):
    ProgramFactory(slug="other")
    db.session.commit()
    other = bearer(make_token(sub="m", program="other", roles=["marketer"]))

    response = client.get(url(timeline["star"], "period=2026-11"), headers=other)

    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


def test_the_spec_documents_json_and_csv(client):
    spec = client.get("/v1/openapi.json").json
    operation = spec["paths"]["/v1/partners/{partner_id}/settlement"]["get"]

    content = operation["responses"]["200"]["content"]
    assert set(content) == {"application/json", "text/csv"}
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/Settlement"}
    for column in CSV_COLUMNS:
        assert column in operation["responses"]["200"]["description"]

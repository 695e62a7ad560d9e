"""The catalog ranked for each cardholder: the feed keeps their tastes (per category and
partner, per part of the day in the program's timezone, net of refunds), a scheduled job
keeps perks' popularity per age band, and the ranking orders perks with a reason.
Expected counts are worked out by hand from the purchases each test makes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from rewards.models import Program
from rewards.perks.features import Features
from rewards.perks.models import CustomerFeatures, PerkPopularity
from rewards.perks.ranking import Candidate, age_band, rank
from tests.conftest import bearer, make_token
from tests.factories import CustomerFactory
from tests.ledger_helpers import enrol, store
from tests.perk_helpers import give_points, make_partner, make_perk
from workers.jobs import process_transactions, refresh_perk_popularity

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 20, 0, 30, tzinfo=UTC)  # 09:30 in Tokyo: morning
CAFE = Candidate(1, "dining", "star-cafe", "Star Cafe")
BOOKS = Candidate(2, "shopping", "moon-books", "Moon Books")
CINEMA = Candidate(3, "entertainment", "star-cinema", "Star Cinema")


def _features(**purchases: int) -> Features:
    features = Features()
    for name, n in purchases.items():
        category, partner = {
            "cafe": ("dining", "star-cafe"),
            "books": ("shopping", "moon-books"),
            "mart": ("groceries", None),
        }[name]
        for _ in range(n):
            features.add(
                category=category,
                partner=partner,
                amount=500,
                part="evening",
                at=NOW - timedelta(days=60),
            )
    return features


def test_a_partner_the_cardholder_often_shops_at_ranks_first_with_its_reason():
    ranked = rank([BOOKS, CINEMA, CAFE], _features(cafe=6, books=2), {}, now=NOW, zone=TOKYO)

    assert [r.perk_id for r in ranked] == [1, 2, 3]
    assert ranked[0].reason == "You often shop at Star Cafe"
    assert ranked[2].reason == "New in the catalog"


def test_the_part_of_the_day_and_recency_move_perks_up():
    features = _features(cafe=3, books=3)
    features.add(category="shopping", partner="moon-books", amount=900, part="morning", at=NOW)

    ranked = rank([CAFE, BOOKS], features, {}, now=NOW, zone=TOKYO)  # a morning request

    # Equal shares but books were bought this morning, at this time of day, and just now.
    assert [r.perk_id for r in ranked] == [2, 1]


def test_without_history_popularity_in_the_age_band_ranks():
    ranked = rank([CAFE, BOOKS, CINEMA], Features(), {3: 40, 2: 10}, now=NOW, zone=TOKYO)

    assert [r.perk_id for r in ranked] == [3, 2, 1]
    assert ranked[0].reason == "Popular with cardholders your age"


def test_age_bands():
    today = date(2026, 11, 20)
    assert [age_band(date(y, 11, 21), today) for y in (2010, 2008, 2005, 2001, 1990)] == [
        "u18",
        "u18",
        "18-20",
        "21-24",
        "30+",
    ]
    assert age_band(None, today) == "all"


def test_the_feed_keeps_tastes_per_category_partner_and_local_part_of_day(
    db, program, client, marketer_headers
):
    with db.engine.begin() as conn:
        conn.execute(update(Program).values(timezone="Asia/Tokyo"))
    make_partner(client, marketer_headers)  # star-cafe: merchant ids below are its own
    client.patch("/v1/partners/1", json={"merchant_ids": ["m-cafe"]}, headers=marketer_headers)
    card = enrol(program.id)
    morning = datetime(2026, 11, 19, 23, 30, tzinfo=UTC)  # 08:30 on 20 Nov in Tokyo
    evening = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # 19:00 in Tokyo
    ids = [
        store(program.id, card.token, "c1", mcc="5814", merchant_id="m-cafe", amount_minor=400,
              occurred_at=morning),
        store(program.id, card.token, "c2", mcc="5814", merchant_id="m-cafe", amount_minor=600,
              occurred_at=evening),
        store(program.id, card.token, "g1", mcc="5411", merchant_id="m-mart", amount_minor=2000,
              occurred_at=evening),
    ]  # fmt: skip
    process_transactions(ids)
    refund = store(program.id, card.token, "r1", kind="refund", mcc="5814",
                   merchant_id="m-cafe", amount_minor=150, original_external_id="c2",
                   occurred_at=evening + timedelta(hours=1))  # fmt: skip
    process_transactions([refund])

    row = db.session.scalar(
        select(CustomerFeatures).where(CustomerFeatures.customer_id == card.customer_id)
    )
    assert row.purchases == 3
    assert row.categories == {"dining": [2, 850], "groceries": [1, 2000]}
    assert row.partners == {"star-cafe": [2, 850]}
    assert row.dayparts == {"dining|morning": 1, "dining|evening": 1, "groceries|evening": 1}
    assert row.last_purchase_at == evening
    assert row.partner_last_at == {"star-cafe": evening.isoformat()}


def test_the_catalog_ranks_for_the_cardholder_and_hides_perks_they_may_never_redeem(
    db, program, client, marketer_headers, cardholder_headers
):
    make_partner(client, marketer_headers)
    make_partner(client, marketer_headers, code="moon-books", name="Moon Books")
    customer = CustomerFactory(program=program, external_ref="cust-1")  # born 2005: 21
    db.session.commit()
    give_points(client, marketer_headers, "cust-1", 1000)
    books = make_perk(
        client, marketer_headers, partner="moon-books", title="Book", category="shopping"
    )
    cafe = make_perk(client, marketer_headers, title="Coffee", category="dining")
    make_perk(client, marketer_headers, title="Wine tasting", min_age=25)
    features = _features(cafe=5, books=1)
    db.session.add(CustomerFeatures(**features.row(customer.id)))
    db.session.commit()

    data = client.get("/v1/me/perks", headers=cardholder_headers).json["data"]

    assert [p["id"] for p in data] == [cafe, books]
    assert data[0]["reason"] == "You often shop at Star Cafe"
    assert data[1]["reason"] == "You often shop at Moon Books"


def test_popularity_is_counted_per_age_band_and_ranks_a_newcomer(
    db, program, client, marketer_headers, cardholder_headers
):
    make_partner(client, marketer_headers)
    today = datetime.now(UTC).date()
    young = [
        CustomerFactory(
            program=program, external_ref=f"y{i}", birth_date=date(today.year - 19, 1, 1)
        )
        for i in range(3)
    ]
    older = CustomerFactory(
        program=program, external_ref="o1", birth_date=date(today.year - 40, 1, 1)
    )
    newcomer = CustomerFactory(
        program=program, external_ref="cust-1", birth_date=date(today.year - 19, 1, 2)
    )
    db.session.commit()
    tea = make_perk(client, marketer_headers, title="Tea", cost_points=10)
    cake = make_perk(client, marketer_headers, title="Cake", cost_points=10)

    def redeem(ref: str, perk: int) -> None:
        give_points(client, marketer_headers, ref, 10)
        headers = {**bearer(make_token(sub=ref, program=program.slug, roles=["cardholder"])),
                   "Idempotency-Key": f"{ref}-{perk}"}  # fmt: skip
        assert (
            client.post("/v1/me/redemptions", json={"perk_id": perk}, headers=headers).status_code
            == 201
        )

    young_refs, older_ref = [c.external_ref for c in young], older.external_ref
    newcomer_birth = newcomer.birth_date
    for ref in young_refs:
        redeem(ref, cake)
    redeem(young_refs[0], tea)
    redeem(older_ref, tea)

    assert refresh_perk_popularity() == 5
    counts = {
        (p.perk_id, p.cohort): p.redemptions for p in db.session.scalars(select(PerkPopularity))
    }
    assert counts == {
        (cake, "18-20"): 3,
        (cake, "all"): 3,
        (tea, "18-20"): 1,
        (tea, "30+"): 1,
        (tea, "all"): 2,
    }
    data = client.get("/v1/me/perks", headers=cardholder_headers).json["data"]
    assert [p["id"] for p in data] == [cake, tea]
    assert data[0]["reason"] == "Popular with cardholders your age"
    assert newcomer_birth.year == today.year - 19  # the 18-20 band, no history


def test_a_refund_that_waited_for_its_purchase_still_lowers_the_spend(db, program):
    card = enrol(program.id)
    at = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    refund = store(program.id, card.token, "r1", kind="refund", mcc="5814", amount_minor=150,
                   original_external_id="c1", occurred_at=at + timedelta(hours=1))  # fmt: skip
    process_transactions([refund])  # no purchase yet: the refund waits
    purchase = store(program.id, card.token, "c1", mcc="5814", amount_minor=600, occurred_at=at)
    process_transactions([purchase])

    row = db.session.scalar(
        select(CustomerFeatures).where(CustomerFeatures.customer_id == card.customer_id)
    )
    assert row.categories == {"dining": [1, 450]}


def test_cardholders_who_shop_alike_rank_what_they_redeemed_first(
    db, program, client, marketer_headers
):
    make_partner(client, marketer_headers)
    today = datetime.now(UTC).date()
    born = date(today.year - 22, 1, 1)  # all in the 21-24 band

    def person(ref: str, **purchases: int) -> str:
        customer = CustomerFactory(program=program, external_ref=ref, birth_date=born)
        db.session.flush()
        db.session.add(CustomerFeatures(**_features(**purchases).row(customer.id)))
        db.session.commit()
        return ref

    diners = [person(f"d{i}", mart=1, cafe=4) for i in range(2)]
    readers = [person(f"r{i}", books=5) for i in range(3)]
    new_diner, new_reader = person("cust-1", cafe=1), person("cust-2", books=1)
    # Perks of no category at a partner nobody buys from: only popularity can order them.
    make_partner(client, marketer_headers, code="gift-shop", name="Gift Shop")
    mug = make_perk(client, marketer_headers, title="Mug", partner="gift-shop", cost_points=10)
    pen = make_perk(client, marketer_headers, title="Pen", partner="gift-shop", cost_points=10)

    def redeem(ref: str, perk: int) -> None:
        give_points(client, marketer_headers, ref, 10)
        headers = {**bearer(make_token(sub=ref, program=program.slug, roles=["cardholder"])),
                   "Idempotency-Key": f"{ref}-{perk}"}  # fmt: skip
        response = client.post("/v1/me/redemptions", json={"perk_id": perk}, headers=headers)
        assert response.status_code == 201, response.json

    for ref in diners:
        redeem(ref, mug)
    for ref in readers:
        redeem(ref, pen)
    refresh_perk_popularity()

    def catalog(ref: str) -> list[tuple[int, str]]:
        headers = bearer(make_token(sub=ref, program=program.slug, roles=["cardholder"]))
        data = client.get("/v1/me/perks", headers=headers).json["data"]
        return [(p["id"], p["reason"]) for p in data]

    # The age band as a whole prefers the pen (3 to 2); diners redeemed the mug, so for a
    # diner the mug counts 2 + 2 = 4 against the pen's 3 + 0; for a reader the pen 3 + 3.
    like_you = "Popular with cardholders who shop like you"
    assert catalog(new_diner) == [(mug, like_you), (pen, like_you)]
    assert catalog(new_reader) == [(pen, like_you), (mug, like_you)]

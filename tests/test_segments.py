"""Segments: the marketer API (CRUD, validation, audit, revision, 409 on delete, isolation) and
membership (each rule on real processed purchases, and a bounded number of queries)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, select, update

from campaigns.audiences.segments import segment_exists, segment_memberships
from rewards.models import AuditLog, Customer, Program
from tests.conftest import bearer, make_token
from tests.factories import CustomerFactory, ProgramFactory
from tests.ledger_helpers import enrol, store
from workers.jobs import process_transactions

NOW = datetime.now(UTC)
PAST = (NOW - timedelta(days=10)).isoformat()
SEGMENT = {"name": "Young foodies", "rules": {"max_age": 20, "tags": ["foodie"]}}


@pytest.fixture
def create(client, marketer_headers):
    def create(**body):
        response = client.post("/v1/segments", json={**SEGMENT, **body}, headers=marketer_headers)
        assert response.status_code == 201, response.json
        return response.json

    return create


def revision(db) -> int:
    db.session.expire_all()
    return db.session.scalar(select(Program.rules_revision).where(Program.slug == "youth"))


def audit_rows(db) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).order_by(AuditLog.id)))


# --- API -----------------------------------------------------------------------------------


def test_create_read_list_update_delete_each_audited_and_bumping_the_revision(
    client, db, marketer_headers, create
):
    body = create()
    assert body["name"] == "Young foodies" and body["rules"] == SEGMENT["rules"]
    assert body["created_by"] == "user:mkt-1" and body["created_at"].endswith("Z")
    url = f"/v1/segments/{body['id']}"
    assert client.get(url, headers=marketer_headers).json == body
    assert revision(db) == 1

    changed = client.patch(
        url, json={"rules": {"tags": None, "tiers": ["gold"]}}, headers=marketer_headers
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["rules"] == {"max_age": 20, "tiers": ["gold"]}
    assert revision(db) == 2

    listed = client.get("/v1/segments", headers=marketer_headers).json
    assert [s["id"] for s in listed["data"]] == [body["id"]] and listed["next_cursor"] is None

    assert client.delete(url, headers=marketer_headers).status_code == 204
    assert client.get(url, headers=marketer_headers).status_code == 404
    assert revision(db) == 3
    rows = audit_rows(db)
    assert [(r.action, r.object_type, r.object_id) for r in rows] == [
        ("segment.create", "segment", str(body["id"])),
        ("segment.update", "segment", str(body["id"])),
        ("segment.delete", "segment", str(body["id"])),
    ]
    assert rows[0].before is None and rows[0].after == SEGMENT
    assert rows[1].before == SEGMENT and rows[1].after["rules"]["tiers"] == ["gold"]
    assert rows[2].before["rules"] == {"max_age": 20, "tiers": ["gold"]} and rows[2].after is None


def test_unchanged_patch_writes_no_audit_and_keeps_the_revision(client, db, marketer_headers):
    body = client.post("/v1/segments", json=SEGMENT, headers=marketer_headers).json
    response = client.patch(
        f"/v1/segments/{body['id']}", json={"name": SEGMENT["name"]}, headers=marketer_headers
    )
    assert response.status_code == 200
    assert len(audit_rows(db)) == 1 and revision(db) == 1


def test_list_pages_with_a_cursor_newest_first(client, marketer_headers, create):
    ids = [create(name=f"s{n}")["id"] for n in range(3)]
    first = client.get("/v1/segments?limit=2", headers=marketer_headers).json
    assert [s["id"] for s in first["data"]] == ids[:0:-1]
    second = client.get(
        f"/v1/segments?limit=2&cursor={first['next_cursor']}", headers=marketer_headers
    ).json
    assert [s["id"] for s in second["data"]] == [ids[0]] and second["next_cursor"] is None


BAD_BODIES = [
    ({"rules": {}}, {"name"}),
    ({"name": "", "rules": {}}, {"name"}),
    ({"name": "x", "colour": "red"}, {"colour"}),
    ({"name": "x", "rules": []}, {"rules"}),
    ({"name": "x", "rules": {"shoe_size": 4}}, {"rules.shoe_size"}),
    ({"name": "x", "rules": {"min_age": -1, "max_age": 121}}, {"rules.min_age", "rules.max_age"}),
    ({"name": "x", "rules": {"min_age": "12"}}, {"rules.min_age"}),
    ({"name": "x", "rules": {"min_age": 18, "max_age": 12}}, {"rules.max_age"}),
    ({"name": "x", "rules": {"tiers": "gold"}}, {"rules.tiers"}),
    ({"name": "x", "rules": {"tags": ["ok", 3]}}, {"rules.tags.1"}),
    ({"name": "x", "rules": {"enrolled_within_days": 0}}, {"rules.enrolled_within_days"}),
    ({"name": "x", "rules": {"enrolled_within_days": 3651}}, {"rules.enrolled_within_days"}),
    ({"name": "x", "rules": {"spent": 5}}, {"rules.spent"}),
    (
        {"name": "x", "rules": {"spent": {"min_transactions": 1}}},
        {"rules.spent.category", "rules.spent.days"},
    ),
    ({"name": "x", "rules": {"spent": {"category": "dining", "days": 7}}}, {"rules.spent"}),
    (
        {"name": "x", "rules": {"spent": {"category": "shoes", "days": 0, "min_transactions": 1}}},
        {"rules.spent.category", "rules.spent.days"},
    ),
    (
        {
            "name": "x",
            "rules": {"spent": {"category": "dining", "days": 366, "min_amount_minor": 0}},
        },
        {"rules.spent.days", "rules.spent.min_amount_minor"},
    ),
    (
        {
            "name": "x",
            "rules": {"spent": {"category": "dining", "days": 7, "min_transactions": 1.5}},
        },
        {"rules.spent.min_transactions"},
    ),
    (
        {
            "name": "x",
            "rules": {"spent": {"category": "dining", "days": 7, "min_transactions": 1, "at": 1}},
        },
        {"rules.spent.at"},
    ),
]


@pytest.mark.parametrize(("body", "paths"), BAD_BODIES, ids=[str(p) for _, p in BAD_BODIES])
def test_invalid_segment_is_422_naming_exact_paths_and_stores_nothing(
    client, db, marketer_headers, body, paths
):
    response = client.post("/v1/segments", json=body, headers=marketer_headers)

    assert response.status_code == 422, response.json
    assert set(response.json["errors"]) == paths
    assert audit_rows(db) == [] and revision(db) == 0


def test_invalid_patch_is_422_and_changes_nothing(client, db, marketer_headers, create):
    body = create()
    response = client.patch(
        f"/v1/segments/{body['id']}",
        json={"rules": {"spent": {"category": "dining", "days": 7}}},
        headers=marketer_headers,
    )
    assert response.status_code == 422 and set(response.json["errors"]) == {"rules.spent"}
    assert client.get(f"/v1/segments/{body['id']}", headers=marketer_headers).json == body
    assert revision(db) == 1


def _campaign(client, headers, segment_id, **changes):
    definition = {
        "name": "Foodies 2x",
        "starts_at": PAST,
        "audience": {"segment_id": segment_id},
        "effect": {"type": "multiplier", "value": "2"},
        **changes,
    }
    response = client.post("/v1/campaigns", json=definition, headers=headers)
    assert response.status_code == 201, response.json
    return response.json["id"]


def test_delete_is_refused_while_a_campaign_not_ended_targets_it(
    client, db, marketer_headers, create
):
    segment_id = create()["id"]
    campaign_id = _campaign(client, marketer_headers, segment_id)
    url = f"/v1/segments/{segment_id}"
    activated = client.post(
        f"/v1/campaigns/{campaign_id}/activate", json={}, headers=marketer_headers
    )
    assert activated.status_code == 200, activated.json

    refused = client.delete(url, headers=marketer_headers)
    assert refused.status_code == 409 and str(campaign_id) in refused.json["detail"]
    assert client.get(url, headers=marketer_headers).status_code == 200

    # A new version that no longer targets it frees the segment.
    client.patch(f"/v1/campaigns/{campaign_id}", json={"audience": None}, headers=marketer_headers)
    assert client.delete(url, headers=marketer_headers).status_code == 204


def test_delete_is_allowed_once_the_campaign_ended(client, marketer_headers, create):
    segment_id = create()["id"]
    campaign_id = _campaign(client, marketer_headers, segment_id)
    assert client.delete(f"/v1/segments/{segment_id}", headers=marketer_headers).status_code == 409
    ended = client.post(f"/v1/campaigns/{campaign_id}/end", json={}, headers=marketer_headers)
    assert ended.status_code == 200, ended.json
    assert client.delete(f"/v1/segments/{segment_id}", headers=marketer_headers).status_code == 204


def test_other_programs_get_404_on_every_segment_endpoint(client, db, create):
    segment_id = create()["id"]
    ProgramFactory(slug="other")
    db.session.commit()
    other = bearer(make_token(sub="m", program="other", roles=["marketer"]))
    url = f"/v1/segments/{segment_id}"

    assert client.get(url, headers=other).status_code == 404
    assert client.patch(url, json={"name": "mine"}, headers=other).status_code == 404
    assert client.delete(url, headers=other).status_code == 404
    assert client.get(f"{url}/preview", headers=other).status_code == 404
    assert client.get("/v1/segments", headers=other).json["data"] == []
    assert not segment_exists(2, segment_id) and segment_exists(1, segment_id)


@pytest.mark.parametrize("role", ["cardholder", "admin"])
def test_only_marketers(client, program, role):
    headers = bearer(make_token(sub="x", program=program.slug, roles=[role]))
    assert client.get("/v1/segments", headers=headers).status_code == 403
    assert client.post("/v1/segments", json=SEGMENT, headers=headers).status_code == 403


def test_preview_counts_members_now_with_a_sample_of_refs(client, db, program, marketer_headers):
    for n in range(25):
        CustomerFactory(program_id=program.id, external_ref=f"fan-{n:02d}", tags=["foodie"])
    CustomerFactory(program_id=program.id, external_ref="plain")
    db.session.commit()
    segment = client.post(
        "/v1/segments",
        json={"name": "Fans", "rules": {"tags": ["foodie"]}},
        headers=marketer_headers,
    ).json

    preview = client.get(f"/v1/segments/{segment['id']}/preview", headers=marketer_headers).json

    assert preview["members"] == 25
    assert preview["sample"] == [f"fan-{n:02d}" for n in range(20)]


# --- membership ----------------------------------------------------------------------------


def _segment(client, headers, rules) -> int:
    response = client.post("/v1/segments", json={"name": "s", "rules": rules}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json["id"]


def _members(program_id, segment_id, customer_ids, now=None) -> set[int]:
    found = segment_memberships(
        program_id=program_id,
        segment_ids={segment_id},
        customer_ids=set(customer_ids),
        now=now or datetime.now(UTC),
    )
    return {c for c, ids in found.items() if segment_id in ids}


def _customer(db, program, **fields) -> int:
    customer = CustomerFactory(program_id=program.id, **fields)
    db.session.commit()
    return customer.id


def test_age_range(client, db, program, marketer_headers):
    today = datetime.now(UTC).date()
    thirteen = _customer(db, program, birth_date=today.replace(year=today.year - 13))
    almost_13 = _customer(
        db, program, birth_date=today.replace(year=today.year - 13) + timedelta(days=1)
    )
    eighteen = _customer(db, program, birth_date=today.replace(year=today.year - 18))
    unknown = _customer(db, program, birth_date=None)
    segment = _segment(client, marketer_headers, {"min_age": 13, "max_age": 17})

    assert _members(program.id, segment, {thirteen, almost_13, eighteen, unknown}) == {thirteen}


def test_tiers_and_any_of_the_tags(client, db, program, marketer_headers):
    gold = _customer(db, program, tier="gold", tags=["gamer"])
    gold_foodie = _customer(db, program, tier="gold", tags=["gamer", "foodie"])
    silver_foodie = _customer(db, program, tier="silver", tags=["foodie"])
    untiered = _customer(db, program, tier=None, tags=["traveller"])
    everyone = {gold, gold_foodie, silver_foodie, untiered}

    tiers = _segment(client, marketer_headers, {"tiers": ["gold"]})
    tags = _segment(client, marketer_headers, {"tags": ["foodie", "traveller"]})
    both = _segment(client, marketer_headers, {"tiers": ["gold"], "tags": ["foodie"]})
    anyone = _segment(client, marketer_headers, {})

    assert _members(program.id, tiers, everyone) == {gold, gold_foodie}
    assert _members(program.id, tags, everyone) == {gold_foodie, silver_foodie, untiered}
    assert _members(program.id, both, everyone) == {gold_foodie}
    assert _members(program.id, anyone, everyone) == everyone


def test_enrolled_within_days(client, db, program, marketer_headers):
    new = _customer(db, program)
    old = _customer(db, program)
    db.session.execute(
        update(Customer)
        .where(Customer.id == old)
        .values(created_at=datetime.now(UTC) - timedelta(days=31))
    )
    db.session.commit()
    segment = _segment(client, marketer_headers, {"enrolled_within_days": 30})

    assert _members(program.id, segment, {new, old}) == {new}


def _buy(program, card, ref, days_ago, amount, mcc="5812"):
    occurred = datetime.now(UTC) - timedelta(days=days_ago)
    return store(program.id, card.token, ref, amount_minor=amount, mcc=mcc, occurred_at=occurred)


def test_spent_amount_in_a_category_over_the_window(client, program, marketer_headers):
    big, small, stale, elsewhere = (enrol(program.id) for _ in range(4))
    ids = [
        _buy(program, big, "b-1", 1, 3000),
        _buy(program, big, "b-2", 5, 2500),
        _buy(program, small, "s-1", 1, 4000),
        _buy(program, stale, "o-1", 40, 9000),  # outside the 30 days
        _buy(program, elsewhere, "e-1", 1, 9000, mcc="5411"),  # groceries
    ]
    process_transactions(ids)
    segment = _segment(
        client,
        marketer_headers,
        {"spent": {"category": "dining", "min_amount_minor": 5000, "days": 30}},
    )
    everyone = {c.customer_id for c in (big, small, stale, elsewhere)}

    assert _members(program.id, segment, everyone) == {big.customer_id}


def test_spent_counts_transactions_and_ignores_unprocessed_and_refunded(
    client, program, marketer_headers
):
    regular, refunded, unprocessed = (enrol(program.id) for _ in range(3))
    ids = [_buy(program, regular, f"r-{n}", n + 1, 100) for n in range(3)]
    ids += [_buy(program, refunded, f"f-{n}", n + 1, 100) for n in range(3)]
    process_transactions(ids)
    for n in range(3):
        _buy(program, unprocessed, f"u-{n}", n + 1, 100)  # stored, never processed
    refund = store(
        program.id,
        refunded.token,
        "f-refund",
        kind="refund",
        amount_minor=100,
        original_external_id="f-0",
        occurred_at=datetime.now(UTC) - timedelta(hours=1),
    )
    process_transactions([refund])
    segment = _segment(
        client,
        marketer_headers,
        {"spent": {"category": "dining", "min_transactions": 3, "days": 7}},
    )
    everyone = {c.customer_id for c in (regular, refunded, unprocessed)}

    assert _members(program.id, segment, everyone) == {regular.customer_id}


def test_segments_with_different_windows_are_told_apart_in_one_pass(
    client, program, marketer_headers
):
    card = enrol(program.id)
    process_transactions([_buy(program, card, "p-1", 20, 1000)])
    week = _segment(
        client,
        marketer_headers,
        {"spent": {"category": "dining", "min_transactions": 1, "days": 7}},
    )
    month = _segment(
        client,
        marketer_headers,
        {"spent": {"category": "dining", "min_transactions": 1, "days": 30}},
    )

    found = segment_memberships(
        program_id=program.id,
        segment_ids={week, month},
        customer_ids={card.customer_id},
        now=datetime.now(UTC),
    )
    assert found == {card.customer_id: {month}}


def test_membership_ignores_other_programs_segments_and_customers(client, db, program, create):
    segment_id = create(rules={})["id"]
    other = ProgramFactory(slug="other")
    stranger = CustomerFactory(program_id=other.id).id
    mine = _customer(db, program)
    db.session.commit()

    assert _members(program.id, segment_id, {mine, stranger}) == {mine}
    assert _members(other.id, segment_id, {stranger}) == set()


def test_membership_of_200_customers_takes_a_bounded_number_of_queries(
    client, db, program, marketer_headers
):
    cards = [enrol(program.id) for _ in range(200)]
    ids = [_buy(program, card, f"p-{n}", n % 10 + 1, 1000) for n, card in enumerate(cards)]
    process_transactions(ids)
    db.session.execute(
        update(Customer).values(tags=["foodie"], birth_date=date(2010, 1, 1), tier="gold")
    )
    db.session.commit()
    segments = {
        _segment(client, marketer_headers, {"tags": ["foodie"], "tiers": ["gold"]}),
        _segment(client, marketer_headers, {"min_age": 10, "enrolled_within_days": 5}),
        _segment(
            client,
            marketer_headers,
            {"spent": {"category": "dining", "min_amount_minor": 1000, "days": 5}},
        ),
        _segment(
            client,
            marketer_headers,
            {"spent": {"category": "travel", "min_transactions": 1, "days": 90}},
        ),
    }
    customer_ids = {c.customer_id for c in cards}
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    db.session.expire_all()
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        found = segment_memberships(
            program_id=program.id,
            segment_ids=segments,
            customer_ids=customer_ids,
            now=datetime.now(UTC),
        )
    finally:
        event.remove(db.engine, "before_cursor_execute", count)

    assert len(statements) <= 4, statements
    assert set(found) == customer_ids
    recent = {cards[n].customer_id for n in range(200) if n % 10 + 1 < 5}
    assert {c for c, ids in found.items() if len(ids) == 3} == recent


# --- embedded mode (SQLite) ----------------------------------------------------------------


@pytest.fixture
def sqlite_app(tmp_path):
    from flask_migrate import upgrade

    from api import create_app
    from tests.conftest import JWT_SECRET

    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/segments.sqlite3",
            "REDIS_URL": None,
            "JOBS_INLINE": True,
            "JWT_SECRET": JWT_SECRET,
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        upgrade(directory=app.config["MIGRATIONS_DIR"])
        yield app
        db_session().remove()


def db_session():
    from rewards.db import db

    return db.session


def test_membership_and_preview_work_on_sqlite(sqlite_app):
    from campaigns.audiences.segments import create_segment, preview_segment

    program_id = ProgramFactory(slug="embedded").id
    db_session().commit()
    buyer, idle = enrol(program_id), enrol(program_id)
    process_transactions(
        [
            store(
                program_id,
                buyer.token,
                "p-1",
                amount_minor=700,
                occurred_at=NOW - timedelta(days=2),
            ),
            store(
                program_id,
                buyer.token,
                "p-2",
                amount_minor=700,
                occurred_at=NOW - timedelta(days=9),
            ),
        ]
    )
    rules = {
        "enrolled_within_days": 1,
        "spent": {"category": "dining", "min_amount_minor": 1000, "days": 10},
    }
    segment = create_segment(program_id=program_id, body={"name": "s", "rules": rules}, actor="t")
    narrow = create_segment(
        program_id=program_id,
        body={"name": "n", "rules": {"spent": {**rules["spent"], "days": 5}}},
        actor="t",
    )
    db_session().commit()
    segment_id, narrow_id = segment.id, narrow.id
    now = datetime.now(UTC)

    found = segment_memberships(
        program_id=program_id,
        segment_ids={segment_id, narrow_id},
        customer_ids={buyer.customer_id, idle.customer_id},
        now=now,
    )
    assert found == {buyer.customer_id: {segment_id}}
    preview = preview_segment(program_id=program_id, segment_id=segment_id, now=now)
    assert (preview.members, len(preview.sample)) == (1, 1)


def test_delete_is_refused_while_a_challenge_not_ended_targets_it(
    client, db, marketer_headers, create
):
    segment_id = create()["id"]
    body = {
        "name": "Coffee week",
        "goal": {"type": "count", "target": 3},
        "window": {"type": "fixed", "starts_at": "2026-01-05T00:00:00Z"},
        "audience": {"segment_id": segment_id},
    }
    made = client.post("/v1/challenges", json=body, headers=marketer_headers)
    assert made.status_code == 201, made.json
    challenge_id = made.json["id"]
    url = f"/v1/segments/{segment_id}"

    refused = client.delete(url, headers=marketer_headers)
    assert refused.status_code == 409
    assert refused.json["detail"] == f"Challenges {challenge_id} target this segment."
    assert list(refused.json["errors"]) == ["segment_id"]

    ended = client.post(f"/v1/challenges/{challenge_id}/end", json={}, headers=marketer_headers)
    assert ended.status_code == 200, ended.json
    assert client.delete(url, headers=marketer_headers).status_code == 204

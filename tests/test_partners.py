"""Partners: the marketer/admin API (CRUD, validation, merchant claims, audit, revision,
isolation, concurrent creates) and the partner the feed derives for each transaction."""

from __future__ import annotations

import threading
import time

import pytest
from flask_migrate import upgrade
from sqlalchemy import event, func, select, text

from api import create_app
from rewards.db import db as db_handle
from rewards.models import AuditLog, Partner, PartnerMerchant, Program
from rewards.partners import create_partner, partners_for, update_partner
from rewards.processing.load import lock_received
from tests.conftest import JWT_SECRET, bearer, make_token
from tests.factories import ProgramFactory
from tests.ledger_helpers import store

URL = "/v1/partners"
NOODLE = {"code": "noodle-bar", "name": "Noodle Bar", "merchant_ids": ["NB-01", "NB-02"]}


@pytest.fixture
def create(client, marketer_headers):
    def create(**body):
        response = client.post(URL, json={**NOODLE, **body}, headers=marketer_headers)
        assert response.status_code == 201, response.json
        return response.json

    return create


def revision(db) -> int:
    db.session.expire_all()
    return db.session.scalar(select(Program.rules_revision).where(Program.slug == "youth"))


def audit_rows(db) -> list[AuditLog]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditLog).order_by(AuditLog.id)))


def claims(db) -> dict[str, int]:
    """merchant id → partner id, as the feed's look-up table holds them."""
    db.session.expire_all()
    rows = db.session.execute(select(PartnerMerchant.merchant_id, PartnerMerchant.partner_id))
    return {merchant_id: partner_id for merchant_id, partner_id in rows}


def stored_partners(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Partner))


# --- API -----------------------------------------------------------------------------------


def test_create_read_list_update_delete_each_audited_and_bumping_the_revision(
    client, db, marketer_headers, create
):
    body = create()
    assert {k: body[k] for k in NOODLE} == NOODLE and body["status"] == "active"
    assert body["created_by"] == "user:mkt-1" and body["created_at"].endswith("Z")
    url = f"{URL}/{body['id']}"
    assert client.get(url, headers=marketer_headers).json == body
    assert claims(db) == {"NB-01": body["id"], "NB-02": body["id"]}
    assert revision(db) == 1

    changed = client.patch(
        url,
        json={"name": "Noodle Bar Group", "merchant_ids": ["NB-02", "NB-03"]},
        headers=marketer_headers,
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["name"] == "Noodle Bar Group" and changed.json["code"] == "noodle-bar"
    assert changed.json["merchant_ids"] == ["NB-02", "NB-03"]
    assert claims(db) == {"NB-02": body["id"], "NB-03": body["id"]}
    assert revision(db) == 2

    listed = client.get(URL, headers=marketer_headers).json
    assert [p["id"] for p in listed["data"]] == [body["id"]] and listed["next_cursor"] is None

    assert client.delete(url, headers=marketer_headers).status_code == 204
    assert client.get(url, headers=marketer_headers).status_code == 404
    assert claims(db) == {} and stored_partners(db) == 0
    assert revision(db) == 3
    rows = audit_rows(db)
    assert [(r.action, r.object_type, r.object_id, r.actor) for r in rows] == [
        ("partner.create", "partner", str(body["id"]), "user:mkt-1"),
        ("partner.update", "partner", str(body["id"]), "user:mkt-1"),
        ("partner.delete", "partner", str(body["id"]), "user:mkt-1"),
    ]
    assert rows[0].before is None and rows[0].after == {**NOODLE, "status": "active"}
    assert rows[1].before == {**NOODLE, "status": "active"}
    assert rows[1].after["merchant_ids"] == ["NB-02", "NB-03"]
    assert rows[2].before["name"] == "Noodle Bar Group" and rows[2].after is None


def test_unchanged_patch_writes_no_audit_and_keeps_the_revision(client, db, marketer_headers):
    body = client.post(URL, json=NOODLE, headers=marketer_headers).json
    response = client.patch(
        f"{URL}/{body['id']}",
        json={"name": NOODLE["name"], "code": NOODLE["code"]},
        headers=marketer_headers,
    )
    assert response.status_code == 200
    assert len(audit_rows(db)) == 1 and revision(db) == 1


def test_list_pages_with_a_cursor_newest_first_and_filters_by_status(
    client, marketer_headers, create
):
    ids = [create(code=f"p{n}", merchant_ids=[f"m{n}"])["id"] for n in range(3)]
    client.patch(f"{URL}/{ids[1]}", json={"status": "inactive"}, headers=marketer_headers)

    first = client.get(f"{URL}?limit=2", headers=marketer_headers).json
    assert [p["id"] for p in first["data"]] == ids[:0:-1]
    second = client.get(
        f"{URL}?limit=2&cursor={first['next_cursor']}", headers=marketer_headers
    ).json
    assert [p["id"] for p in second["data"]] == [ids[0]] and second["next_cursor"] is None

    active = client.get(f"{URL}?status=active", headers=marketer_headers).json
    assert [p["id"] for p in active["data"]] == [ids[2], ids[0]]
    bad = client.get(f"{URL}?status=gone", headers=marketer_headers)
    assert bad.status_code == 422 and set(bad.json["errors"]) == {"status"}


BAD_BODIES = [
    ({"name": "x"}, {"code"}),
    ({"code": "x"}, {"name"}),
    ({"code": "", "name": "x"}, {"code"}),
    ({"code": "Noodle Bar", "name": "x"}, {"code"}),
    ({"code": "noodle\n", "name": "x"}, {"code"}),
    ({"code": "-x", "name": "x"}, {"code"}),
    ({"code": "x" * 65, "name": "x"}, {"code"}),
    ({"code": 7, "name": "x"}, {"code"}),
    ({"code": None, "name": "x"}, {"code"}),
    ({"code": "x", "name": "  "}, {"name"}),
    ({"code": "x", "name": "x" * 201}, {"name"}),
    ({"code": "x", "name": "x", "colour": "red"}, {"colour"}),
    ({"code": "x", "name": "x", "merchant_ids": "NB-01"}, {"merchant_ids"}),
    ({"code": "x", "name": "x", "merchant_ids": {"a": 1}}, {"merchant_ids"}),
    (
        {"code": "x", "name": "x", "merchant_ids": ["NB-01", 7, True]},
        {"merchant_ids.1", "merchant_ids.2"},
    ),
    ({"code": "x", "name": "x", "merchant_ids": ["", " "]}, {"merchant_ids.0", "merchant_ids.1"}),
    ({"code": "x", "name": "x", "merchant_ids": ["m" * 65]}, {"merchant_ids.0"}),
    ({"code": "x", "name": "x", "merchant_ids": ["a\x00b"]}, {"merchant_ids.0"}),
    ({"code": "x", "name": "x", "merchant_ids": ["NB-01", "NB-01"]}, {"merchant_ids.1"}),
    ({"code": "x", "name": "x", "merchant_ids": ["m"] * 1001}, {"merchant_ids"}),
    ({"code": "x", "name": "x", "status": "paused"}, {"status"}),
    ({"code": "x", "name": "x", "status": None}, {"status"}),
]


@pytest.mark.parametrize(("body", "paths"), BAD_BODIES, ids=[str(p) for _, p in BAD_BODIES])
def test_invalid_partner_is_422_naming_exact_paths_and_stores_nothing(
    client, db, marketer_headers, body, paths
):
    response = client.post(URL, json=body, headers=marketer_headers)

    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"
    assert set(response.json["errors"]) == paths
    assert stored_partners(db) == 0 and claims(db) == {}
    assert audit_rows(db) == [] and revision(db) == 0


@pytest.mark.parametrize("body", [[NOODLE], "noodle", 3])
def test_a_body_that_is_not_an_object_is_422(client, db, marketer_headers, body):
    response = client.post(URL, json=body, headers=marketer_headers)
    assert response.status_code == 422 and response.content_type == "application/problem+json"
    assert stored_partners(db) == 0


def test_duplicate_code_is_409_naming_code(client, db, marketer_headers, create):
    first = create()
    response = client.post(
        URL, json={**NOODLE, "merchant_ids": ["OTHER"]}, headers=marketer_headers
    )

    assert response.status_code == 409, response.json
    assert response.content_type == "application/problem+json"
    assert set(response.json["errors"]) == {"code"}
    assert stored_partners(db) == 1 and claims(db) == {"NB-01": first["id"], "NB-02": first["id"]}
    assert len(audit_rows(db)) == 1 and revision(db) == 1


def test_a_merchant_of_another_active_partner_is_409_naming_it_and_nothing_is_stored(
    client, db, marketer_headers, create
):
    noodle = create()
    response = client.post(
        URL,
        json={"code": "ramen", "name": "Ramen", "merchant_ids": ["R-1", "NB-02", "R-2"]},
        headers=marketer_headers,
    )

    assert response.status_code == 409, response.json
    assert response.json["errors"] == {
        "merchant_ids.1": ["Already belongs to active partner 'noodle-bar'."]
    }
    assert "NB-02" in response.json["detail"]
    assert stored_partners(db) == 1
    assert claims(db) == {"NB-01": noodle["id"], "NB-02": noodle["id"]}
    assert len(audit_rows(db)) == 1 and revision(db) == 1


def test_a_patch_taking_another_partners_merchant_is_409_and_changes_nothing(
    client, db, marketer_headers, create
):
    noodle = create()
    ramen = create(code="ramen", name="Ramen", merchant_ids=["R-1"])
    url = f"{URL}/{ramen['id']}"

    response = client.patch(
        url, json={"name": "Ramen!", "merchant_ids": ["R-1", "NB-01"]}, headers=marketer_headers
    )

    assert response.status_code == 409
    assert set(response.json["errors"]) == {"merchant_ids.1"}
    assert client.get(url, headers=marketer_headers).json == ramen
    assert claims(db) == {"NB-01": noodle["id"], "NB-02": noodle["id"], "R-1": ramen["id"]}
    assert revision(db) == 2


@pytest.mark.parametrize(
    ("changes", "paths"),
    [
        ({"code": "ramen"}, {"code"}),
        ({"name": None}, {"name"}),
        ({"status": None}, {"status"}),
        ({"colour": "red"}, {"colour"}),
        ({"merchant_ids": [1]}, {"merchant_ids.0"}),
        ({"merchant_ids": "NB-01"}, {"merchant_ids"}),
        ({"merchant_ids": False}, {"merchant_ids"}),
    ],
)
def test_invalid_patch_is_422_naming_the_field_and_changes_nothing(
    client, db, marketer_headers, create, changes, paths
):
    body = create()
    url = f"{URL}/{body['id']}"
    response = client.patch(url, json=changes, headers=marketer_headers)

    assert response.status_code == 422, response.json
    assert set(response.json["errors"]) == paths
    assert client.get(url, headers=marketer_headers).json == body
    assert len(claims(db)) == 2 and revision(db) == 1


def test_merchant_ids_null_in_a_patch_empties_the_list(client, db, marketer_headers, create):
    body = create()
    response = client.patch(
        f"{URL}/{body['id']}", json={"merchant_ids": None}, headers=marketer_headers
    )
    assert response.status_code == 200 and response.json["merchant_ids"] == []
    assert claims(db) == {}


def test_deactivating_frees_merchant_ids_and_reactivating_claims_them_again(
    client, db, marketer_headers, create
):
    noodle = create()
    noodle_url = f"{URL}/{noodle['id']}"
    off = client.patch(noodle_url, json={"status": "inactive"}, headers=marketer_headers)
    assert off.status_code == 200 and off.json["status"] == "inactive"
    assert off.json["merchant_ids"] == NOODLE["merchant_ids"]  # kept, but not claimed
    assert claims(db) == {}

    # An inactive partner's merchant ids are free, and an inactive partner may list taken ones.
    ramen = create(code="ramen", name="Ramen", merchant_ids=["NB-02"])
    assert claims(db) == {"NB-02": ramen["id"]}

    refused = client.patch(noodle_url, json={"status": "active"}, headers=marketer_headers)
    assert refused.status_code == 409
    assert refused.json["errors"] == {
        "merchant_ids.1": ["Already belongs to active partner 'ramen'."]
    }
    assert client.get(noodle_url, headers=marketer_headers).json["status"] == "inactive"

    back = client.patch(
        noodle_url, json={"status": "active", "merchant_ids": ["NB-01"]}, headers=marketer_headers
    )
    assert back.status_code == 200, back.json
    assert claims(db) == {"NB-01": noodle["id"], "NB-02": ramen["id"]}
    assert [r.action for r in audit_rows(db)] == [
        "partner.create",
        "partner.update",
        "partner.create",
        "partner.update",
    ]


def test_deleting_frees_the_code_and_the_merchant_ids(client, db, marketer_headers, create):
    body = create()
    assert client.delete(f"{URL}/{body['id']}", headers=marketer_headers).status_code == 204
    again = create()
    assert claims(db) == {"NB-01": again["id"], "NB-02": again["id"]}


def test_other_programs_get_404_on_every_partner_endpoint(client, db, marketer_headers, create):
    body = create()
    ProgramFactory(slug="other")
    db.session.commit()
    other = bearer(make_token(sub="m", program="other", roles=["marketer"]))
    url = f"{URL}/{body['id']}"

    assert client.get(url, headers=other).status_code == 404
    assert client.patch(url, json={"name": "mine"}, headers=other).status_code == 404
    assert client.delete(url, headers=other).status_code == 404
    assert client.get(URL, headers=other).json["data"] == []
    # A marketer cannot reach another program by naming it either.
    assert client.get(f"{url}?program=youth", headers=other).status_code == 404
    assert client.get(f"{URL}?program=youth", headers=other).status_code == 404
    assert client.get(url, headers=marketer_headers).json == body


def test_the_same_code_and_merchant_ids_may_exist_in_another_program(
    client, db, marketer_headers, create
):
    create()
    ProgramFactory(slug="other")
    db.session.commit()
    other = bearer(make_token(sub="m", program="other", roles=["marketer"]))
    response = client.post(URL, json=NOODLE, headers=other)
    assert response.status_code == 201, response.json
    assert stored_partners(db) == 2


def test_admins_name_the_program(client, db, admin_headers, marketer_headers):
    missing = client.post(URL, json=NOODLE, headers=admin_headers)
    assert missing.status_code == 422 and set(missing.json["errors"]) == {"program"}
    unknown = client.get(f"{URL}?program=nope", headers=admin_headers)
    assert unknown.status_code == 404

    created = client.post(f"{URL}?program=youth", json=NOODLE, headers=admin_headers)
    assert created.status_code == 201, created.json
    url = f"{URL}/{created.json['id']}"
    assert client.get(url, headers=marketer_headers).json == created.json
    assert client.get(f"{url}?program=youth", headers=admin_headers).json == created.json
    assert client.delete(f"{url}?program=youth", headers=admin_headers).status_code == 204
    rows = audit_rows(db)
    assert [(r.action, r.actor, r.actor_role) for r in rows] == [
        ("partner.create", "user:ops-1", "admin"),
        ("partner.delete", "user:ops-1", "admin"),
    ]


def test_cardholders_processors_and_partner_keys_are_refused(
    client, db, cardholder_headers, processor_headers, partner_headers
):
    for headers in (cardholder_headers, processor_headers, partner_headers):
        response = client.post(URL, json=NOODLE, headers=headers)
        assert response.status_code == 403
    assert stored_partners(db) == 1  # only `partner-one`, whom the partner key acts for


def test_concurrent_creates_claiming_one_merchant_store_exactly_one(app, db, program):
    """Both requests pass validation while the program row is held; whichever commits second
    must see the first's claim and answer 409, not a 500 from the unique key."""
    headers = bearer(make_token(sub="mkt-1", program="youth", roles=["marketer"]))
    statuses: dict[str, int] = {}
    bodies: dict[str, dict] = {}

    def post(code: str) -> None:
        with app.app_context(), app.test_client() as own_client:
            body = {"code": code, "name": code, "merchant_ids": ["SHARED-1"]}
            response = own_client.post(URL, json=body, headers=headers)
            statuses[code], bodies[code] = response.status_code, response.json

    holder = db.engine.connect()
    holder.execute(text("SELECT id FROM programs WHERE id = :id FOR UPDATE"), {"id": program.id})
    threads = [threading.Thread(target=post, args=(code,)) for code in ("a", "b")]
    for thread in threads:
        thread.start()
    _wait_for_lock_waiters(db, 2)
    holder.rollback()
    holder.close()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(statuses.values()) == [201, 409], bodies
    loser = next(code for code, status in statuses.items() if status == 409)
    assert set(bodies[loser]["errors"]) == {"merchant_ids.0"}
    assert stored_partners(db) == 1 and list(claims(db)) == ["SHARED-1"]


def _wait_for_lock_waiters(db, count: int) -> None:
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 10
    with db.engine.connect() as conn:
        while conn.execute(query).scalar_one() < count:
            assert time.monotonic() < deadline, "the requests never queued on the program row"
            time.sleep(0.02)
            conn.rollback()


def test_openapi_documents_the_partner_endpoints(client):
    paths = client.get("/v1/openapi.json").json["paths"]
    post = paths["/v1/partners"]["post"]
    assert {"201", "409", "422"} <= set(post["responses"])
    spec = client.get("/v1/openapi.json").json
    schema = spec["components"]["schemas"]["PartnerCreate"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/PartnerCreate"
    )
    assert {"code", "name", "merchant_ids", "status"} <= set(schema["properties"])
    assert set(schema["required"]) == {"code", "name"}
    parameters = {p["name"] for p in paths["/v1/partners"]["get"]["parameters"]}
    assert {"limit", "cursor", "status", "program"} <= parameters


# --- derivation ----------------------------------------------------------------------------


def _service_partner(program_id: int, code: str, merchant_ids: list[str], **extra) -> Partner:
    body = {"code": code, "name": code.title(), "merchant_ids": merchant_ids, **extra}
    return create_partner(program_id=program_id, body=body, actor="test")


def test_partners_for_maps_merchants_of_active_partners_in_one_query(db, program):
    other = ProgramFactory(slug="other")
    _service_partner(program.id, "noodle-bar", ["NB-01", "NB-02"])
    _service_partner(program.id, "closed", ["C-1"], status="inactive")
    _service_partner(other.id, "elsewhere", ["E-1", "NB-03"])
    db.session.commit()
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        found = partners_for(program.id, {"NB-01", "NB-02", "NB-03", "C-1", "E-1", "??"})
    finally:
        event.remove(db.engine, "before_cursor_execute", count)

    assert found == {"NB-01": "noodle-bar", "NB-02": "noodle-bar"}
    assert len(statements) == 1, statements
    assert partners_for(program.id, set()) == {}


def test_loading_a_chunk_fills_the_partner_of_each_transaction(db, program):
    other = ProgramFactory(slug="other")
    noodle = _service_partner(program.id, "noodle-bar", ["NB-01"])
    _service_partner(program.id, "closed", ["C-1"], status="inactive")
    _service_partner(other.id, "elsewhere", ["E-1"])
    db.session.commit()
    ids = {
        "noodle": store(program.id, "tok-1", "t1", merchant_id="NB-01"),
        "inactive": store(program.id, "tok-1", "t2", merchant_id="C-1"),
        "other_program": store(program.id, "tok-1", "t3", merchant_id="E-1"),
        "unknown": store(program.id, "tok-1", "t4", merchant_id="ZZ-9"),
        "no_merchant": store(program.id, "tok-1", "t5", merchant_id=None),
        "in_other": store(other.id, "tok-2", "t6", merchant_id="E-1"),
    }

    facts = {tx.id: tx for tx in lock_received(list(ids.values()))}
    db.session.rollback()

    partner_of = {name: facts[tx_id].partner for name, tx_id in ids.items()}
    assert partner_of == {
        "noodle": "noodle-bar",
        "inactive": None,
        "other_program": None,
        "unknown": None,
        "no_merchant": None,
        "in_other": "elsewhere",
    }

    # Deactivating takes effect for the next chunk that loads the row.
    update_partner(
        program_id=program.id, partner_id=noodle.id, changes={"status": "inactive"}, actor="t"
    )
    db.session.commit()
    assert lock_received([ids["noodle"]])[0].partner is None
    db.session.rollback()


# --- embedded mode (SQLite) ----------------------------------------------------------------


@pytest.fixture
def embedded(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/embedded.sqlite3",
            "REDIS_URL": None,
            "JOBS_INLINE": True,
            "JWT_SECRET": JWT_SECRET,
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        upgrade(directory=app.config["MIGRATIONS_DIR"])
        yield app
        db_handle.session.remove()


def test_partners_and_derivation_work_in_embedded_mode(embedded):
    program = ProgramFactory(slug="embedded")
    db_handle.session.commit()
    headers = bearer(make_token(sub="m", program="embedded", roles=["marketer"]))
    client = embedded.test_client()

    created = client.post(URL, json=NOODLE, headers=headers)
    assert created.status_code == 201, created.json
    clash = client.post(
        URL, json={"code": "ramen", "name": "Ramen", "merchant_ids": ["NB-01"]}, headers=headers
    )
    assert clash.status_code == 409 and set(clash.json["errors"]) == {"merchant_ids.0"}

    tx_id = store(program.id, "tok-1", "t1", merchant_id="NB-02")
    assert lock_received([tx_id])[0].partner == "noodle-bar"

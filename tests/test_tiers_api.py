"""The marketer's tier ladder over HTTP: read, replace whole (audited, rules revision bumped,
under the rules lock), validation naming each bad path with nothing stored, one program only."""

from __future__ import annotations

from sqlalchemy import func, select

from rewards.models import AuditLog, Program
from rewards.tiers.models import ProgramTier
from tests.conftest import bearer, make_token
from tests.factories import ProgramFactory

LADDER = [
    {"code": "green", "name": "Green", "threshold": 0, "earn_multiplier": "1"},
    {"code": "gold", "name": "Gold", "threshold": 1000, "earn_multiplier": "1.25"},
]


def _revision(db, program_id: int) -> int:
    db.session.expire_all()
    return db.session.get(Program, program_id).rules_revision


def test_a_program_without_tiers_has_an_empty_ladder(client, marketer_headers):
    response = client.get("/v1/tiers", headers=marketer_headers)
    assert response.status_code == 200
    assert response.json == {"tiers": []}


def test_replacing_the_ladder_stores_it_audited_and_bumps_the_rules_revision(
    db, client, program, marketer_headers
):
    before = _revision(db, program.id)
    body = {
        "tiers": [
            *list(reversed(LADDER)),
            {"code": "black", "name": "Black", "threshold": 5000, "earn_multiplier": 1.5},
        ]
    }
    response = client.put("/v1/tiers", json=body, headers=marketer_headers)
    assert response.status_code == 200, response.json
    expected = [
        *LADDER,
        {"code": "black", "name": "Black", "threshold": 5000, "earn_multiplier": "1.5"},
    ]
    assert response.json == {"tiers": expected}
    assert client.get("/v1/tiers", headers=marketer_headers).json == {"tiers": expected}
    assert _revision(db, program.id) == before + 1
    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "tiers.replace"))
    assert audit.before == {"tiers": []} and audit.after == {"tiers": expected}
    assert audit.actor == "user:mkt-1"

    smaller = client.put("/v1/tiers", json={"tiers": LADDER[:1]}, headers=marketer_headers)
    assert smaller.json == {"tiers": LADDER[:1]}
    assert db.session.scalar(select(func.count()).select_from(ProgramTier)) == 1


def test_every_bad_path_is_named_and_nothing_is_stored(db, client, program, marketer_headers):
    client.put("/v1/tiers", json={"tiers": LADDER}, headers=marketer_headers)
    revision = _revision(db, program.id)
    body = {
        "tiers": [
            {"code": "green", "name": "Green", "threshold": 0, "earn_multiplier": "1.1"},
            {"code": "Gold!", "name": "", "threshold": -1, "earn_multiplier": "0.5"},
            {"code": "green", "name": "Again", "threshold": 0, "earn_multiplier": "1.23456"},
            {"code": "x", "name": "X", "threshold": True, "colour": "red"},
        ],
        "extra": 1,
    }
    response = client.put("/v1/tiers", json=body, headers=marketer_headers)
    assert response.status_code == 422
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert set(response.json["errors"]) == {
        "extra",
        "tiers.1.code",
        "tiers.1.name",
        "tiers.1.threshold",
        "tiers.1.earn_multiplier",
        "tiers.2.code",
        "tiers.2.threshold",
        "tiers.2.earn_multiplier",
        "tiers.3.threshold",
        "tiers.3.colour",
        "tiers.3.earn_multiplier",
    }
    assert client.get("/v1/tiers", headers=marketer_headers).json == {"tiers": LADDER}
    assert _revision(db, program.id) == revision


def test_ladder_rules_between_tiers(client, program, marketer_headers):
    def errors(tiers):
        response = client.put("/v1/tiers", json={"tiers": tiers}, headers=marketer_headers)
        assert response.status_code == 422
        return response.json["errors"]

    no_base = [{"code": "gold", "name": "Gold", "threshold": 10, "earn_multiplier": "1"}]
    assert set(errors(no_base)) == {"tiers"}
    base_boosted = [{"code": "green", "name": "G", "threshold": 0, "earn_multiplier": "2"}]
    assert set(errors(base_boosted)) == {"tiers.0.earn_multiplier"}
    falling = [*LADDER, {"code": "black", "name": "B", "threshold": 5000, "earn_multiplier": "1.1"}]
    assert set(errors(falling)) == {"tiers.2.earn_multiplier"}  # below Gold's 1.25
    eleven = [
        {"code": f"t{n}", "name": f"T{n}", "threshold": n, "earn_multiplier": "1"}
        for n in range(11)
    ]
    assert set(errors(eleven)) == {"tiers"}
    assert set(errors([])) == {"tiers"}


def test_each_marketer_sees_and_changes_only_their_own_program(db, client, program):
    other = ProgramFactory(slug="other")
    db.session.commit()
    mine = bearer(make_token(sub="mkt-1", program=program.slug, roles=["marketer"]))
    theirs = bearer(make_token(sub="mkt-2", program="other", roles=["marketer"]))
    client.put("/v1/tiers", json={"tiers": LADDER}, headers=mine)
    assert client.get("/v1/tiers", headers=theirs).json == {"tiers": []}
    client.put("/v1/tiers", json={"tiers": LADDER[:1]}, headers=theirs)
    assert client.get("/v1/tiers", headers=mine).json == {"tiers": LADDER}
    rows = db.session.execute(
        select(ProgramTier.program_id, func.count()).group_by(ProgramTier.program_id)
    ).all()
    assert dict(rows) == {program.id: 2, other.id: 1}


def test_the_spec_documents_both_operations(client):
    spec = client.get("/v1/openapi.json").json
    path = spec["paths"]["/v1/tiers"]
    assert path["get"]["operationId"] == "getTierLadder"
    assert path["put"]["operationId"] == "replaceTierLadder"
    assert "application/problem+json" in path["put"]["responses"]["422"]["content"]

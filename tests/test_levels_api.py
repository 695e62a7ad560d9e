"""GET/PUT /v1/levels: defaults, replacement, validation naming every bad path with nothing
stored, audit, and one program's marketer never seeing or changing another's."""

from __future__ import annotations

from sqlalchemy import select

from rewards.models import AuditLog
from tests.conftest import bearer, make_token

DEFAULTS = {"per_point": "0.1", "per_challenge": 50, "per_streak_day": 5}
GOOD = {
    "xp_rules": {"per_point": "0.25", "per_challenge": 80, "per_streak_day": 0},
    "levels": [
        {"level": 1, "xp": 0, "name": "Rookie"},
        {"level": 2, "xp": 100, "name": "Explorer"},
        {"level": 3, "xp": 1000, "name": None},
    ],
}


def test_defaults_until_configured(client, marketer_headers):
    response = client.get("/v1/levels", headers=marketer_headers)
    assert response.status_code == 200
    assert response.json == {"xp_rules": DEFAULTS, "levels": []}


def test_put_replaces_rules_and_ladder_and_is_audited(db, program, client, marketer_headers):
    response = client.put("/v1/levels", json=GOOD, headers=marketer_headers)
    assert response.status_code == 200 and response.json == GOOD
    assert client.get("/v1/levels", headers=marketer_headers).json == GOOD
    # Unset rules fall back to their defaults; a shorter ladder replaces the longer one.
    smaller = {"xp_rules": {"per_challenge": 10}, "levels": [{"level": 1, "xp": 0, "name": "A"}]}
    response = client.put("/v1/levels", json=smaller, headers=marketer_headers)
    assert response.json == {
        "xp_rules": {**DEFAULTS, "per_challenge": 10},
        "levels": [{"level": 1, "xp": 0, "name": "A"}],
    }
    audits = db.session.scalars(select(AuditLog).where(AuditLog.action == "levels.replace")).all()
    assert [(a.actor, a.program_id) for a in audits] == [("user:mkt-1", program.id)] * 2
    assert audits[1].before == GOOD and audits[1].after == response.json


def test_every_bad_path_is_named_and_nothing_is_stored(client, marketer_headers):
    body = {
        "xp_rules": {"per_point": "0.12345", "per_challenge": -1, "per_streak_day": 10_001, "x": 1},
        "levels": [
            {"level": 1, "xp": 5, "name": "Rookie"},
            {"level": 2, "xp": 100},
            {"level": 4, "xp": 100, "name": ""},
            "level 4",
        ],
        "extra": True,
    }
    response = client.put("/v1/levels", json=body, headers=marketer_headers)
    assert response.status_code == 422
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert set(response.json["errors"]) == {
        "xp_rules.per_point",
        "xp_rules.per_challenge",
        "xp_rules.per_streak_day",
        "xp_rules.x",
        "levels.0.xp",  # level 1 starts at 0
        "levels.2.level",  # 3 expected
        "levels.2.xp",  # not above 100
        "levels.2.name",
        "levels.3",
        "extra",
    }
    assert client.get("/v1/levels", headers=marketer_headers).json == {
        "xp_rules": DEFAULTS,
        "levels": [],
    }


def test_rates_at_their_bounds(client, marketer_headers):
    def put(**rules):
        return client.put(
            "/v1/levels", json={"xp_rules": rules, "levels": []}, headers=marketer_headers
        )

    assert put(per_point="100", per_challenge=10_000, per_streak_day=0).status_code == 200
    assert put(per_point="0.0001").json["xp_rules"]["per_point"] == "0.0001"
    for bad in ("100.0001", "-0.1", "1e2", "NaN", "", " 1", "0.12345", 0.1, None):
        assert set(put(per_point=bad).json["errors"]) == {"xp_rules.per_point"}, bad
    for bad in (1.5, "5", True, 10_001):
        assert set(put(per_challenge=bad).json["errors"]) == {"xp_rules.per_challenge"}, bad
    missing = client.put("/v1/levels", json={"levels": []}, headers=marketer_headers)
    assert set(missing.json["errors"]) == {"xp_rules"}  # a PUT drops nothing by omission
    too_many = [{"level": n + 1, "xp": n} for n in range(101)]
    response = client.put(
        "/v1/levels", json={"xp_rules": {}, "levels": too_many}, headers=marketer_headers
    )
    assert set(response.json["errors"]) == {"levels"}


def test_programs_are_isolated(db, program, client, marketer_headers):
    from tests.factories import ProgramFactory

    ProgramFactory(slug="other")
    db.session.commit()
    theirs = bearer(make_token(sub="mkt-2", program="other", roles=["marketer"]))
    assert client.put("/v1/levels", json=GOOD, headers=marketer_headers).status_code == 200
    assert client.get("/v1/levels", headers=theirs).json == {"xp_rules": DEFAULTS, "levels": []}


def test_spec_documents_both_operations(client):
    spec = client.get("/v1/openapi.json").json
    path = spec["paths"]["/v1/levels"]
    assert path["get"]["operationId"] == "getLevelConfig"
    assert path["put"]["operationId"] == "replaceLevelConfig"
    assert "422" in path["put"]["responses"]
    assert path["put"]["requestBody"]["required"] is True

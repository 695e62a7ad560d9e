"""API keys: minted by an admin and shown once, listed without secrets, revocable, audited."""

from __future__ import annotations

from sqlalchemy import select

from rewards.models import ApiKey, AuditLog
from tests.perk_helpers import make_partner


def _mint(client, headers, program="youth", role="processor", name="Acme processor", **extra):
    body = {"program": program, "role": role, "name": name, **extra}
    return client.post("/v1/api-keys", json=body, headers=headers)


def test_admin_mints_key_shown_once_and_it_works(client, db, program, admin_headers):
    response = _mint(client, admin_headers)

    assert response.status_code == 201, response.json
    key = response.json["key"]
    assert key.startswith(f"rwk_{response.json['prefix']}_")
    assert response.json["role"] == "processor" and response.json["program"] == "youth"
    stored = db.session.scalar(select(ApiKey))
    assert key.split("_", 2)[2] not in (stored.secret_hash, stored.prefix)  # only a digest
    enrol = client.post(
        "/v1/customers", json={"external_ref": "c-1"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert enrol.status_code == 201
    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "api_key.create"))
    assert audit.actor == "user:ops-1" and key not in str(audit.after)


def test_list_shows_metadata_never_secrets(client, program, admin_headers, marketer_headers):
    key = _mint(client, admin_headers).json["key"]
    make_partner(client, marketer_headers, code="noodle-bar", name="Noodle Bar")
    _mint(client, admin_headers, role="partner", name="Noodle Bar", partner="noodle-bar")
    client.post(
        "/v1/customers", json={"external_ref": "c-1"}, headers={"Authorization": f"Bearer {key}"}
    )

    response = client.get("/v1/api-keys?program=youth", headers=admin_headers)

    assert response.status_code == 200
    rows = response.json["data"]
    assert [(r["role"], r["name"], r["partner"]) for r in rows] == [
        ("processor", "Acme processor", None),
        ("partner", "Noodle Bar", "noodle-bar"),
    ]
    assert rows[0]["last_used_at"].endswith("Z") and rows[1]["last_used_at"] is None
    assert rows[0]["revoked"] is False
    text = response.get_data(as_text=True)
    assert key.split("_", 2)[2] not in text
    assert "secret" not in text and "hash" not in text and "key" not in rows[0]


def test_list_pages_and_filters_by_program(client, db, program, admin_headers):
    from tests.factories import ProgramFactory

    ProgramFactory(slug="other")
    db.session.commit()
    for n in range(3):
        _mint(client, admin_headers, name=f"k{n}")
    _mint(client, admin_headers, program="other", name="theirs")

    first = client.get("/v1/api-keys?program=youth&limit=2", headers=admin_headers).json
    rest = client.get(
        f"/v1/api-keys?program=youth&limit=2&cursor={first['next_cursor']}", headers=admin_headers
    ).json
    assert [r["name"] for r in first["data"] + rest["data"]] == ["k0", "k1", "k2"]
    assert rest["next_cursor"] is None
    every = client.get("/v1/api-keys", headers=admin_headers).json["data"]
    assert {r["program"] for r in every} == {"youth", "other"}
    assert client.get("/v1/api-keys?program=nope", headers=admin_headers).status_code == 404


def test_revoked_key_gets_401(client, db, program, admin_headers):
    minted = _mint(client, admin_headers).json
    headers = {"Authorization": f"Bearer {minted['key']}"}
    assert (
        client.post("/v1/customers", json={"external_ref": "c-1"}, headers=headers).status_code
        == 201
    )

    response = client.delete(f"/v1/api-keys/{minted['id']}", headers=admin_headers)

    assert response.status_code == 204
    refused = client.post("/v1/customers", json={"external_ref": "c-2"}, headers=headers)
    assert refused.status_code == 401
    assert refused.content_type == "application/problem+json"
    assert "WWW-Authenticate" in refused.headers
    listed = client.get("/v1/api-keys", headers=admin_headers).json["data"][0]
    assert listed["revoked"] is True and listed["revoked_at"].endswith("Z")
    actions = db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions == ["api_key.create", "api_key.revoke"]
    # Revoking twice is harmless and not audited again.
    assert client.delete(f"/v1/api-keys/{minted['id']}", headers=admin_headers).status_code == 204
    assert db.session.scalars(select(AuditLog.action)).all() == actions


def test_bad_requests(client, program, admin_headers):
    assert _mint(client, admin_headers, role="admin").status_code == 422
    assert _mint(client, admin_headers, program="nope").status_code == 404
    missing = client.post("/v1/api-keys", json={"program": "youth"}, headers=admin_headers)
    assert missing.status_code == 422 and {"role", "name"} <= set(missing.json["errors"])
    assert client.delete("/v1/api-keys/999", headers=admin_headers).status_code == 404


def test_only_admins_manage_keys(client, program, marketer_headers, processor_headers):
    for headers in (marketer_headers, processor_headers):
        assert _mint(client, headers).status_code == 403
        assert client.get("/v1/api-keys", headers=headers).status_code == 403
        assert client.delete("/v1/api-keys/1", headers=headers).status_code == 403


def test_last_used_is_recorded_for_read_only_calls(client, program, admin_headers):
    key = _mint(client, admin_headers).json["key"]

    response = client.get("/v1/batches/999", headers={"Authorization": f"Bearer {key}"})

    assert response.status_code == 404  # a read that never commits
    listed = client.get("/v1/api-keys", headers=admin_headers).json["data"][0]
    assert listed["last_used_at"] is not None

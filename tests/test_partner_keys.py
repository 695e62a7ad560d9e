"""Partner API keys are bound to one active partner of their program: minting names it by
code, authentication refuses keys whose partner is gone or inactive, and `partner_id()` is
the partner a key acts for."""

from __future__ import annotations

import hashlib

import pytest
from flask import Flask, g
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from api.auth import partner_id as acting_partner_id
from api.auth import requires
from rewards.models import ApiKey, AuditLog, Partner
from tests.conftest import bearer, make_token
from tests.factories import ProgramFactory
from tests.perk_helpers import make_partner

EVERY_ROLE = ("cardholder", "marketer", "admin", "processor", "partner")
LEGACY_PREFIX = "0123456789ab"
LEGACY_SECRET = "legacy-secret-" + "x" * 30


def mint(client, headers, **body):
    payload = {"program": "youth", "role": "partner", "name": "Star Cafe till", **body}
    return client.post("/v1/api-keys", json=payload, headers=headers)


def partner_row(db, code: str) -> Partner:
    db.session.expire_all()
    return db.session.scalar(select(Partner).where(Partner.code == code))


def acting_for(app: Flask, headers: dict[str, str]) -> int | HTTPException:
    """What `partner_id()` answers in a view every role may call, for a caller with `headers`
    (the partner id, or the HTTP error it raised)."""
    view = requires(*EVERY_ROLE)(acting_partner_id)
    with app.test_request_context("/v1/anything", headers=headers):
        try:
            return view()
        except HTTPException as refused:
            return refused
        finally:
            g.pop("principal", None)


def stored_keys(db) -> int:
    return db.session.scalar(select(func.count()).select_from(ApiKey))


def set_status(client, headers, partner: Partner, status: str) -> None:
    changed = client.patch(f"/v1/partners/{partner.id}", json={"status": status}, headers=headers)
    assert changed.status_code == 200, changed.json


@pytest.fixture
def star_cafe(client, db, program, marketer_headers) -> Partner:
    """The program's active partner `star-cafe`, created through the marketer API."""
    make_partner(client, marketer_headers)
    return partner_row(db, "star-cafe")


# --- minting ------------------------------------------------------------------------------


def test_a_partner_key_must_name_an_active_partner_of_its_program(
    client, db, star_cafe, admin_headers, marketer_headers
):
    make_partner(client, marketer_headers, code="old-shop", name="Old Shop")
    set_status(client, marketer_headers, partner_row(db, "old-shop"), "inactive")
    ProgramFactory(slug="other")
    db.session.commit()
    make_partner(
        client,
        bearer(make_token(sub="m-9", program="other", roles=["marketer"])),
        code="elsewhere",
        name="Elsewhere",
    )

    for body in (
        {},  # missing
        {"partner": None},
        {"partner": "no-such-partner"},
        {"partner": "old-shop"},  # inactive
        {"partner": "elsewhere"},  # another program's
        {"partner": "Star Cafe!"},  # not a code at all
    ):
        refused = mint(client, admin_headers, **body)
        assert refused.status_code == 422, (body, refused.json)
        assert list(refused.json["errors"]) == ["partner"], (body, refused.json)
    assert stored_keys(db) == 0
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "api_key.create")) is None

    created = mint(client, admin_headers, partner="star-cafe")

    assert created.status_code == 201, created.json
    assert created.json["partner"] == "star-cafe" and created.json["role"] == "partner"
    stored = db.session.scalar(select(ApiKey))
    assert stored.partner_id == star_cafe.id


def test_a_processor_key_names_no_partner(client, db, star_cafe, admin_headers):
    refused = mint(client, admin_headers, role="processor", partner="star-cafe")

    assert refused.status_code == 422
    assert list(refused.json["errors"]) == ["partner"]
    assert stored_keys(db) == 0
    created = mint(client, admin_headers, role="processor", partner=None)
    assert created.status_code == 201, created.json
    assert created.json["partner"] is None
    assert db.session.scalar(select(ApiKey.partner_id)) is None


# --- authentication -----------------------------------------------------------------------


def test_a_partner_key_acts_for_its_partner(
    app, client, star_cafe, admin_headers, marketer_headers, processor_headers
):
    key = bearer(mint(client, admin_headers, partner="star-cafe").json["key"])

    assert acting_for(app, key) == star_cafe.id
    # Authenticated, but no marketer endpoint is a partner's: 403, not 401.
    assert client.get("/v1/partners", headers=key).status_code == 403
    for other in (processor_headers, marketer_headers, admin_headers):
        refused = acting_for(app, other)
        assert isinstance(refused, HTTPException) and refused.code == 403, other


def test_a_key_whose_partner_was_deactivated_gets_401_until_it_is_active_again(
    app, client, star_cafe, admin_headers, marketer_headers
):
    key = bearer(mint(client, admin_headers, partner="star-cafe").json["key"])
    set_status(client, marketer_headers, star_cafe, "inactive")

    refused = client.get("/v1/partners", headers=key)

    assert refused.status_code == 401
    assert refused.content_type == "application/problem+json"
    assert "WWW-Authenticate" in refused.headers
    assert "partner is inactive" in refused.json["detail"]
    assert isinstance(acting_for(app, key), HTTPException)
    # Deactivation suspends the key; revoking it is what ends it.
    set_status(client, marketer_headers, star_cafe, "active")
    assert acting_for(app, key) == star_cafe.id


def _legacy_row(db, program_id: int, *, revoked: bool) -> None:
    """A partner key as minted before keys were bound: no partner (its secret is known)."""
    digest = hashlib.sha256(LEGACY_SECRET.encode()).hexdigest()
    db.session.execute(
        text(
            "INSERT INTO api_keys (program_id, role, name, prefix, secret_hash, scopes, "
            "created_by, revoked_at) VALUES (:program, 'partner', 'legacy', :prefix, :digest, "
            f"'[\"partner\"]', 'test', {'now()' if revoked else 'NULL'})"
        ),
        {"program": program_id, "prefix": LEGACY_PREFIX, "digest": digest},
    )


def test_a_legacy_unbound_partner_key_gets_401(client, db, program, star_cafe):
    # Migration 0017 revoked every unbound partner key; the database keeps it that way.
    _legacy_row(db, program.id, revoked=True)
    db.session.commit()

    refused = client.get("/v1/partners", headers=bearer(f"rwk_{LEGACY_PREFIX}_{LEGACY_SECRET}"))

    assert refused.status_code == 401
    assert "WWW-Authenticate" in refused.headers
    assert "star-cafe" not in refused.get_data(as_text=True)


def test_the_database_refuses_a_live_unbound_partner_key_or_a_bound_processor_key(
    db, program, star_cafe
):
    with pytest.raises(IntegrityError, match="partner_bound"), db.session.begin_nested():
        _legacy_row(db, program.id, revoked=False)
    with pytest.raises(IntegrityError, match="partner_bound"), db.session.begin_nested():
        db.session.execute(
            text(
                "INSERT INTO api_keys (program_id, role, name, prefix, secret_hash, scopes, "
                "partner_id) VALUES (:program, 'processor', 'p', 'ab', 'cd', '[]', :partner)"
            ),
            {"program": program.id, "partner": star_cafe.id},
        )


def test_an_unbound_live_partner_key_is_refused_without_partner_data(
    client, db, program, star_cafe, monkeypatch
):
    """Were an unbound partner key ever live (the CHECK forbids it), authentication would
    still refuse it rather than let it act for nobody or for any partner."""
    unbound = ApiKey(
        id=77, program_id=program.id, role="partner", name="legacy", prefix=LEGACY_PREFIX
    )
    monkeypatch.setattr("api.auth.verify_api_key", lambda presented: unbound)

    refused = client.get("/v1/partners", headers=bearer(f"rwk_{LEGACY_PREFIX}_{LEGACY_SECRET}"))

    assert refused.status_code == 401
    assert "bound to no partner" in refused.json["detail"]
    body = refused.get_data(as_text=True)
    assert "star-cafe" not in body and "Star Cafe" not in body


# --- what admins see ----------------------------------------------------------------------


def test_the_key_list_and_the_audit_show_the_partner_code(client, db, star_cafe, admin_headers):
    processor = mint(client, admin_headers, role="processor", name="Acme").json
    partner = mint(client, admin_headers, partner="star-cafe").json

    listed = client.get("/v1/api-keys?program=youth", headers=admin_headers).json["data"]

    assert [(row["role"], row["partner"]) for row in listed] == [
        ("processor", None),
        ("partner", "star-cafe"),
    ]
    audit = {
        row.object_id: row.after
        for row in db.session.scalars(select(AuditLog).where(AuditLog.action == "api_key.create"))
    }
    assert audit == {
        str(processor["id"]): {
            "prefix": processor["prefix"],
            "name": "Acme",
            "role": "processor",
            "partner": None,
        },
        str(partner["id"]): {
            "prefix": partner["prefix"],
            "name": "Star Cafe till",
            "role": "partner",
            "partner": "star-cafe",
        },
    }


def _schema(spec: dict, ref: dict) -> dict:
    return spec["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]


def test_the_spec_documents_the_partner_field(client):
    spec = client.get("/v1/openapi.json").json
    operation = spec["paths"]["/v1/api-keys"]["post"]
    body = _schema(spec, operation["requestBody"]["content"]["application/json"]["schema"])
    created = _schema(spec, operation["responses"]["201"]["content"]["application/json"]["schema"])

    asked = body["properties"]["partner"]
    assert asked["type"] == "string" and asked["nullable"] is True
    assert "partner" not in body.get("required", [])  # required only with role `partner`
    assert "required for role `partner`" in asked["description"]
    assert "422" in operation["responses"]
    shown = created["properties"]["partner"]
    assert shown["type"] == "string" and shown["nullable"] is True
    assert "null for processor keys" in shown["description"]


# --- the CLI and the fixtures -------------------------------------------------------------


def test_the_cli_mints_partner_keys_only_for_a_named_partner(app, client, db, star_cafe):
    runner = app.test_cli_runner()
    base = ["create-api-key", "--program", "youth", "--name", "Star Cafe till"]

    unnamed = runner.invoke(args=[*base, "--role", "partner"])
    processor = runner.invoke(args=[*base, "--role", "processor", "--partner", "star-cafe"])
    assert unnamed.exit_code != 0 and "partner" in unnamed.output
    assert processor.exit_code != 0 and "partner" in processor.output
    assert stored_keys(db) == 0

    named = runner.invoke(args=[*base, "--role", "partner", "--partner", "star-cafe"])

    assert named.exit_code == 0, named.output
    assert "star-cafe" in named.stderr
    key = named.stdout.strip().splitlines()[-1]
    assert acting_for(app, bearer(key)) == star_cafe.id


def test_the_partner_headers_fixture_leaves_star_cafe_to_the_test(
    app, client, db, partner_headers, marketer_headers, partner_key
):
    bound = acting_for(app, partner_headers)
    assert bound == partner_row(db, "partner-one").id

    make_partner(client, marketer_headers)  # the code tests create through the API

    assert acting_for(app, partner_key("star-cafe")) == partner_row(db, "star-cafe").id

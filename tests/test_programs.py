"""Programs: admin CRUD, validation, audit trail, marketer visibility, defaults."""

from __future__ import annotations

import threading

from sqlalchemy import select

from rewards.mcc import mcc_table
from rewards.models import AuditLog, Program
from rewards.models.program import DEFAULT_EXCLUDED_MCCS
from tests.conftest import bearer, make_token
from tests.factories import TransactionFactory

NEW_PROGRAM = {
    "slug": "glow-card",
    "name": "Glow Card",
    "brand_partner": "Glow Cosmetics",
    "currency": "EUR",
    "points_name": "sparks",
    "earn_rate": "1.25",
    "timezone": "Europe/Berlin",
    "pending_days": 14,
    "expiry_months": 24,
    "min_age": 16,
    "max_age": 30,
}


def test_admin_creates_program_with_defaults_and_audit(client, db, admin_headers):
    response = client.post("/v1/programs", json=NEW_PROGRAM, headers=admin_headers)

    assert response.status_code == 201, response.json
    body = response.json
    assert body["slug"] == "glow-card"
    assert body["earn_rate"] == "1.25"
    assert body["excluded_mccs"] == DEFAULT_EXCLUDED_MCCS
    assert body["created_at"].endswith("Z")
    audit = db.session.scalars(select(AuditLog)).all()
    assert [(a.action, a.actor, a.object_id) for a in audit] == [
        ("program.create", "user:ops-1", "glow-card")
    ]
    assert audit[0].before is None and audit[0].after["earn_rate"] == "1.25"


def test_earn_rate_accepts_numbers_and_serialises_as_string(client, admin_headers):
    body = {**NEW_PROGRAM, "earn_rate": 100}
    response = client.post("/v1/programs", json=body, headers=admin_headers)
    assert response.status_code == 201
    assert response.json["earn_rate"] == "100"


def test_duplicate_slug_is_409(client, admin_headers, program):
    response = client.post(
        "/v1/programs", json={**NEW_PROGRAM, "slug": program.slug}, headers=admin_headers
    )
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    assert "slug" in response.json["errors"]


def test_bad_settings_name_each_field_and_store_nothing(client, db, admin_headers):
    bad = {
        **NEW_PROGRAM,
        "slug": "Bad Slug!",
        "currency": "XXY",
        "earn_rate": "1.23456",
        "timezone": "Mars/Olympus",
        "pending_days": 400,
        "expiry_months": -1,
        "excluded_mccs": ["601", "abcd"],
    }
    response = client.post("/v1/programs", json=bad, headers=admin_headers)

    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    errors = response.json["errors"]
    for field in ("slug", "currency", "earn_rate", "timezone", "pending_days", "expiry_months"):
        assert field in errors, field
    assert any(key.startswith("excluded_mccs") for key in errors)
    assert db.session.scalar(select(Program)) is None
    assert db.session.scalar(select(AuditLog)) is None


def test_negative_earn_rate_unknown_field_and_age_range_are_422(client, admin_headers):
    for change in ({"earn_rate": "-1"}, {"colour": "pink"}, {"min_age": 30, "max_age": 16}):
        response = client.post(
            "/v1/programs", json={**NEW_PROGRAM, **change}, headers=admin_headers
        )
        assert response.status_code == 422, change
        assert set(response.json["errors"]) & {"earn_rate", "colour", "max_age"}


def test_list_programs_is_cursor_paginated(client, admin_headers):
    for n in range(3):
        body = {**NEW_PROGRAM, "slug": f"card-{n}"}
        assert client.post("/v1/programs", json=body, headers=admin_headers).status_code == 201

    first = client.get("/v1/programs?limit=2", headers=admin_headers).json
    assert [p["slug"] for p in first["data"]] == ["card-0", "card-1"]
    second = client.get(
        f"/v1/programs?limit=2&cursor={first['next_cursor']}", headers=admin_headers
    )
    assert [p["slug"] for p in second.json["data"]] == ["card-2"]
    assert second.json["next_cursor"] is None
    assert client.get("/v1/programs?cursor=garbage!", headers=admin_headers).status_code == 422
    assert client.get("/v1/programs?limit=101", headers=admin_headers).status_code == 422


def test_patch_changes_settings_and_audits_the_difference(client, db, admin_headers, program):
    response = client.patch(
        f"/v1/programs/{program.slug}",
        json={"earn_rate": 2.5, "pending_days": 30, "brand_partner": None},
        headers=admin_headers,
    )

    assert response.status_code == 200, response.json
    assert response.json["earn_rate"] == "2.5"
    assert response.json["pending_days"] == 30
    assert response.json["brand_partner"] is None
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "program.update"))
    assert entry.before == {
        "earn_rate": "1",
        "pending_days": 0,
        "brand_partner": "Noodle Bar Group",
    }
    assert entry.after == {"earn_rate": "2.5", "pending_days": 30, "brand_partner": None}


def test_patch_refuses_slug_and_bad_values(client, admin_headers, program):
    assert (
        client.patch(
            f"/v1/programs/{program.slug}", json={"slug": "new"}, headers=admin_headers
        ).status_code
        == 422
    )
    response = client.patch(
        f"/v1/programs/{program.slug}", json={"timezone": "Nowhere/City"}, headers=admin_headers
    )
    assert response.status_code == 422 and "timezone" in response.json["errors"]
    response = client.patch(
        f"/v1/programs/{program.slug}", json={"max_age": 10, "min_age": 12}, headers=admin_headers
    )
    assert response.status_code == 422 and "max_age" in response.json["errors"]
    response = client.patch(
        f"/v1/programs/{program.slug}", json={"min_age": 99}, headers=admin_headers
    )
    assert response.status_code == 200  # no max_age set yet


def test_currency_is_fixed_once_transactions_exist(client, db, admin_headers, program):
    from tests.factories import CardFactory, CustomerFactory

    card = CardFactory(customer=CustomerFactory(program=program))
    TransactionFactory(card=card)
    db.session.commit()

    response = client.patch(
        f"/v1/programs/{program.slug}", json={"currency": "USD"}, headers=admin_headers
    )

    assert response.status_code == 409
    assert "currency" in response.json["errors"]


def test_unknown_program_is_404(client, admin_headers):
    response = client.get("/v1/programs/nope", headers=admin_headers)
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert (
        client.patch("/v1/programs/nope", json={"name": "x"}, headers=admin_headers).status_code
        == 404
    )


def test_marketer_reads_only_own_program(client, db, program, marketer_headers):
    from tests.factories import ProgramFactory

    other = ProgramFactory(slug="other")
    db.session.commit()

    assert client.get(f"/v1/programs/{program.slug}", headers=marketer_headers).status_code == 200
    assert client.get(f"/v1/programs/{other.slug}", headers=marketer_headers).status_code == 404
    assert client.get("/v1/programs", headers=marketer_headers).status_code == 403
    assert (
        client.patch(
            f"/v1/programs/{program.slug}", json={"name": "x"}, headers=marketer_headers
        ).status_code
        == 403
    )
    other_marketer = bearer(make_token(sub="m2", program="other", roles=["marketer"]))
    assert client.get(f"/v1/programs/{program.slug}", headers=other_marketer).status_code == 404


def test_default_excluded_mccs_are_cash_like_or_gambling():
    """Each default exclusion is cash-like or gambling in the shipped ISO 18245 map, or one of
    the two card-network quasi-cash codes that ISO 18245 does not list."""
    network_quasi_cash = {"6050", "6540"}  # quasi-cash at a member bank; stored-value card load
    for code in DEFAULT_EXCLUDED_MCCS:
        if code in network_quasi_cash:
            assert code not in mcc_table()
            continue
        assert mcc_table()[code][0] in {"cash_like", "gambling"}, code


def test_openapi_documents_programs_keys_and_customers(client):
    spec = client.get("/v1/openapi.json").json
    expected = {
        "/v1/programs": {"get": "bearerJWT", "post": "bearerJWT"},
        "/v1/programs/{slug}": {"get": "bearerJWT", "patch": "bearerJWT"},
        "/v1/api-keys": {"get": "bearerJWT", "post": "bearerJWT"},
        "/v1/api-keys/{key_id}": {"delete": "bearerJWT"},
        "/v1/customers": {"post": "apiKey"},
        "/v1/customers/{external_ref}": {"get": "bearerJWT"},
        "/v1/customers/{external_ref}/cards": {"post": "apiKey"},
    }
    for path, operations in expected.items():
        for method, scheme in operations.items():
            operation = spec["paths"][path][method]
            assert {scheme: []} in operation["security"], (path, method)
            assert operation["summary"], (path, method)
            assert {"401", "403"} <= set(operation["responses"]), (path, method)
            if method in ("post", "patch"):
                assert "requestBody" in operation, (path, method)
                assert "422" in operation["responses"], (path, method)
    schemas = spec["components"]["schemas"]
    assert schemas["ProgramCreate"]["properties"]["earn_rate"]["type"] == "string"
    assert "key" in schemas["ApiKeyCreated"]["properties"]
    assert "key" not in schemas["ApiKey"]["properties"]
    assert "409" in spec["paths"]["/v1/customers/{external_ref}/cards"]["post"]["responses"]


def test_concurrent_creates_of_one_slug_give_one_program(app, db, admin_headers):
    statuses: list[int] = []

    def create() -> None:
        with app.test_client() as own_client:
            response = own_client.post("/v1/programs", json=NEW_PROGRAM, headers=admin_headers)
            statuses.append(response.status_code)

    threads = [threading.Thread(target=create) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201] + [409] * 4
    assert len(db.session.scalars(select(Program)).all()) == 1
    assert len(db.session.scalars(select(AuditLog)).all()) == 1

"""The app shell: probes, problem+json errors, the OpenAPI document, migrations match models."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from rewards.db import db


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_checks_postgres_and_redis(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "redis": "ok"}


def test_unknown_path_is_problem_json(client):
    response = client.get("/v1/nowhere")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert response.json["status"] == 404
    assert response.json["type"].endswith("/not-found")


def test_a_wrong_method_is_405_problem_json_with_allow(client, marketer_headers):
    response = client.delete("/v1/programs/youth", headers=marketer_headers)
    assert response.status_code == 405
    assert response.content_type == "application/problem+json"
    assert response.json["status"] == 405
    allowed = {method.strip() for method in response.headers["Allow"].split(",")}
    assert {"GET", "PATCH"} <= allowed and "DELETE" not in allowed


def test_no_werkzeug_html_for_odd_paths(client, marketer_headers):
    """A doubled slash was a 308 with werkzeug's HTML page; now it is an unknown path."""
    for url in ("/v1//programs", "//healthz", "/v1/programs/youth/"):
        response = client.get(url, headers=marketer_headers)
        assert response.status_code == 404, url
        assert response.content_type == "application/problem+json", url


def test_openapi_document_is_served(client):
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json
    assert spec["openapi"].startswith("3.")
    assert "bearerJWT" in spec["components"]["securitySchemes"]


def test_migrations_match_models(app):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


PROBES = ("/healthz", "/readyz", "/metrics")


def test_every_operation_documents_security_errors_and_bodies(client):
    spec = client.get("/v1/openapi.json").json
    assert spec["paths"], "no paths documented"
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            where = f"{method.upper()} {path}"
            if path in PROBES:  # public by design: explicitly no credentials
                assert operation["security"] == [], f"{where} must say it takes no credentials"
                assert operation.get("summary") and "200" in operation["responses"]
                continue
            assert operation.get("security"), f"{where} has no security requirement"
            assert {"401", "403"} <= set(operation["responses"]), f"{where} lacks 401/403"
            assert operation.get("summary"), f"{where} has no summary"
            # Every write documents its body, except the actions that take none: a
            # cardholder's opt-in (activating an offer, joining a challenge), cancelling a
            # voucher, and a partner's till using one (the code is the path).
            opt_in = path.startswith(
                (
                    "/v1/me/offers/",
                    "/v1/me/challenges/",
                    "/v1/me/vouchers/",
                    "/v1/partner/vouchers/",
                    "/v1/partner/deliveries/",
                    "/v1/webhook-deliveries/",
                )
            )
            if method in ("post", "patch") and not opt_in:
                assert "requestBody" in operation, f"{where} documents no body"

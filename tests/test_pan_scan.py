"""The proof that no card number is stored, logged or queued: plant PANs everywhere, then look.

Card numbers in every written form are sent through every endpoint of the URL map (bodies
built from the OpenAPI spec, so a new endpoint is covered the day it appears), through valid
requests for every resource that stores text, file uploads and Marqeta webhooks; the jobs
run; then every text and JSON column of every table, every Redis key and value (RQ payloads
decompressed) and every captured log line are scanned for the planted numbers in any form.
"""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import bearer, make_token
from tests.pan_scanning import Planter, scan_database, scan_redis
from tests.test_ingest_api import tx_row
from tests.test_marqeta import basic, mq
from tests.test_programs import NEW_PROGRAM

# ---------------------------------------------------------------- the requests


def _schema_value(
    schema: dict[str, Any], spec: dict[str, Any], plant: Planter, where: str, depth: int = 0
) -> Any:
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    for combined in ("allOf", "oneOf", "anyOf"):
        if combined in schema:
            return _schema_value(schema[combined][0], spec, plant, where, depth)
    kind = schema.get("type", "object")
    if kind == "string":
        return plant(where)
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return [
            _schema_value(schema.get("items", {"type": "string"}), spec, plant, where, depth + 1)
        ]
    properties = schema.get("properties") or {"note": {"type": "string"}}
    if depth > 4:
        return {}
    return {
        name: _schema_value(sub, spec, plant, f"{where}.{name}", depth + 1)
        for name, sub in properties.items()
    }


_PLACEHOLDER = re.compile(r"<(?:[^:>]+:)?([^>]+)>")


def _path_value(rule, name: str, plant: Planter, where: str) -> str:
    """A numeric id for numeric parameters (so the view runs); a planted PAN for text ones."""
    if type(rule._converters[name]).__name__ in ("UnicodeConverter", "PathConverter"):
        return quote(plant(f"{where} <{name}>"), safe="")
    return "1"


def _sweep_every_route(app, client, credentials, plant: Planter) -> tuple[list[str], int]:
    """Every rule of the URL map with every credential: PANs in path, query and JSON body."""
    spec = client.get("/v1/openapi.json").json
    five_hundreds, sent = [], 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or "openapi" in rule.rule or rule.rule.startswith("/docs"):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            spec_path = _PLACEHOLDER.sub(r"{\1}", rule.rule)
            operation = spec.get("paths", {}).get(spec_path, {}).get(method.lower(), {})
            for role, headers in credentials.items():
                where = f"{method} {rule.rule} as {role}"
                path = _PLACEHOLDER.sub(
                    lambda m, w=where, r=rule: _path_value(r, m.group(1), plant, w), rule.rule
                )
                query = {
                    param["name"]: plant(f"{where} ?{param['name']}")
                    for param in operation.get("parameters", [])
                    if param.get("in") == "query"
                }
                query.setdefault("note", plant(f"{where} ?note"))
                extra = {"Idempotency-Key": plant(f"{where} Idempotency-Key")}
                body = None
                content = operation.get("requestBody", {}).get("content", {})
                if "application/json" in content or method in ("POST", "PATCH", "PUT"):
                    schema = content.get("application/json", {}).get("schema", {"type": "object"})
                    body = _schema_value(schema, spec, plant, where)
                response = client.open(
                    path, method=method, query_string=query, json=body, headers={**headers, **extra}
                )
                sent += 1
                if response.status_code >= 500:
                    five_hundreds.append(f"{where}: {response.status_code}")
    return five_hundreds, sent


def _valid_requests(client, credentials, plant: Planter) -> list[tuple[str, Any, int]]:
    """Requests that succeed (display text masked) or are refused (identifiers), per resource."""
    admin, marketer = credentials["admin"], credentials["marketer"]
    processor = credentials["processor"]
    now = datetime.now(UTC)
    calls: list[tuple[str, Any, int]] = []

    def call(expected: int, method: str, url: str, headers: dict[str, str], **kwargs: Any) -> Any:
        response = client.open(url, method=method, headers=headers, **kwargs)
        calls.append((f"{method} {url}", response, expected))
        return response

    program = {**NEW_PROGRAM, "slug": "scan-card"}
    for field in ("name", "brand_partner", "points_name"):
        program[field] = plant(f"program {field}")
    call(201, "POST", "/v1/programs", admin, json=program)
    call(422, "POST", "/v1/programs", admin, json={**NEW_PROGRAM, "slug": plant("program slug")})
    call(200, "PATCH", "/v1/programs/youth", admin, json={"name": plant("program rename")})
    call(
        201,
        "POST",
        "/v1/api-keys",
        admin,
        json={
            "program": "youth",
            "role": "partner",
            "partner": "partner-one",  # the partner_headers fixture's partner
            "name": plant("api-key name"),
        },
    )

    call(
        201,
        "POST",
        "/v1/customers",
        processor,
        json={"external_ref": "cust-1", "nickname": plant("nickname")},
    )
    call(422, "POST", "/v1/customers", processor, json={"external_ref": plant("external_ref")})
    call(201, "POST", "/v1/customers/cust-1/cards", processor, json={"token": "card_tok_000001"})
    call(422, "POST", "/v1/customers/cust-1/cards", processor, json={"token": plant("card token")})

    adjustment = {
        "points": 5,
        "reason": plant("adjustment reason"),
        "message": plant("adjustment message"),
    }
    call(
        201,
        "POST",
        "/v1/customers/cust-1/adjustments",
        {**marketer, "Idempotency-Key": "adj-1"},
        json=adjustment,
    )
    call(
        422,
        "POST",
        "/v1/customers/cust-1/adjustments",
        {**marketer, "Idempotency-Key": plant("idempotency key")},
        json={"points": 5, "reason": "x"},
    )

    campaign = {
        "name": plant("campaign name"),
        "starts_at": (now - timedelta(days=30)).isoformat(),
        "effect": {"type": "multiplier", "value": "2"},
    }
    created = call(201, "POST", "/v1/campaigns", marketer, json=campaign)
    campaign_id = created.json.get("id", 1) if created.is_json else 1
    call(
        200,
        "PATCH",
        f"/v1/campaigns/{campaign_id}",
        marketer,
        json={"name": plant("campaign rename")},
    )
    call(200, "POST", f"/v1/campaigns/{campaign_id}/activate", marketer, json={})

    call(
        201,
        "POST",
        "/v1/segments",
        marketer,
        json={"name": plant("segment name"), "rules": {"max_age": 25}},
    )
    call(
        422,
        "POST",
        "/v1/segments",
        marketer,
        json={"name": "s", "rules": {"tags": [plant("segment tag")]}},
    )
    call(
        201,
        "POST",
        "/v1/partners",
        marketer,
        json={"code": "noodle", "name": plant("partner name"), "merchant_ids": ["NB-01"]},
    )
    call(
        422,
        "POST",
        "/v1/partners",
        marketer,
        json={"code": "n2", "name": "N", "merchant_ids": [plant("partner mid")]},
    )
    call(
        422, "GET", "/v1/audit-log", marketer, query_string={"object_id": plant("audit-log query")}
    )

    rows = [
        tx_row(1, merchant_name=plant("tx merchant_name"), occurred_at=now.isoformat()),
        tx_row(2, external_id=plant("tx external_id")),
        tx_row(3, card_token=plant("tx card_token")),
        tx_row(4, merchant_id=plant("tx merchant_id")),
        tx_row(5, kind="refund", original_external_id=plant("tx original_external_id")),
        {**tx_row(6), plant("tx field name"): "x"},
    ]
    call(
        202,
        "POST",
        "/v1/transactions",
        {**processor, "Idempotency-Key": "batch-1"},
        json={"transactions": rows},
    )

    file_rows = [
        tx_row(10, merchant_name=plant("csv merchant_name"), occurred_at=now.isoformat()),
        tx_row(11, external_id=plant("csv external_id")),
        tx_row(12, card_token=plant("csv card_token")),
        tx_row(13, merchant_id=plant("csv merchant_id")),
    ]
    header = list(tx_row(0))
    csv_text = (
        ",".join(header)
        + "\n"
        + "\n".join(",".join(f'"{row.get(c, "")}"' for c in header) for row in file_rows)
    )
    call(
        202,
        "POST",
        "/v1/transaction-files",
        {**processor, "Content-Type": "text/csv"},
        data=csv_text.encode(),
        query_string={"filename": plant("csv filename")},
    )
    jsonl_rows = [
        tx_row(20, merchant_name=plant("jsonl merchant_name"), occurred_at=now.isoformat()),
        tx_row(21, original_external_id=plant("jsonl original_external_id"), kind="reversal"),
    ]
    jsonl = "\n".join(json.dumps(r, ensure_ascii=False) for r in jsonl_rows).encode()
    call(
        202,
        "POST",
        "/v1/transaction-files",
        processor,
        data={"file": (io.BytesIO(jsonl), plant("upload filename") + ".jsonl")},
        content_type="multipart/form-data",
    )

    webhook = [
        mq(
            "mq-1",
            "authorization.clearing",
            card_acceptor={"mid": "m-1", "mcc": "5812", "name": plant("marqeta name")},
        ),
        mq(plant("marqeta token"), "authorization.clearing"),
        mq("mq-3", "authorization.clearing", card_token=plant("marqeta card_token")),
        mq(
            "mq-4",
            "authorization.clearing",
            card_acceptor={"mid": plant("marqeta mid"), "mcc": "5812"},
        ),
        mq("mq-5", "authorization.clearing", memo=plant("marqeta unused field")),
    ]
    secret = processor["Authorization"].removeprefix("Bearer ")
    call(200, "POST", "/v1/feeds/marqeta", basic(secret), json={"transactions": webhook})
    return calls


# ---------------------------------------------------------------- the scans


@pytest.mark.timeout(600)
def test_no_planted_card_number_is_stored_logged_queued_or_echoed(
    app, client, db, redis, run_jobs, program, processor_headers, partner_headers, caplog
):
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        logging.getLogger(name).disabled = False  # alembic's fileConfig disables loggers
    plant = Planter()
    credentials = {
        "admin": bearer(make_token(sub="ops-1", program=None, roles=["admin"])),
        "marketer": bearer(make_token(sub="mkt-1", program=program.slug, roles=["marketer"])),
        "cardholder": bearer(make_token(sub="cust-1", program=program.slug, roles=["cardholder"])),
        "processor": processor_headers,
        "partner": partner_headers,
    }

    calls = _valid_requests(client, credentials, plant)
    five_hundreds, sweeps = _sweep_every_route(app, client, credentials, plant)
    queued_hits, payloads = scan_redis(redis, plant)
    run_jobs()

    echoed = [
        hit
        for label, response, _ in calls
        for hit in plant.hits(response.get_data(as_text=True), f"response {label}")
    ]
    hits = queued_hits + scan_database(db, plant) + scan_redis(redis, plant)[0]
    hits += [
        h
        for record in caplog.records
        for h in plant.hits(logging.Formatter().format(record), "log")
    ]
    hits += plant.hits(caplog.text, "log text")

    print(  # the coverage figures the closing note reports (visible with -s)
        f"\nPAN scan: {len(plant.planted)} numbers planted, {len(calls)} resource requests, "
        f"{sweeps} route x credential requests, {payloads} RQ payloads decompressed, "
        f"{len(caplog.records)} log records; {len(hits + echoed)} hits"
    )
    assert len(plant.planted) > 300 and payloads > 0 and len(caplog.records) > 0
    assert hits + echoed == [], "\n".join(sorted(set(hits + echoed)))
    assert five_hundreds == []
    surprises = [
        f"{label}: {r.status_code} (expected {want}) {r.get_data(as_text=True)[:300]}"
        for label, r, want in calls
        if r.status_code != want
    ]
    assert surprises == [], "\n".join(surprises)

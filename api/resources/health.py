"""Liveness and readiness probes for load balancers and orchestrators (in the OpenAPI
document, without credentials and without rate limits)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, current_app, jsonify
from flask_smorest import Blueprint
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text

from api.extensions import db, limiter, queues
from rewards.metrics import RewardsCollector

blp = Blueprint("health", __name__, description="Probes: liveness and readiness.")


class HealthSchema(ma.Schema):
    status = ma.fields.String(required=True, metadata={"description": "Always `ok`"})


class ReadySchema(ma.Schema):
    status = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(["ready", "not ready"]),
        metadata={"description": "`ready` when every check is `ok` (or not used)"},
    )
    checks = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        required=True,
        metadata={
            "description": "`database` and `redis`: `ok`, `error: <kind>`, or `not used "
            "(embedded mode)` for Redis"
        },
    )


@blp.route("/healthz")
@limiter.exempt
@blp.doc(security=[])
@blp.response(200, HealthSchema)
def healthz() -> Any:
    """The process is up (no dependencies checked)"""
    return {"status": "ok"}


@blp.route("/readyz")
@limiter.exempt
@blp.doc(security=[])
@blp.response(200, ReadySchema)
@blp.alt_response(503, schema=ReadySchema, description="A dependency does not answer")
def readyz() -> Any:
    """PostgreSQL and Redis answer; 503 with the failing check otherwise"""
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any driver failure means "not ready"; reported, not hidden
        checks["database"] = f"error: {type(exc).__name__}"
    if current_app.config["REDIS_URL"]:
        try:
            queues.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    else:
        checks["redis"] = "not used (embedded mode)"
    ready = all(v == "ok" or v.startswith("not used") for v in checks.values())
    if ready:
        return {"status": "ready", "checks": checks}
    response = jsonify(status="not ready", checks=checks)
    response.status_code = 503
    return response


@blp.route("/metrics")
@limiter.exempt
@blp.doc(
    security=[],
    responses={
        "200": {
            "description": "Prometheus text format: webhook deliveries, attempts, failures and "
            "latency; the outbox backlog; the feed's waiting rows; rows stored",
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
        }
    },
)
def metrics() -> Any:
    """Operational metrics for Prometheus (serve it on the internal network only)"""
    registry = current_app.extensions.get("rewards.metrics")
    if registry is None:
        registry = current_app.extensions["rewards.metrics"] = CollectorRegistry()
        registry.register(RewardsCollector())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from api.extensions import db, limiter, queues

blp = Blueprint("health", __name__)


@blp.get("/healthz")
@limiter.exempt
def healthz() -> ResponseReturnValue:
    """The process is up (no dependencies checked)."""
    return jsonify(status="ok")


@blp.get("/readyz")
@limiter.exempt
def readyz() -> ResponseReturnValue:
    """PostgreSQL and Redis answer; 503 with the failing check otherwise."""
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
    response = jsonify(status="ready" if ready else "not ready", checks=checks)
    response.status_code = 200 if ready else 503
    return response

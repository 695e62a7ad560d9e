"""Settings, read from the environment only (twelve-factor); nothing here connects anywhere."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from api.ratelimit import per_caller_limit

MIGRATIONS_DIR = str(Path(__file__).resolve().parent.parent / "rewards" / "migrations")


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


DEV_DATA_KEY = "dev-only-data-key-change-me-0000000000"


def load_config(instance_path: str) -> dict[str, Any]:
    """Settings for `create_app`. Without DATABASE_URL the app runs embedded on SQLite."""
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path}/rewards.sqlite3"
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
    redis_url = os.environ.get("REDIS_URL")
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY", "dev-only-secret-change-me"),
        # Master secret for values sealed at rest (rewards/sealing.py): losing or changing it
        # makes them unreadable. At least 32 random characters; the default is for dev only.
        "DATA_KEY": os.environ.get("DATA_KEY", DEV_DATA_KEY),
        "SQLALCHEMY_DATABASE_URI": database_url,
        # hide_parameters: logged SQL errors must never carry request values (card tokens...).
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": True},
        "MIGRATIONS_DIR": MIGRATIONS_DIR,
        "REDIS_URL": redis_url,
        # Without Redis, jobs run in the request's process right after commit (embedded mode).
        "JOBS_INLINE": redis_url is None,
        "QUEUE_PREFIX": os.environ.get("QUEUE_PREFIX", "rewards"),
        "JWT_SECRET": os.environ.get("JWT_SECRET"),
        "JWT_JWKS_URL": os.environ.get("JWT_JWKS_URL"),
        "JWT_AUDIENCE": os.environ.get("JWT_AUDIENCE"),
        "JWT_ISSUER": os.environ.get("JWT_ISSUER"),
        # Longest accepted exp - iat, and the clock skew allowed on exp/iat/nbf, in seconds.
        "JWT_MAX_LIFETIME": _int("JWT_MAX_LIFETIME", 24 * 3600),
        "JWT_LEEWAY": _int("JWT_LEEWAY", 30),
        # Reverse proxies in front of gunicorn whose X-Forwarded-For is trusted (0: none).
        "PROXY_HOPS": _int("PROXY_HOPS", 0),
        "MAX_CONTENT_LENGTH": _int("MAX_BODY_BYTES", 16 * 1024 * 1024),
        "MAX_BATCH_ROWS": _int("MAX_BATCH_ROWS", 5000),
        "CHUNK_SIZE": _int("CHUNK_SIZE", 5000),
        # Batches split by card token into this many groups whose chunks run side by side
        # without waiting on each other's accounts (workers/queues.py `partitions`).
        "FEED_PARTITIONS": _int("FEED_PARTITIONS", 2),
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        # One bucket per caller across the whole API (api/ratelimit.py), not one per endpoint.
        "RATE_LIMIT": os.environ.get("RATE_LIMIT", "600 per minute"),
        "RATELIMIT_APPLICATION": per_caller_limit,
        # Failed authentications allowed per client address and per API-key prefix.
        "AUTH_FAILURE_LIMIT": os.environ.get("AUTH_FAILURE_LIMIT", "20 per 10 minutes"),
        # Voucher look-ups that match nothing before a partner key is locked out until the
        # window ends, and before all of a partner's keys are (no code enumeration).
        "VOUCHER_MISS_LIMIT": os.environ.get("VOUCHER_MISS_LIMIT", "10 per 15 minutes"),
        "VOUCHER_MISS_PARTNER_LIMIT": os.environ.get(
            "VOUCHER_MISS_PARTNER_LIMIT", "50 per 15 minutes"
        ),
        # Webhooks: https only outside development; addresses an SSRF check would refuse are
        # reachable only if listed here (comma-separated CIDRs, for development and tests).
        "WEBHOOK_REQUIRE_HTTPS": os.environ.get("WEBHOOK_REQUIRE_HTTPS", "1") == "1",
        "WEBHOOK_ALLOW_NETWORKS": [
            n.strip() for n in os.environ.get("WEBHOOK_ALLOW_NETWORKS", "").split(",") if n.strip()
        ],
        "WEBHOOK_TIMEOUT_SECONDS": float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "10")),
        "RATELIMIT_HEADERS_ENABLED": True,
        # A moving window (one timestamp per call): no double burst across a window boundary,
        # which a fixed window allows (and which made the limit miss calls right at a minute).
        "RATELIMIT_STRATEGY": "moving-window",
        # Fail open: if Redis is unreachable, serve the request unlimited rather than a 500.
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_ENABLED": os.environ.get("RATE_LIMIT_ENABLED", "1") == "1",
        "API_TITLE": "Youth card rewards API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "v1/openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        # Served by the app itself from the installed swagger-ui-bundle (api/docs.py): /docs
        # works without internet. /redoc redirects there (ReDoc is not shipped).
        "OPENAPI_SWAGGER_UI_URL": os.environ.get("SWAGGER_UI_URL", "/docs/assets/"),
    }

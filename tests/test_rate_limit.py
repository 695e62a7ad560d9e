"""Rate limits per credential (Flask-Limiter on Redis): 429 problem+json with Retry-After."""

from __future__ import annotations

import os
import uuid

import pytest

from api import create_app
from tests.conftest import bearer, make_token


@pytest.fixture
def limited_app(app_config):
    """A second app on the same database and Redis with a tiny limit and its own key prefix."""
    return create_app(
        {
            **app_config,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_DEFAULT": "3 per minute",
            "RATELIMIT_KEY_PREFIX": f"rl-test-{os.getpid()}-{uuid.uuid4().hex[:8]}",
        }
    )


def test_fourth_call_is_429_and_other_callers_are_unaffected(limited_app, program):
    first = bearer(make_token(sub="mkt-1", program="youth", roles=["marketer"]))
    second = bearer(make_token(sub="mkt-2", program="youth", roles=["marketer"]))
    with limited_app.test_client() as client:
        statuses = [client.get("/v1/programs/youth", headers=first).status_code for _ in range(3)]
        refused = client.get("/v1/programs/youth", headers=first)
        other = client.get("/v1/programs/youth", headers=second)
        probe = client.get("/healthz")

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.content_type == "application/problem+json"
    assert refused.json["status"] == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert other.status_code == 200
    assert probe.status_code == 200


def test_limiter_fails_open_when_redis_is_down(app_config, program, marketer_headers):
    """Losing Redis must not take the API down with it (ingest keeps working without it)."""
    app = create_app(
        {
            **app_config,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_DEFAULT": "3 per minute",
            "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    )
    with app.test_client() as client:
        response = client.get("/v1/programs/youth", headers=marketer_headers)
    assert response.status_code == 200

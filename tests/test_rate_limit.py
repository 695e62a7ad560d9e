"""Rate limits per authenticated caller across the API, and the failed-authentication throttle.

Each test builds its own app on the same database and Redis with the limiter armed, tiny
limits and its own key prefix (the session app runs with limits off).
"""

from __future__ import annotations

import base64
import logging
import os
import uuid

import jwt
import pytest

from api import create_app
from rewards.access import mint_api_key
from tests.conftest import bearer, make_token

PROGRAM_URL = "/v1/programs/youth"


@pytest.fixture
def auth_log(caplog, monkeypatch):
    """Warnings of `api.auth`. Alembic's logging setup (run by the migrations at session start)
    disables loggers that existed before it; a server process never runs it."""
    monkeypatch.setattr(logging.getLogger("api.auth"), "disabled", False)
    return caplog


def _limited(app_config, **settings):
    return create_app(
        {
            **app_config,
            "RATELIMIT_ENABLED": True,
            "RATE_LIMIT": "3 per minute",
            "AUTH_FAILURE_LIMIT": "100 per minute",
            "RATELIMIT_KEY_PREFIX": f"rl-test-{os.getpid()}-{uuid.uuid4().hex[:8]}",
            **settings,
        }
    )


@pytest.fixture
def limited_app(app_config):
    """Three calls a minute per caller; failed authentication effectively unthrottled."""
    return _limited(app_config)


@pytest.fixture
def guarded_app(app_config):
    """Three failed authentications a minute per address or key prefix; calls unthrottled."""
    return _limited(app_config, RATE_LIMIT="1000 per minute", AUTH_FAILURE_LIMIT="3 per minute")


def _marketer(sub: str = "mkt-1") -> str:
    return make_token(sub=sub, program="youth", roles=["marketer"])


def _assert_429(response) -> None:
    assert response.status_code == 429
    assert response.content_type == "application/problem+json"
    assert response.json["status"] == 429
    assert 0 < int(response.headers["Retry-After"]) <= 60


def test_fourth_call_is_429_and_other_callers_are_unaffected(limited_app, program):
    first, second = bearer(_marketer("mkt-1")), bearer(_marketer("mkt-2"))
    with limited_app.test_client() as client:
        statuses = [client.get(PROGRAM_URL, headers=first).status_code for _ in range(3)]
        refused = client.get(PROGRAM_URL, headers=first)
        other = client.get(PROGRAM_URL, headers=second)
        probe = client.get("/healthz")

    assert statuses == [200, 200, 200]
    _assert_429(refused)
    assert other.status_code == 200
    assert probe.status_code == 200


def test_the_limit_is_one_bucket_per_caller_across_endpoints(limited_app, program):
    """Three calls to three endpoints use up the caller's three; the fourth endpoint says 429
    (with a bucket per endpoint, the caller would get the limit once per endpoint)."""
    headers = bearer(_marketer())
    urls = ["/v1/programs/youth", "/v1/campaigns", "/v1/segments", "/v1/audit-log"]
    with limited_app.test_client() as client:
        responses = [client.get(url, headers=headers) for url in urls]
    assert [r.status_code for r in responses[:3]] == [200, 200, 200]
    _assert_429(responses[3])


def test_an_earlier_app_leaves_none_of_its_limits_behind(app_config, program):
    """The limiter is one object per process: a strict app built first (with a per-endpoint
    default of one a minute) must not make the next app stricter than its own settings."""
    strict = _limited(app_config, RATE_LIMIT="1 per minute", RATELIMIT_DEFAULT="1 per minute")
    with strict.test_client() as client:
        assert [client.get(PROGRAM_URL, headers=bearer(_marketer())).status_code
                for _ in range(2)] == [200, 429]  # fmt: skip
    relaxed = _limited(app_config)
    with relaxed.test_client() as client:
        statuses = [client.get(PROGRAM_URL, headers=bearer(_marketer())).status_code
                    for _ in range(4)]  # fmt: skip
    assert statuses == [200, 200, 200, 429]


def test_another_spelling_of_the_same_token_is_the_same_caller(limited_app, program):
    token = _marketer()
    spellings = [f"Bearer {token}", f"bearer {token}", f"BEARER   {token}", f"Bearer {token}  "]
    with limited_app.test_client() as client:
        responses = [client.get(PROGRAM_URL, headers={"Authorization": h}) for h in spellings]
    assert [r.status_code for r in responses[:3]] == [200, 200, 200]
    _assert_429(responses[3])


def test_a_second_token_for_the_same_person_is_the_same_caller(limited_app, program):
    """A freshly minted token (other exp, other bytes) does not buy a fresh bucket."""
    tokens = [_marketer(), make_token(sub="mkt-1", program="youth", roles=["marketer"],
                                      expires_in=900, jti="a"),
              make_token(sub="mkt-1", program="youth", roles=["marketer"], jti="b"),
              make_token(sub="mkt-1", program="youth", roles=["marketer"], jti="c")]  # fmt: skip
    with limited_app.test_client() as client:
        responses = [client.get(PROGRAM_URL, headers=bearer(t)) for t in tokens]
    assert [r.status_code for r in responses[:3]] == [200, 200, 200]
    _assert_429(responses[3])


def test_an_api_key_is_one_caller_as_bearer_or_basic_with_any_username(limited_app, db, program):
    key = mint_api_key(program=program, role="processor", name="p", created_by="t").secret
    db.session.commit()

    def basic(user: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()}

    headers = [bearer(key), basic("processor"), basic("someone-else"), basic("")]
    with limited_app.test_client() as client:
        responses = [
            client.post("/v1/customers", json={"external_ref": f"c-{n}"}, headers=h)
            for n, h in enumerate(headers)
        ]
    assert [r.status_code for r in responses[:3]] == [201, 201, 201]
    _assert_429(responses[3])


def test_unauthenticated_calls_are_counted_per_client_address(limited_app, program):
    with limited_app.test_client() as client:
        one = [
            client.get("/v1/openapi.json", environ_base={"REMOTE_ADDR": "10.0.0.1"})
            for _ in range(4)
        ]
        other = client.get("/v1/openapi.json", environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert [r.status_code for r in one[:3]] == [200, 200, 200]
    _assert_429(one[3])
    assert other.status_code == 200


def test_retry_after_only_on_429(limited_app, program):
    headers = bearer(_marketer())
    with limited_app.test_client() as client:
        allowed = client.get(PROGRAM_URL, headers=headers)
        for _ in range(2):
            client.get(PROGRAM_URL, headers=headers)
        refused = client.get(PROGRAM_URL, headers=headers)
    assert allowed.status_code == 200
    assert "Retry-After" not in allowed.headers
    assert allowed.headers["X-RateLimit-Limit"] == "3"
    assert allowed.headers["X-RateLimit-Remaining"] == "2"
    _assert_429(refused)


def test_limiter_fails_open_when_redis_is_down(app_config, program, marketer_headers):
    """Losing Redis must not take the API down with it (ingest keeps working without it)."""
    app = _limited(
        app_config,
        AUTH_FAILURE_LIMIT="1 per minute",
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0",  # nothing listens there
    )
    with app.test_client() as client:
        response = client.get("/v1/programs/youth", headers=marketer_headers)
        forged = client.get(PROGRAM_URL, headers=bearer(_marketer()[:-3] + "xyz"))
        again = client.get(PROGRAM_URL, headers=bearer(_marketer()[:-3] + "xyz"))
    assert response.status_code == 200
    assert (forged.status_code, again.status_code) == (401, 401)


# --- failed authentication ---------------------------------------------------------------


def test_failed_authentication_is_throttled_per_address_and_logged(guarded_app, program, auth_log):
    good = _marketer()
    forged = good[:-6] + ("AAAAAA" if not good.endswith("AAAAAA") else "BBBBBB")
    here = {"REMOTE_ADDR": "10.1.0.1"}
    with guarded_app.test_client() as client:
        failures = [
            client.get(PROGRAM_URL, headers=bearer(forged), environ_base=here) for _ in range(3)
        ]
        blocked = client.get(PROGRAM_URL, headers=bearer(forged), environ_base=here)
        # Even the right token is refused from this address: the answer must not tell a
        # guesser which guess was right.
        blocked_good = client.get(PROGRAM_URL, headers=bearer(good), environ_base=here)
        elsewhere = client.get(
            PROGRAM_URL, headers=bearer(good), environ_base={"REMOTE_ADDR": "10.1.0.2"}
        )

    assert [r.status_code for r in failures] == [401, 401, 401]
    _assert_429(blocked)
    _assert_429(blocked_good)
    assert "authentication" in blocked.json["detail"]
    assert elsewhere.status_code == 200
    logged = [r.getMessage() for r in auth_log.records if r.name == "api.auth"]
    assert sum("failed from 10.1.0.1" in line for line in logged) == 3
    assert any("refused from 10.1.0.1" in line for line in logged)
    assert not any(forged in line or good in line for line in logged)


def test_every_kind_of_guess_counts_but_expired_and_missing_credentials_do_not(
    guarded_app, program
):
    expired = make_token(sub="m", program="youth", roles=["marketer"], expires_in=-60)
    here = {"REMOTE_ADDR": "10.2.0.1"}
    with guarded_app.test_client() as client:
        harmless = [
            client.get(PROGRAM_URL, headers=h, environ_base=here)
            for h in ({}, bearer(expired), bearer(expired), bearer(expired), {})
        ]
        still_fine = client.get(PROGRAM_URL, headers=bearer(_marketer()), environ_base=here)
        guesses = [
            client.get(PROGRAM_URL, headers={"Authorization": h}, environ_base=here)
            for h in ("Bearer rwk_abc123_nope", "Basic !!!", "Bearer not.a.jwt")
        ]
        blocked = client.get(PROGRAM_URL, headers=bearer(_marketer()), environ_base=here)
    assert [r.status_code for r in harmless] == [401] * 5
    assert still_fine.status_code == 200
    assert [r.status_code for r in guesses] == [401, 401, 401]
    _assert_429(blocked)


def test_wrong_secrets_for_one_key_prefix_are_throttled_across_addresses(
    guarded_app, db, program, auth_log
):
    key = mint_api_key(program=program, role="processor", name="p", created_by="t").secret
    db.session.commit()
    prefix = key.split("_")[1]
    wrong = f"rwk_{prefix}_{'x' * 43}"
    with guarded_app.test_client() as client:
        attempts = [
            client.get("/v1/batches/1", headers=bearer(wrong),
                       environ_base={"REMOTE_ADDR": f"10.3.0.{n}"})
            for n in range(1, 5)
        ]  # fmt: skip
        owner = client.get(
            "/v1/batches/1", headers=bearer(key), environ_base={"REMOTE_ADDR": "10.3.1.1"}
        )
    assert [r.status_code for r in attempts[:3]] == [401, 401, 401]
    _assert_429(attempts[3])
    # The owner, from its own address, is not locked out by someone else's guessing.
    assert owner.status_code == 404
    assert any(prefix in r.getMessage() and r.levelno == logging.ERROR for r in auth_log.records)


def test_behind_a_trusted_proxy_the_forwarded_client_is_throttled(app_config, program):
    """With PROXY_HOPS=1 every request comes from the proxy's address: one guesser must not
    lock out everyone behind it, and must not escape by changing what it forwards itself."""
    app = _limited(
        app_config, RATE_LIMIT="1000 per minute", AUTH_FAILURE_LIMIT="2 per minute", PROXY_HOPS=1
    )
    proxy = {"REMOTE_ADDR": "10.9.0.1"}

    def via_proxy(client, client_address: str, token: str):
        headers = {**bearer(token), "X-Forwarded-For": client_address}
        return client.get(PROGRAM_URL, headers=headers, environ_base=proxy)

    forged = _marketer()[:-3] + "xyz"
    with app.test_client() as client:
        guesses = [via_proxy(client, "203.0.113.7", forged) for _ in range(3)]
        # A client's own X-Forwarded-For entry is not trusted: the proxy appends the real one.
        spoofed = client.get(
            PROGRAM_URL,
            headers={**bearer(forged), "X-Forwarded-For": "1.2.3.4, 203.0.113.7"},
            environ_base=proxy,
        )
        neighbour = via_proxy(client, "203.0.113.8", _marketer())
    assert [r.status_code for r in guesses[:2]] == [401, 401]
    _assert_429(guesses[2])
    _assert_429(spoofed)
    assert neighbour.status_code == 200


def test_an_unreachable_identity_provider_throttles_nobody(app_config, program, auth_log):
    app = _limited(
        app_config,
        RATE_LIMIT="1000 per minute",
        AUTH_FAILURE_LIMIT="2 per minute",
        JWT_SECRET=None,
        JWT_JWKS_URL="http://127.0.0.1:1/.well-known/jwks.json",  # nothing listens there
    )
    token = jwt.encode(
        {"sub": "m", "program": "youth", "roles": ["marketer"]},
        "x" * 40,
        algorithm="HS256",
        headers={"kid": "idp-1"},
    )
    with app.test_client() as client:
        statuses = [
            client.get(PROGRAM_URL, headers=bearer(token), environ_base={"REMOTE_ADDR": "10.4.0.1"})
            for _ in range(4)
        ]
    assert [r.status_code for r in statuses] == [401] * 4
    assert "cannot be checked" in statuses[0].json["detail"]
    assert any("JWKS" in r.getMessage() for r in auth_log.records)

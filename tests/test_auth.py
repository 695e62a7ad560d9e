"""Authentication: HS256 and RS256 (JWKS) tokens, API keys, role checks and the access CLI."""

from __future__ import annotations

import base64
import json
import threading
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from jwt.warnings import InsecureKeyLengthWarning
from sqlalchemy import select

from api import create_app
from rewards.models import ApiKey, AuditLog, Program
from tests.conftest import JWT_SECRET, bearer, make_token

PROGRAM_URL = "/v1/programs/youth"


def _assert_401(response) -> None:
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert response.json["status"] == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def _unsigned(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _hs512(claims: dict[str, Any]) -> str:
    """Signed with the right secret but an algorithm the server does not accept."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, JWT_SECRET, algorithm="HS512")


def _claims(**extra: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    claims = {"sub": "mkt-1", "program": "youth", "roles": ["marketer"], "iat": now}
    return {**claims, "exp": now + 300, **extra}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Token abc"},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Bearer rwk_nope_nope"},
        {"Authorization": "Bearer not.a.jwt"},
    ],
    ids=["missing", "empty", "no-credential", "other-scheme", "bad-basic", "bad-key", "garbage"],
)
def test_missing_or_malformed_credentials_are_401(client, program, headers):
    _assert_401(client.get(PROGRAM_URL, headers=headers))


def test_valid_marketer_token_is_accepted(client, program, marketer_headers):
    assert client.get(PROGRAM_URL, headers=marketer_headers).status_code == 200


@pytest.mark.parametrize(
    "token",
    [
        lambda: make_token(sub="m", program="youth", roles=["marketer"], expires_in=-60),
        lambda: make_token(
            sub="m",
            program="youth",
            roles=["marketer"],
            secret="another-secret-that-is-also-long-enough-x",
        ),
        lambda: _unsigned(_claims()),
        lambda: _hs512(_claims()),
        lambda: make_token(sub="m", program="elsewhere", roles=["marketer"]),
        lambda: make_token(sub="m", program="youth", roles=["superuser"]),
        lambda: make_token(sub="m", program="youth", roles="marketer"),
        lambda: jwt.encode({k: v for k, v in _claims().items() if k != "exp"}, JWT_SECRET),
        lambda: jwt.encode({k: v for k, v in _claims().items() if k != "sub"}, JWT_SECRET),
    ],
    ids=[
        "expired",
        "forged",
        "alg-none",
        "alg-hs512",
        "unknown-program",
        "unknown-role",
        "roles-not-a-list",
        "no-exp",
        "no-sub",
    ],
)
def test_bad_tokens_are_401(client, program, token):
    _assert_401(client.get(PROGRAM_URL, headers=bearer(token())))


def _signed(**claims: Any) -> str:
    return jwt.encode(_claims(**claims), JWT_SECRET, algorithm="HS256")


def _now() -> int:
    return int(datetime.now(UTC).timestamp())


DAY = 24 * 3600


@pytest.mark.parametrize(
    ("token", "says"),
    [
        (lambda: _signed(exp=str(_now() + 300)), "must be numbers"),
        (lambda: _signed(iat=str(_now())), "must be numbers"),
        (lambda: _signed(iat=float("nan")), "must be numbers"),
        (lambda: _signed(exp=float("inf")), "invalid"),
        (lambda: jwt.encode({k: v for k, v in _claims().items() if k != "iat"}, JWT_SECRET),
         "invalid"),
        (lambda: _signed(iat=_now(), exp=_now() + DAY + 1), "lifetime"),
        (lambda: _signed(iat=_now() - 3600, exp=_now() + 30 * DAY), "lifetime"),
        (lambda: _signed(iat=_now() + 300, exp=_now() + 600), "not valid yet"),
    ],
    ids=["exp-string", "iat-string", "iat-nan", "exp-infinite", "no-iat", "lifetime-over-24h",
         "lifetime-30-days", "iat-in-the-future"],
)  # fmt: skip
def test_tokens_with_bad_times_are_401(client, program, token, says):
    response = client.get(PROGRAM_URL, headers=bearer(token()))
    _assert_401(response)
    assert says in response.json["detail"]


def test_token_times_at_the_edges_are_accepted(client, program):
    """Exactly the 24 h cap, and an `iat` a few seconds ahead (the issuer's clock) are fine."""
    for token in (_signed(iat=_now(), exp=_now() + DAY), _signed(iat=_now() + 10)):
        assert client.get(PROGRAM_URL, headers=bearer(token)).status_code == 200


def test_the_lifetime_cap_is_configurable(app_config, program):
    strict = create_app({**app_config, "JWT_MAX_LIFETIME": 3600})
    with strict.test_client() as client:
        hour = client.get(PROGRAM_URL, headers=bearer(_signed(exp=_now() + 3600)))
        two = client.get(PROGRAM_URL, headers=bearer(_signed(exp=_now() + 7200)))
    assert hour.status_code == 200
    _assert_401(two)
    assert "3600" in two.json["detail"]


def test_expired_token_says_so(client, program):
    token = make_token(sub="m", program="youth", roles=["marketer"], expires_in=-60)
    assert "expired" in client.get(PROGRAM_URL, headers=bearer(token)).json["detail"]


def test_api_key_works_as_bearer_and_as_basic_password(client, program, processor_headers):
    key = processor_headers["Authorization"].removeprefix("Bearer ")
    basic = base64.b64encode(f"processor:{key}".encode()).decode()
    for headers in (processor_headers, {"Authorization": f"Basic {basic}"}):
        response = client.post("/v1/customers", json={"external_ref": "c-1"}, headers=headers)
        assert response.status_code in (200, 201)
    tampered = key[:-2] + ("AA" if not key.endswith("AA") else "BB")
    _assert_401(client.post("/v1/customers", json={"external_ref": "c"}, headers=bearer(tampered)))


def test_cardholder_token_is_403_on_staff_and_processor_endpoints(
    client, program, cardholder_headers
):
    calls = [
        ("get", "/v1/programs"),
        ("get", PROGRAM_URL),
        ("post", "/v1/api-keys"),
        ("post", "/v1/customers"),
        ("post", "/v1/customers/cust-1/cards"),
        ("get", "/v1/customers/cust-1"),
    ]
    for method, url in calls:
        response = getattr(client, method)(url, json={}, headers=cardholder_headers)
        assert response.status_code == 403, url
        assert response.content_type == "application/problem+json"


# --- RS256 through a JWKS document ------------------------------------------------------


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return _rsa_key()


@pytest.fixture
def jwks_url(signing_key) -> Iterator[str]:
    """The identity provider's JWKS, served over HTTP on loopback (PyJWKClient needs http)."""
    jwk = json.loads(RSAAlgorithm.to_jwk(signing_key.public_key()))
    jwk.update(kid="idp-1", use="sig", alg="RS256")
    document = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    server.shutdown()
    server.server_close()


@pytest.fixture
def jwks_app(app_config, jwks_url):
    """A second app on the same database that trusts RS256 tokens from the JWKS only."""
    return create_app({**app_config, "JWT_JWKS_URL": jwks_url, "JWT_SECRET": None})


def _rs256(key: rsa.RSAPrivateKey, kid: str = "idp-1", **claims: Any) -> str:
    return jwt.encode(_claims(**claims), key, algorithm="RS256", headers={"kid": kid})


def test_rs256_token_from_jwks_is_accepted(jwks_app, program, signing_key):
    with jwks_app.test_client() as client:
        response = client.get(PROGRAM_URL, headers=bearer(_rs256(signing_key)))
    assert response.status_code == 200
    assert response.json["slug"] == "youth"


def test_jwks_app_refuses_other_keys_and_hs256(jwks_app, program, signing_key):
    forged = _rs256(_rsa_key())  # right kid, wrong key
    unknown_kid = _rs256(signing_key, kid="idp-9")
    hs256 = make_token(sub="m", program="youth", roles=["marketer"])
    expired = _rs256(signing_key, exp=int(datetime.now(UTC).timestamp()) - 60)
    with jwks_app.test_client() as client:
        for token in (forged, unknown_kid, hs256, expired, _unsigned(_claims())):
            _assert_401(client.get(PROGRAM_URL, headers=bearer(token)))


# --- the operator CLI ---------------------------------------------------------------------


def test_cli_mint_token_is_accepted_by_the_api(app, client, program):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["mint-token", "--sub", "mkt-9", "--program", "youth", "--role", "marketer"]
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert client.get(PROGRAM_URL, headers=bearer(token)).status_code == 200


def test_cli_mint_token_refuses_without_secret_or_program(app, program, monkeypatch):
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["mint-token", "--sub", "c", "--role", "cardholder"])
    assert refused.exit_code != 0 and "--program" in refused.output
    unknown = runner.invoke(
        args=["mint-token", "--sub", "c", "--program", "x", "--role", "marketer"]
    )
    assert unknown.exit_code != 0 and "not found" in unknown.output
    monkeypatch.setitem(app.config, "JWT_SECRET", None)
    result = runner.invoke(args=["mint-token", "--sub", "ops", "--role", "admin"])
    assert result.exit_code != 0
    assert "JWT_SECRET" in result.output


def test_cli_mint_token_refuses_a_lifetime_the_api_would_refuse(app, client, program):
    runner = app.test_cli_runner()
    longest = app.config["JWT_MAX_LIFETIME"]
    base = ["mint-token", "--sub", "mkt-9", "--program", "youth", "--role", "marketer"]
    refused = runner.invoke(args=[*base, "--ttl", str(longest + 1)])
    assert refused.exit_code != 0 and "JWT_MAX_LIFETIME" in refused.output
    result = runner.invoke(args=[*base, "--ttl", str(longest)])
    assert result.exit_code == 0, result.output
    assert client.get(PROGRAM_URL, headers=bearer(result.output.strip())).status_code == 200


def test_cli_create_program_and_key(app, client, db):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "create-program",
            "--slug", "glow",
            "--name", "Glow Card",
            "--currency", "EUR",
            "--earn-rate", "1.5",
            "--timezone", "Europe/Paris",
            "--expiry-months", "24",
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    program = db.session.scalar(select(Program).where(Program.slug == "glow"))
    assert str(program.earn_rate.normalize()) == "1.5" and program.expiry_months == 24
    audit = db.session.scalar(select(AuditLog))
    assert audit.action == "program.create" and audit.actor.startswith("cli:")

    key_result = runner.invoke(
        args=["create-api-key", "--program", "glow", "--role", "processor", "--name", "Acme"]
    )
    assert key_result.exit_code == 0, key_result.output
    key = key_result.stdout.strip().splitlines()[-1]
    assert key.startswith("rwk_")
    assert db.session.scalar(select(ApiKey)).secret_hash not in key_result.output
    enrol = client.post("/v1/customers", json={"external_ref": "c-1"}, headers=bearer(key))
    assert enrol.status_code == 201


def test_cli_reports_bad_settings_by_field(app, db):
    runner = app.test_cli_runner()
    args = ["create-program", "--slug", "Bad!", "--name", "X", "--currency", "ABC"]
    result = runner.invoke(args=[*args, "--earn-rate", "-2"])
    assert result.exit_code != 0
    for field in ("slug", "currency", "earn_rate"):
        assert field in result.output
    assert db.session.scalar(select(Program)) is None

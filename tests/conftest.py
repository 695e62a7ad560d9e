"""Fixtures: a throw-away PostgreSQL database built by the migrations, Redis, clients and tokens."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import jwt
import psycopg
import pytest
from flask import Flask
from flask_migrate import upgrade
from redis import Redis
from redis.exceptions import RedisError
from rq import SimpleWorker
from sqlalchemy import text
from sqlalchemy.engine import make_url

from api import create_app
from campaigns.challenges.feed import forget_challenge_sets
from campaigns.earning.feed import forget_rulesets
from rewards.access import mint_api_key
from rewards.db import db as _db
from rewards.models import Partner, Program
from tests.factories import ProgramFactory, bind_factories

TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
JWT_SECRET = "test-secret-that-is-long-enough-for-hs256"


def _admin_conninfo() -> str:
    return make_url(TEST_DATABASE_URL).set(drivername="postgresql").render_as_string(False)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """Create a uniquely named database for this run and drop it afterwards."""
    name = f"rewards_test_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(TEST_DATABASE_URL).set(drivername="postgresql+psycopg", database=name)
    yield url.render_as_string(False)
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def app_config(database_url: str) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": TEST_REDIS_URL,
        "JOBS_INLINE": False,
        "QUEUE_PREFIX": f"rewards-test-{os.getpid()}",
        "JWT_SECRET": JWT_SECRET,
        "JWT_JWKS_URL": None,
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": TEST_REDIS_URL,
    }


@pytest.fixture(scope="session")
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    """The app, bound to the test database, migrated to head by the real migrations."""
    app = create_app(app_config)
    with app.app_context():
        upgrade(directory=app.config["MIGRATIONS_DIR"])
        bind_factories(_db.session)
        yield app


@pytest.fixture(autouse=True)
def _clean_state(app: Flask) -> Iterator[None]:
    """Each test starts with empty tables and empty queues."""
    yield
    _db.session.rollback()
    _db.session.remove()
    app.extensions.pop("program_refs", None)  # ids restart with every truncate
    forget_rulesets()
    forget_challenge_sets()  # cached per (program, revision): ids restart with every truncate
    tables = ", ".join(f'"{t.name}"' for t in _db.metadata.sorted_tables)
    with _db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Sessions of worker processes a test killed may linger with their locks (see
            # tests/process_helpers.py `end_backends`): they must not deadlock the TRUNCATE.
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() "
                    "AND application_name LIKE 'rewards-test-worker%'"
                )
            )
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    redis = Redis.from_url(TEST_REDIS_URL)
    prefix = app.config["QUEUE_PREFIX"]
    for pattern in (f"rq:*{prefix}*", f"{prefix}*"):
        keys = list(redis.scan_iter(pattern, count=1000))
        if keys:
            redis.delete(*keys)


@pytest.fixture
def db(app: Flask):
    """The Flask-SQLAlchemy handle (session is the unit of work)."""
    return _db


@pytest.fixture
def redis() -> Redis:
    return Redis.from_url(TEST_REDIS_URL)


@pytest.fixture
def run_jobs(app: Flask):
    """Drain every queue in this process (a real RQ worker in burst mode, without forking)."""

    def run() -> int:
        queues = app.extensions["rewards_queues"].all_queues()
        worker = SimpleWorker(queues, connection=queues[0].connection)
        worker.work(burst=True)
        _db.session.remove()
        return sum(q.count for q in queues)

    return run


@pytest.fixture
def program(db):
    """A program with 1 point per major unit, no pending period, 12-month expiry."""
    program = ProgramFactory(slug="youth", pending_days=0, expiry_months=12)
    db.session.commit()
    # A detached copy of the columns: jobs end their session, which would expire an ORM row.
    return SimpleNamespace(**{c.key: getattr(program, c.key) for c in Program.__table__.columns})


def make_token(
    *,
    sub: str,
    program: str | None,
    roles: list[str],
    expires_in: int = 600,
    secret: str = JWT_SECRET,
    **extra: Any,
) -> str:
    """A signed HS256 JWT as the identity provider would issue it."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": sub,
        "roles": roles,
        "iat": now,
        "exp": now + timedelta(seconds=expires_in),
        **extra,
    }
    if program is not None:
        claims["program"] = program
    return jwt.encode(claims, secret, algorithm="HS256")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return bearer(make_token(sub="ops-1", program=None, roles=["admin"]))


@pytest.fixture
def marketer_headers(program) -> dict[str, str]:
    return bearer(make_token(sub="mkt-1", program=program.slug, roles=["marketer"]))


@pytest.fixture
def cardholder_headers(program):
    """Headers for the cardholder with external ref `cust-1` (create the customer yourself)."""
    return bearer(make_token(sub="cust-1", program=program.slug, roles=["cardholder"]))


@pytest.fixture
def processor_headers(db, program) -> dict[str, str]:
    minted = mint_api_key(program=program, role="processor", name="processor", created_by="test")
    db.session.commit()
    return bearer(minted.secret)


@pytest.fixture
def partner_key(db, program):
    """`partner_key(code)`: headers of a new key acting for the program's partner `code`, which
    must exist and be active (e.g. made with tests/perk_helpers.py `make_partner`)."""

    def mint(code: str) -> dict[str, str]:
        minted = mint_api_key(
            program=program, role="partner", name=code, created_by="test", partner_code=code
        )
        db.session.commit()
        return bearer(minted.secret)

    return mint


@pytest.fixture
def partner_headers(db, program, partner_key) -> dict[str, str]:
    """Headers of a key acting for the program's active partner `partner-one` ("Partner One"),
    stored directly (no audit row, no rules revision).

    Not `star-cafe`: tests create that one through the marketer API (`make_partner`) after
    the fixtures ran, which a partner of the same code would turn into a 409. For a key of
    star-cafe, create it first, then call `partner_key("star-cafe")`.
    """
    db.session.add(
        Partner(program_id=program.id, code="partner-one", name="Partner One", created_by="test")
    )
    db.session.flush()
    return partner_key("partner-one")


@pytest.fixture
def launch(client, marketer_headers):
    """Create and activate a campaign through the marketer API; returns its id."""

    def launch(**definition: Any) -> int:
        body = {
            "name": "Dining 3x",
            "starts_at": (datetime.now(UTC) - timedelta(days=30)).isoformat(),
            "effect": {"type": "multiplier", "value": "3"},
            **definition,
        }
        created = client.post("/v1/campaigns", json=body, headers=marketer_headers)
        assert created.status_code == 201, created.json
        campaign_id = created.json["id"]
        activated = client.post(f"/v1/campaigns/{campaign_id}/activate", headers=marketer_headers)
        assert activated.status_code == 200, activated.json
        return campaign_id

    return launch


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def private_redis(tmp_path) -> Iterator[Redis]:
    """A Redis server of this test's own: FLUSHDB here touches nobody else's queues."""
    port = _free_port()
    server = subprocess.Popen(
        [
            *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", str(tmp_path)),
        ],
        stdout=subprocess.DEVNULL,
    )
    client = Redis(port=port)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except RedisError:  # not listening yet
            return False

    try:
        deadline = time.monotonic() + 10
        while not answers():
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        yield client
    finally:
        server.terminate()
        server.wait(timeout=10)

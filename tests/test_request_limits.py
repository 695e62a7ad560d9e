"""Oversized request lines and headers answer problem+json: from the app below gunicorn's
limits, and from gunicorn itself (through the repo's gunicorn.conf.py) above them.

The gunicorn tests start a real gunicorn on a loopback port from the repository root, as
production does, and speak raw HTTP over a socket (an HTTP client library would refuse to
send such requests).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.request_limits import MAX_HEADER_FIELD_BYTES, MAX_HEADER_FIELDS, MAX_URL_BYTES

ROOT = Path(__file__).resolve().parent.parent


def _assert_problem(response, status: int) -> None:
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    assert response.json["status"] == status


# --- the app's own limits (any server) -----------------------------------------------------


def test_a_request_target_over_the_limit_is_414(client):
    _assert_problem(client.get("/healthz?q=" + "a" * MAX_URL_BYTES), 414)
    assert client.get("/healthz?q=" + "a" * (MAX_URL_BYTES - 20)).status_code == 200


def test_a_header_field_over_the_limit_is_431(client):
    big = {"X-Big": "b" * (MAX_HEADER_FIELD_BYTES + 1)}
    response = client.get("/healthz", headers=big)
    _assert_problem(response, 431)
    assert "header field" in response.json["detail"]


def test_too_many_header_fields_is_431(client):
    many = {f"X-H{n}": "v" for n in range(MAX_HEADER_FIELDS + 1)}
    _assert_problem(client.get("/healthz", headers=many), 431)


def test_headers_too_large_together_is_431(client):
    """Each below the per-field limit, together above 32 KiB."""
    fields = {f"X-H{n}": "v" * 4000 for n in range(9)}
    _assert_problem(client.get("/healthz", headers=fields), 431)


def test_an_oversized_authorization_header_is_refused_before_authentication(
    client, program, caplog
):
    response = client.get("/v1/programs/youth", headers={"Authorization": "Bearer " + "x" * 10_000})
    _assert_problem(response, 431)
    assert "authentication failed" not in caplog.text


# --- a real gunicorn ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def gunicorn_port(database_url) -> Iterator[int]:
    """gunicorn serving wsgi:app from the repository root (so it reads gunicorn.conf.py)."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "RATE_LIMIT_ENABLED": "0",
        "JWT_SECRET": "x" * 40,
    }
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            status, _, _ = _send(port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            if status == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("gunicorn did not start: " + proc.stderr.read().decode()[-2000:])
        time.sleep(0.2)  # waiting for the server to listen, not for an interesting moment
    yield port
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def _send(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `raw` and read the whole answer (the server closes or says Content-Length)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
        }
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(lines[0].split()[1]), headers, body


def _problem_over_gunicorn(port: int, raw: bytes, status: int) -> dict:
    got, headers, body = _send(port, raw)
    assert got == status, body[:300]
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == status
    assert b"<html" not in body.lower()
    return problem


def _get(target: bytes = b"/healthz", headers: bytes = b"") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\n"


def _fields(count: int) -> bytes:
    return b"".join(b"X-H%d: v\r\n" % n for n in range(count))


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        # Over our limit, under gunicorn's: the app answers.
        pytest.param(_get(b"/healthz?q=" + b"a" * 5000), 414, id="line-over-ours"),
        pytest.param(_get(headers=b"X-Big: " + b"b" * 10_000 + b"\r\n"), 431, id="field-over-ours"),
        pytest.param(_get(headers=_fields(150)), 431, id="fields-over-ours"),
        # Over gunicorn's own limits: gunicorn answers, through gunicorn.conf.py.
        pytest.param(_get(b"/healthz?q=" + b"a" * 9000), 414, id="line-over-gunicorns"),
        pytest.param(
            _get(headers=b"X-Big: " + b"b" * 20_000 + b"\r\n"), 431, id="field-over-gunicorns"
        ),
        pytest.param(_get(headers=_fields(250)), 431, id="fields-over-gunicorns"),
        pytest.param(b"NOT HTTP AT ALL\r\n\r\n", 400, id="garbage-line"),
    ],
)
def test_gunicorn_answers_oversized_requests_with_problem_json(gunicorn_port, raw, status):
    _problem_over_gunicorn(gunicorn_port, raw, status)


def test_gunicorn_does_not_echo_the_request_line(gunicorn_port):
    marker = b"4111111111111111"
    raw = b"GET /healthz?card=" + marker + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n"
    _, _, body = _send(gunicorn_port, raw)
    assert marker not in body


def test_gunicorn_serves_normal_requests(gunicorn_port):
    status, _, body = _send(gunicorn_port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    assert status == 200 and json.loads(body) == {"status": "ok"}

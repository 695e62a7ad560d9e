"""Request-line and header limits, answered as problem+json by the app itself.

gunicorn refuses oversized request lines and headers with its own HTML page, before the app
sees them. Its limits (gunicorn.conf.py) are therefore set ABOVE the ones here, so that a
request over our limit still reaches the app and gets a problem+json 414/431; what is over
even gunicorn's limits is answered by `write_problem`, which gunicorn.conf.py installs in
place of gunicorn's HTML error page.
"""

from __future__ import annotations

import json
import socket
from http import HTTPStatus

from flask import Flask, Response, current_app, request

from api.errors import PROBLEM_BASE, PROBLEM_JSON, problem

# Ours; gunicorn.conf.py sets gunicorn's own limits above these.
MAX_URL_BYTES = 4096
MAX_HEADER_FIELD_BYTES = 8192
MAX_HEADER_FIELDS = 100
MAX_HEADER_BYTES = 32 * 1024


def _url_bytes() -> int:
    environ = request.environ
    # gunicorn keeps the request target as sent; elsewhere rebuild it from path and query.
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw is None:
        query = environ.get("QUERY_STRING", "")
        raw = environ.get("PATH_INFO", "") + ("?" + query if query else "")
    return len(raw.encode("latin-1", "replace"))


def _header_problem() -> str | None:
    """Why the request's headers are too large, or None."""
    config = current_app.config
    fields = [(key, value) for key, value in request.environ.items() if key.startswith("HTTP_")]
    if len(fields) > config["MAX_HEADER_FIELDS"]:
        return f"At most {config['MAX_HEADER_FIELDS']} header fields."
    total = 0
    for key, value in fields:
        size = len(key) - len("HTTP_") + len(str(value))
        if size > config["MAX_HEADER_FIELD_BYTES"]:
            return f"Each header field at most {config['MAX_HEADER_FIELD_BYTES']} bytes."
        total += size
    if total > config["MAX_HEADER_BYTES"]:
        return f"All header fields together at most {config['MAX_HEADER_BYTES']} bytes."
    return None


def refuse_oversized_request() -> Response | None:
    """414 for a request target over MAX_URL_BYTES, 431 for headers over their limits."""
    limit = current_app.config["MAX_URL_BYTES"]
    if _url_bytes() > limit:
        return problem(414, f"The request target (path and query) is at most {limit} bytes.")
    reason = _header_problem()
    if reason:
        return problem(431, reason)
    return None


def init_app(app: Flask) -> None:
    """Check sizes before any other hook: the rate limiter authenticates from the headers."""
    app.config.setdefault("MAX_URL_BYTES", MAX_URL_BYTES)
    app.config.setdefault("MAX_HEADER_FIELD_BYTES", MAX_HEADER_FIELD_BYTES)
    app.config.setdefault("MAX_HEADER_FIELDS", MAX_HEADER_FIELDS)
    app.config.setdefault("MAX_HEADER_BYTES", MAX_HEADER_BYTES)
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_oversized_request)


# --- gunicorn's own refusals -------------------------------------------------------------

_SERVER_DETAILS = {
    400: "The request could not be parsed.",
    414: "The request line is too long.",
    431: "The request's header fields are too large or too many.",
}


def write_problem(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for `gunicorn.util.write_error`: the same answer as problem+json.

    `mesg` is not echoed: gunicorn puts the offending request line or header in it, and that
    may carry anything a client sent (a card number in a query string).
    """
    from gunicorn.util import write_nonblock

    try:
        title = HTTPStatus(status_int).phrase
    except ValueError:
        title = reason
    body = {
        "type": PROBLEM_BASE
        + {414: "uri-too-long", 431: "headers-too-large"}.get(
            status_int, "bad-request" if status_int < 500 else "internal-error"
        ),
        "title": title,
        "status": status_int,
        "detail": _SERVER_DETAILS.get(status_int, title + "."),
    }
    payload = json.dumps(body).encode()
    head = (
        f"HTTP/1.1 {status_int} {title}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_JSON}\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    write_nonblock(sock, head.encode("latin-1") + payload)

"""RFC 9457 problem details for every error the API returns, and the domain-error table."""

from __future__ import annotations

import logging
from typing import Any

import marshmallow as ma
from flask import Flask, Response, json
from flask_smorest import Api
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException, InternalServerError

from rewards import errors as domain
from rewards.db import db
from rewards.sealing import SealingError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://rewards.example/problems/"

# One row per domain error: HTTP status and the problem type's slug.
DOMAIN_ERRORS: dict[type[domain.DomainError], tuple[int, str]] = {
    domain.NotFound: (404, "not-found"),
    domain.Conflict: (409, "conflict"),
    domain.InvalidInput: (422, "validation-error"),
    domain.PermissionDenied: (403, "forbidden"),
}

HTTP_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    414: "uri-too-long",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "too-many-requests",
    431: "headers-too-large",
    500: "internal-error",
}


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details (documentation only)."""

    type = ma.fields.String(required=True, metadata={"description": "URI naming the problem type"})
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String()
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "Field path → list of messages, for validation errors"},
    )
    rule = ma.fields.String(
        metadata={"description": "Refused redemptions: the rule that refused (min_age, stock...)"}
    )
    points_missing = ma.fields.Integer(
        metadata={"description": "Refused redemptions (insufficient-points): how many more"}
    )
    voucher_status = ma.fields.String(
        metadata={"description": "voucher-not-usable: used, expired or cancelled"}
    )
    used_at = ma.fields.String(
        metadata={"format": "date-time", "description": "voucher-not-usable: when it was used"}
    )


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested messages into `{"a.0.b": ["msg"]}` field paths."""
    if isinstance(messages, dict):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_errors(value, path))
        return flat
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "_body": list(messages)}
    return {prefix or "_body": [str(messages)]}


def problem(
    status: int,
    detail: str | None = None,
    *,
    errors: dict[str, list[str]] | None = None,
    title: str | None = None,
    slug: str | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> Response:
    """Build an `application/problem+json` response; `extensions` are RFC 9457 extension
    members (e.g. `points_missing`)."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (slug or HTTP_SLUGS.get(status, "error")),
        "title": title or _title(status),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body.update(extensions or {})
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class ProblemApi(Api):
    """flask-smorest Api whose errors (including webargs validation) are problem+json."""

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_ERROR_RESPONSE_NAME = "DEFAULT_ERROR"

    def handle_http_exception(self, error: HTTPException) -> Response:  # type: ignore[override]
        return http_problem(error)


def http_problem(error: HTTPException) -> Response:
    """Problem response for a werkzeug/webargs HTTP error."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = None
    messages = data.get("errors") or data.get("messages")
    if messages:
        # webargs nests by location ("json", "query"); the field path is what a client needs.
        if isinstance(messages, dict) and set(messages) <= {"json", "query", "form", "files"}:
            merged: dict[str, Any] = {}
            for value in messages.values():
                merged.update(value if isinstance(value, dict) else {"_body": value})
            messages = merged
        errors = flatten_errors(messages)
    detail = data.get("message") or (error.description if status != 500 else None)
    if status == 422 and not data.get("message"):
        detail = "The request body or query failed validation; see errors."
    # werkzeug's own headers (Allow on 405, WWW-Authenticate, Retry-After), not its HTML type.
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    if status == 500:
        detail = "An unexpected error occurred; it has been logged."
    return problem(status, detail, errors=errors, headers=headers)


def register(app: Flask) -> None:
    """Install handlers so that no error leaves the app as HTML or a stack trace."""

    @app.errorhandler(domain.DomainError)
    def handle_domain_error(error: domain.DomainError) -> Response:
        status, slug = _lookup(type(error))
        errors = getattr(error, "errors", None) or (
            {error.field: [error.detail]} if error.field else None
        )
        # A refusal may name a more precise problem type, and carry extension members.
        slug = getattr(error, "slug", None) or slug
        extensions = getattr(error, "extensions", None)
        return problem(status, error.detail, errors=errors, slug=slug, extensions=extensions)

    @app.errorhandler(HTTPException)
    def handle_http(error: HTTPException) -> Response:
        return http_problem(error)

    @app.errorhandler(DataError)
    def handle_data_error(error: DataError) -> Response:
        # A value the database cannot hold (an id beyond 64 bits, a NUL character...): the
        # request is at fault, and nothing of it is kept.
        db.session.rollback()
        return problem(
            400,
            "A value in the request is out of range or contains characters that cannot be stored.",
        )

    @app.errorhandler(SealingError)
    def handle_sealing_error(error: SealingError) -> Response:
        # Sealed data that this process's DATA_KEY cannot open (the key was changed or lost):
        # the server's configuration is at fault, not the request; an operator must act.
        db.session.rollback()
        log.error("sealed data cannot be opened: %s", error)
        return problem(
            503,
            "Stored data cannot be opened with this server's data key; an operator has been "
            "alerted. Try again later.",
            slug="data-key-unavailable",
        )

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        log.exception("unhandled error", exc_info=error)
        return http_problem(InternalServerError())


def _lookup(kind: type[domain.DomainError]) -> tuple[int, str]:
    for cls in kind.__mro__:
        if cls in DOMAIN_ERRORS:
            return DOMAIN_ERRORS[cls]  # type: ignore[index]
    return 400, "bad-request"

"""`Idempotency-Key` for POSTs that move points or stock.

Same key + same body → the stored first response; same key + another body → 409. The stored
response is written in the same DB transaction as the work, so a crash leaves neither; two
concurrent requests with one key serialise on the unique index and the loser replays the winner.
Decorated views must not commit: `idempotent` commits, then runs `after_commit` callbacks
(e.g. enqueueing jobs), so work is never enqueued for rows that were rolled back.

The stored body is sealed (`{"sealed": token}`, rewards/sealing.py): responses carry voucher
codes and personal data, which a database reader must not see. Records from before sealing
hold the plain body and replay as they are.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, current_app, g, json, request
from sqlalchemy import select, text

from api.auth import current_principal
from api.errors import problem
from rewards import sealing
from rewards.db import db, dialect_insert, is_postgres
from rewards.models import IdempotencyRecord

F = TypeVar("F", bound=Callable[..., Any])
HEADER = "Idempotency-Key"
_SEALED = "sealed"


def after_commit(callback: Callable[[], Any]) -> None:
    """Run `callback` once this request's transaction has committed."""
    g.setdefault("after_commit", []).append(callback)


def commit() -> None:
    """Commit the request's unit of work, then run the after-commit callbacks."""
    db.session.commit()
    for callback in g.pop("after_commit", []):
        callback()


def _caller() -> str:
    principal = current_principal()
    return f"{principal.program_id}:{principal.actor}"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(request.path.encode())
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _sealed_body(body: Any) -> dict[str, str]:
    return {_SEALED: sealing.seal(json.dumps(body))}


def _opened_body(stored: Any) -> Any:
    """The response body of a record: unsealed, or as stored by the version before sealing."""
    # No view answers with exactly {"sealed": <string>}, so this shape marks a sealed body.
    if isinstance(stored, dict) and stored.keys() == {_SEALED} and isinstance(stored[_SEALED], str):
        return json.loads(sealing.unseal(stored[_SEALED]))
    return stored


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.request_fingerprint != fingerprint:
        return problem(
            409,
            f"{HEADER} was already used with a different request body.",
            errors={HEADER: ["reused with a different body"]},
            slug="idempotency-key-reused",
        )
    # Written as the first answer was (the app's JSON provider), so a replay is byte for byte.
    first: Response = current_app.json.response(_opened_body(record.response_body))  # type: ignore[assignment]
    response = Response(
        first.get_data(), status=record.response_status, mimetype="application/json"
    )
    response.headers["Idempotent-Replayed"] = "true"
    return response


def idempotent(view: F) -> F:
    """Honour `Idempotency-Key` (optional header, 1-200 characters) on a POST view.

    Put it under `requires(...)`. The view returns `(body, status)` with a JSON-ready body
    (already dumped by its schema, so it can be stored and replayed) and must not commit.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None:
            result = view(*args, **kwargs)
            commit()
            return result
        if not 1 <= len(key) <= 200:
            return problem(
                400, f"{HEADER} must be 1 to 200 characters.", errors={HEADER: ["bad length"]}
            )
        caller, fingerprint = _caller(), _fingerprint()
        _serialise_on_key(caller, key)
        stmt = select(IdempotencyRecord).where(
            IdempotencyRecord.caller == caller, IdempotencyRecord.key == key
        )
        existing = db.session.scalar(stmt)
        if existing is not None:
            return _replay(existing, fingerprint)
        result = view(*args, **kwargs)
        body, status = _split(result)
        inserted = db.session.scalar(
            dialect_insert(IdempotencyRecord)
            .values(
                caller=caller,
                key=key,
                request_fingerprint=fingerprint,
                response_status=status,
                response_body=_sealed_body(body),
            )
            .on_conflict_do_nothing(index_elements=["caller", "key"])
            .returning(IdempotencyRecord.id)
        )
        if inserted is None:  # a concurrent request with this key won: undo ours, replay theirs
            db.session.rollback()
            g.pop("after_commit", None)
            return _replay(db.session.scalar(stmt), fingerprint)  # type: ignore[arg-type]
        commit()
        return result

    return wrapper  # type: ignore[return-value]


def _serialise_on_key(caller: str, key: str) -> None:
    """Make a concurrent twin wait for the first request's commit and then replay it, instead
    of running the view against state the first has changed (e.g. refusing an overdraft)."""
    if is_postgres():
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:lock, 0))"),
            {"lock": f"idempotency:{caller}:{key}"},
        )


def _split(result: Any) -> tuple[Any, int]:
    """(JSON-ready body, status) of a view's return value (flask-smorest has not dumped it yet)."""
    if isinstance(result, tuple):
        body, status = result[0], result[1]
    else:
        body, status = result, 200
    return body, int(status)

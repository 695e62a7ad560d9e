"""Rate limits per caller and the throttle on failed authentication.

A caller is who the credential PROVES it is (the API key's prefix, or the JWT's program and
subject), never the raw `Authorization` header: other whitespace, another scheme spelling or
another Basic username would otherwise open a fresh bucket. Requests without a valid
credential are counted against the client address. The documented limit (`RATE_LIMIT`) is one
bucket per caller across the whole API (flask-limiter's application limit), not one per
endpoint.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter
from limits import RateLimitItem, parse
from redis.exceptions import RedisError


class CallerLimiter(Limiter):
    """flask-limiter whose per-app settings follow the app being initialised.

    The limiter is one module-level object; flask-limiter keeps the key prefix, strategy,
    header switch and default limits of the FIRST app it saw. A process serves one app, but the
    tests build several on purpose (some with tiny limits), and each must get its own buckets
    and only its own limits.
    """

    def init_app(self, app: Flask) -> None:
        """Bind to `app`, taking its RATELIMIT_* settings even after another app was bound."""
        self._key_prefix = None  # type: ignore[assignment]
        self._strategy = None
        self._headers_enabled = None
        # Per-endpoint defaults (RATELIMIT_DEFAULT) of an earlier app must not stay behind.
        self.limit_manager.set_default_limits([])
        super().init_app(app)


def per_caller_limit() -> str:
    """The application-wide limit of the app serving this request (`RATE_LIMIT`)."""
    return str(current_app.config["RATE_LIMIT"])


def client_address() -> str:
    """The client's address (behind a proxy, `PROXY_HOPS` makes this the real client)."""
    return request.remote_addr or "unknown"


def caller_key() -> str:
    """The rate-limit bucket of this request: the authenticated caller, else the address."""
    from api.auth import authenticated_principal  # auth imports this module's throttle

    principal = authenticated_principal()
    if principal is None:
        return "ip:" + client_address()
    if principal.api_key_id is not None:
        return "key:" + principal.subject  # the key's public prefix: unique, never reused
    # Hashed so that an arbitrary long subject cannot make an arbitrary long Redis key.
    person = f"{principal.program_slug or ''}\0{principal.subject}".encode()
    return "user:" + hashlib.sha256(person).hexdigest()[:32]


def drop_retry_after_unless_throttled(response: Response) -> Response:
    """`Retry-After` only on 429: flask-limiter adds it to every response, which tells clients
    to back off when nothing is wrong."""
    if response.status_code != 429:
        response.headers.pop("Retry-After", None)
    return response


def init_app(app: Flask) -> None:
    """Install the response hook; it must run after flask-limiter's own header hook."""
    # Flask runs after_request functions in reverse order of registration: first in the list
    # means last to run, after the limiter has added its headers.
    app.after_request_funcs.setdefault(None, []).insert(0, drop_retry_after_unless_throttled)


# --- failed authentication ---------------------------------------------------------------


def _failure_limit(setting: str) -> RateLimitItem | None:
    """The allowance in config `setting`, or None when limits are off (the test suite, or by
    config)."""
    from api.extensions import limiter

    if not current_app.config.get("RATELIMIT_ENABLED") or not limiter.initialized:
        return None
    return parse(current_app.config[setting])


def _identifiers(kind: str, value: str) -> tuple[str, ...]:
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX") or ""
    return (prefix, "auth-failures", kind, value)


def _wait(kind: str, value: str, setting: str) -> int | None:
    """Seconds until `kind:value` may try again under `setting`, None if it may now. Fails
    open: with Redis unreachable nothing is throttled (like the limits)."""
    from api.extensions import limiter

    item = _failure_limit(setting)
    if item is None:
        return None
    ids = _identifiers(kind, value)
    try:
        if limiter.limiter.test(item, *ids):
            return None
        reset_at = limiter.limiter.get_window_stats(item, *ids).reset_time
    except (RedisError, OSError):
        return None
    return max(1, math.ceil(reset_at - time.time()))


def _hit(kind: str, value: str, setting: str) -> None:
    from api.extensions import limiter

    item = _failure_limit(setting)
    if item is None:
        return
    # Fail open, as above; the failure itself is still logged by the caller.
    with contextlib.suppress(RedisError, OSError):
        limiter.limiter.hit(item, *_identifiers(kind, value))


def auth_failure_wait(kind: str, value: str) -> int | None:
    """Seconds until `kind:value` (an address or key prefix) may try again, None if it may now."""
    return _wait(kind, value, "AUTH_FAILURE_LIMIT")


def record_auth_failure(kind: str, value: str) -> None:
    """Count one failed authentication against `kind:value`."""
    _hit(kind, value, "AUTH_FAILURE_LIMIT")


# --- voucher look-ups that miss ----------------------------------------------------------


def voucher_miss_wait(partner_id: int, key_prefix: str) -> int | None:
    """Seconds this partner key is locked out of voucher look-ups after too many misses, None
    if it may look up now: codes cannot be enumerated. Each key has its allowance
    (`VOUCHER_MISS_LIMIT`: one till's typos lock only that till) and the partner's keys
    together a larger one (`VOUCHER_MISS_PARTNER_LIMIT`: more keys buy no more guesses)."""
    waits = [
        _wait("voucher-miss-key", key_prefix, "VOUCHER_MISS_LIMIT"),
        _wait("voucher-miss", str(partner_id), "VOUCHER_MISS_PARTNER_LIMIT"),
    ]
    return max((w for w in waits if w is not None), default=None)


def record_voucher_miss(partner_id: int, key_prefix: str) -> None:
    """Count one voucher look-up that matched nothing, against the key and its partner."""
    _hit("voucher-miss-key", key_prefix, "VOUCHER_MISS_LIMIT")
    _hit("voucher-miss", str(partner_id), "VOUCHER_MISS_PARTNER_LIMIT")

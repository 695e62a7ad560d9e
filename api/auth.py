"""Authentication and role checks: JWTs for people, API keys for processors and partners."""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import jwt
from flask import current_app, g, request
from jwt.types import Options
from sqlalchemy import select
from werkzeug.exceptions import Forbidden, HTTPException, TooManyRequests, Unauthorized

from api.ratelimit import auth_failure_wait, client_address, record_auth_failure
from rewards.access import acting_partner_id, touch_api_key, verify_api_key
from rewards.db import db
from rewards.models import ApiKey, Program

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger(__name__)

PERSON_ROLES = ("cardholder", "marketer", "admin")

# OpenAPI security schemes; views reference them by name.
SECURITY_SCHEMES = {
    "bearerJWT": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "apiKey": {"type": "http", "scheme": "bearer", "description": "rwk_<prefix>_<secret>"},
    "basicApiKey": {"type": "http", "scheme": "basic", "description": "password = API key"},
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a person from a JWT or a system from an API key."""

    subject: str
    roles: frozenset[str]
    program_id: int | None
    program_slug: str | None
    api_key_id: int | None = None
    partner_id: int | None = None  # the active partner a partner key acts for
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"key:{self.subject}" if self.api_key_id else f"user:{self.subject}"


class _Unauthorized(Unauthorized):
    """401 with the challenge header. `guess` marks a credential that proves nothing (forged,
    malformed, unknown key): those count towards the failure throttle. A validly signed token
    that is refused (expired, unknown program, bad times) is the issuer's or client's bug."""

    def __init__(self, detail: str, *, guess: bool = True) -> None:
        super().__init__(detail)
        self.guess = guess
        self.data = {"headers": {"WWW-Authenticate": 'Bearer realm="rewards"'}}


class _TooManyFailures(TooManyRequests):
    def __init__(self, seconds: int) -> None:
        super().__init__("Too many failed authentication attempts; try again later.")
        self.data = {"headers": {"Retry-After": str(seconds)}}


def _jwks_client(url: str) -> jwt.PyJWKClient:
    clients = current_app.extensions.setdefault("jwks_clients", {})
    if url not in clients:
        clients[url] = jwt.PyJWKClient(url, cache_keys=True, lifespan=300)
    return clients[url]


def decode_jwt(token: str) -> dict[str, Any]:
    """Verify the signature, `exp` and `iat` (numbers; `iat` not in the future; lifetime at
    most `JWT_MAX_LIFETIME`) and, when configured, audience and issuer; return the claims."""
    config = current_app.config
    # `iat` is checked below with leeway for the issuer's clock; `exp` stays exact.
    options: Options = {"require": ["sub", "exp", "iat"], "verify_iat": False}
    kwargs: dict[str, Any] = {"audience": config["JWT_AUDIENCE"], "issuer": config["JWT_ISSUER"]}
    if not config["JWT_AUDIENCE"]:
        options["verify_aud"] = False
        kwargs.pop("audience")
    if not config["JWT_ISSUER"]:
        kwargs.pop("issuer")
    try:
        if config["JWT_JWKS_URL"]:
            key = _jwks_client(config["JWT_JWKS_URL"]).get_signing_key_from_jwt(token).key
            claims = jwt.decode(token, key, algorithms=["RS256"], options=options, **kwargs)
        elif not config["JWT_SECRET"]:
            raise _Unauthorized("JWT authentication is not configured on this server.", guess=False)
        else:
            claims = jwt.decode(
                token, config["JWT_SECRET"], algorithms=["HS256"], options=options, **kwargs
            )
    except jwt.PyJWKClientConnectionError as exc:
        # The identity provider is unreachable: nobody is guessing, nobody may be throttled.
        log.error("authentication: the JWKS at %s could not be fetched", config["JWT_JWKS_URL"])
        raise _Unauthorized("The token cannot be checked right now.", guess=False) from exc
    except jwt.ExpiredSignatureError as exc:
        raise _Unauthorized("The token has expired.", guess=False) from exc
    except jwt.ImmatureSignatureError as exc:
        raise _Unauthorized("The token is not valid yet (nbf in the future).", guess=False) from exc
    except (jwt.PyJWTError, ValueError, OverflowError) as exc:
        raise _Unauthorized("The token is invalid.") from exc
    _check_times(claims, config["JWT_MAX_LIFETIME"], config["JWT_LEEWAY"])
    return claims


def _is_number(value: Any) -> bool:
    # Python's json reads NaN and Infinity, which compare false with everything.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_times(claims: dict[str, Any], max_lifetime: int, leeway: int) -> None:
    # PyJWT accepts "exp": "1900000000" (it calls int() on it); RFC 7519 says NumericDate.
    if not (_is_number(claims["exp"]) and _is_number(claims["iat"])):
        raise _Unauthorized(
            "The token's exp and iat must be numbers (seconds since 1970).", guess=False
        )
    if claims["iat"] > time.time() + leeway:
        raise _Unauthorized("The token is not valid yet (iat is in the future).", guess=False)
    # A stolen token is only as dangerous as it is long-lived: the issuer may not mint
    # tokens that outlive the cap, whatever their exp says.
    if claims["exp"] - claims["iat"] > max_lifetime:
        raise _Unauthorized(
            f"The token's lifetime (exp - iat) exceeds the {max_lifetime} s this server accepts.",
            guess=False,
        )


@dataclass(frozen=True)
class ProgramRef:
    id: int
    slug: str


def _program_by_slug(slug: Any) -> ProgramRef | None:
    """The program a token names. Slugs never change and programs are never deleted, so each
    process remembers the answer (this saves a query on every cardholder request)."""
    if not isinstance(slug, str):
        return None
    known: dict[str, ProgramRef] = current_app.extensions.setdefault("program_refs", {})
    if slug not in known:
        program_id = db.session.scalar(select(Program.id).where(Program.slug == slug))
        if program_id is None:
            return None
        known[slug] = ProgramRef(program_id, slug)
    return known[slug]


def _principal_from_jwt(token: str) -> Principal:
    claims = decode_jwt(token)
    roles = claims.get("roles") or []
    if not isinstance(roles, list) or not {r for r in roles if isinstance(r, str)} & set(
        PERSON_ROLES
    ):
        raise _Unauthorized("The token carries no known role.", guess=False)
    program = _program_by_slug(claims.get("program"))
    if program is None and "admin" not in roles:
        raise _Unauthorized("The token's program is unknown.", guess=False)
    return Principal(
        subject=str(claims["sub"]),
        roles=frozenset(r for r in roles if isinstance(r, str) and r in PERSON_ROLES),
        program_id=program.id if program else None,
        program_slug=program.slug if program else None,
        claims=claims,
    )


# rwk_<prefix>_<secret>: the prefix is the key's public id (hex); anything else is no key.
_KEY_SHAPE = re.compile(r"rwk_([0-9a-f]{1,32})_[A-Za-z0-9_-]{1,128}")


def _principal_from_key(presented: str) -> Principal:
    shape = _KEY_SHAPE.fullmatch(presented)
    record = verify_api_key(presented) if shape else None
    if record is None:
        if shape:
            _refuse_guess_on_prefix(shape.group(1))
        raise _Unauthorized("The API key is invalid or revoked.")
    partner_id = _partner_of(record) if record.role == "partner" else None
    touch_api_key(record.id)
    program = db.session.get(Program, record.program_id)
    return Principal(
        subject=record.prefix,
        roles=frozenset([record.role]),
        program_id=record.program_id,
        program_slug=program.slug if program else None,
        api_key_id=record.id,
        partner_id=partner_id,
    )


def _partner_of(record: ApiKey) -> int:
    """The partner a partner key acts for. A key bound to none, or to a partner that is not
    active, is refused outright rather than let through to views that would have to remember
    to check; the messages name no partner, so an unbound key learns nothing."""
    partner_id = acting_partner_id(record)
    if partner_id is not None:
        return partner_id
    if record.partner_id is None:
        raise _Unauthorized(
            "This partner key is bound to no partner; ask an admin for a new key.", guess=False
        )
    raise _Unauthorized(
        "This key's partner is inactive; its keys work again if it is reactivated.", guess=False
    )


def _refuse_guess_on_prefix(prefix: str) -> None:
    """A wrong secret for a key prefix counts against that prefix as well as the address.

    Only failures are refused: the secret has 256 random bits, so no rate of guessing can
    find it, while locking the prefix outright would let anyone who saw it stop the owner's
    feed. Past the allowance a wrong secret gets 429 and an error-level log line.
    """
    wait = auth_failure_wait("key", prefix)
    record_auth_failure("key", prefix)
    if wait is not None:
        log.error("authentication: repeated wrong secrets for API key prefix %s", prefix)
        raise _TooManyFailures(wait)


def _principal_from_header(header: str) -> Principal:
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credential, validate=True).decode()
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise _Unauthorized("Malformed Basic credentials.") from exc
        return _principal_from_key(decoded.partition(":")[2])
    if scheme.lower() != "bearer":
        raise _Unauthorized("Use the Bearer or Basic scheme.")
    if credential.startswith("rwk_"):
        return _principal_from_key(credential)
    return _principal_from_jwt(credential)


def _authenticate_request() -> Principal:
    header = request.headers.get("Authorization", "")
    if not header.strip().partition(" ")[2].strip():
        raise _Unauthorized("Authentication required.", guess=False)
    address = client_address()
    wait = auth_failure_wait("ip", address)
    if wait is not None:
        # Refused before checking, valid or not: otherwise the answer would still tell a
        # guesser when a guess is right.
        log.warning("authentication: refused from %s, too many failures", address)
        raise _TooManyFailures(wait)
    try:
        return _principal_from_header(header)
    except _Unauthorized as exc:
        # Never the credential itself: the address, the scheme and why.
        log.warning(
            "authentication failed from %s (%s): %s",
            address,
            header.strip().partition(" ")[0][:16].lower() or "-",
            exc.description,
        )
        if exc.guess:
            record_auth_failure("ip", address)
        raise


_OUTCOME = "rewards.authentication"


def authenticate() -> Principal:
    """The caller behind the Authorization header (Bearer JWT, Bearer API key, or Basic with
    the key as password). Worked out once per request: the rate limiter keys on it before the
    view runs, and the view's role check reuses the answer (including a refusal)."""
    # Kept on the request, not on `g`: an app context (and its `g`) can outlive a request.
    outcome = request.environ.get(_OUTCOME)
    if outcome is None:
        try:
            outcome = _authenticate_request()
        except HTTPException as exc:
            outcome = exc
        request.environ[_OUTCOME] = outcome
    if isinstance(outcome, HTTPException):
        raise outcome
    return outcome


def authenticated_principal() -> Principal | None:
    """The caller if the request carries a valid credential, else None (never raises)."""
    try:
        return authenticate()
    except HTTPException:
        return None


def requires(*roles: str) -> Callable[[F], F]:
    """Allow the view only to callers holding one of `roles`; sets `g.principal`."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = authenticate()
            if not principal.roles & set(roles):
                raise Forbidden(f"This endpoint is for: {', '.join(roles)}.")
            g.principal = principal
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


PROBLEM_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing, expired or invalid credentials",
    403: "The credential's role may not call this",
    404: "Not found in the caller's program",
    409: "Conflicts with existing data (or an Idempotency-Key reused with another body)",
    413: "Request body too large",
    415: "Unsupported content type",
    422: "Validation failed; `errors` names each field",
    429: "Too many requests from this caller; retry after `Retry-After` seconds",
}


def auth_doc(*schemes: str, problems: tuple[int, ...] = ()) -> dict[str, Any]:
    """`@blp.doc(**auth_doc("bearerJWT", problems=(404,)))`: the security requirement and the
    problem+json responses (401 and 403 always, plus `problems`)."""
    content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {
        "security": [{scheme: []} for scheme in schemes],
        "responses": {
            str(status): {"description": PROBLEM_DESCRIPTIONS[status], "content": content}
            for status in (401, 403, *problems)
        },
    }


def current_principal() -> Principal:
    """The principal set by `requires` for this request."""
    return g.principal


def program_id() -> int:
    """The caller's program; marketers, cardholders and keys are always bound to one."""
    principal = current_principal()
    if principal.program_id is None:
        raise Forbidden("This endpoint needs a program-bound credential.")
    return principal.program_id


def partner_id() -> int:
    """The partner the caller acts for (403 unless the caller is a partner key, which
    authentication only lets through bound to an active partner)."""
    principal = current_principal()
    if principal.partner_id is None:
        raise Forbidden("This endpoint needs a partner key.")
    return principal.partner_id

"""Authentication and role checks: JWTs for people, API keys for processors and partners."""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import jwt
from flask import current_app, g, request
from sqlalchemy import select
from werkzeug.exceptions import Forbidden, Unauthorized

from rewards.access import touch_api_key, verify_api_key
from rewards.db import db
from rewards.models import Program

F = TypeVar("F", bound=Callable[..., Any])

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
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"key:{self.subject}" if self.api_key_id else f"user:{self.subject}"


class _Unauthorized(Unauthorized):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.data = {"headers": {"WWW-Authenticate": 'Bearer realm="rewards"'}}


def _jwks_client(url: str) -> jwt.PyJWKClient:
    clients = current_app.extensions.setdefault("jwks_clients", {})
    if url not in clients:
        clients[url] = jwt.PyJWKClient(url, cache_keys=True, lifespan=300)
    return clients[url]


def decode_jwt(token: str) -> dict[str, Any]:
    """Verify signature, expiry and (when configured) audience and issuer; return the claims."""
    config = current_app.config
    options = {"require": ["sub", "exp"]}
    kwargs: dict[str, Any] = {"audience": config["JWT_AUDIENCE"], "issuer": config["JWT_ISSUER"]}
    if not config["JWT_AUDIENCE"]:
        options["verify_aud"] = False  # type: ignore[assignment]
        kwargs.pop("audience")
    if not config["JWT_ISSUER"]:
        kwargs.pop("issuer")
    try:
        if config["JWT_JWKS_URL"]:
            key = _jwks_client(config["JWT_JWKS_URL"]).get_signing_key_from_jwt(token).key
            return jwt.decode(token, key, algorithms=["RS256"], options=options, **kwargs)
        if not config["JWT_SECRET"]:
            raise _Unauthorized("JWT authentication is not configured on this server.")
        return jwt.decode(
            token, config["JWT_SECRET"], algorithms=["HS256"], options=options, **kwargs
        )
    except jwt.ExpiredSignatureError as exc:
        raise _Unauthorized("The token has expired.") from exc
    except (jwt.PyJWTError, ValueError) as exc:
        raise _Unauthorized("The token is invalid.") from exc


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
        raise _Unauthorized("The token carries no known role.")
    program = _program_by_slug(claims.get("program"))
    if program is None and "admin" not in roles:
        raise _Unauthorized("The token's program is unknown.")
    return Principal(
        subject=str(claims["sub"]),
        roles=frozenset(r for r in roles if isinstance(r, str) and r in PERSON_ROLES),
        program_id=program.id if program else None,
        program_slug=program.slug if program else None,
        claims=claims,
    )


def _principal_from_key(presented: str) -> Principal:
    record = verify_api_key(presented)
    if record is None:
        raise _Unauthorized("The API key is invalid or revoked.")
    touch_api_key(record.id)
    program = db.session.get(Program, record.program_id)
    return Principal(
        subject=record.prefix,
        roles=frozenset([record.role]),
        program_id=record.program_id,
        program_slug=program.slug if program else None,
        api_key_id=record.id,
    )


def authenticate() -> Principal:
    """Read the Authorization header (Bearer JWT, Bearer API key, or Basic with the key)."""
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    if not credential:
        raise _Unauthorized("Authentication required.")
    if scheme.lower() == "basic":
        try:
            _, _, credential = base64.b64decode(credential).decode().partition(":")
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Unauthorized("Malformed Basic credentials.") from exc
        return _principal_from_key(credential)
    if scheme.lower() != "bearer":
        raise _Unauthorized("Use the Bearer or Basic scheme.")
    if credential.startswith("rwk_"):
        return _principal_from_key(credential)
    return _principal_from_jwt(credential)


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

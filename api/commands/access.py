"""Bootstrapping access from the shell: programs, processor/partner API keys, dev JWTs."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta
from typing import Any

import click
import jwt
from flask import current_app
from flask.cli import with_appcontext

from api.auth import PERSON_ROLES
from rewards.api_keys import issue_api_key
from rewards.db import db
from rewards.errors import DomainError
from rewards.models.access import API_KEY_ROLES
from rewards.programs import create_program, get_program


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _fail(error: DomainError) -> click.ClickException:
    db.session.rollback()
    details = getattr(error, "errors", None) or {}
    lines = [error.detail] + [f"  {field}: {'; '.join(msgs)}" for field, msgs in details.items()]
    return click.ClickException("\n".join(lines))


@click.command("create-program")
@click.option("--slug", required=True, help="Lowercase id used in tokens and URLs.")
@click.option("--name", required=True)
@click.option("--currency", required=True, help="ISO 4217 code, e.g. JPY.")
@click.option("--earn-rate", required=True, help="Points per major currency unit, e.g. 1.5.")
@click.option("--brand-partner")
@click.option("--points-name", default="points", show_default=True)
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone.")
@click.option("--pending-days", type=int, default=0, show_default=True)
@click.option("--expiry-months", type=int, default=0, show_default=True, help="0 = never.")
@click.option("--min-age", type=int)
@click.option("--max-age", type=int)
@click.option(
    "--excluded-mcc",
    "excluded_mccs",
    multiple=True,
    help="Repeat per MCC; default: cash advance, quasi-cash, money orders, gambling.",
)
@with_appcontext
def create_program_command(excluded_mccs: tuple[str, ...], **options: Any) -> None:
    """Create a program (audited as cli:<user>)."""
    try:
        program = create_program(
            **options, excluded_mccs=list(excluded_mccs) or None, actor=_actor()
        )
        db.session.commit()
    except DomainError as error:
        raise _fail(error) from error
    click.echo(f"Created program {program.slug} ({program.name}, {program.currency}).")


@click.command("create-api-key")
@click.option("--program", "program_slug", required=True, help="Program slug.")
@click.option("--role", required=True, type=click.Choice(API_KEY_ROLES))
@click.option("--name", required=True, help="Who holds the key, e.g. 'Acme processor'.")
@click.option(
    "--partner",
    "partner_code",
    help="Code of the program's active partner a partner key acts for (partner keys only).",
)
@with_appcontext
def create_api_key_command(
    program_slug: str, role: str, name: str, partner_code: str | None
) -> None:
    """Mint a processor or partner key and print it once (only its hash is stored)."""
    try:
        minted = issue_api_key(
            program_slug=program_slug,
            role=role,
            name=name,
            actor=_actor(),
            partner_code=partner_code,
        )
        db.session.commit()
    except DomainError as error:
        raise _fail(error) from error
    acting_for = f" acting for partner {minted.partner_code}" if minted.partner_code else ""
    click.echo(
        f"# {role} key {minted.record.prefix} for {program_slug}{acting_for}; shown only once:",
        err=True,
    )
    click.echo(minted.secret)


@click.command("mint-token")
@click.option("--sub", required=True, help="Subject: the customer's external ref or a user id.")
@click.option("--program", "program_slug", help="Program slug (optional for admin).")
@click.option("--role", required=True, type=click.Choice(PERSON_ROLES))
@click.option(
    "--ttl",
    type=click.IntRange(1),
    default=3600,
    show_default=True,
    help="Seconds; at most JWT_MAX_LIFETIME (24 h unless configured), which the API enforces.",
)
@with_appcontext
def mint_token_command(sub: str, program_slug: str | None, role: str, ttl: int) -> None:
    """Print an HS256 JWT signed with JWT_SECRET (for development and operations)."""
    secret = current_app.config.get("JWT_SECRET")
    if not secret:
        raise click.ClickException("JWT_SECRET is not set; refusing to mint a token.")
    if current_app.config.get("JWT_JWKS_URL"):
        raise click.ClickException(
            "JWT_JWKS_URL is set: this server only accepts RS256 tokens from your identity "
            "provider, so an HS256 token would be refused."
        )
    longest = int(current_app.config["JWT_MAX_LIFETIME"])
    if ttl > longest:
        raise click.ClickException(
            f"--ttl {ttl} is longer than JWT_MAX_LIFETIME ({longest} s); the API would refuse it."
        )
    if program_slug is None and role != "admin":
        raise click.ClickException(f"--program is required for the {role} role.")
    if program_slug is not None:
        try:
            get_program(program_slug)
        except DomainError as error:
            raise _fail(error) from error
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": sub,
        "roles": [role],
        "iat": now,
        "exp": now + timedelta(seconds=ttl),
    }
    if program_slug is not None:
        claims["program"] = program_slug
    for claim, setting in (("aud", "JWT_AUDIENCE"), ("iss", "JWT_ISSUER")):
        if current_app.config.get(setting):
            claims[claim] = current_app.config[setting]
    click.echo(jwt.encode(claims, secret, algorithm="HS256"))


COMMANDS = [create_program_command, create_api_key_command, mint_token_command]

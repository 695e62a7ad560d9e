"""`rewards demo` (what `make run` calls): an embedded, self-contained tour of the product.

SQLite under instance/, jobs run in-process, a seeded program (see `demo_data`) whose sample
transaction file is imported and processed by the real feed, then the API is served.
"""

from __future__ import annotations

import errno
import os
import secrets
import socket
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from sqlalchemy import select
from werkzeug.serving import run_simple

from api.commands import demo_data, demo_perks
from api.commands.access import mint_token_command
from api.commands.feeds import import_file
from rewards import sealing
from rewards.access import mint_api_key, verify_api_key
from rewards.db import db
from rewards.models import Program

HOST = "127.0.0.1"
KEY_FILE = "demo_processor_key"
PARTNER_KEY_FILE = "demo_partner_key"
TOKEN_TTL = 24 * 3600


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _instance_secret(path: Path, make: str | None = None) -> str:
    """A demo secret kept in instance/ (never in the repo), readable by its owner only."""
    if make is not None or not path.exists():
        path.write_text(make or secrets.token_urlsafe(32))
        os.chmod(path, 0o600)
    return path.read_text().strip()


def _demo_key(
    program: Program, instance: Path, file: str, role: str, partner: str | None = None
) -> tuple[str, bool]:
    """A demo API key kept in instance/`file`, minting a new one if it is missing or was
    revoked; `(key, reused)`."""
    path = instance / file
    if path.exists():
        kept = path.read_text().strip()
        record = verify_api_key(kept)
        if record is not None and record.program_id == program.id:
            return kept, True
    minted = mint_api_key(
        program=program,
        role=role,
        name=f"demo {partner or role}",
        created_by="demo",
        partner_code=partner,
    )
    db.session.commit()
    _instance_secret(path, make=minted.secret)
    return minted.secret, False


def _seed(ctx: click.Context, instance: Path) -> Program:
    """Create the demo program, campaigns and customers and import their month, once."""
    program = db.session.scalar(select(Program).where(Program.slug == demo_data.SLUG))
    if program is not None:
        return program
    start = demo_data.history_start()
    program = demo_data.seed_program(start)
    db.session.commit()
    sample = instance / "demo_transactions.csv"
    demo_data.write_sample_file(sample, start)
    ctx.invoke(import_file, path=sample, slug=demo_data.SLUG, file_format="csv")
    demo_perks.redeem_for_alice(program)
    db.session.commit()
    return program


def _print_credentials(
    ctx: click.Context, url: str, key: str, reused: bool, partner_key: str
) -> None:
    click.echo(f"\nAPI docs:        {url}/docs   (OpenAPI: {url}/v1/openapi.json)")
    hours = TOKEN_TTL // 3600
    for label, sub, role in (
        ("Cardholder JWT (demo-alice)", "demo-alice", "cardholder"),
        ("Marketer JWT", "demo-marketer", "marketer"),
        ("Admin JWT", "demo-admin", "admin"),
    ):
        click.echo(f"{label}, valid {hours} h:")
        program = None if role == "admin" else demo_data.SLUG
        ctx.invoke(mint_token_command, sub=sub, program_slug=program, role=role, ttl=TOKEN_TTL)
    note = "the one kept in instance/ from an earlier run" if reused else "new, kept in instance/"
    click.echo(f"Processor API key ({note}):\n{key}")
    click.echo(f"Partner API key (noodle-bar, kept in instance/):\n{partner_key}")
    click.echo(f'\nTry: curl -H "Authorization: Bearer <cardholder JWT>" {url}/v1/me/balance\n')


@click.command("demo")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--no-serve", is_flag=True, help="Seed and print credentials, then exit.")
@click.pass_context
@with_appcontext
def demo_command(ctx: click.Context, port: int, no_serve: bool) -> None:
    """Seed a demo program (embedded SQLite, in-process jobs) and serve the API."""
    # Before anything is seeded or printed: a second `make run` must not hand out credentials
    # for a server that then fails to start.
    if not no_serve and not _port_is_free(port):
        raise click.ClickException(
            f"port {port} is already in use (another `make run`?); "
            f"stop it or pick another port: make run PORT={port + 1}"
        )
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    if not app.config["JWT_SECRET"] and not app.config["JWT_JWKS_URL"]:
        app.config["JWT_SECRET"] = _instance_secret(instance / "dev_jwt_secret")
    if "DATA_KEY" not in os.environ:  # voucher codes sealed under a secret of this machine's
        app.config["DATA_KEY"] = _instance_secret(instance / "dev_data_key")
        sealing.configure(app.config["DATA_KEY"], app)
    if "WEBHOOK_REQUIRE_HTTPS" not in os.environ:  # development: a receiver on this machine
        app.config["WEBHOOK_REQUIRE_HTTPS"] = False
        app.config["WEBHOOK_ALLOW_NETWORKS"] = ["127.0.0.1/32"]
    upgrade(directory=app.config["MIGRATIONS_DIR"])
    program = _seed(ctx, instance)
    key, reused = _demo_key(program, instance, KEY_FILE, "processor")
    partner_key, _ = _demo_key(program, instance, PARTNER_KEY_FILE, "partner", "noodle-bar")
    _print_credentials(ctx, f"http://{HOST}:{port}", key, reused, partner_key)
    if not no_serve:
        # `app.run` refuses to run inside a CLI command; this is what it would call.
        run_simple(HOST, port, app, threaded=True)


COMMANDS = [demo_command]

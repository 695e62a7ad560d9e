"""`rewards demo` (what `make run` calls): an embedded, self-contained tour of the product.

SQLite under instance/, jobs run in-process, a seeded program with customers, cards and a
sample transaction file that is imported and processed, then the API is served on port 5000.
"""

from __future__ import annotations

import csv
import random
import secrets
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from sqlalchemy import select
from werkzeug.serving import run_simple

from api.commands.access import mint_token_command
from api.commands.feeds import import_file
from rewards.access import mint_api_key
from rewards.customers import enrol_card, upsert_customer
from rewards.db import db
from rewards.feed_rows import FIELDS
from rewards.models import Program
from rewards.programs import create_program

SLUG = "demo"
CUSTOMERS = [("demo-alice", "Alice"), ("demo-bob", "Bob"), ("demo-chika", "Chika")]
MERCHANTS = [
    ("5812", "m-noodle", "Noodle Bar"),
    ("5814", "m-burger", "Burger Stand"),
    ("5411", "m-mart", "Corner Mart"),
    ("7832", "m-cinema", "Star Cinema"),
    ("4111", "m-metro", "City Metro"),
    ("5651", "m-threads", "Threads Clothing"),
    ("5735", "m-vinyl", "Vinyl Records"),
]


def _dev_jwt_secret(instance: Path) -> str:
    """A per-checkout signing secret for demo tokens, kept in instance/ (never in the repo)."""
    path = instance / "dev_jwt_secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def _sample_file(path: Path) -> None:
    """About sixty realistic rows, plus a refund, an excluded cash withdrawal, an unknown card."""
    rng = random.Random(7)
    start = datetime.now(UTC) - timedelta(days=20)
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=FIELDS)
        writer.writeheader()
        for n in range(60):
            ref = CUSTOMERS[n % 3][0]
            mcc, merchant_id, name = rng.choice(MERCHANTS)
            writer.writerow(
                {
                    "external_id": f"demo-tx-{n}",
                    "card_token": f"tok_{ref}",
                    "kind": "purchase",
                    "amount_minor": rng.randrange(300, 4000),
                    "currency": "JPY",
                    "mcc": mcc,
                    "merchant_id": merchant_id,
                    "merchant_name": name,
                    "channel": rng.choice(["in_store", "online", "contactless"]),
                    "occurred_at": (start + timedelta(hours=8 * n)).isoformat(),
                    "original_external_id": "",
                }
            )
        extra = [
            ("demo-refund-1", "tok_demo-alice", "refund", 1000, "5812", "demo-tx-0"),
            ("demo-atm-1", "tok_demo-bob", "purchase", 10000, "6011", ""),
            ("demo-unknown-card", "tok_not_enrolled", "purchase", 800, "5411", ""),
        ]
        for ext, token, kind, amount, mcc, original in extra:
            writer.writerow(
                {
                    "external_id": ext,
                    "card_token": token,
                    "kind": kind,
                    "amount_minor": amount,
                    "currency": "JPY",
                    "mcc": mcc,
                    "merchant_id": "m-noodle",
                    "merchant_name": "Noodle Bar",
                    "channel": "in_store",
                    "occurred_at": datetime.now(UTC).isoformat(),
                    "original_external_id": original,
                }
            )


def _seed() -> str | None:
    """Create the demo program, customers and cards once; returns a new processor key."""
    if db.session.scalar(select(Program).where(Program.slug == SLUG)) is not None:
        return None
    program = create_program(
        slug=SLUG,
        name="Demo Youth Card",
        currency="JPY",
        earn_rate="1",
        actor="demo",
        brand_partner="Noodle Bar Group",
        points_name="points",
        timezone="Asia/Tokyo",
        pending_days=0,
        expiry_months=12,
        min_age=16,
        max_age=30,
    )
    db.session.flush()
    for ref, nickname in CUSTOMERS:
        upsert_customer(
            program_id=program.id, external_ref=ref, birth_date=date(2006, 5, 1), nickname=nickname
        )
        enrol_card(program_id=program.id, external_ref=ref, token=f"tok_{ref}")
    key = mint_api_key(program=program, role="processor", name="demo processor", created_by="demo")
    db.session.commit()
    return key.secret


@click.command("demo")
@click.option("--port", default=5000, show_default=True)
@click.option("--no-serve", is_flag=True, help="Seed and print credentials, then exit.")
@click.pass_context
@with_appcontext
def demo_command(ctx: click.Context, port: int, no_serve: bool) -> None:
    """Seed a demo program (embedded SQLite, in-process jobs) and serve the API."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    if not app.config["JWT_SECRET"] and not app.config["JWT_JWKS_URL"]:
        app.config["JWT_SECRET"] = _dev_jwt_secret(instance)
    upgrade(directory=app.config["MIGRATIONS_DIR"])
    key = _seed()
    if key is not None:
        sample = instance / "demo_transactions.csv"
        _sample_file(sample)
        ctx.invoke(import_file, path=sample, slug=SLUG, file_format="csv")
    url = f"http://127.0.0.1:{port}"
    click.echo(f"\nAPI docs:        {url}/docs   (OpenAPI: {url}/v1/openapi.json)")
    click.echo("Cardholder JWT (demo-alice):")
    ctx.invoke(
        mint_token_command,
        sub="demo-alice",
        program_slug=SLUG,
        role="cardholder",
        ttl=7 * 24 * 3600,
    )
    click.echo("Marketer JWT:")
    ctx.invoke(
        mint_token_command,
        sub="demo-marketer",
        program_slug=SLUG,
        role="marketer",
        ttl=7 * 24 * 3600,
    )
    if key:
        click.echo(f"Processor API key (shown once, also usable as Basic password):\n{key}")
    else:
        click.echo(
            "Processor API key: created on the first run; mint another with "
            "`rewards create-api-key --program demo --role processor --name me`."
        )
    click.echo(f'\nTry: curl -H "Authorization: Bearer <cardholder JWT>" {url}/v1/me/balance\n')
    if not no_serve:
        # `app.run` refuses to run inside a CLI command; this is what it would call.
        run_simple("127.0.0.1", port, app, threaded=True)


COMMANDS = [demo_command]

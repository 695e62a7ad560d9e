"""Ledger commands: reconcile totals against entries; run maintenance by hand."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from rewards.db import db
from rewards.models import Program


@click.group("ledger")
def ledger_group() -> None:
    """Check and maintain the points ledger."""


@ledger_group.command("reconcile")
@click.option("--program", "slug", default=None, help="Only this program (slug).")
@with_appcontext
def reconcile_command(slug: str | None) -> None:
    """Compare every account's totals with its entries; exit 1 on any difference."""
    from rewards.reconcile import reconcile

    program_id = None
    if slug:
        program_id = db.session.scalar(select(Program.id).where(Program.slug == slug))
        if program_id is None:
            raise click.BadParameter(f"unknown program {slug!r}", param_hint="--program")
    differences = reconcile(program_id)
    for d in differences:
        click.echo(
            f"account {d.account_id} (customer {d.customer_id}): {d.field} "
            f"stored {d.stored} but entries say {d.computed}"
        )
    if differences:
        click.echo(f"{len(differences)} difference(s) found", err=True)
        sys.exit(1)
    click.echo("ledger reconciled: every account matches its entries")


@ledger_group.command("release")
@with_appcontext
def release_command() -> None:
    """Release due pending points now."""
    from workers.jobs import release_pending_points

    click.echo(f"released {release_pending_points()} entries")


@ledger_group.command("expire")
@with_appcontext
def expire_command() -> None:
    """Expire lots past their expiry date now."""
    from workers.jobs import expire_points

    click.echo(f"expired {expire_points()} lots")


COMMANDS = [ledger_group]

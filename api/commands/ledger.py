"""Ledger commands: reconcile totals against entries; audit and correct bonus rounding; run
maintenance by hand."""

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
    """Compare every account's totals with its entries, and perks' stock, redemptions,
    vouchers and pool codes with each other and the entries; exit 1 on any difference."""
    from rewards.reconcile import reconcile

    differences = reconcile(_program_id(slug))
    for d in differences:
        click.echo(d.describe())
    if differences:
        click.echo(f"{len(differences)} difference(s) found", err=True)
        sys.exit(1)
    click.echo("ledger reconciled: every account matches its entries, every perk its redemptions")


@ledger_group.command("audit-bonus-rounding")
@click.option("--program", "slug", default=None, help="Only this program (slug).")
@click.option(
    "--apply",
    is_flag=True,
    help="Credit each short lot what it still owes (one idempotent `adjust` entry per lot).",
)
@with_appcontext
def audit_bonus_rounding_command(slug: str | None, apply: bool) -> None:
    """Find bonus lots a rounded qualifying share left short; read-only unless --apply."""
    from campaigns.earning.rounding_audit import audit_bonus_rounding

    audit = audit_bonus_rounding(program_id=_program_id(slug), apply=apply)
    if apply:
        db.session.commit()
    else:
        db.session.rollback()
    owed = [s for s in audit.short if s.owed > 0 and not s.corrected]
    expired = [s for s in owed if s.expired]
    click.echo(f"bonus lots with a multiplier cut by a qualifying-spend cap: {audit.checked}")
    click.echo(
        f"short: {len(audit.short)} lots, {audit.customers} customers, {audit.points} points "
        f"({sum(s.corrected for s in audit.short)} lots corrected already; "
        f"{sum(s.owed for s in owed)} points still owed after refunds; "
        f"{len(expired)} lots past expiry, {sum(s.owed for s in expired)} points, not credited)"
    )
    click.echo(
        f"uncertain (a per-customer cap or budget may have left exactly that room): "
        f"{audit.uncertain} lots, not corrected"
    )
    if apply:
        click.echo(f"corrections written: {audit.corrected}")
    elif owed:
        click.echo("run again with --apply to credit what is owed")


def _program_id(slug: str | None) -> int | None:
    if not slug:
        return None
    program_id = db.session.scalar(select(Program.id).where(Program.slug == slug))
    if program_id is None:
        raise click.BadParameter(f"unknown program {slug!r}", param_hint="--program")
    return program_id


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

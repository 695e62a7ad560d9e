"""Leaderboard commands: rebuild the Redis boards from PostgreSQL."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from rewards.db import db
from rewards.models import Program


@click.group("leaderboards")
def leaderboards_group() -> None:
    """Leaderboards kept in Redis."""


@leaderboards_group.command("rebuild")
@click.option("--program", "slug", default=None, help="Only this program (slug).")
@with_appcontext
def rebuild_command(slug: str | None) -> None:
    """Rebuild every current board (XP week, month, all time; live challenges) from PostgreSQL."""
    from campaigns.leaderboards.sync import rebuild_boards
    from rewards.ledger import utcnow
    from workers.queues import leaderboard_store

    store = leaderboard_store()
    if store is None:
        click.echo("no REDIS_URL: embedded mode ranks from PostgreSQL, nothing to rebuild")
        return
    program_id = None
    if slug is not None:
        program_id = db.session.scalar(select(Program.id).where(Program.slug == slug))
        if program_id is None:
            click.echo(f"no program {slug!r}", err=True)
            sys.exit(1)
    built = rebuild_boards(store=store, now=utcnow(), program_id=program_id)
    db.session.rollback()  # read only
    for (pid, board_id), members in built.items():
        click.echo(f"program {pid} {board_id}: {members} members")
    click.echo(f"{len(built)} board(s) rebuilt")


COMMANDS = [leaderboards_group]

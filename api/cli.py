"""The `rewards` command line: `rewards run`, `rewards worker`, `rewards db upgrade`, ..."""

from __future__ import annotations

from flask import Flask
from flask.cli import FlaskGroup


def register(app: Flask) -> None:
    """Attach every operator command to `app.cli` (also reachable as `flask ...`)."""
    from api.commands import COMMANDS

    for command in COMMANDS:
        app.cli.add_command(command)


def _create_app() -> Flask:
    from api import create_app

    return create_app()


main = FlaskGroup(create_app=_create_app, help="Operate the rewards platform.")

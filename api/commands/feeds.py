"""CLI commands (feeds)."""

COMMANDS: list = []

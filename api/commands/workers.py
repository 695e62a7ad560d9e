"""CLI commands (workers)."""

COMMANDS: list = []

"""CLI commands (access)."""

COMMANDS: list = []

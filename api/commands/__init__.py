"""Operator CLI commands, one module per concern."""

from api.commands import access, demo, feeds, ledger, workers

COMMANDS = [*access.COMMANDS, *demo.COMMANDS, *feeds.COMMANDS, *ledger.COMMANDS, *workers.COMMANDS]

"""Operator CLI commands, one module per concern."""

from api.commands import access, feeds, ledger, workers

COMMANDS = [*access.COMMANDS, *feeds.COMMANDS, *ledger.COMMANDS, *workers.COMMANDS]

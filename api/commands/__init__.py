"""Operator CLI commands, one module per concern."""

from api.commands import access, demo, feeds, leaderboards, ledger, webhooks, workers

COMMANDS = [
    *access.COMMANDS,
    *demo.COMMANDS,
    *feeds.COMMANDS,
    *leaderboards.COMMANDS,
    *ledger.COMMANDS,
    *webhooks.COMMANDS,
    *workers.COMMANDS,
]

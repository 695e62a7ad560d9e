"""The effective status of anything a marketer runs in a window (campaigns, challenges,
perks): stored draft → scheduled/active → paused → ended, where scheduled and active follow
the window. The moves between statuses are `campaigns.lifecycle`'s."""

from __future__ import annotations

from datetime import datetime
from typing import Any

# Stored statuses whose effective status follows the window (see effective_status).
LIVE = ("scheduled", "active")


def effective_status(row: Any, now: datetime) -> str:
    """The status at `now`: a scheduled object whose start has passed is active, and a
    scheduled or active one whose end has passed is ended. Others are as stored."""
    if row.status not in LIVE:
        return str(row.status)
    if row.ends_at is not None and row.ends_at <= now:
        return "ended"
    return "scheduled" if row.starts_at > now else "active"

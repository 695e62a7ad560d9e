"""RQ job: a campaign simulation too long to answer within the request (read-only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from campaigns.earning.simulate import simulate
from rewards.db import db


def run_simulation(
    program_id: int, campaign_id: int, start: str, end: str, version: int | None = None
) -> dict[str, Any]:
    """Simulate [start, end) (ISO timestamps); the result is kept by RQ as the job's result."""
    try:
        return simulate(
            program_id=program_id,
            campaign_id=campaign_id,
            start=datetime.fromisoformat(start),
            end=datetime.fromisoformat(end),
            version=version,
        )
    finally:
        db.session.rollback()  # nothing was written; end the read transaction
        db.session.remove()

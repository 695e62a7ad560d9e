"""What processing reports: per-transaction outcomes and per-chunk totals."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class ChunkResult:
    """What one run did: transactions per final status, and ledger entries written."""

    statuses: Counter[str] = field(default_factory=Counter)
    entries: int = 0
    points: int = 0


@dataclass
class Outcome:
    """Status change for one transaction."""

    status: str
    customer_id: int | None = None
    reason: str | None = None
    original_id: int | None = None

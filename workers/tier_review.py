"""The tier review job: downgrades (and keeps or raises) happen at each customer's review
date even without a purchase. Scheduled hourly (`workers.schedule.PERIODIC`) so a review
date is honoured within the hour after local midnight in every program's timezone; a
customer is reviewed once per review date, since each review moves the date on or clears it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from rewards.db import db
from rewards.tiers.config import all_ladders
from rewards.tiers.standing import review_due

log = logging.getLogger(__name__)


def review_tiers(limit: int = 500, now: datetime | None = None) -> int:
    """Scheduled: review, batch by batch (one transaction each), every customer whose review
    date has come; returns how many were reviewed."""
    total = 0
    while True:
        try:
            ladders = all_ladders()
            done = review_due(ladders, now=now or datetime.now(UTC), limit=limit) if ladders else 0
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        finally:
            db.session.remove()
        total += done
        if done < limit:
            break
    if total:
        log.info("tier review: %d customers reviewed", total)
    return total

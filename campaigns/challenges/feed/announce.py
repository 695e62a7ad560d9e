"""`challenge.completed` for challenges a partner sponsors: told to that partner in the
chunk's transaction (appended to the outbox), naming the cardholder only by the partner's
opaque id. Challenges nobody sponsors announce nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, tuple_

from rewards.db import db
from rewards.events.outbox import event_row, partner_customer_id, record_all
from rewards.models import Partner


@dataclass(frozen=True)
class SponsoredCompletion:
    program_id: int
    sponsor: str  # the partner's code, as the challenge names it
    challenge_id: int
    name: str
    customer_id: int
    period: str
    award: int  # 1 for the first completion of the period, 2 after a revocation...
    completed_at: datetime


def announce(completions: list[SponsoredCompletion]) -> None:
    """One event per completion, to the sponsor (one query finds the sponsors' ids)."""
    if not completions:
        return
    wanted = {(c.program_id, c.sponsor) for c in completions}
    found = db.session.execute(
        select(Partner.program_id, Partner.code, Partner.id).where(
            tuple_(Partner.program_id, Partner.code).in_(sorted(wanted))
        )
    )
    sponsors = {(program_id, code): partner_id for program_id, code, partner_id in found}
    record_all(
        event_row(
            program_id=c.program_id,
            type="challenge.completed",
            key=f"challenge.completed:{c.challenge_id}:{c.customer_id}:{c.period}:{c.award}",
            partner_id=sponsors[(c.program_id, c.sponsor)],
            customer_id=c.customer_id,
            data={
                "challenge_id": c.challenge_id,
                "name": c.name,
                "period": c.period,
                "partner_customer_id": partner_customer_id(
                    sponsors[(c.program_id, c.sponsor)], c.customer_id
                ),
                "completed_at": c.completed_at.isoformat(),
            },
        )
        for c in completions
        if (c.program_id, c.sponsor) in sponsors
    )

"""`partner.purchase.credited`: what a purchase a partner reported earned, told back to that
partner by the chunk that processed it (appended to the outbox in the chunk's transaction;
card purchases announce nothing)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from rewards.events.outbox import event_row, partner_customer_id, record_all


def announce_partner_credits(
    purchases: Sequence[tuple[Any, int]], rows: Sequence[dict[str, Any]], inserted: set[str]
) -> None:
    """One event per partner-reported purchase among `purchases`, with the points of its
    ledger `rows` that were really inserted (0 when no `partner_event` campaign applied)."""
    reported = [(tx, customer_id) for tx, customer_id in purchases if tx.source == "partner"]
    if not reported:
        return
    points: dict[int, int] = defaultdict(int)
    for row in rows:
        if row["idempotency_key"] in inserted:
            points[row["transaction_id"]] += row["points"]
    prefix = "partner|{}|"
    record_all(
        event_row(
            program_id=tx.program_id,
            type="partner.purchase.credited",
            key=f"partner.purchase.credited:{tx.id}",
            partner_id=tx.partner_id,
            customer_id=customer_id,
            data={
                "reference": tx.external_id.removeprefix(prefix.format(tx.partner_id)),
                "partner_customer_id": partner_customer_id(tx.partner_id, customer_id),
                "points": points[tx.id],
            },
        )
        for tx, customer_id in reported
    )

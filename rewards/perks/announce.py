"""The events perks announce to their partner (`rewards.events.outbox`), written in the
transaction of the change: a redemption, and each step of a voucher's life. They name the
cardholder only by the partner's opaque id, and never carry a voucher's code."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rewards.events.outbox import event_row, partner_customer_id, record_all


def _when(moment: datetime) -> str:
    return moment.isoformat()


def voucher_row(
    kind: str,
    *,
    program_id: int,
    voucher_id: int,
    perk_id: int,
    partner_id: int,
    customer_id: int,
    redemption_id: int,
    at: datetime,
    **extra: Any,
) -> dict[str, Any]:
    """The outbox row of `voucher.<kind>` (issued, used, expired, cancelled)."""
    return event_row(
        program_id=program_id,
        type=f"voucher.{kind}",
        key=f"voucher.{kind}:{voucher_id}",
        partner_id=partner_id,
        customer_id=customer_id,
        data={
            "voucher_id": voucher_id,
            "perk_id": perk_id,
            "redemption_id": redemption_id,
            "partner_customer_id": partner_customer_id(partner_id, customer_id),
            f"{kind}_at": _when(at),
            **extra,
        },
    )


def redeemed(redemption: Any, voucher: Any, partner_id: int) -> None:
    """`perk.redeemed` and `voucher.issued` of a new redemption."""
    who = partner_customer_id(partner_id, redemption.customer_id)
    record_all(
        [
            event_row(
                program_id=redemption.program_id,
                type="perk.redeemed",
                key=f"perk.redeemed:{redemption.id}",
                partner_id=partner_id,
                customer_id=redemption.customer_id,
                data={
                    "redemption_id": redemption.id,
                    "perk_id": redemption.perk_id,
                    "perk_version": redemption.perk_version,
                    "points": redemption.points,
                    "partner_customer_id": who,
                    "redeemed_at": _when(redemption.created_at),
                },
            ),
            voucher_row(
                "issued",
                program_id=voucher.program_id,
                voucher_id=voucher.id,
                perk_id=voucher.perk_id,
                partner_id=partner_id,
                customer_id=voucher.customer_id,
                redemption_id=redemption.id,
                at=voucher.issued_at,
                expires_at=_when(voucher.expires_at),
                source=voucher.source,
            ),
        ]
    )


def voucher_changed(kind: str, voucher: Any, at: datetime) -> None:
    """`voucher.used` or `voucher.cancelled` of one voucher."""
    record_all([_of(kind, voucher, at)])


def vouchers_expired(vouchers: list[Any], at: datetime) -> None:
    """`voucher.expired` of each voucher the expiry job moved."""
    record_all([_of("expired", voucher, at) for voucher in vouchers])


def _of(kind: str, voucher: Any, at: datetime) -> dict[str, Any]:
    return voucher_row(
        kind,
        program_id=voucher.program_id,
        voucher_id=voucher.id,
        perk_id=voucher.perk_id,
        partner_id=voucher.partner_id,
        customer_id=voucher.customer_id,
        redemption_id=voucher.redemption_id,
        at=at,
    )

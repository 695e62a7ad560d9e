"""At the partner's till: confirming that a voucher is used.

The partner types (or scans) the code; it is matched by its key (`vouchers.code_key`: one
per code) among the partner's own vouchers only. Confirmation is one conditional UPDATE of
that voucher (issued and not yet expired → used), so of concurrent confirmations exactly one
succeeds and the others see it used. A code that matches none of the partner's vouchers is a
miss: the caller throttles misses (no code enumeration) and logs them without the code.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update

from rewards.db import db
from rewards.errors import Conflict, NotFound
from rewards.ledger import utcnow
from rewards.perks import announce
from rewards.perks.models import Perk, Redemption, Voucher
from rewards.perks.vouchers import code_key


class VoucherNotUsable(Conflict):
    """The voucher exists but is used, expired or cancelled (409 `voucher-not-usable`)."""

    slug = "voucher-not-usable"

    def __init__(self, voucher: Voucher, status: str) -> None:
        super().__init__(f"This voucher is {status}.", field="code")
        self.extensions = {"voucher_status": status}
        if voucher.used_at is not None:
            self.extensions["used_at"] = _utc_text(voucher.used_at)


def _utc_text(moment: datetime) -> str:
    """As the API writes timestamps: UTC, milliseconds when there are any, `Z`."""
    moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds") + "Z"


class VoucherMiss(NotFound):
    """No voucher of this partner has the code (404; counted by the caller's throttle)."""


def confirm_use(*, partner_id: int, typed: str, now: datetime | None = None) -> Voucher:
    """Mark the partner's voucher with this code used; VoucherMiss or VoucherNotUsable."""
    now = now or utcnow()
    if not typed.strip():
        raise VoucherMiss("No voucher of yours has this code.", field="code")
    found = db.session.scalar(
        select(Voucher).where(
            Voucher.partner_id == partner_id, Voucher.code_hash == code_key(typed)
        )
    )
    if found is None:
        raise VoucherMiss("No voucher of yours has this code.", field="code")
    used = db.session.scalar(
        update(Voucher)
        .where(Voucher.id == found.id, Voucher.status == "issued", Voucher.expires_at > now)
        .values(status="used", used_at=now)
        .returning(Voucher.id)
    )
    found = db.session.get_one(Voucher, found.id, populate_existing=True)
    if used is not None:
        announce.voucher_changed("used", found, now)
        return found
    # The conditional update found it used, cancelled or expired (perhaps a moment ago, by a
    # concurrent confirmation): say which.
    status = "expired" if found.status == "issued" else found.status
    raise VoucherNotUsable(found, status)


def describe_use(voucher: Voucher) -> tuple[Perk, Redemption]:
    """The perk and redemption of a confirmed voucher (what the till shows)."""
    return db.session.get_one(Perk, voucher.perk_id), db.session.get_one(
        Redemption, voucher.redemption_id
    )

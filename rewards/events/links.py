"""Links between a partner's customer ids and our cardholders, made only by the cardholder.

The partner's app asks us for a one-time code for its customer (`issue_code`) and shows it;
the cardholder types it into our app (`claim`), which links their account to the partner's id.
Nothing is ever matched by name, e-mail or guess. A code lives 15 minutes, is used once and
is stored only as a keyed hash. A partner id links to one cardholder and a cardholder to one
id per partner; unlinking (`unlink`) frees both.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from rewards import sealing
from rewards.balances import find_customer
from rewards.db import db, dialect_insert
from rewards.errors import Conflict, NotFound
from rewards.events.inbound_models import PartnerLink, PartnerLinkCode
from rewards.ledger import utcnow
from rewards.models import Customer, Partner
from rewards.perks.codes import check_code, new_code, normalise_code

CODE_LIFETIME = timedelta(minutes=15)


def _hash(code: str) -> str:
    return sealing.lookup_hash("partner-link:" + normalise_code(code))


def issue_code(
    *, partner_id: int, partner_ref: str, now: datetime | None = None
) -> tuple[str, datetime]:
    """A new one-time code for the partner's customer `partner_ref`, and when it expires."""
    now = now or utcnow()
    code = new_code()
    expires_at = now + CODE_LIFETIME
    db.session.add(
        PartnerLinkCode(
            partner_id=partner_id, code_hash=_hash(code), partner_ref=partner_ref,
            expires_at=expires_at,
        )
    )  # fmt: skip
    db.session.flush()
    return code, expires_at


def claim(
    *, program_id: int, external_ref: str, code: str, now: datetime | None = None
) -> tuple[PartnerLink, Partner]:
    """Link the cardholder to the partner id the code was issued for. NotFound for a code
    that is unknown, used, expired or another program's; Conflict if either side is linked."""
    now = now or utcnow()
    customer = find_customer(program_id=program_id, external_ref=external_ref)
    if not check_code(code):
        raise NotFound("No valid link code like this one.", field="code")
    taken = db.session.execute(
        update(PartnerLinkCode)
        .where(
            PartnerLinkCode.code_hash == _hash(code),
            PartnerLinkCode.used_at.is_(None),
            PartnerLinkCode.expires_at > now,
            PartnerLinkCode.partner_id.in_(
                select(Partner.id).where(
                    Partner.program_id == program_id, Partner.status == "active"
                )
            ),
        )
        .values(used_at=now)
        .returning(PartnerLinkCode.partner_id, PartnerLinkCode.partner_ref)
    ).first()
    if taken is None:
        raise NotFound("No valid link code like this one.", field="code")
    partner_id, partner_ref = taken
    linked = db.session.scalar(
        dialect_insert(PartnerLink)
        .values(
            program_id=program_id, partner_id=partner_id, customer_id=customer.id,
            partner_ref=partner_ref,
        )
        .on_conflict_do_nothing()
        .returning(PartnerLink.id)
    )  # fmt: skip
    if linked is None:
        raise Conflict(
            "This partner account or your card account is already linked; unlink it first.",
            field="code",
        )
    return db.session.get_one(PartnerLink, linked), db.session.get_one(Partner, partner_id)


def links_of(*, program_id: int, external_ref: str) -> list[tuple[PartnerLink, Partner]]:
    """The cardholder's links, oldest first, with their partners."""
    customer = find_customer(program_id=program_id, external_ref=external_ref)
    rows = db.session.execute(
        select(PartnerLink, Partner)
        .join(Partner, Partner.id == PartnerLink.partner_id)
        .where(PartnerLink.customer_id == customer.id)
        .order_by(PartnerLink.id)
    )
    return [(link, partner) for link, partner in rows]


def unlink(*, program_id: int, external_ref: str, link_id: int) -> None:
    """Remove one of the cardholder's links; NotFound for anybody else's."""
    customer = find_customer(program_id=program_id, external_ref=external_ref)
    link = db.session.scalar(
        select(PartnerLink).where(PartnerLink.id == link_id, PartnerLink.customer_id == customer.id)
    )
    if link is None:
        raise NotFound(f"Link {link_id} not found.")
    db.session.delete(link)
    db.session.flush()


def linked_customer(partner_id: int, partner_ref: str) -> int | None:
    """Our customer id for the partner's `partner_ref`, if the cardholder linked it."""
    return db.session.scalar(
        select(PartnerLink.customer_id)
        .join(Customer, Customer.id == PartnerLink.customer_id)
        .where(
            PartnerLink.partner_id == partner_id,
            PartnerLink.partner_ref == partner_ref,
            Customer.status == "active",
        )
    )

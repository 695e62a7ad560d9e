"""Partners: the brands of a program, which merchant ids are theirs, and which partner a
transaction was made at.

A partner is `{code, name, merchant_ids, status}`. `code` (lowercase letters, digits and
dashes, unique per program, fixed once created) is what campaigns list in
`conditions.partners`. A merchant id belongs to at most one *active* partner of a program:
`partner_merchants` holds the claims of active partners under a unique (program, merchant id)
key, and every change first locks the program row, so concurrent changes take turns and the
later one gets a 409 naming the merchant id. Every change is audited and bumps
`rules_revision`, so workers reload rules that depend on partners.

`partners_for` is the feed's look-up: merchant id → partner code for a whole chunk, one query.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, insert, select

from rewards.db import db
from rewards.errors import Conflict, InvalidInput, NotFound
from rewards.models import ApiKey, Partner, PartnerMerchant
from rewards.models.partner import PARTNER_STATUSES
from rewards.perks.models import Perk
from rewards.programs import lock_rules, record_rule_change

FIELDS = ("code", "name", "merchant_ids", "status")
CODE_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
MAX_NAME = 200
MAX_MERCHANT_ID = 64  # as stored on transactions
MAX_MERCHANTS = 1000
MAX_ID = 2**63 - 1


class MerchantsTaken(Conflict):
    """Merchant ids another active partner of the program already has (409, one per path)."""

    def __init__(self, detail: str, *, errors: dict[str, list[str]]) -> None:
        super().__init__(detail, field="merchant_ids")
        self.errors = errors


def snapshot(partner: Partner) -> dict[str, Any]:
    """What the audit log keeps of a partner."""
    return {
        "code": partner.code,
        "name": partner.name,
        "merchant_ids": list(partner.merchant_ids),
        "status": partner.status,
    }


# --- validation ----------------------------------------------------------------------------


def validate_partner(raw: Any, *, patch: bool = False) -> dict[str, Any]:
    """`raw` checked field by field; InvalidInput names every problem by its path (`code`,
    `merchant_ids.2`) and refuses unknown fields. A new partner needs `code` and `name` and
    gets the defaults (no merchant ids, active); a patch keeps only the fields it names, and
    may null `merchant_ids` (none) but no other field."""
    if not isinstance(raw, dict):
        raise InvalidInput("A partner is a JSON object.", errors={"_body": ["Must be an object."]})
    errors: dict[str, list[str]] = {
        str(key): ["Unknown field."] for key in raw if key not in FIELDS
    }
    values = {key: raw[key] for key in FIELDS if key in raw}
    if "merchant_ids" in values and values["merchant_ids"] is None:
        values["merchant_ids"] = []
    if not patch:
        values = {"merchant_ids": [], "status": "active", **values}
    errors.update(_missing(raw, values, patch))
    checks = {"code": _code, "name": _name, "merchant_ids": _merchant_ids, "status": _status}
    for key, value in values.items():
        if value is not None:
            for path, message in checks[key](value):
                errors.setdefault(path, []).append(message)
    if errors:
        raise InvalidInput("The partner is not valid; see errors.", errors=errors)
    return values


def _missing(raw: dict[str, Any], values: dict[str, Any], patch: bool) -> dict[str, list[str]]:
    """Code, name and status may never be null; a new partner needs code and name."""
    errors: dict[str, list[str]] = {}
    for key in ("code", "name", "status"):
        if key in raw and raw[key] is None:
            errors[key] = ["Must not be null."]
        elif key not in values and not patch:
            errors[key] = ["Missing data for required field."]
    return errors


def _code(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, str) or not CODE_PATTERN.fullmatch(value):
        return [("code", "1-64 characters: lowercase letters, digits and dashes.")]
    return []


def _name(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, str) or not value.strip():
        return [("name", "Must be a non-empty string.")]
    if len(value) > MAX_NAME or "\x00" in value:
        return [("name", f"At most {MAX_NAME} characters, without NUL.")]
    return []


def _status(value: Any) -> list[tuple[str, str]]:
    if value not in PARTNER_STATUSES:
        return [("status", f"Must be one of: {', '.join(PARTNER_STATUSES)}.")]
    return []


def _merchant_ids(value: Any) -> list[tuple[str, str]]:
    """Processor merchant ids, compared exactly as the feed stores them (no trimming)."""
    if not isinstance(value, list):
        return [("merchant_ids", "Must be a list of strings.")]
    if len(value) > MAX_MERCHANTS:
        return [("merchant_ids", f"At most {MAX_MERCHANTS} merchant ids.")]
    problems, seen = [], set()
    for i, item in enumerate(value):
        path = f"merchant_ids.{i}"
        if not isinstance(item, str) or not item.strip():
            problems.append((path, "Must be a non-empty string."))
        elif len(item) > MAX_MERCHANT_ID or "\x00" in item:
            problems.append((path, f"At most {MAX_MERCHANT_ID} characters, without NUL."))
        elif item in seen:
            problems.append((path, "Listed twice."))
        else:
            seen.add(item)
    return problems


# --- CRUD ----------------------------------------------------------------------------------


def create_partner(
    *, program_id: int, body: Any, actor: str, actor_role: str = "marketer"
) -> Partner:
    """A new partner (active unless `status` says otherwise); 409 naming `code` or each taken
    `merchant_ids.N`. Audited; bumps the program's rules revision."""
    values = validate_partner(body)
    lock_rules(program_id)
    taken = db.session.scalar(
        select(Partner.id).where(Partner.program_id == program_id, Partner.code == values["code"])
    )
    if taken is not None:
        raise Conflict(f"A partner with code {values['code']!r} already exists.", field="code")
    if values["status"] == "active":
        _refuse_taken(program_id, values["merchant_ids"], listed=values["merchant_ids"])
    partner = Partner(program_id=program_id, created_by=actor, **values)
    db.session.add(partner)
    db.session.flush()
    if partner.status == "active":
        _claim(partner, partner.merchant_ids)
    _audit(partner, "partner.create", None, snapshot(partner), actor, actor_role)
    return partner


def update_partner(
    *,
    program_id: int,
    partner_id: int,
    changes: Any,
    actor: str,
    actor_role: str = "marketer",
) -> Partner:
    """Apply a JSON Merge Patch to `{name, merchant_ids, status}` (`merchant_ids` is replaced
    whole; null empties it). The code cannot change: campaigns refer to it. Deactivating frees
    the partner's merchant ids; activating claims them again (409 if another partner has one
    meanwhile). An unchanged patch writes nothing."""
    lock_rules(program_id)
    partner = get_partner(program_id=program_id, partner_id=partner_id, for_update=True)
    before = snapshot(partner)
    values = validate_partner(changes, patch=True)
    if values.get("code", partner.code) != partner.code:
        # Campaigns name partners by code in conditions.partners.
        raise InvalidInput("A partner's code cannot change.", field="code")
    after = {**before, **values}
    if after == before:
        return partner
    wanted = set(after["merchant_ids"]) if after["status"] == "active" else set()
    claimed = set(
        db.session.scalars(
            select(PartnerMerchant.merchant_id).where(PartnerMerchant.partner_id == partner.id)
        )
    )
    added = [m for m in after["merchant_ids"] if m in wanted - claimed]
    _refuse_taken(program_id, added, listed=after["merchant_ids"])
    _release(partner, claimed - wanted)
    _claim(partner, added)
    partner.name, partner.status = after["name"], after["status"]
    partner.merchant_ids = after["merchant_ids"]
    db.session.flush()
    _audit(partner, "partner.update", before, snapshot(partner), actor, actor_role)
    return partner


def delete_partner(
    *, program_id: int, partner_id: int, actor: str, actor_role: str = "marketer"
) -> None:
    """Delete a partner and free its merchant ids and code; campaigns that list the code stop
    matching. Audited; bumps the program's rules revision."""
    lock_rules(program_id)
    partner = get_partner(program_id=program_id, partner_id=partner_id, for_update=True)
    _refuse_delete_in_use(partner)
    before = snapshot(partner)
    db.session.execute(delete(PartnerMerchant).where(PartnerMerchant.partner_id == partner.id))
    db.session.delete(partner)
    db.session.flush()
    _audit(partner, "partner.delete", before, None, actor, actor_role)


def _refuse_delete_in_use(partner: Partner) -> None:
    """409 while perks (and so redemptions and vouchers) or live API keys belong to the
    partner: settlement and the till need it. Deactivating it stops both instead."""
    has_perks = db.session.scalar(select(Perk.id).where(Perk.partner_id == partner.id).limit(1))
    has_keys = db.session.scalar(
        select(ApiKey.id)
        .where(ApiKey.partner_id == partner.id, ApiKey.revoked_at.is_(None))
        .limit(1)
    )
    if has_perks is not None or has_keys is not None:
        raise Conflict(
            "This partner has perks or live API keys; set its status to inactive instead.",
            field="status",
        )


def get_partner(*, program_id: int, partner_id: int, for_update: bool = False) -> Partner:
    """The partner, or NotFound outside the caller's program."""
    if not 1 <= partner_id <= MAX_ID:
        raise NotFound(f"Partner {partner_id} not found.")
    stmt = select(Partner).where(Partner.id == partner_id, Partner.program_id == program_id)
    if for_update:
        stmt = stmt.with_for_update()
    partner = db.session.scalar(stmt)
    if partner is None:
        raise NotFound(f"Partner {partner_id} not found.")
    return partner


def list_partners(
    *, program_id: int, limit: int, before_id: int | None = None, status: str | None = None
) -> list[Partner]:
    """The program's partners, newest first, optionally only those with `status`."""
    stmt = (
        select(Partner)
        .where(Partner.program_id == program_id)
        .order_by(Partner.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(Partner.id < before_id)
    if status is not None:
        stmt = stmt.where(Partner.status == status)
    return list(db.session.scalars(stmt))


# --- derivation ----------------------------------------------------------------------------


def partners_for(program_id: int, merchant_ids: set[str]) -> dict[str, str]:
    """Merchant id → code of the active partner it belongs to, for every id of `merchant_ids`
    that has one: one indexed query however many ids (the feed asks once per chunk)."""
    if not merchant_ids:
        return {}
    stmt = (
        select(PartnerMerchant.merchant_id, Partner.code)
        .join(Partner, Partner.id == PartnerMerchant.partner_id)
        .where(
            PartnerMerchant.program_id == program_id,
            PartnerMerchant.merchant_id.in_(merchant_ids),
            Partner.status == "active",
        )
    )
    return {merchant_id: code for merchant_id, code in db.session.execute(stmt)}


# --- merchant claims -----------------------------------------------------------------------


def _refuse_taken(program_id: int, merchant_ids: list[str], *, listed: list[str]) -> None:
    """MerchantsTaken naming, by its index in `listed` (the request's list), each of
    `merchant_ids` that an active partner of the program already has."""
    if not merchant_ids:
        return
    holders = db.session.execute(
        select(PartnerMerchant.merchant_id, Partner.code)
        .join(Partner, Partner.id == PartnerMerchant.partner_id)
        .where(
            PartnerMerchant.program_id == program_id,
            PartnerMerchant.merchant_id.in_(merchant_ids),
        )
    )
    taken = {merchant_id: code for merchant_id, code in holders}
    if not taken:
        return
    position = {m: i for i, m in enumerate(listed)}
    ordered = sorted(taken, key=position.__getitem__)
    raise MerchantsTaken(
        f"Merchant ids {', '.join(map(repr, ordered))} already belong to another active partner.",
        errors={
            f"merchant_ids.{position[m]}": [f"Already belongs to active partner {taken[m]!r}."]
            for m in ordered
        },
    )


def _claim(partner: Partner, merchant_ids: list[str]) -> None:
    """Record `merchant_ids` (checked free) as the partner's; the primary key is the last word."""
    if merchant_ids:
        rows = [
            {"program_id": partner.program_id, "merchant_id": m, "partner_id": partner.id}
            for m in sorted(merchant_ids)
        ]
        db.session.execute(insert(PartnerMerchant), rows)


def _release(partner: Partner, merchant_ids: set[str]) -> None:
    if merchant_ids:
        db.session.execute(
            delete(PartnerMerchant).where(
                PartnerMerchant.partner_id == partner.id,
                PartnerMerchant.merchant_id.in_(merchant_ids),
            )
        )


def _audit(
    partner: Partner,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    actor: str,
    actor_role: str,
) -> None:
    """Bump the program's rules revision (cached rule sets) and write the audit row."""
    record_rule_change(
        partner.program_id,
        object_type="partner",
        object_id=partner.id,
        action=action,
        before=before,
        after=after,
        actor=actor,
        actor_role=actor_role,
    )

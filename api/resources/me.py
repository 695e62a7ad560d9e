"""The cardholder's own view: profile, balance (pending, expiring), and points history.

The JWT's `sub` is the customer's external ref in the token's `program`; nothing here takes
a customer id from the request, so a cardholder can only ever read their own data.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint
from redis.exceptions import RedisError

from api.auth import auth_doc, current_principal, program_id, requires
from api.fields import PageQueryArgsSchema, UtcDateTime, encode_cursor
from api.idempotency import commit
from campaigns.earning import labels
from campaigns.leaderboards.sync import sync_customer
from campaigns.levels.service import level_progress
from rewards import balances, profile
from rewards.db import db
from rewards.models import Customer, Program
from rewards.models.ledger import ENTRY_KINDS
from rewards.tiers.config import ladders_for
from rewards.tiers.standing import tier_status
from workers.queues import leaderboard_store

blp = Blueprint(
    "me", __name__, url_prefix="/v1", description="Cardholder: profile, balance and history."
)

log = logging.getLogger(__name__)


class ProgramSummarySchema(ma.Schema):
    slug = ma.fields.String()
    name = ma.fields.String()
    points_name = ma.fields.String()
    currency = ma.fields.String()
    timezone = ma.fields.String()


class ConsentsSchema(ma.Schema):
    leaderboard = ma.fields.Boolean(metadata={"description": "May appear on leaderboards"})
    marketing = ma.fields.Boolean(metadata={"description": "Accepts marketing messages"})


class TierStatusSchema(ma.Schema):
    """Where the cardholder stands on the program's tier ladder. Qualifying points are what
    purchases earned (base and campaign bonus, net of refunds) over the rolling 12 months."""

    code = ma.fields.String(metadata={"example": "gold"})
    name = ma.fields.String(metadata={"example": "Gold"})
    earn_multiplier = ma.fields.String(
        metadata={"description": "On base points", "example": "1.25"}
    )
    since = UtcDateTime(
        allow_none=True, metadata={"description": "When this tier was reached; null at the base"}
    )
    review_on = ma.fields.Date(
        allow_none=True,
        metadata={
            "description": "Local date (program timezone) of the yearly review; null at "
            "the base tier. The tier never goes down before it"
        },
    )
    next_tier = ma.fields.String(allow_none=True, metadata={"description": "Null at the top"})
    points_to_next_tier = ma.fields.Integer(
        allow_none=True,
        metadata={
            "description": "Qualifying points still needed for `next_tier` (0: reached, "
            "applied with the next purchase processed); null at the top"
        },
    )
    keep_by = ma.fields.Date(
        allow_none=True, metadata={"description": "The review date; null at the base tier"}
    )
    points_to_keep = ma.fields.Integer(
        allow_none=True,
        metadata={
            "description": "Qualifying points still to earn by `keep_by` to keep this "
            "tier at the review (counted over the 12 months ending that day); null at the base"
        },
    )


class LevelProgressSchema(ma.Schema):
    level = ma.fields.Integer()
    xp = ma.fields.Integer()
    next_level = ma.fields.Integer(
        allow_none=True, metadata={"description": "Null at the top level or without levels"}
    )
    xp_to_next_level = ma.fields.Integer(allow_none=True)


class MeSchema(ma.Schema):
    """The cardholder's profile. The birth date is deliberately absent (age gates are
    enforced server-side; the app has no need to hold it)."""

    external_ref = ma.fields.String()
    nickname = ma.fields.String(allow_none=True)
    status = ma.fields.String()
    tier = ma.fields.String(
        allow_none=True,
        metadata={"description": "The tier's code (as `tier_status.code`); null without tiers"},
    )
    tier_status = ma.fields.Nested(
        TierStatusSchema,
        allow_none=True,
        metadata={"description": "Null when the program has no tiers"},
    )
    level = ma.fields.Integer()
    xp = ma.fields.Integer()
    level_progress = ma.fields.Nested(LevelProgressSchema)
    consents = ma.fields.Nested(ConsentsSchema)
    leaderboard_opted_in_at = UtcDateTime(
        allow_none=True,
        metadata={"description": "When the cardholder opted in to leaderboards themself"},
    )
    member_since = UtcDateTime(attribute="created_at")
    program = ma.fields.Nested(ProgramSummarySchema)


class MeUpdateSchema(ma.Schema):
    """A merge patch of what the cardholder may change; absent fields stay as they are,
    unknown fields are refused (422)."""

    leaderboard_opt_in = ma.fields.Boolean(
        metadata={
            "description": "true: appear on leaderboards by nickname (your own consent, which "
            "under-18s need); sets `consents.leaderboard` and `leaderboard_opted_in_at` (kept "
            "if you had already opted in). false: clears both"
        }
    )
    nickname = ma.fields.String(
        allow_none=True,
        validate=ma.validate.Length(min=1, max=profile.MAX_NICKNAME),
        metadata={
            "description": "Shown on leaderboards; 1-64 characters, a card number in it is "
            "masked (`411111******1111`); null removes it",
        },
    )


class ExpiringSchema(ma.Schema):
    date = ma.fields.Date(metadata={"description": "Local day in the program's timezone"})
    points = ma.fields.Integer()


class ReleaseSchema(ma.Schema):
    available_at = UtcDateTime()
    points = ma.fields.Integer()


class BalanceSchema(ma.Schema):
    available = ma.fields.Integer(
        metadata={"description": "Spendable now; negative = debt from a refund of spent points"}
    )
    pending = ma.fields.Integer(metadata={"description": "Earned, not yet spendable"})
    lifetime_earned = ma.fields.Integer()
    lifetime_redeemed = ma.fields.Integer()
    expiring = ma.fields.List(
        ma.fields.Nested(ExpiringSchema),
        metadata={"description": "Available points expiring in the next 30 days, per day"},
    )
    next_release = ma.fields.Nested(ReleaseSchema, allow_none=True)


class LinkedTransactionSchema(ma.Schema):
    external_id = ma.fields.String()
    merchant_name = ma.fields.String(allow_none=True)


class LedgerEntrySchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String(metadata={"enum": list(ENTRY_KINDS)})
    points = ma.fields.Integer(metadata={"description": "Signed: positive earns, negative spends"})
    state = ma.fields.String(metadata={"enum": ["pending", "available"]})
    available_at = UtcDateTime()
    expires_at = UtcDateTime(allow_none=True)
    occurred_at = UtcDateTime()
    created_at = UtcDateTime()
    explanation = ma.fields.String(metadata={"description": "Why, in one short sentence"})
    details = ma.fields.Dict(metadata={"description": "The structured why (rule, rate, ...)"})
    transaction = ma.fields.Nested(LinkedTransactionSchema, allow_none=True)


class LedgerPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(LedgerEntrySchema))
    next_cursor = ma.fields.String(allow_none=True)


class LedgerQueryArgsSchema(PageQueryArgsSchema):
    kind = ma.fields.String(validate=ma.validate.OneOf(ENTRY_KINDS), load_default=None)


def ledger_line_dict(line: balances.LedgerLine) -> dict[str, Any]:
    """The attributes `LedgerEntrySchema` dumps, for one ledger line."""
    entry = line.entry
    transaction = None
    if line.transaction_external_id is not None:
        transaction = {
            "external_id": line.transaction_external_id,
            "merchant_name": line.merchant_name,
        }
    return {
        "id": entry.id,
        "kind": entry.kind,
        "points": entry.points,
        "state": entry.state,
        "available_at": entry.available_at,
        "expires_at": entry.expires_at,
        "occurred_at": entry.occurred_at,
        "created_at": entry.created_at,
        "explanation": line.summary,
        "details": line.details,
        "transaction": transaction,
    }


def _ref() -> str:
    return current_principal().subject


@blp.route("/me")
class Me(MethodView):
    @requires("cardholder")
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @blp.response(200, MeSchema)
    def get(self) -> Any:
        """The signed-in cardholder's profile, tier, level and program"""
        customer = balances.find_customer(program_id=program_id(), external_ref=_ref())
        return _profile(customer)

    @requires("cardholder")
    @blp.doc(**auth_doc("bearerJWT", problems=(404, 422)))
    @blp.arguments(MeUpdateSchema)
    @blp.response(200, MeSchema)
    def patch(self, changes: dict[str, Any]) -> Any:
        """Change your nickname or leaderboard opt-in (merge patch); audited"""
        customer = profile.update_own_profile(
            program_id=program_id(),
            external_ref=_ref(),
            changes=changes,
            actor=current_principal().actor,
            now=datetime.now(UTC),
        )
        commit()
        if "leaderboard_opt_in" in changes:
            _show_on_boards(customer.id)
        return _profile(customer)


def _show_on_boards(customer_id: int) -> None:
    """Put a cardholder who just opted in on the boards at once, or take one who opted out
    off them (best-effort, after the commit: a read or a rebuild corrects a missed write)."""
    boards = leaderboard_store()
    if boards is None:
        return
    try:
        sync_customer(customer_id, store=boards, now=datetime.now(UTC))
    except (RedisError, OSError) as exc:
        log.warning("leaderboards not updated after an opt-in change (%s)", exc)


def _profile(customer: Customer) -> dict[str, Any]:
    """What `MeSchema` dumps for `customer`."""
    program = db.session.get_one(Program, customer.program_id)
    status = tier_status(customer, ladders_for([program.id]).get(program.id), now=datetime.now(UTC))
    return {
        "external_ref": customer.external_ref,
        "nickname": customer.nickname,
        "status": customer.status,
        "tier": status.code if status else customer.tier,
        "tier_status": status,
        "level": customer.level,
        "xp": customer.xp,
        "level_progress": level_progress(customer),
        "consents": {
            "leaderboard": customer.consent_leaderboard,
            "marketing": customer.consent_marketing,
        },
        "leaderboard_opted_in_at": customer.leaderboard_opted_in_at,
        "created_at": customer.created_at,
        "program": program,
    }


@blp.route("/me/balance")
class MyBalance(MethodView):
    @requires("cardholder")
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @blp.response(200, BalanceSchema)
    def get(self) -> Any:
        """Available, pending and lifetime points, what expires soon and the next release"""
        result = balances.balance(program_id=program_id(), external_ref=_ref())
        return {
            **result.totals.as_dict(),
            "expiring": result.expiring,
            "next_release": result.next_release,
        }


@blp.route("/me/ledger")
class MyLedger(MethodView):
    @requires("cardholder")
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @blp.arguments(LedgerQueryArgsSchema, location="query")
    @blp.response(200, LedgerPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Points history, newest first, each entry with a short explanation"""
        page = balances.ledger_page(
            program_id=program_id(),
            external_ref=_ref(),
            limit=args["limit"],
            before_id=args["cursor"],
            kind=args["kind"],
        )
        # Bonus lots store each campaign's part without the text no cap changed.
        labels.fill_summaries(
            line.details["campaigns"]
            for line in page.lines
            if isinstance(line.details.get("campaigns"), list)
        )
        return {
            "data": [ledger_line_dict(line) for line in page.lines],
            "next_cursor": encode_cursor(page.last_id) if page.last_id else None,
        }

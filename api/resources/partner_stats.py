"""Partner (API key bound to one partner): its figures per program-local day.

`GET /v1/partner/stats?from=&to=`: redemptions and cancellations, the points they moved, and
vouchers issued, used, expired and cancelled on the partner's own perks, each counted on the
day it happened in the program's timezone (`rewards.perks.stats`).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, partner_id, program_id, requires
from api.fields import CalendarDate
from rewards.perks.stats import DEFAULT_DAYS, MAX_DAYS, partner_daily_stats

blp = Blueprint(
    "partner_stats",
    __name__,
    url_prefix="/v1/partner",
    description="Partner: redemptions and vouchers of my perks per day.",
)


class PartnerStatsQueryArgsSchema(ma.Schema):
    from_ = CalendarDate(
        data_key="from",
        load_default=None,
        metadata={
            "description": f"First day (program timezone, inclusive); default: {DEFAULT_DAYS} "
            "days ending on `to`",
            "example": "2026-11-01",
        },
    )
    to = CalendarDate(
        load_default=None,
        metadata={
            "description": "Last day (program timezone, inclusive); default: today. At most "
            f"{MAX_DAYS} days from `from`, else 422 naming `to`",
            "example": "2026-11-30",
        },
    )


class DayFiguresSchema(ma.Schema):
    redemptions = ma.fields.Integer(metadata={"description": "Redemptions made that day"})
    points_redeemed = ma.fields.Integer(metadata={"description": "Their points"})
    cancellations = ma.fields.Integer(
        metadata={"description": "Redemptions cancelled that day (whenever made)"}
    )
    points_refunded = ma.fields.Integer(metadata={"description": "Their points, given back"})
    vouchers_issued = ma.fields.Integer()
    vouchers_used = ma.fields.Integer(metadata={"description": "Confirmed at the till"})
    vouchers_expired = ma.fields.Integer()
    vouchers_cancelled = ma.fields.Integer()


class PartnerStatsDaySchema(DayFiguresSchema):
    date = ma.fields.String(metadata={"format": "date", "description": "Program timezone"})


class PartnerStatsSchema(ma.Schema):
    from_ = ma.fields.String(data_key="from", attribute="from", metadata={"format": "date"})
    to = ma.fields.String(metadata={"format": "date"})
    timezone = ma.fields.String(metadata={"description": "The program's, which days are in"})
    totals = ma.fields.Nested(DayFiguresSchema)
    days = ma.fields.List(
        ma.fields.Nested(PartnerStatsDaySchema),
        metadata={"description": "Every day of the range, oldest first (zeros included)"},
    )


@blp.route("/stats")
class PartnerStats(MethodView):
    @requires("partner")
    @blp.doc(**auth_doc("apiKey", problems=(422,)))
    @blp.arguments(PartnerStatsQueryArgsSchema, location="query")
    @blp.response(200, PartnerStatsSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """My perks' figures per day: redemptions, points and vouchers

        Each event counts on the day it happened in the program's timezone: a redemption on
        the day it was made, its cancellation on the day it was cancelled, a voucher on the
        day it was issued, used, expired or cancelled. A past day's figures never change.
        """
        return partner_daily_stats(
            program_id=program_id(), partner_id=partner_id(), first=args["from_"], last=args["to"]
        )

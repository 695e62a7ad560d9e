"""Marketer and admin: what the program owes a partner for one month, as JSON or CSV.

`GET /v1/partners/{partner_id}/settlement?period=YYYY-MM` (`rewards.perks.settlement`):
points redeemed on the partner's perks in the program-local month less points refunded by
cancellations in it, per perk, vouchers used, and the amount owed at the program's
`point_value_per_1000`. CSV with `Accept: text/csv` or `?format=csv` (`format` wins over
`Accept`); the columns are `CSV_COLUMNS`, one `perk` line per perk, then one `total` line.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, requires
from api.fields import UtcDateTime
from api.resources.partners import PROGRAM_ARG, scope
from rewards.perks.settlement import (
    PERIOD_MESSAGE,
    PERIOD_PATTERN,
    PerkLine,
    Settlement,
    settlement,
)

blp = Blueprint(
    "settlements",
    __name__,
    url_prefix="/v1",
    description="Marketer/admin: what the program owes a partner per month (JSON or CSV).",
)

JSON, CSV = "application/json", "text/csv"
FIGURES = (
    "redemptions",
    "points_redeemed",
    "cancellations",
    "points_refunded",
    "net_points",
    "vouchers_used",
)
CSV_COLUMNS = (
    "line",  # perk | total
    "period",
    "partner_id",
    "partner_code",
    "perk_id",  # empty on the total line
    "perk_title",  # empty on the total line
    *FIGURES,
    "currency",
    "point_value_per_1000",  # minor units per 1,000 points; empty if not set
    "amount_minor_exact",  # net_points at the point value, unrounded; empty if not set
    "amount_owed_minor",  # total line only: amount_minor_exact rounded once, half up
)
HEADER = (
    "period",
    "partner_id",
    "partner_code",
    "partner_name",
    "timezone",
    "starts_at",
    "ends_at",
    "currency",
    "point_value_per_1000",
)
CSV_DOC = (
    "One `perk` line per perk with activity, then one `total` line. Columns: "
    + ", ".join(CSV_COLUMNS)
    + ". `amount_minor_exact` is a decimal (minor units, up to 3 decimals); "
    "`amount_owed_minor` (total line only) is it rounded once, half away from zero."
)


class SettlementQueryArgsSchema(ma.Schema):
    program = PROGRAM_ARG
    period = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(f"^{PERIOD_PATTERN}$", error=PERIOD_MESSAGE),
        metadata={"description": "Calendar month in the program's timezone", "example": "2026-11"},
    )
    format = ma.fields.String(
        load_default=None,
        validate=ma.validate.OneOf(("json", "csv")),
        metadata={"description": "Overrides the Accept header"},
    )


class SettlementFiguresSchema(ma.Schema):
    redemptions = ma.fields.Integer(metadata={"description": "Redeem entries in the month"})
    points_redeemed = ma.fields.Integer()
    cancellations = ma.fields.Integer(
        metadata={"description": "Refund entries in the month (whenever redeemed)"}
    )
    points_refunded = ma.fields.Integer()
    net_points = ma.fields.Integer(metadata={"description": "points_redeemed - points_refunded"})
    vouchers_used = ma.fields.Integer(metadata={"description": "Used at the till in the month"})
    amount_minor_exact = ma.fields.String(
        allow_none=True,
        metadata={
            "description": "net_points at the point value in minor units, unrounded (a "
            "decimal); null while the program has no point value",
            "example": "1234.5",
        },
    )


class SettlementPerkSchema(SettlementFiguresSchema):
    perk_id = ma.fields.Integer()
    title = ma.fields.String()


class SettlementSchema(ma.Schema):
    period = ma.fields.String(metadata={"example": "2026-11"})
    partner_id = ma.fields.Integer()
    partner_code = ma.fields.String()
    partner_name = ma.fields.String()
    timezone = ma.fields.String()
    starts_at = UtcDateTime(metadata={"description": "The month's first instant"})
    ends_at = UtcDateTime(metadata={"description": "The next month's first instant"})
    currency = ma.fields.String()
    point_value_per_1000 = ma.fields.Integer(
        allow_none=True, metadata={"description": "Minor units per 1,000 points (program)"}
    )
    totals = ma.fields.Nested(SettlementFiguresSchema)
    amount_owed_minor = ma.fields.Integer(
        allow_none=True,
        metadata={"description": "totals.amount_minor_exact rounded once, half away from zero"},
    )
    perks = ma.fields.List(ma.fields.Nested(SettlementPerkSchema))


def _exact(amount: Decimal | None) -> str | None:
    return None if amount is None else format(amount, "f")


def _figures(found: Settlement, line: PerkLine | None) -> dict[str, Any]:
    """A perk's figures, or the totals (`line` None)."""
    values: dict[str, Any] = {
        name: int(getattr(line, name)) if line else found.total(name) for name in FIGURES
    }
    values["amount_minor_exact"] = _exact(found.amount_exact(values["net_points"]))
    return values


def settlement_dict(found: Settlement) -> dict[str, Any]:
    """The JSON body."""
    return {
        **{name: getattr(found, name) for name in HEADER},
        "totals": _figures(found, None),
        "amount_owed_minor": found.amount_owed_minor,
        "perks": [
            {"perk_id": line.perk_id, "title": line.title, **_figures(found, line)}
            for line in found.perks
        ],
    }


def _cell(text: str) -> str:
    """Text a spreadsheet will not run as a formula (titles are written by partners)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def settlement_csv(found: Settlement) -> str:
    """The CSV body: `CSV_COLUMNS`, a `perk` line per perk, then the `total` line."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    shared = [found.period, found.partner_id, _cell(found.partner_code)]
    value = found.point_value_per_1000
    for line in [*found.perks, None]:
        figures = _figures(found, line)
        writer.writerow(
            [
                "perk" if line else "total",
                *shared,
                line.perk_id if line else "",
                _cell(line.title) if line else "",
                *(figures[name] for name in FIGURES),
                found.currency,
                "" if value is None else value,
                figures["amount_minor_exact"] or "",
                "" if line or found.amount_owed_minor is None else found.amount_owed_minor,
            ]
        )
    return out.getvalue()


def _wants_csv(chosen: str | None) -> bool:
    if chosen is not None:
        return chosen == "csv"
    return request.accept_mimetypes.best_match((JSON, CSV), default=JSON) == CSV


@blp.route("/partners/<id:partner_id>/settlement")
class PartnerSettlement(MethodView):
    @requires("marketer", "admin")
    @blp.doc(**auth_doc("bearerJWT", problems=(404, 422)))
    @blp.doc(responses={200: {"content": {CSV: {"schema": {"type": "string"}}}}})
    @blp.arguments(SettlementQueryArgsSchema, location="query")
    @blp.response(200, SettlementSchema, description=f"JSON, or CSV: {CSV_DOC}")
    def get(self, args: dict[str, Any], partner_id: int) -> Any:
        """A partner's settlement for a month: points redeemed less refunded, amount owed

        From the ledger: the `redeem` entries of the partner's perks' redemptions made in the
        month less the `redemption_refund` entries of cancellations in it, per perk, at the
        program's `point_value_per_1000`. JSON, or CSV with `Accept: text/csv` or
        `?format=csv`.
        """
        found = settlement(
            program_id=scope(args["program"]), partner_id=partner_id, period=args["period"]
        )
        vary = {"Vary": "Accept"}
        if not _wants_csv(args["format"]):
            return settlement_dict(found), 200, vary
        name = f"settlement-{found.partner_code}-{found.period}.csv"
        return Response(
            settlement_csv(found),
            mimetype=CSV,
            headers={**vary, "Content-Disposition": f'attachment; filename="{name}"'},
        )

"""Marketer: what a campaign would cost (simulation over stored history) and what it has cost.

A simulation over at most `SYNC_LIMIT` stored purchases is answered at once; a longer one runs
as an RQ job whose status and result are read from the status URL (results kept one day).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import current_app, jsonify, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from rq.exceptions import NoSuchJobError
from rq.job import Job

from api.auth import auth_doc, program_id, requires
from api.fields import DateOrDateTime
from campaigns.earning.service import get_campaign
from campaigns.earning.simulate import count_purchases, simulate
from campaigns.earning.stats import campaign_stats
from rewards.db import db
from rewards.errors import InvalidInput, NotFound
from rewards.models import Program
from workers.queues import MAINTENANCE_QUEUE

blp = Blueprint(
    "campaign_insights",
    __name__,
    url_prefix="/v1",
    description="Marketer: campaign simulation over history, and campaign statistics.",
)

SYNC_LIMIT = 50_000  # stored purchases; above it a simulation runs as a job
MAX_RANGE = timedelta(days=366)
RESULT_TTL = 24 * 3600
JOB_TIMEOUT = 3600
JOB_FUNCTION = "workers.simulation.run_simulation"


class SimulationRequestSchema(ma.Schema):
    from_ = DateOrDateTime(
        required=True,
        data_key="from",
        metadata={"example": "2026-10-01", "description": "Start (inclusive)"},
    )
    to = DateOrDateTime(
        required=True,
        metadata={"example": "2026-11-01", "description": "End (exclusive), ≤ 366 days later"},
    )


class DaySchema(ma.Schema):
    date = ma.fields.String(metadata={"format": "date", "description": "Program timezone"})
    points = ma.fields.Integer()
    transactions = ma.fields.Integer()


class CategoryPointsSchema(ma.Schema):
    category = ma.fields.String()
    points = ma.fields.Integer()


class MerchantPointsSchema(ma.Schema):
    merchant_id = ma.fields.String(allow_none=True)
    merchant_name = ma.fields.String(allow_none=True)
    points = ma.fields.Integer()


class SimulationResultSchema(ma.Schema):
    campaign_id = ma.fields.Integer()
    points = ma.fields.Integer(metadata={"description": "Bonus points this campaign grants"})
    customers_reached = ma.fields.Integer()
    transactions_matched = ma.fields.Integer()
    budget_exhausted_on = ma.fields.String(allow_none=True, metadata={"format": "date"})
    per_day = ma.fields.List(ma.fields.Nested(DaySchema))
    top_categories = ma.fields.List(ma.fields.Nested(CategoryPointsSchema))
    top_merchants = ma.fields.List(ma.fields.Nested(MerchantPointsSchema))
    other_campaigns_points = ma.fields.Integer(
        metadata={"description": "Granted in the same run by the program's other live campaigns"}
    )
    transactions_scanned = ma.fields.Integer()
    duration_ms = ma.fields.Integer()


class SimulationJobSchema(ma.Schema):
    job_id = ma.fields.String()
    status_url = ma.fields.String()


class SimulationStatusSchema(ma.Schema):
    job_id = ma.fields.String()
    status = ma.fields.String(metadata={"enum": ["queued", "started", "finished", "failed"]})
    result = ma.fields.Nested(SimulationResultSchema, allow_none=True)


class StatsDaySchema(ma.Schema):
    date = ma.fields.String(metadata={"format": "date", "description": "Program timezone"})
    points = ma.fields.Integer()
    clawed_back = ma.fields.Integer()


class CampaignStatsSchema(ma.Schema):
    campaign_id = ma.fields.Integer()
    points_issued = ma.fields.Integer(metadata={"description": "Σ bonus lots of the campaign"})
    clawed_back = ma.fields.Integer(metadata={"description": "Taken back from them by refunds"})
    net_points = ma.fields.Integer()
    participants = ma.fields.Integer()
    budget_points = ma.fields.Integer(allow_none=True)
    budget_used = ma.fields.Integer()
    budget_remaining = ma.fields.Integer(allow_none=True)
    per_day = ma.fields.List(ma.fields.Nested(StatsDaySchema))


def _instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def _range(data: dict[str, Any], zone: ZoneInfo) -> tuple[datetime, datetime]:
    start, end = _instant(data["from_"], zone), _instant(data["to"], zone)
    if end <= start:
        raise InvalidInput("Must be after `from`.", field="to")
    if end - start > MAX_RANGE:
        raise InvalidInput("At most 366 days after `from`.", field="to")
    return start, end


@blp.route("/campaigns/<id:campaign_id>/simulate")
class CampaignSimulation(MethodView):
    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(404, 422)))
    @blp.arguments(SimulationRequestSchema)
    @blp.response(200, SimulationResultSchema)
    @blp.alt_response(202, schema=SimulationJobSchema, description="Queued as a job")
    def post(self, data: dict[str, Any], campaign_id: int) -> Any:
        """Simulate a campaign (draft or live) with the other live ones over stored history

        Nothing is written. Ranges holding more than SYNC_LIMIT stored purchases run as a job:
        202 with the URL to poll for its status and result.
        """
        program = db.session.get_one(Program, program_id())
        start, end = _range(data, ZoneInfo(program.timezone))
        if (
            current_app.config["JOBS_INLINE"]
            or count_purchases(program_id=program.id, start=start, end=end) <= SYNC_LIMIT
        ):
            return simulate(program_id=program.id, campaign_id=campaign_id, start=start, end=end)
        simulate_args = (program.id, campaign_id, start.isoformat(), end.isoformat())
        get_campaign(program_id=program.id, campaign_id=campaign_id)  # 404 before queueing
        job_id = f"sim-{uuid.uuid4()}"
        queues = current_app.extensions["rewards_queues"]
        queues.queue(MAINTENANCE_QUEUE).enqueue(
            JOB_FUNCTION,
            *simulate_args,
            job_id=job_id,
            job_timeout=JOB_TIMEOUT,
            result_ttl=RESULT_TTL,
            failure_ttl=RESULT_TTL,
            meta={"campaign_id": campaign_id, "program_id": program.id},
        )
        url = url_for(
            "campaign_insights.CampaignSimulationStatus", campaign_id=campaign_id, job_id=job_id
        )
        response = jsonify({"job_id": job_id, "status_url": url})
        response.status_code = 202
        return response


STATUSES = {
    "queued": "queued",
    "deferred": "queued",
    "scheduled": "queued",
    "started": "started",
    "finished": "finished",
}


@blp.route("/campaigns/<id:campaign_id>/simulations/<string:job_id>")
class CampaignSimulationStatus(MethodView):
    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @blp.response(200, SimulationStatusSchema)
    def get(self, campaign_id: int, job_id: str) -> dict[str, Any]:
        """Status of a simulation job, with its result once finished"""
        missing = NotFound(f"Simulation {job_id} not found.")
        if not job_id.startswith("sim-"):
            raise missing
        try:
            job = Job.fetch(job_id, connection=current_app.extensions["rewards_queues"].redis)
        except NoSuchJobError:
            raise missing from None
        if job.meta.get("campaign_id") != campaign_id or job.meta.get("program_id") != (
            program_id()
        ):
            raise missing
        raw = job.get_status(refresh=False)
        status = STATUSES.get(getattr(raw, "value", str(raw)), "failed")
        body: dict[str, Any] = {"job_id": job_id, "status": status}
        if status == "finished":
            body["result"] = job.return_value()
        return body


@blp.route("/campaigns/<id:campaign_id>/stats")
class CampaignStats(MethodView):
    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @blp.response(200, CampaignStatsSchema)
    def get(self, campaign_id: int) -> dict[str, Any]:
        """What a campaign has granted: points issued and clawed back, participants, budget"""
        return campaign_stats(program_id=program_id(), campaign_id=campaign_id)

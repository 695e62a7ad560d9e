"""Marqeta's transaction webhook, received as Marqeta sends it (HTTP Basic, password = API key)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.exceptions import BadRequest

from api.auth import auth_doc, program_id, requires
from api.enqueueing import QueueStatusSchema, queue_after_commit
from api.idempotency import commit
from rewards.errors import InvalidInput
from rewards.marqeta import ingest_webhook

blp = Blueprint(
    "marqeta",
    __name__,
    url_prefix="/v1",
    description="Processor-native feeds: Marqeta transaction webhooks.",
)


class MarqetaResultSchema(QueueStatusSchema):
    batch_id = ma.fields.Integer()
    accepted = ma.fields.Integer(metadata={"description": "settled transactions stored now"})
    duplicates = ma.fields.Integer(metadata={"description": "already stored (Marqeta retries)"})
    ignored = ma.fields.Integer(
        metadata={"description": "unsettled authorizations, declines and other event types"}
    )
    rejected = ma.fields.Integer(
        metadata={"description": "unusable objects; details at /v1/batches/{id}/rejections"}
    )


def _webhook_items() -> list[Any]:
    try:
        # Amounts are decimal major units: keep them exact.
        body = json.loads(request.get_data(), parse_float=Decimal)
    except (ValueError, RecursionError) as exc:
        error = BadRequest("The body is not valid JSON.")
        error.data = {"errors": {"_body": ["not valid JSON"]}}  # type: ignore[attr-defined]
        raise error from exc
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object.", field="transactions")
    items = body.get("transactions", [])
    if not isinstance(items, list):
        raise InvalidInput("`transactions` must be a list.", field="transactions")
    return items


# Marqeta's own transaction object (documented by Marqeta); read field by field, not by schema.
WEBHOOK_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["transactions"],
                "properties": {
                    "transactions": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "description": "Marqeta transaction: token, type, state, amount, "
                            "currency_code, card_token, card_acceptor {mcc, mid, name}, "
                            "preceding_related_transaction_token, user_transaction_time, "
                            "response {code}",
                        },
                    }
                },
            }
        }
    },
}


@blp.route("/feeds/marqeta")
class MarqetaFeed(MethodView):
    @blp.doc(**auth_doc("basicApiKey", problems=(400, 413, 422)), requestBody=WEBHOOK_BODY)
    @blp.response(200, MarqetaResultSchema)
    @requires("processor")
    def post(self) -> dict[str, Any]:
        """Receive a Marqeta transaction webhook (`{"transactions": [...]}`)

        Settled purchases (authorization.clearing, pindebit), refunds and reversals of settled
        transactions are stored; unsettled authorizations and declines are ignored. Retried
        messages are recognised by the transaction token and counted as duplicates.
        """
        summary, ids = ingest_webhook(program_id=program_id(), items=_webhook_items())
        body = {
            "batch_id": summary.batch_id,
            "accepted": summary.accepted,
            "duplicates": summary.duplicates,
            "ignored": summary.ignored,
            "rejected": summary.rejected,
        }
        queue_after_commit(ids, body)
        commit()
        return body

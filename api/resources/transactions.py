"""Transaction feeds in: JSON batches (`/v1/transactions`) and streamed files."""

from __future__ import annotations

import csv
import json
from typing import IO, Any

import marshmallow as ma
from flask import current_app, g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.exceptions import BadRequest, ClientDisconnected, UnsupportedMediaType

from api.auth import auth_doc, program_id, requires
from api.enqueueing import QUEUED, QueueStatusSchema, mark_not_queued, queue_after_commit
from api.idempotency import commit, idempotent
from rewards.db import db
from rewards.errors import InvalidInput
from rewards.feed_files import read_rows
from rewards.feed_rows import RowValidator
from rewards.ingest import finish_batch, ingest_rows, open_batch
from rewards.models import Program
from workers.queues import enqueue_transactions

blp = Blueprint(
    "transactions",
    __name__,
    url_prefix="/v1",
    description="Card transactions pushed by the processor: JSON batches and files.",
)

FILE_TYPES = {
    "text/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
}
EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
# Raised mid-stream when an upload breaks off or is not what it claims to be.
STREAM_ERRORS = (ClientDisconnected, UnicodeDecodeError, csv.Error, OSError)


class TransactionRowSchema(ma.Schema):
    """One card transaction as the processor sends it (documentation; rows are checked in bulk)."""

    external_id = ma.fields.String(required=True, metadata={"description": "unique per program"})
    card_token = ma.fields.String(required=True, metadata={"description": "never a card number"})
    kind = ma.fields.String(
        required=True, validate=ma.validate.OneOf(["purchase", "refund", "reversal"])
    )
    amount_minor = ma.fields.Integer(
        required=True, metadata={"description": "positive, minor units"}
    )
    currency = ma.fields.String(
        required=True, metadata={"description": "the program's ISO 4217 code"}
    )
    mcc = ma.fields.String(required=True, metadata={"description": "4 digits"})
    merchant_id = ma.fields.String()
    merchant_name = ma.fields.String()
    channel = ma.fields.String(validate=ma.validate.OneOf(["in_store", "online", "contactless"]))
    occurred_at = ma.fields.DateTime(required=True, metadata={"description": "with a time zone"})
    original_external_id = ma.fields.String(
        metadata={"description": "required for a reversal; for a refund when known"}
    )


class TransactionBatchCreateSchema(ma.Schema):
    transactions = ma.fields.List(ma.fields.Nested(TransactionRowSchema), required=True)


class RejectionSchema(ma.Schema):
    index = ma.fields.Integer(metadata={"description": "0-based position of the row"})
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "field → messages (values are never echoed)"},
    )


class TransactionBatchSchema(QueueStatusSchema):
    batch_id = ma.fields.Integer()
    accepted = ma.fields.Integer(metadata={"description": "rows stored now"})
    duplicates = ma.fields.Integer(metadata={"description": "valid rows already stored"})
    rejected = ma.fields.List(ma.fields.Nested(RejectionSchema))


class TransactionFileSchema(QueueStatusSchema):
    batch_id = ma.fields.Integer()
    accepted = ma.fields.Integer()
    duplicates = ma.fields.Integer()
    rejected = ma.fields.Integer(metadata={"description": "number of rejected rows"})
    rejections = ma.fields.List(
        ma.fields.Nested(RejectionSchema),
        metadata={"description": "the first 100; all via /v1/batches/{id}/rejections"},
    )


def _bad_request(detail: str, field: str) -> BadRequest:
    error = BadRequest(detail)
    error.data = {"errors": {field: [detail]}}  # type: ignore[attr-defined]
    return error


def _batch_rows() -> list[Any]:
    if not request.is_json:
        raise UnsupportedMediaType("Send the batch as application/json.")
    try:
        body = json.loads(request.get_data(cache=True))
    except (ValueError, RecursionError) as exc:
        raise _bad_request("The body is not valid JSON.", "_body") from exc
    if not isinstance(body, dict) or not isinstance(body.get("transactions"), list):
        raise InvalidInput(
            "The body must be an object with a `transactions` list.", field="transactions"
        )
    unknown = {str(key): ["unknown field"] for key in body if key != "transactions"}
    if unknown:
        raise InvalidInput("The body has unknown fields; see errors.", errors=unknown)
    limit = current_app.config["MAX_BATCH_ROWS"]
    if len(body["transactions"]) > limit:
        raise InvalidInput(
            f"At most {limit} rows per batch; send larger feeds to /v1/transaction-files.",
            field="transactions",
        )
    return body["transactions"]


@blp.route("/transactions")
class Transactions(MethodView):
    @blp.doc(**auth_doc("apiKey", problems=(400, 409, 413, 415, 422)))
    @blp.doc(
        requestBody={
            "required": True,
            "content": {"application/json": {"schema": TransactionBatchCreateSchema}},
        }
    )
    @blp.response(202, TransactionBatchSchema)
    @requires("processor")
    @idempotent
    def post(self) -> tuple[dict[str, Any], int]:
        """Submit a batch of transactions (up to MAX_BATCH_ROWS; Idempotency-Key honoured)

        Bad rows are reported by index and field and never block the good ones; rows whose
        external id is already stored count as duplicates. Processing is queued.
        """
        rows = _batch_rows()
        program = db.session.get_one(Program, program_id())
        batch = open_batch(program_id=program.id, source="api")
        stored: list[int] = []
        summary = ingest_rows(
            batch=batch,
            validator=RowValidator(program_currency=program.currency),
            rows=rows,
            on_chunk=stored.extend,
            chunk_rows=max(len(rows), 1),
        )
        finish_batch(batch)
        body = summary.as_dict()
        result = {
            "batch_id": body["batch_id"],
            "accepted": body["accepted"],
            "duplicates": body["duplicates"],
            "rejected": body["rejections"],
        }
        queue_after_commit(stored, result)
        return result, 202


def _format_of(content_type: str | None, filename: str | None) -> str | None:
    chosen = request.args.get("format")
    if chosen:
        return chosen
    if content_type in FILE_TYPES:
        return FILE_TYPES[content_type]
    for extension, file_format in EXTENSIONS.items():
        if filename and filename.lower().endswith(extension):
            return file_format
    return None


def _upload() -> tuple[str, IO[bytes], str | None]:
    """(format, binary stream, filename) of the raw or multipart upload."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise InvalidInput("Send the file in the multipart field `file`.", field="file")
        file_format = _format_of(upload.mimetype, upload.filename)
        if file_format is None:
            raise InvalidInput(
                "Cannot tell the file's format; name it .csv or .jsonl or pass ?format=.",
                field="file",
            )
        return file_format, upload.stream, upload.filename
    file_format = _format_of(request.mimetype, None)
    if file_format is None:
        raise UnsupportedMediaType(
            "Send text/csv, application/x-ndjson (JSON Lines) or multipart/form-data."
        )
    return file_format, request.stream, request.args.get("filename")


def _commit_chunk(ids: list[int]) -> None:
    """Commit one chunk of an upload, then queue it. Once the queue has failed in this
    upload, later chunks are left to the sweeper too (no wait on Redis per chunk)."""
    commit()
    if g.get("upload_not_queued"):
        return
    if not enqueue_transactions(ids).complete:
        g.upload_not_queued = True


@blp.route("/transaction-files")
class TransactionFiles(MethodView):
    @blp.doc(**auth_doc("apiKey", problems=(400, 415, 422)))
    @blp.doc(
        requestBody={
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                "application/x-ndjson": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            },
        }
    )
    @blp.response(202, TransactionFileSchema)
    @requires("processor")
    def post(self) -> tuple[dict[str, Any], int]:
        """Upload a CSV or JSON Lines file of transactions, of any size (streamed)

        Stored in chunks of 10,000 rows, each committed and queued for processing as it lands.
        If the upload breaks off, the batch is marked failed and the chunks stored so far stay
        (re-sending the whole file is safe: stored rows count as duplicates).
        """
        request.max_content_length = current_app.config.get("MAX_FILE_BYTES", 1 << 40)
        program = db.session.get_one(Program, program_id())
        try:
            file_format, stream, filename = _upload()
            rows = read_rows(stream, file_format)
        except STREAM_ERRORS as exc:
            raise _bad_request(
                f"The file could not be read ({type(exc).__name__}).", "file"
            ) from exc
        batch = open_batch(program_id=program.id, source="file", filename=filename)
        commit()
        validator = RowValidator(
            program_currency=program.currency, digits_allowed=file_format == "csv"
        )
        try:
            summary = ingest_rows(
                batch=batch, validator=validator, rows=rows, on_chunk=_commit_chunk
            )
        except STREAM_ERRORS as exc:
            db.session.rollback()
            finish_batch(batch, error=f"upload broke off: {type(exc).__name__}")
            commit()
            raise _bad_request(
                f"The upload broke off; batch {batch.id} is marked failed and keeps the rows "
                "stored before the break. Re-sending the file is safe.",
                "file",
            ) from exc
        except Exception:
            # Whatever else broke, the batch must not stay `receiving` for ever: it is marked
            # failed (keeping the chunks committed before), then the error handler answers.
            db.session.rollback()
            finish_batch(batch, error="upload failed: unexpected error")
            commit()
            raise
        finish_batch(batch)
        commit()
        body = summary.as_dict()
        body["status"] = QUEUED
        if g.get("upload_not_queued"):
            mark_not_queued(body)
        del body["ignored"]
        return body, 202

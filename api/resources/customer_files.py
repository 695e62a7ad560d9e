"""Bulk enrolment: a CSV or JSON Lines file of customers and their card tokens (processor)."""

from __future__ import annotations

from typing import IO, Any

import marshmallow as ma
from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from api.auth import auth_doc, program_id, requires
from api.idempotency import commit
from api.resources.transactions import EXTENSIONS, FILE_TYPES, STREAM_ERRORS, RejectionSchema
from rewards.db import db
from rewards.enrolment import enrol_customers, read_customers
from rewards.errors import InvalidInput
from workers.queues import enqueue_transactions

blp = Blueprint(
    "customer_files",
    __name__,
    url_prefix="/v1",
    description="Bulk enrolment of customers and cards from a file (processor).",
)

FIELD_DOCS = {
    "external_ref": "required; the bank's id, 1-64 printable characters, never a card number",
    "birth_date": "YYYY-MM-DD (age gates only)",
    "nickname": "at most 64 characters",
    "card_token": "one processor card token",
    "card_tokens": "several tokens: a JSON list, or in CSV separated by spaces (at most 10)",
    "consent_leaderboard": "true/false (CSV also 1/0, yes/no)",
    "consent_marketing": "true/false (CSV also 1/0, yes/no)",
    "tags": "a JSON list, or in CSV separated by spaces; lowercase, at most 20",
}


DESCRIPTION = (
    "Rows are written in committed chunks of 5,000 with set-based upserts. Each row is checked "
    "alone and a bad row never blocks the others; a re-sent file changes nothing (its rows "
    "count as unchanged). A row's absent or empty values keep what is stored. Cards enrolled "
    "now release their waiting transactions.\n\nColumns (CSV header) or keys (JSON Lines):\n"
    + "\n".join(f"- `{name}`: {text}" for name, text in FIELD_DOCS.items())
)


class CustomerFileSchema(ma.Schema):
    rows = ma.fields.Integer(metadata={"description": "data rows read"})
    created = ma.fields.Integer(metadata={"description": "customers enrolled now"})
    updated = ma.fields.Integer(
        metadata={"description": "customers already enrolled whose fields or cards changed"}
    )
    unchanged = ma.fields.Integer(
        metadata={"description": "customers already enrolled exactly as the row says"}
    )
    rejected = ma.fields.Integer(metadata={"description": "rows refused; nothing from them stored"})
    cards_enrolled = ma.fields.Integer(metadata={"description": "card tokens enrolled now"})
    rejections = ma.fields.List(
        ma.fields.Nested(RejectionSchema),
        metadata={"description": "the first 100 rejected rows (values are never echoed)"},
    )


def _bad_request(detail: str) -> BadRequest:
    error = BadRequest(detail)
    error.data = {"errors": {"file": [detail]}}  # type: ignore[attr-defined]
    return error


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


def _upload() -> tuple[str, IO[bytes]]:
    """(format, binary stream) of the raw or multipart upload."""
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
        return file_format, upload.stream
    file_format = _format_of(request.mimetype, None)
    if file_format is None:
        raise UnsupportedMediaType(
            "Send text/csv, application/x-ndjson (JSON Lines) or multipart/form-data."
        )
    return file_format, request.stream


def _commit_chunk(released: list[int]) -> None:
    commit()
    if released:
        enqueue_transactions(released)


@blp.route("/customer-files")
class CustomerFiles(MethodView):
    @blp.doc(**auth_doc("apiKey", "basicApiKey", problems=(400, 415, 422)))
    @blp.doc(
        requestBody={
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            },
        }
    )
    @blp.doc(description=DESCRIPTION)
    @blp.response(200, CustomerFileSchema)
    @requires("processor")
    def post(self) -> dict[str, Any]:
        """Enrol customers and their card tokens from a CSV or JSON Lines file (streamed)"""
        request.max_content_length = current_app.config.get("MAX_FILE_BYTES", 1 << 40)
        target = program_id()
        try:
            file_format, stream = _upload()
            rows = read_customers(stream, file_format)
            summary = enrol_customers(program_id=target, rows=rows, on_chunk=_commit_chunk)
        except STREAM_ERRORS as exc:
            db.session.rollback()
            raise _bad_request(
                f"The upload broke off or could not be read ({type(exc).__name__}); the chunks "
                "stored before the break are kept. Re-sending the whole file is safe."
            ) from exc
        return summary.as_dict()

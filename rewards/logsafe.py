"""Log lines never carry a card number or a voucher code: every record's message, args and
traceback are masked (a voucher code travels in the till's request path).

`install()` wraps the process's log-record factory, so every record (from any logger: ours,
werkzeug's, gunicorn's, rq's, caught by any handler) is masked once, when it is created.
`PanMaskingFilter` does the same as a filter, for handler configurations that want it explicitly.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

from rewards.pan import mask_pans, may_contain_pan

# Whatever follows `/partner/vouchers/` in a path (the code of `/v1/partner/vouchers/{code}/
# redeem`, or of a mistyped path) up to the end of the path: a request line, a werkzeug or
# access log. Codes may hold quotes; they hold no whitespace once URL-encoded.
_VOUCHER_PATH = re.compile(r"(/partner/vouchers/)[^\s?]+")

_INSTALLED_MARK = "_pan_masking"


def mask_record(record: logging.LogRecord) -> None:
    """Render the record's message with its args, mask card numbers in it and its traceback."""
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a bad format string: keep it as logging would show it
        message = f"{record.msg!r} {record.args!r}"
    if may_contain_pan(message):
        message = mask_pans(message)
    if "/partner/vouchers/" in message:
        message = _VOUCHER_PATH.sub(r"\1[code]", message)
    record.msg, record.args = message, ()
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        # Formatted now and kept in exc_text, which formatters use instead of exc_info.
        record.exc_text = mask_pans("".join(traceback.format_exception(*record.exc_info)).rstrip())
    if record.stack_info:
        record.stack_info = mask_pans(record.stack_info)


class PanMaskingFilter(logging.Filter):
    """A logging filter that masks card numbers in each record (it never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


def install() -> None:
    """Mask every log record the process creates from now on (idempotent)."""
    current = logging.getLogRecordFactory()
    if getattr(current, _INSTALLED_MARK, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        mask_record(record)
        return record

    setattr(factory, _INSTALLED_MARK, True)
    logging.setLogRecordFactory(factory)
    for name in ("", "gunicorn.error", "gunicorn.access", "rq.worker", "werkzeug"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, PanMaskingFilter) for f in logger.filters):
            logger.addFilter(PanMaskingFilter())

"""The inbound-request guard: one place where every request's text is checked before any view.

Runs as a `before_request` hook, once per request, over the path parameters, the query
arguments, the headers and the parsed JSON body:

- JSON nested deeper than `MAX_JSON_DEPTH` → 400 (checked before any schema work);
- strings PostgreSQL cannot store (NUL, lone UTF-16 surrogates) → 422 naming the field;
- card numbers (PANs, see `rewards.pan`): in display text (`DISPLAY_FIELDS`, by field name)
  they are masked in place to the first 6 / last 4 digits, so the view sees masked text; in
  any other field (identifiers, references, keys) the request is refused with a 422 that
  names the field and never echoes the value.

Feed endpoints (`ROW_CHECKED_ENDPOINTS`) get only the depth check here: their rows are checked
one by one in `rewards.feed_rows`, so one bad row is rejected alone and never blocks the batch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from flask import Flask, Response, request
from werkzeug.datastructures import ImmutableMultiDict

from api.errors import problem
from rewards.pan import contains_pan, mask_pans, may_contain_pan
from rewards.textsafe import UNSTORABLE_MESSAGE, storable

MAX_JSON_DEPTH = 32
# Free text a person typed for people to read: a card number in it is masked and the text kept
# (a merchant's or a campaign's name must not block a purchase or a setup).
DISPLAY_FIELDS = frozenset(
    {
        "name",
        "nickname",
        "merchant_name",
        "message",
        "reason",
        "description",
        "brand_partner",
        "points_name",
        "title",
        "label",
        "filename",
    }
)
# Bodies read row by row by the feed code, which rejects a bad row alone.
ROW_CHECKED_ENDPOINTS = frozenset({"transactions.Transactions", "marqeta.MarqetaFeed"})
PAN_MESSAGE = "looks like a card number (PAN); card numbers are never accepted here"
DEPTH_MESSAGE = f"JSON nested deeper than {MAX_JSON_DEPTH} levels is not accepted"
_MAX_REPORTED = 50
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")


class TooDeep(ValueError):
    """A JSON document nested deeper than the limit."""


def load_json(data: bytes | str, **options: Any) -> Any:
    """`json.loads` that refuses documents nested deeper than `MAX_JSON_DEPTH`.

    Raises `TooDeep` for deep input (also input deep enough to exhaust Python's recursion)
    and `ValueError` for input that is not JSON.
    """
    if _bracket_depth(data) > MAX_JSON_DEPTH:
        raise TooDeep(DEPTH_MESSAGE)
    try:
        return json.loads(data, **options)
    except RecursionError as exc:
        raise TooDeep(DEPTH_MESSAGE) from exc


def _bracket_depth(data: bytes | str) -> int:
    """The nesting depth of a JSON text, worked out with C-speed string operations.

    A text with few opening brackets is shallow whatever they are; otherwise strings are cut
    out (brackets inside them do not nest) and the running depth of the rest is measured.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return 0
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    steps = (1 if byte in (0x5B, 0x7B) else -1 for byte in brackets)
    return max(accumulate(steps), default=0)


def _walk(value: Any) -> Iterator[tuple[str, bool, Any, Any, str]]:
    """(path, is_key, container, slot, text) for every key and string value, without recursion."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, where = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for slot, item in items:
            child = f"{where}.{slot}" if where else str(slot)
            if isinstance(slot, str):
                yield child, True, node, slot, slot
            if isinstance(item, str):
                yield child, False, node, slot, item
            elif isinstance(item, dict | list):
                stack.append((item, child))


def _field_name(path: str) -> str:
    """The innermost non-index segment of a path: `transactions.0.merchant_name` → merchant_name."""
    for part in reversed(path.split(".")):
        if not part.isdigit():
            return part
    return path


class _Findings:
    """Errors per field path (values never echoed); paths that hold a PAN are masked too."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        if len(self.errors) < _MAX_REPORTED:
            self.errors.setdefault(_safe_path(path), []).append(message)

    def check_text(self, path: str, value: str) -> str | None:
        """None if `value` is refused; else the text to keep (masked display text)."""
        if not storable(value):
            self.add(path, UNSTORABLE_MESSAGE)
            return None
        if not may_contain_pan(value) or not contains_pan(value):
            return value
        if _field_name(path) in DISPLAY_FIELDS:
            return mask_pans(value)
        self.add(path, PAN_MESSAGE)
        return None


def _safe_path(path: str) -> str:
    """A field path fit to echo: card numbers in keys masked, unstorable characters replaced."""
    masked = mask_pans(path)
    return masked if storable(masked) else masked.encode("utf-8", "replace").decode("utf-8")


def _check_body(body: Any, findings: _Findings) -> bool:
    """Check a parsed JSON body in place; True if display text was masked."""
    if not isinstance(body, dict | list):
        return False
    masked_any = False
    for path, is_key, container, slot, text in _walk(body):
        if is_key:
            # A field name is never display text: refuse rather than rename it.
            if not storable(text):
                findings.add(path, "field name: " + UNSTORABLE_MESSAGE)
            elif contains_pan(text):
                findings.add(path, "field name " + PAN_MESSAGE)
            continue
        kept = findings.check_text(path, text)
        if kept is not None and kept != text:
            container[slot] = kept
            masked_any = True
    return masked_any


def _check_query(findings: _Findings) -> None:
    masked: list[tuple[str, str]] = []
    changed = False
    for name, value in request.args.items(multi=True):
        kept = findings.check_text(name, value)
        if kept is not None and kept != value:
            changed = True
        masked.append((name, kept if kept is not None else value))
    if changed:
        # Views read `request.args`: give them the masked copy.
        request.args = ImmutableMultiDict(masked)  # type: ignore[misc]


def _check_path_and_headers(findings: _Findings) -> None:
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str):
            findings.check_text(name, value)
    for name, value in request.headers.items():
        if not storable(value):
            findings.add(name, UNSTORABLE_MESSAGE)
    key = request.headers.get("Idempotency-Key")
    if key is not None and contains_pan(key):
        findings.add("Idempotency-Key", PAN_MESSAGE)


def _check_json(findings: _Findings) -> Response | None:
    data = request.get_data(cache=True)
    if not data:
        return None
    try:
        body = load_json(data)
    except TooDeep:
        return problem(400, DEPTH_MESSAGE, errors={"_body": [DEPTH_MESSAGE]})
    except ValueError:
        return None  # not JSON: the view answers its own 400
    if request.endpoint in ROW_CHECKED_ENDPOINTS:
        return None
    if _check_body(body, findings) and not findings.errors:
        request._cached_data = json.dumps(body).encode()  # type: ignore[attr-defined]
        request._cached_json = (body, body)  # type: ignore[attr-defined]
    return None


def guard_request() -> Response | None:
    """`before_request`: refuse deep JSON, unstorable text and card numbers; mask display text."""
    findings = _Findings()
    _check_path_and_headers(findings)
    _check_query(findings)
    if request.is_json or request.endpoint in ROW_CHECKED_ENDPOINTS:
        refused = _check_json(findings)
        if refused is not None:
            return refused
    if findings.errors:
        return problem(
            422,
            "The request holds values that are never accepted; see errors (values not echoed).",
            errors=findings.errors,
        )
    return None


def register(app: Flask) -> None:
    """Install the guard in front of every view."""
    app.before_request(guard_request)

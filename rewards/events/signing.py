"""Standard Webhooks signatures: sign outbound deliveries and verify inbound partner events.

Pure functions over secrets, headers and body bytes (https://www.standardwebhooks.com/): the
signature is HMAC-SHA256 over ``f"{msg_id}.{timestamp}."`` followed by the raw body, keyed
with the base64-decoded part of a ``whsec_`` secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from secrets import token_bytes
from typing import Literal

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 300

Reason = Literal[
    "missing-headers", "bad-timestamp", "timestamp-out-of-tolerance", "no-valid-signature"
]


class SignatureError(ValueError):
    """An inbound webhook failed verification; `reason` is a stable slug for logs and metrics."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason: Reason = reason


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(token_bytes(32)).decode("ascii")


def sign(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1,<base64>`` per secret, in the given order."""
    keys = _keys(secrets)
    content = _signed_content(msg_id, str(timestamp), body)
    return " ".join("v1," + base64.b64encode(_mac(key, content)).decode("ascii") for key in keys)


def headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one delivery attempt."""
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secrets, msg_id, timestamp, body),
    }


def verify(
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE,
) -> str:
    """Check an inbound request's signature and freshness; return its webhook-id.

    Raises:
        SignatureError: headers missing, timestamp unparsable or too far from `now`, or no
            ``v1`` signature matching any of `secrets`.
    """
    # Secrets are ours: decode them first so a bad one fails loudly whatever the request holds.
    keys = _keys(secrets)
    msg_id, raw_timestamp, signature = _required_headers(headers)
    timestamp = _parse_timestamp(raw_timestamp)
    if abs(now - timestamp) > tolerance:
        raise SignatureError(
            "timestamp-out-of-tolerance",
            f"timestamp is {timestamp - now:+d} s from now; at most {tolerance} s is accepted",
        )
    # The sender signed the timestamp exactly as it wrote it in the header.
    content = _signed_content(msg_id, raw_timestamp, body)
    expected = [_mac(key, content) for key in keys]
    offered = _offered_v1_macs(signature)
    if not any(hmac.compare_digest(o, e) for o in offered for e in expected):
        raise SignatureError("no-valid-signature", "no v1 signature matches a known secret")
    return msg_id


def _keys(secrets: Sequence[str]) -> list[bytes]:
    # A lone str is a Sequence[str] too: it would sign with one key per character.
    if isinstance(secrets, str):
        raise TypeError("secrets must be a sequence of secrets, not one str")
    if not secrets:
        raise ValueError("at least one webhook secret is needed")
    return [_key(secret) for secret in secrets]


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    # The spec's reference libraries accept unpadded base64, so partners' secrets may lack it.
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(padded, validate=True)
    except ValueError:
        raise ValueError("webhook secret is not valid base64") from None
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def _signed_content(msg_id: str, timestamp: str, body: bytes) -> bytes:
    return f"{msg_id}.{timestamp}.".encode() + body


def _mac(key: bytes, content: bytes) -> bytes:
    return hmac.new(key, content, hashlib.sha256).digest()


def _required_headers(headers: Mapping[str, str]) -> tuple[str, str, str]:
    # A plain dict keeps the sender's casing; header names are case-insensitive (RFC 9110).
    # The first occurrence wins, as with werkzeug's Headers.get.
    found: dict[str, str] = {}
    for name, value in headers.items():
        found.setdefault(name.lower(), value)
    names = (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
    missing = [name for name in names if not found.get(name)]
    if missing:
        raise SignatureError("missing-headers", "missing " + ", ".join(missing))
    return found[ID_HEADER], found[TIMESTAMP_HEADER], found[SIGNATURE_HEADER]


def _parse_timestamp(raw: str) -> int:
    # int() would also take " 12", "+12", "1_2" and non-ASCII digits; the sender signed the
    # literal header, so only plain ASCII digits are a timestamp. Python caps int() at 4300
    # digits, hence the ValueError guard on absurdly long values.
    if not (raw.isascii() and raw.isdigit()):
        raise SignatureError("bad-timestamp", "webhook-timestamp is not an integer")
    try:
        return int(raw)
    except ValueError:
        raise SignatureError("bad-timestamp", "webhook-timestamp is not an integer") from None


def _offered_v1_macs(header: str) -> list[bytes]:
    offered = []
    for entry in header.split():
        version, _, encoded = entry.partition(",")
        # Other versions are for other schemes (e.g. v1a, asymmetric) the spec lets senders add.
        if version != "v1":
            continue
        try:
            offered.append(base64.b64decode(encoded, validate=True))
        except ValueError:
            continue  # one malformed entry must not hide a valid one beside it
    return offered

"""Standard Webhooks signing: the spec's published vector, the reference library both ways,
secret rotation, timestamp tolerance, every failure reason and hostile header values."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook
from werkzeug.datastructures import Headers

from rewards.events.signing import (
    SignatureError,
    headers,
    new_secret,
    sign,
    verify,
)

# The test vector the spec's reference libraries publish (checked against the installed package).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

OLD_SECRET = "whsec_" + base64.b64encode(b"old secret of the partner endpoint").decode()
NEW_SECRET = "whsec_" + base64.b64encode(b"new secret of the partner endpoint").decode()


def vector_headers(
    msg_id: str = VECTOR_ID, timestamp: str = str(VECTOR_TS), signature: str = VECTOR_SIGNATURE
) -> dict[str, str]:
    """The published vector's headers, with some values replaced."""
    return {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signature}


def reference_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """What the spec's reference implementation signs, as an independent expectation."""
    return Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body)


def reason_of(secrets: list[str], hdrs: dict[str, str], body: bytes, now: int) -> str:
    """The failure reason verify gives; fails the test if verify accepts."""
    with pytest.raises(SignatureError) as failure:
        verify(secrets, hdrs, body, now=now)
    return failure.value.reason


def test_published_vector_is_signed_as_the_spec_says() -> None:
    assert sign([VECTOR_SECRET], VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE
    assert headers([VECTOR_SECRET], VECTOR_ID, VECTOR_TS, VECTOR_BODY) == vector_headers()


def test_published_vector_verifies_and_gives_its_id() -> None:
    assert verify([VECTOR_SECRET], vector_headers(), VECTOR_BODY, now=VECTOR_TS) == VECTOR_ID


def test_secret_without_prefix_is_the_same_key() -> None:
    bare = VECTOR_SECRET.removeprefix("whsec_")

    assert sign([bare], VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE
    assert verify([bare], vector_headers(), VECTOR_BODY, now=VECTOR_TS) == VECTOR_ID


def test_reference_library_accepts_our_headers() -> None:
    now = int(time.time())  # the reference checks the timestamp against the real clock
    body = '{"event": "points.awarded", "name": "Zoë"}'.encode()

    sent = headers([NEW_SECRET, OLD_SECRET], "msg_ü_1", now, body)

    assert Webhook(NEW_SECRET).verify(body, sent) == {"event": "points.awarded", "name": "Zoë"}
    assert Webhook(OLD_SECRET).verify(body, sent) is not None


def test_we_accept_what_the_reference_library_signs() -> None:
    now = datetime.now(UTC)
    body = b'{"type": "partner.offer.redeemed"}'
    received = {
        "webhook-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(OLD_SECRET).sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now, body),
    }

    accepted = verify([OLD_SECRET], received, body, now=int(now.timestamp()))

    assert accepted == "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"


def test_new_secret_is_32_random_bytes_the_reference_can_use() -> None:
    first, second = new_secret(), new_secret()

    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 32
    assert first != second
    assert sign([first], "msg_1", 1, b"{}") == reference_signature(first, "msg_1", 1, b"{}")


def test_rotation_signs_with_both_secrets_in_order_and_either_receiver_verifies() -> None:
    body = b'{"points": 120}'

    sent = headers([NEW_SECRET, OLD_SECRET], "msg_rot", VECTOR_TS, body)

    assert sent["webhook-signature"] == " ".join(
        [
            reference_signature(NEW_SECRET, "msg_rot", VECTOR_TS, body),
            reference_signature(OLD_SECRET, "msg_rot", VECTOR_TS, body),
        ]
    )
    assert verify([OLD_SECRET], sent, body, now=VECTOR_TS) == "msg_rot"
    assert verify([NEW_SECRET], sent, body, now=VECTOR_TS) == "msg_rot"
    assert reason_of([VECTOR_SECRET], sent, body, VECTOR_TS) == "no-valid-signature"


def test_receiver_holding_both_secrets_accepts_a_sender_with_only_one() -> None:
    body = b'{"points": 5}'
    sent = headers([OLD_SECRET], "msg_old_only", VECTOR_TS, body)

    assert verify([NEW_SECRET, OLD_SECRET], sent, body, now=VECTOR_TS) == "msg_old_only"


@pytest.mark.parametrize("offset", [-300, 300, 0])
def test_timestamp_within_tolerance_is_accepted(offset: int) -> None:
    now = VECTOR_TS + offset

    assert verify([VECTOR_SECRET], vector_headers(), VECTOR_BODY, now=now) == VECTOR_ID


@pytest.mark.parametrize("offset", [-301, 301, 10**9])
def test_timestamp_beyond_tolerance_is_refused(offset: int) -> None:
    now = VECTOR_TS + offset

    reason = reason_of([VECTOR_SECRET], vector_headers(), VECTOR_BODY, now)

    assert reason == "timestamp-out-of-tolerance"


def test_tolerance_is_configurable() -> None:
    verify([VECTOR_SECRET], vector_headers(), VECTOR_BODY, now=VECTOR_TS + 60, tolerance=60)

    with pytest.raises(SignatureError, match="at most 59 s") as failure:
        verify([VECTOR_SECRET], vector_headers(), VECTOR_BODY, now=VECTOR_TS + 60, tolerance=59)
    assert failure.value.reason == "timestamp-out-of-tolerance"


@pytest.mark.parametrize("name", ["webhook-id", "webhook-timestamp", "webhook-signature"])
@pytest.mark.parametrize("absent", ["dropped", "empty"])
def test_missing_header_is_named(name: str, absent: str) -> None:
    hdrs = vector_headers()
    if absent == "dropped":
        del hdrs[name]
    else:
        hdrs[name] = ""

    with pytest.raises(SignatureError, match=f"missing {name}$") as failure:
        verify([VECTOR_SECRET], hdrs, VECTOR_BODY, now=VECTOR_TS)
    assert failure.value.reason == "missing-headers"


def test_all_missing_headers_are_named() -> None:
    with pytest.raises(SignatureError) as failure:
        verify([VECTOR_SECRET], {"content-type": "application/json"}, b"", now=VECTOR_TS)

    assert failure.value.reason == "missing-headers"
    assert isinstance(failure.value, ValueError)
    assert str(failure.value) == "missing webhook-id, webhook-timestamp, webhook-signature"


@pytest.mark.parametrize(
    "timestamp",
    [
        "yesterday",
        "1614265330.0",
        " 1614265330",
        "+1614265330",
        "-1614265330",
        "1_614_265_330",
        "١٦١٤٢٦٥٣٣٠",  # Arabic-Indic digits, which int() would take
        "9" * 5000,  # past Python's int() digit limit
    ],
)
def test_timestamp_that_is_not_a_plain_integer_is_refused(timestamp: str) -> None:
    hdrs = vector_headers(timestamp=timestamp)

    assert reason_of([VECTOR_SECRET], hdrs, VECTOR_BODY, VECTOR_TS) == "bad-timestamp"


@pytest.mark.parametrize(
    ("hdrs", "body"),
    [
        (vector_headers(), b'{"test": 2432232315}'),
        (vector_headers(msg_id="msg_other"), VECTOR_BODY),
        (vector_headers(msg_id="msg_ü"), VECTOR_BODY),
        (vector_headers(timestamp=str(VECTOR_TS + 1)), VECTOR_BODY),
    ],
    ids=["body", "id", "non-ascii-id", "timestamp"],
)
def test_tampered_body_id_or_timestamp_has_no_valid_signature(
    hdrs: dict[str, str], body: bytes
) -> None:
    assert reason_of([VECTOR_SECRET], hdrs, body, VECTOR_TS) == "no-valid-signature"


def test_header_names_in_any_case() -> None:
    mixed = {
        "Webhook-Id": VECTOR_ID,
        "WEBHOOK-TIMESTAMP": str(VECTOR_TS),
        "webhook-Signature": VECTOR_SIGNATURE,
    }

    assert verify([VECTOR_SECRET], mixed, VECTOR_BODY, now=VECTOR_TS) == VECTOR_ID
    assert verify([VECTOR_SECRET], Headers(mixed), VECTOR_BODY, now=VECTOR_TS) == VECTOR_ID


@pytest.mark.parametrize(
    "signature",
    [
        " ",
        "v1,",
        "v1",
        ",",
        "v1,!!!not-base64!!!",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",  # the vector's, padding cut off
        "v1, g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1 ,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "V1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=é",
        "v1,ĝ0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=\x00",
        "v1,AAAA",
    ],
)
def test_garbage_signature_header_is_refused(signature: str) -> None:
    hdrs = vector_headers(signature=signature)

    assert reason_of([VECTOR_SECRET], hdrs, VECTOR_BODY, VECTOR_TS) == "no-valid-signature"


def test_valid_signature_among_garbage_and_extra_spaces_verifies_as_the_reference_does() -> None:
    signature = f"  v1a,xyz   v1,!!!  v2,{VECTOR_SIGNATURE[3:]} v1,  {VECTOR_SIGNATURE}  "
    hdrs = vector_headers(signature=signature)
    now = datetime.now(UTC)
    current = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature.replace(
            VECTOR_SIGNATURE, Webhook(VECTOR_SECRET).sign(VECTOR_ID, now, VECTOR_BODY)
        ),
    }

    assert verify([VECTOR_SECRET], hdrs, VECTOR_BODY, now=VECTOR_TS) == VECTOR_ID
    Webhook(VECTOR_SECRET).verify(VECTOR_BODY, current)  # the reference agrees: no exception


def test_a_bad_secret_is_a_programming_error_not_a_signature_failure() -> None:
    for bad in (["whsec_not base64!"], ["whsec_"], ["whsec_é"], []):
        with pytest.raises(ValueError) as failure:
            sign(bad, VECTOR_ID, VECTOR_TS, VECTOR_BODY)
        assert not isinstance(failure.value, SignatureError)
        with pytest.raises(ValueError) as failure:
            verify(bad, vector_headers(), VECTOR_BODY, now=VECTOR_TS)
        assert not isinstance(failure.value, SignatureError)
    with pytest.raises(TypeError):
        sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY)


@settings(max_examples=200, deadline=None)
@given(
    key=st.binary(min_size=1, max_size=64),
    msg_id=st.text(min_size=1, max_size=40),
    timestamp=st.integers(min_value=0, max_value=2**33),
    body=st.binary(min_size=1, max_size=512),
    data=st.data(),
)
def test_signatures_round_trip_and_any_flipped_body_byte_fails(
    key: bytes, msg_id: str, timestamp: int, body: bytes, data: st.DataObject
) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    sent = headers([secret], msg_id, timestamp, body)
    at = data.draw(st.integers(min_value=0, max_value=len(body) - 1), label="flipped byte")
    flip = data.draw(st.integers(min_value=1, max_value=255), label="xor mask")
    tampered = body[:at] + bytes([body[at] ^ flip]) + body[at + 1 :]

    assert sent["webhook-signature"] == reference_signature(secret, msg_id, timestamp, body)
    assert verify([secret], sent, body, now=timestamp) == msg_id
    assert reason_of([secret], sent, tampered, timestamp) == "no-valid-signature"

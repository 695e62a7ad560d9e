"""Sending one webhook: a POST to a checked, pinned address, within a deadline and a size limit.

`send` checks the URL again just before connecting (resolving the host once more) and then
connects to exactly the addresses it checked, so a DNS answer that changes between check and
connect (rebinding) is never used. It never follows redirects and never raises for network
trouble or a refused address: every result is an `Outcome` a delivery job can record.
`Outcome.error` starts with one of: "unsafe address: ", "name resolution failed: ", "timeout",
"connection refused", "connection reset", "connection closed without a response",
"TLS error: ", "bad response: ", "connection failed: ".
"""

from __future__ import annotations

import functools
import http.client
import io
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from rewards.events.addresses import (
    HostNotFound,
    IPAddress,
    Policy,
    Target,
    UnsafeURL,
    check_url,
)
from rewards.textsafe import clean_text

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["HostNotFound", "Outcome", "Policy", "Target", "UnsafeURL", "check_url", "send"]

USER_AGENT = "YouthCardRewards-Webhooks/1.0"
EXCERPT_BYTES = 1024
# A partner may slow deliveries down, not park them for days; the retry schedule decides beyond.
MAX_RETRY_AFTER = 3600.0
# Framing and routing are ours to set: a caller's value would contradict the pinned target.
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What happened to one delivery attempt, as the delivery log records it."""

    status: int | None  # None when no HTTP answer arrived
    retry_after: float | None = None  # seconds, from Retry-After on a 429 or 503
    latency_ms: float
    error: str | None = None  # may accompany a status when the body could not be read
    body_excerpt: str = ""

    @property
    def delivered(self) -> bool:
        """True when the partner answered with a 2xx status."""
        return self.status is not None and 200 <= self.status < 300


def send(url: str, body: bytes, headers: Mapping[str, str], policy: Policy) -> Outcome:
    """POST `body` to `url` after checking it again; never raises for network trouble or an
    unsafe address (the `Outcome` says what happened), only for programming errors."""
    extra = _caller_headers(headers)
    started = time.monotonic()
    try:
        target = check_url(url, policy)
    except HostNotFound as refusal:
        return _failure(started, f"name resolution failed: {refusal.reason}")
    except UnsafeURL as refusal:
        return _failure(started, f"unsafe address: {refusal.reason}")
    tls = (policy.tls or _system_trust()) if target.scheme == "https" else None
    # The deadline starts before the lookup above: `timeout` bounds the whole attempt.
    connection = _PinnedConnection(target, started + policy.timeout, tls)
    try:
        return _exchange(connection, _headers(target, extra), body, policy, started)
    finally:
        connection.discard()  # unread bytes are dropped with the connection, never drained


def _exchange(
    connection: _PinnedConnection,
    headers: dict[str, str],
    body: bytes,
    policy: Policy,
    started: float,
) -> Outcome:
    """One POST on `connection` and the first `max_response_bytes` of its answer."""
    try:
        connection.request("POST", connection.target.path, body=body, headers=headers)
        response = connection.getresponse()
    except (OSError, http.client.HTTPException) as error:
        return _failure(started, _describe(error))
    content, error_text = _read_body(response, policy.max_response_bytes)
    return Outcome(
        status=response.status,
        retry_after=_retry_after(response),
        latency_ms=_since(started),
        error=error_text,
        body_excerpt=clean_text(content[:EXCERPT_BYTES].decode("utf-8", "replace")),
    )


@functools.cache
def _system_trust() -> ssl.SSLContext:
    """The default TLS context, built on first use: loading the system's trust store takes
    tens of milliseconds, too long to repeat per delivery (contexts are thread-safe)."""
    return ssl.create_default_context()


def _caller_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The caller's headers (signature, event id...), refusing those `send` must set itself."""
    reserved = sorted(name for name in headers if name.lower() in _RESERVED_HEADERS)
    if reserved:
        raise ValueError(f"send sets these headers itself: {', '.join(reserved)}")
    return dict(headers)


def _headers(target: Target, extra: dict[str, str]) -> dict[str, str]:
    """The request's headers: ours, the caller's (which may replace our content type and user
    agent), and the Host of the URL as written, whatever address the socket reached."""
    given = {name.lower() for name in extra}
    defaults = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    headers = {name: value for name, value in defaults.items() if name.lower() not in given}
    return headers | extra | {"Host": target.host_header, "Connection": "close"}


def _read_body(response: http.client.HTTPResponse, limit: int) -> tuple[bytes, str | None]:
    """At most `limit` bytes of the body, and why reading stopped early, if it failed."""
    content = bytearray()
    try:
        while len(content) < limit:
            chunk = response.read(min(limit - len(content), 16 * 1024))
            if not chunk:
                break
            content += chunk
    except (OSError, http.client.HTTPException) as error:
        return bytes(content), _describe(error)
    return bytes(content), None


def _retry_after(response: http.client.HTTPResponse) -> float | None:
    """Seconds the partner asks us to wait (delta-seconds or an HTTP-date), capped; None
    unless the status is 429 or 503 and the header is readable."""
    value = (response.getheader("Retry-After") or "").strip()
    if response.status not in (429, 503) or not value:
        return None
    if value.isascii() and value.isdigit():
        seconds: float | None = float(value)
    else:
        seconds = _seconds_until(value, response.getheader("Date"))
    return None if seconds is None else min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _seconds_until(http_date: str, server_date: str | None) -> float | None:
    """Seconds from the response's Date (our clock if it has none) to `http_date`: measured on
    the partner's clock, a skew between the two clocks cancels out."""
    then = _timestamp(http_date)
    if then is None:
        return None
    now = _timestamp(server_date or "")
    return then - (time.time() if now is None else now)


def _timestamp(http_date: str) -> float | None:
    """The POSIX time of an HTTP-date, or None if it is not one."""
    try:
        parsed = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _describe(error: Exception) -> str:
    """A short, stable description of a network failure for the delivery log."""
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS error: {error.verify_message}"
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {error.reason or error}"
    if isinstance(error, http.client.RemoteDisconnected):
        return "connection closed without a response"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ConnectionResetError | BrokenPipeError):
        return "connection reset"
    if isinstance(error, http.client.HTTPException):
        return f"bad response: {type(error).__name__}"
    return f"connection failed: {getattr(error, 'strerror', None) or error}"


def _failure(started: float, error: str) -> Outcome:
    """An outcome without an HTTP answer."""
    return Outcome(status=None, latency_ms=_since(started), error=error)


def _since(started: float) -> float:
    """Milliseconds elapsed since the monotonic time `started`."""
    return (time.monotonic() - started) * 1000


def _remaining(deadline: float) -> float:
    """Seconds left before the monotonic `deadline`; raises TimeoutError once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the delivery deadline has passed")
    return left


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP or HTTPS connection to the checked addresses only, bounded by one deadline."""

    def __init__(self, target: Target, deadline: float, tls: ssl.SSLContext | None) -> None:
        super().__init__(target.host, target.port)
        self.target = target
        self._deadline = deadline
        self._tls = tls
        self._socket: socket.socket | None = None

    def connect(self) -> None:
        """Open a socket to a pinned address (no new lookup), then TLS against the URL's host."""
        sock = _open(self.target.addresses, self.target.port, self._deadline)
        if self._tls is not None:
            try:
                sock.settimeout(_remaining(self._deadline))
                # The certificate is verified against the name in the URL, not the address.
                sock = self._tls.wrap_socket(sock, server_hostname=self.target.host)
            except BaseException:
                sock.close()
                raise
        self._socket = sock
        self.sock = _DeadlineSocket(sock, self._deadline)

    def discard(self) -> None:
        """Close the socket for good, including after http.client has let go of it."""
        self.close()
        if self._socket is not None:
            self._socket.close()


def _open(addresses: Sequence[IPAddress], port: int, deadline: float) -> socket.socket:
    """A TCP connection to the first of `addresses` that accepts one before the deadline."""
    failure: OSError | None = None
    for address in addresses:
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(_remaining(deadline))
            sock.connect((str(address), port))
            return sock
        except TimeoutError:
            sock.close()
            raise  # the deadline is spent: no time is left for the other addresses
        except OSError as error:
            sock.close()
            failure = error
    raise failure or OSError("no address to connect to")


class _DeadlineSocket:
    """A socket as http.client uses it (sendall, makefile, close), where every operation waits
    at most until the exchange's deadline rather than a fresh timeout per read."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def sendall(self, data: bytes) -> None:
        """Send all of `data` before the deadline."""
        self._sock.settimeout(_remaining(self._deadline))
        self._sock.sendall(data)

    def makefile(self, mode: str = "rb") -> io.BufferedReader:
        """A buffered reader whose reads stop at the deadline (http.client reads the response
        through it)."""
        if mode != "rb":
            raise ValueError("only reading the response is supported")
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def close(self) -> None:
        """Nothing: http.client lets go of the socket of a "Connection: close" answer before
        the body is read; `_PinnedConnection.discard` closes it once `send` is done."""


class _DeadlineReader(io.RawIOBase):
    """Raw reads from a socket, each bounded by the time left before the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        """Always: this is the response stream."""
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Read what has arrived into `buffer`, waiting no later than the deadline."""
        self._sock.settimeout(_remaining(self._deadline))
        return self._sock.recv_into(buffer)

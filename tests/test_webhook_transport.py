"""Outbound webhooks never reach a private, loopback, link-local or metadata address, in any
spelling or through DNS, and partners' answers (status, Retry-After, slowness, size) become
outcomes. Real sockets: local HTTP(S) servers reached only through the allow-list, and a bare
listener that proves a refused URL was never connected to."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from rewards.events.transport import (
    HostNotFound,
    Outcome,
    Policy,
    Target,
    UnsafeURL,
    check_url,
    send,
)

# A socket `send` forgets to close fails the test that leaked it.
pytestmark = pytest.mark.filterwarnings(
    "error::ResourceWarning", "error::pytest.PytestUnraisableExceptionWarning"
)

PUBLIC = "93.184.216.34"
LOCAL = ["127.0.0.1/32"]
EVENT = b'{"type":"points.awarded","data":{"points":120}}'
SIGNED = {"webhook-id": "msg_1", "webhook-signature": "v1,c2lnbmF0dXJl"}
# What the partners' names resolve to in these tests (no real DNS is ever asked).
ZONE = {
    "partner.example": [PUBLIC],
    "internal.example": ["10.0.0.5"],
    "metadata.example": ["169.254.169.254"],
    "v6-loopback.example": ["::1"],
    "mixed.example": [PUBLIC, "10.0.0.5"],
    "mixed6.example": ["2606:4700::1111", "fd00::1"],
    "hooks.partner.test": ["127.0.0.1"],
    "other.partner.test": ["127.0.0.1"],
}


def zone_resolver(host: str, port: int) -> list[str]:
    if host not in ZONE:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return ZONE[host]


def policy(allow: list[str] | None = None, **settings) -> Policy:
    settings.setdefault("require_https", False)
    settings.setdefault("resolver", zone_resolver)
    return Policy.from_settings(allow or [], **settings)


@pytest.fixture(autouse=True)
def _clean_state() -> None:
    """Replaces the suite's database and queue cleanup: these tests use neither."""


# --- servers -----------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: Message
    body: bytes


class HookServer:
    """A partner's endpoint; each request's query says how to answer (see `_Handler`)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Received] = []
        self.server_names: list[str | None] = []
        self.release = threading.Event()  # ends slow answers at teardown
        self.client_closed_early = threading.Event()
        self.dripped = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.hook = self  # type: ignore[attr-defined]
        if tls is not None:
            tls.sni_callback = lambda conn, name, context: self.server_names.append(name)
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    @property
    def paths(self) -> list[str]:
        return [request.path for request in self.requests]

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    """Answers ?status=, with ?retry_after=, ?date= ("omit" for none) and ?location= headers;
    ?mode=slow waits for the test to end, ?mode=drip sends its status line a byte at a time,
    ?mode=large announces 1 MiB, sends `size` bytes and waits to see the client hang up."""

    timeout = 15  # a handler thread never outlives a broken test by long

    def do_POST(self) -> None:
        hook: HookServer = self.server.hook  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        hook.requests.append(Received(urlsplit(self.path).path, self.headers, body))
        query = {key: values[0] for key, values in parse_qs(urlsplit(self.path).query).items()}
        mode = query.get("mode", "answer")
        if mode == "slow":
            hook.release.wait(10)
        if mode == "drip":
            self._drip(hook)
        elif mode == "large":
            self._large(hook, int(query["size"]))
        else:
            self._answer(query)

    def _answer(self, query: dict[str, str]) -> None:
        status = int(query.get("status", "200"))
        content = f"answer {status}".encode()
        self.send_response_only(status)
        if query.get("date") != "omit":
            self.send_header("Date", query.get("date") or self.date_time_string())
        for header, key in (("Retry-After", "retry_after"), ("Location", "location")):
            if key in query:
                self.send_header(header, query[key])
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def _drip(self, hook: HookServer) -> None:
        # Each byte arrives well within any per-read timeout; only a deadline ends the wait.
        for byte in b"HTTP/1.1 200 OK\r\n" + b"X-Padding: " + b"." * 500:
            if hook.release.wait(0.05):
                return
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            hook.dripped += 1

    def _large(self, hook: HookServer, size: int) -> None:
        total = 1024 * 1024
        pattern = (b"0123456789abcdef" * (total // 16))[:total]
        self.send_response(200)
        self.send_header("Content-Length", str(total))
        self.end_headers()
        self.wfile.write(pattern[:size])
        self.wfile.flush()
        self.connection.settimeout(5)
        try:
            if self.connection.recv(1) == b"":  # the client hung up instead of reading on
                hook.client_closed_early.set()
        except OSError:
            hook.client_closed_early.set()
            return
        self.wfile.write(pattern[size:])

    def log_message(self, format: str, *args: object) -> None:
        pass


class Tripwire:
    """A bare listener: tells whether anything connected to it."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]

    def was_contacted(self) -> bool:
        """Connect a probe and accept until it arrives; the accept queue is first in, first
        out, so any connection made before the probe is accepted first."""
        self.listener.settimeout(5)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as probe:
            contacted = False
            while True:
                connection, peer = self.listener.accept()
                connection.close()
                if peer == probe.getsockname():
                    return contacted
                contacted = True


@pytest.fixture
def hook_server() -> Iterator[HookServer]:
    server = HookServer()
    yield server
    server.stop()


@pytest.fixture
def tripwire() -> Iterator[Tripwire]:
    wire = Tripwire()
    yield wire
    wire.listener.close()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test CA and a certificate it signed for hooks.partner.test (openssl's command line)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    folder = tmp_path_factory.mktemp("tls")

    def openssl(command: str) -> None:
        subprocess.run(["openssl", *command.split()], cwd=folder, check=True, capture_output=True)

    key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    openssl(
        f"req -x509 {key} -keyout ca.key -out ca.pem -days 2 -subj /CN=webhook-test-ca"
        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign"
    )
    openssl(f"req {key} -keyout leaf.key -out leaf.csr -subj /CN=hooks")
    (folder / "leaf.ext").write_text(
        "subjectAltName=DNS:hooks.partner.test\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    openssl(
        "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2"
        " -extfile leaf.ext -out leaf.pem"
    )
    return folder


@pytest.fixture
def tls_server(certificates: Path) -> Iterator[HookServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates / "leaf.pem", certificates / "leaf.key")
    server = HookServer(tls=context)
    yield server
    server.stop()


# --- registration: check_url ---------------------------------------------------------------

REFUSED = [
    # loopback, private, link-local, metadata, shared, unspecified, multicast, reserved
    ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
    ("http://127.255.255.254/", "loopback"),
    ("http://localhost/", "loopback name"),
    ("http://LOCALHOST./", "loopback name"),
    ("http://api.localhost/", "loopback name"),
    ("http://10.1.2.3/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://172.31.255.254/", "private"),
    ("http://192.168.0.1/", "private"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://169.254.0.1/", "link-local"),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://100.127.255.254/", "carrier-grade NAT"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "reserved"),
    ("http://198.18.0.1/", "private"),
    ("http://[::1]/", ":1 is a loopback address"),
    ("http://[::]/", "unspecified"),
    ("http://[fc00::1]/", "private"),
    ("http://[fd12:3456:789a::1]/", "private"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fe80::1%25eth0]/", "zone identifier"),
    ("http://[fec0::1]/", "site-local"),
    ("http://[fd00:ec2::254]/", "cloud metadata"),
    ("http://[ff02::1]/", "multicast"),
    # IPv6 forms carrying an IPv4 address
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped address embedding 127.0.0.1, a loopback"),
    ("http://[::ffff:7f00:1]/", "IPv4-mapped address embedding 127.0.0.1, a loopback"),
    ("http://[::ffff:a9fe:a9fe]/", "embedding 169.254.169.254, a cloud metadata"),
    ("http://[::ffff:93.184.216.34]/", "reserved"),  # mapped, even if public: use the IPv4
    ("http://[::127.0.0.1]/", "IPv4-compatible address embedding 127.0.0.1"),
    ("http://[64:ff9b::a00:1]/", "NAT64 address embedding 10.0.0.1"),
    ("http://[2002:7f00:1::1]/", "6to4 address embedding 127.0.0.1"),
    ("http://[2002:a9fe:a9fe::]/", "6to4 address embedding 169.254.169.254"),
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "Teredo"),
    # IPv4 spelled the way inet_aton reads it
    ("http://2130706433/", "meaning 127.0.0.1, a loopback"),
    ("http://0177.0.0.1/", "meaning 127.0.0.1, a loopback"),
    ("http://0x7f.0.0.1/", "meaning 127.0.0.1, a loopback"),
    ("http://0x7f000001/", "meaning 127.0.0.1, a loopback"),
    ("http://0X7F.1/", "meaning 127.0.0.1, a loopback"),
    ("http://127.1/", "meaning 127.0.0.1, a loopback"),
    ("http://127.0.1/", "meaning 127.0.0.1, a loopback"),
    ("http://0/", "meaning 0.0.0.0, an unspecified"),
    ("http://0300.0250.0.1/", "meaning 192.168.0.1, a private"),
    ("http://3232235521/", "meaning 192.168.0.1, a private"),
    ("http://0xa9fea9fe/", "meaning 169.254.169.254, a cloud metadata"),
    ("http://0x5db8d822/", "non-canonical IPv4 form meaning 93.184.216.34"),
    ("http://1.2.3.4.5/", "looks numeric"),
    ("http://08.0.0.1/", "looks numeric"),
    ("http://256.0.0.1/", "looks numeric"),
    ("http://partner.0x10/", "looks numeric"),
    ("http://[127.0.0.1]/", "malformed"),
    ("http://[::1/", "malformed"),
    ("http://[::1]x/", "malformed"),
    # names that resolve to forbidden addresses, even one among public ones
    ("http://internal.example/", "resolves to 10.0.0.5, a private address"),
    ("http://metadata.example/", "resolves to 169.254.169.254, a cloud metadata"),
    ("http://v6-loopback.example/", "resolves to ::1, a loopback"),
    ("http://mixed.example/", "resolves to 10.0.0.5"),
    ("http://mixed6.example/", "resolves to fd00::1"),
    ("http://nowhere.example/", "does not resolve"),
    # schemes
    ("file:///etc/passwd", "must use https or http"),
    ("gopher://partner.example/", "must use https or http"),
    ("ftp://partner.example/", "must use https or http"),
    ("javascript:alert(1)", "must use https or http"),
    ("data:text/plain,hello", "must use https or http"),
    ("//partner.example/hook", "must use https or http"),
    ("partner.example/hook", "must use https or http"),
    # user information
    ("https://user:pw@partner.example/", "user information"),
    ("https://user@partner.example/", "user information"),
    ("https://@partner.example/", "user information"),
    ("https://partner.example@127.0.0.1/", "user information"),
    # hosts
    ("https:///hook", "no host"),
    ("https://:443/hook", "no host"),
    ("https:partner.example", "no host"),
    ("https://partner..example/", "not a valid host name"),
    ("https://-partner.example/", "not a valid host name"),
    ("https://part%6eer.example/", "not a valid host name"),
    ("https://127.0.0.1\\.partner.example/", "not a valid host name"),
    # ports
    ("https://partner.example:0/", "port"),
    ("https://partner.example:65536/", "port"),
    ("https://partner.example:99999999/", "port"),
    ("https://partner.example:-1/", "port"),
    ("https://partner.example:8o/", "port"),
    ("https://partner.example:/", "port"),
    ("http://[::1]:80x/", "port"),
    # characters and length
    ("https://partner.example/ hook", "whitespace or control"),
    (" https://partner.example/", "whitespace or control"),
    ("https://partner.example/\n", "whitespace or control"),
    ("https://partner.\nexample/", "whitespace or control"),
    ("https://partner.example/\thook", "whitespace or control"),
    ("https://partner.example/\x00", "whitespace or control"),
    ("https://partner.example/\x7f", "whitespace or control"),
    ("https://partner.example/\x1b[31m", "whitespace or control"),
    ("https://partner.example/\u00a0", "non-ASCII"),
    ("http://\uff11\uff12\uff17.0.0.1/", "non-ASCII"),  # full-width digits
    ("https://p\u00e4rtner.example/", "non-ASCII"),
    pytest.param("https://partner.example/" + "a" * 2025, "longer than 2048", id="2049-chars"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_check_url_refuses(url: str, reason: str) -> None:
    with pytest.raises(UnsafeURL) as refused:
        check_url(url, policy())

    assert reason in refused.value.reason


@pytest.mark.parametrize(
    ("url", "expected", "host_header"),
    [
        (
            "https://partner.example/hooks?event=1#part",
            Target("https", "partner.example", 443, "/hooks?event=1", (ip_address(PUBLIC),)),
            "partner.example",
        ),
        (
            "https://PARTNER.Example.:8443",
            Target("https", "partner.example", 8443, "/", (ip_address(PUBLIC),)),
            "partner.example:8443",
        ),
        (
            "http://93.184.216.34/in",
            Target("http", PUBLIC, 80, "/in", (ip_address(PUBLIC),)),
            PUBLIC,
        ),
        (
            "https://[2606:4700::1111]:444/",
            Target("https", "2606:4700::1111", 444, "/", (ip_address("2606:4700::1111"),)),
            "[2606:4700::1111]:444",
        ),
        (
            "https://partner.example/" + "a" * 2024,  # exactly 2048 characters
            Target("https", "partner.example", 443, "/" + "a" * 2024, (ip_address(PUBLIC),)),
            "partner.example",
        ),
    ],
)
def test_check_url_accepts_public_targets(url: str, expected: Target, host_header: str) -> None:
    target = check_url(url, policy())

    assert target == expected
    assert target.host_header == host_header


def test_https_is_required_outside_development(tripwire: Tripwire) -> None:
    production = policy(require_https=True)

    with pytest.raises(UnsafeURL, match="must use https"):
        check_url("http://partner.example/hook", production)
    assert check_url("https://partner.example/hook", production).scheme == "https"
    assert check_url("http://partner.example/hook", policy(require_https=False)).scheme == "http"
    outcome = send(
        f"http://127.0.0.1:{tripwire.port}/", EVENT, {}, policy(LOCAL, require_https=True)
    )
    assert outcome.error == "unsafe address: the URL must use https"
    assert not tripwire.was_contacted()


def test_unresolvable_name_is_refused_with_the_system_resolver() -> None:
    # .invalid never resolves (RFC 6761), with or without network access.
    with pytest.raises(HostNotFound, match="does not resolve"):
        check_url("https://hooks.partner.invalid/", Policy.from_settings())


def test_allow_list_admits_only_the_listed_addresses_in_canonical_form() -> None:
    allowed = policy(LOCAL)

    assert check_url("http://127.0.0.1:8000/hook", allowed).addresses == (ip_address("127.0.0.1"),)
    for url in (
        "http://127.0.0.2/",
        "http://127.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::1]/",
    ):
        with pytest.raises(UnsafeURL):
            check_url(url, allowed)
    with pytest.raises(UnsafeURL, match="loopback name"):
        check_url("http://localhost:8000/", allowed)


def test_policy_refuses_a_tls_context_that_does_not_verify() -> None:
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE

    with pytest.raises(ValueError, match="verify"):
        Policy.from_settings(tls=unverified)


# --- sending: refusals ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("http://127.0.0.1:{port}/hook", "the host 127.0.0.1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]:{port}/hook", "IPv4-mapped address embedding 127.0.0.1"),
        ("http://2130706433:{port}/hook", "meaning 127.0.0.1, a loopback address"),
        ("http://0x7f.1:{port}/hook", "meaning 127.0.0.1, a loopback address"),
        ("http://localhost:{port}/hook", "loopback name"),
        ("http://hooks.partner.test:{port}/hook", "resolves to 127.0.0.1, a loopback address"),
        ("http://user:pw@127.0.0.1:{port}/hook", "user information"),
        ("gopher://127.0.0.1:{port}/hook", "must use https or http"),
    ],
)
def test_send_refuses_without_connecting(template: str, reason: str, tripwire: Tripwire) -> None:
    outcome = send(template.format(port=tripwire.port), EVENT, SIGNED, policy())

    assert outcome.error is not None and outcome.error.startswith("unsafe address: ")
    assert reason in outcome.error
    assert outcome.status is None and not outcome.delivered
    assert not tripwire.was_contacted()


def test_local_server_is_reached_only_through_the_allow_list(hook_server: HookServer) -> None:
    url = hook_server.url("/hook")

    with pytest.raises(UnsafeURL, match="loopback"):
        check_url(url, policy())
    refused = send(url, EVENT, SIGNED, policy())
    assert refused.error == "unsafe address: the host 127.0.0.1 is a loopback address"
    assert hook_server.requests == []

    assert send(url, EVENT, SIGNED, policy(LOCAL)).delivered
    assert hook_server.paths == ["/hook"]


def test_dns_rebinding_between_registration_and_send_is_refused(tripwire: Tripwire) -> None:
    answers = iter([[PUBLIC], ["127.0.0.1"]])  # public when registered, loopback when sent
    rebinding = policy(resolver=lambda host, port: next(answers))
    url = f"http://partner.example:{tripwire.port}/hook"

    assert check_url(url, rebinding).addresses == (ip_address(PUBLIC),)
    outcome = send(url, EVENT, SIGNED, rebinding)

    assert outcome.error == (
        "unsafe address: the host partner.example resolves to 127.0.0.1, a loopback address"
    )
    assert not tripwire.was_contacted()


def test_send_connects_to_the_address_it_checked(hook_server: HookServer) -> None:
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return zone_resolver(host, port)

    # hooks.partner.test exists only in this resolver: a second lookup by anything else fails.
    outcome = send(
        hook_server.url("/pinned", host="hooks.partner.test"),
        EVENT,
        SIGNED,
        policy(LOCAL, resolver=resolver),
    )

    assert outcome.delivered, outcome
    assert lookups == ["hooks.partner.test"]
    assert hook_server.requests[0].headers["Host"] == f"hooks.partner.test:{hook_server.port}"


def test_send_refuses_headers_it_sets_itself(tripwire: Tripwire) -> None:
    with pytest.raises(ValueError, match="Host"):
        send(f"https://partner.example:{tripwire.port}/", EVENT, {"Host": "x"}, policy())
    assert not tripwire.was_contacted()


# --- sending: what the partner answers ----------------------------------------------------


def test_send_posts_the_signed_event(hook_server: HookServer) -> None:
    outcome = send(hook_server.url("/hook"), EVENT, SIGNED, policy(LOCAL))

    assert outcome == Outcome(
        status=200, latency_ms=outcome.latency_ms, error=None, body_excerpt="answer 200"
    )
    assert outcome.delivered and outcome.retry_after is None and outcome.latency_ms > 0
    [request] = hook_server.requests
    assert request.body == EVENT
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("YouthCardRewards-Webhooks/")
    assert request.headers["Host"] == f"127.0.0.1:{hook_server.port}"
    assert request.headers["webhook-signature"] == "v1,c2lnbmF0dXJl"
    assert request.headers["webhook-id"] == "msg_1"


@pytest.mark.parametrize("status", [201, 204, 400, 410, 500])
def test_any_status_is_an_outcome(hook_server: HookServer, status: int) -> None:
    outcome = send(hook_server.url(f"/hook?status={status}"), EVENT, SIGNED, policy(LOCAL))

    assert outcome.status == status and outcome.error is None
    assert outcome.delivered is (status < 300)


_BASE = int(time.time()) - 86400  # the partner's clock runs a day behind ours


@pytest.mark.parametrize(
    ("status", "retry_after", "date", "expected"),
    [
        (429, "7", None, 7.0),
        (503, formatdate(_BASE + 120, usegmt=True), formatdate(_BASE, usegmt=True), 120.0),
        (503, formatdate(_BASE - 60, usegmt=True), formatdate(_BASE, usegmt=True), 0.0),
        (429, "86400", None, 3600.0),  # capped at an hour
        (429, "soon", None, None),
        (429, "-5", None, None),
        (500, "7", None, None),  # only 429 and 503 ask us to wait
        (200, "7", None, None),
    ],
)
def test_retry_after_is_read_from_429_and_503(
    hook_server: HookServer, status: int, retry_after: str, date: str | None, expected: float
) -> None:
    query = {"status": str(status), "retry_after": retry_after, **({"date": date} if date else {})}
    url = hook_server.url("/hook?" + "&".join(f"{k}={v}" for k, v in query.items()))

    outcome = send(url.replace(" ", "%20"), EVENT, SIGNED, policy(LOCAL))

    assert outcome.status == status
    assert outcome.retry_after == expected


def test_retry_after_date_without_a_server_date_uses_our_clock(hook_server: HookServer) -> None:
    when = formatdate(time.time() + 600, usegmt=True).replace(" ", "%20")
    url = hook_server.url(f"/hook?status=503&date=omit&retry_after={when}")

    outcome = send(url, EVENT, SIGNED, policy(LOCAL))

    assert outcome.retry_after == pytest.approx(600, abs=5)


def test_redirect_is_an_outcome_and_never_followed(hook_server: HookServer) -> None:
    landing = hook_server.url("/landing")

    outcome = send(
        hook_server.url(f"/hook?status=302&location={landing}"), EVENT, SIGNED, policy(LOCAL)
    )

    assert outcome.status == 302 and not outcome.delivered and outcome.error is None
    assert hook_server.paths == ["/hook"]


def test_slow_partner_times_out_at_the_deadline(hook_server: HookServer) -> None:
    outcome = send(hook_server.url("/hook?mode=slow"), EVENT, SIGNED, policy(LOCAL, timeout=0.5))

    assert outcome.status is None and outcome.error == "timeout"
    # The partner would have answered after 10 s; the attempt ended near its 0.5 s deadline.
    assert 450 <= outcome.latency_ms < 5000
    assert hook_server.paths == ["/hook"]


def test_deadline_bounds_the_exchange_not_each_read(hook_server: HookServer) -> None:
    outcome = send(hook_server.url("/hook?mode=drip"), EVENT, SIGNED, policy(LOCAL, timeout=0.5))

    assert outcome.status is None and outcome.error == "timeout"
    # Bytes kept arriving every 50 ms (no single read waited long), yet the attempt ended.
    assert hook_server.dripped >= 3
    assert outcome.latency_ms < 5000


def test_large_answer_is_read_up_to_the_limit_then_dropped(hook_server: HookServer) -> None:
    limit = 64 * 1024
    url = hook_server.url(f"/hook?mode=large&size={limit}")

    # The server sends the first 64 KiB of 1 MiB, then waits 5 s for us to hang up: reading
    # on would block past the 2 s timeout.
    outcome = send(url, EVENT, SIGNED, policy(LOCAL, timeout=2.0, max_response_bytes=limit))

    assert outcome.status == 200 and outcome.error is None
    assert outcome.body_excerpt == ("0123456789abcdef" * 64)  # the first KiB
    assert hook_server.client_closed_early.wait(5)


def test_connection_refused_is_an_outcome(tripwire: Tripwire) -> None:
    port = tripwire.port
    tripwire.listener.close()  # nothing listens on the port any more

    outcome = send(f"http://127.0.0.1:{port}/hook", EVENT, SIGNED, policy(LOCAL))

    assert outcome == Outcome(
        status=None, latency_ms=outcome.latency_ms, error="connection refused"
    )


# --- sending over TLS ----------------------------------------------------------------------


def _trusting(certificates: Path, **settings) -> Policy:
    tls = ssl.create_default_context(cafile=str(certificates / "ca.pem"))
    return policy(LOCAL, tls=tls, **settings)


def test_https_verifies_the_certificate_against_the_url_host(
    tls_server: HookServer, certificates: Path
) -> None:
    url = tls_server.url("/hook", host="hooks.partner.test", scheme="https")

    outcome = send(url, EVENT, SIGNED, _trusting(certificates, require_https=True))

    assert outcome.delivered and outcome.body_excerpt == "answer 200", outcome
    assert tls_server.server_names == ["hooks.partner.test"]  # SNI names the host, not the IP
    assert tls_server.requests[0].headers["Host"] == f"hooks.partner.test:{tls_server.port}"


@pytest.mark.parametrize(
    ("host", "trusted", "reason"),
    [
        ("other.partner.test", True, "Hostname mismatch"),
        ("127.0.0.1", True, "IP address mismatch"),
        ("hooks.partner.test", False, "unable to get local issuer certificate"),
    ],
)
def test_https_refuses_a_certificate_it_cannot_verify(
    tls_server: HookServer, certificates: Path, host: str, trusted: bool, reason: str
) -> None:
    chosen = _trusting(certificates) if trusted else policy(LOCAL)

    outcome = send(tls_server.url("/hook", host=host, scheme="https"), EVENT, SIGNED, chosen)

    assert outcome.status is None and outcome.error is not None
    assert outcome.error.startswith("TLS error: ") and reason in outcome.error
    assert tls_server.requests == []


def test_https_to_a_plain_http_server_is_a_tls_error(hook_server: HookServer) -> None:
    outcome = send(hook_server.url("/hook", scheme="https"), EVENT, SIGNED, policy(LOCAL))

    assert outcome.status is None and outcome.error is not None
    assert outcome.error.startswith("TLS error: ")
    assert hook_server.requests == []

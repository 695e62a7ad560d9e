"""Which webhook URLs the platform may call: URL syntax, host forms and the addresses a host
resolves to. Only public (globally routable) addresses pass, unless the caller allow-lists a
network for local development and tests.

`check_url` is the one entry point, used when a partner registers an endpoint and again by the
transport just before it connects (it then connects to exactly the addresses checked here).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT; not is_private in 3.11
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# Named only for a clearer reason: each also lies in a range refused anyway.
_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
# A host label as DNS allows it (underscores occur in real names); no percent-escapes.
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
# The last label of a host an IPv4 parser would take as a number (the WHATWG URL rule).
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


class UnsafeURL(ValueError):
    """The URL may not be called; `reason` says why in one short sentence."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class HostNotFound(UnsafeURL):
    """The host name did not resolve (at send time a transient failure, worth a retry)."""


def system_resolver(host: str, port: int) -> list[str]:
    """The IPv4 and IPv6 addresses `host` resolves to, deduplicated, in the system's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Policy:
    """What outbound webhook calls may reach, and how long and how much they may take."""

    allow: tuple[IPNetwork, ...] = ()
    require_https: bool = True
    timeout: float = 10.0
    max_response_bytes: int = 64 * 1024
    resolver: Resolver = field(default=system_resolver, compare=False, repr=False)
    # None: the system's trust store, loaded once per process by the transport.
    tls: ssl.SSLContext | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.max_response_bytes < 0:
            raise ValueError("timeout must be positive and max_response_bytes not negative")
        tls = self.tls
        if tls and (tls.verify_mode != ssl.CERT_REQUIRED or not tls.check_hostname):
            raise ValueError("the TLS context must verify certificates and host names")

    @classmethod
    def from_settings(
        cls,
        allow: Iterable[str] = (),
        *,
        require_https: bool = True,
        timeout: float = 10.0,
        max_response_bytes: int = 64 * 1024,
        resolver: Resolver | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> Policy:
        """A policy from configuration values; `allow` holds CIDR strings such as "127.0.0.1/32"."""
        return cls(
            allow=tuple(ipaddress.ip_network(cidr) for cidr in allow),
            require_https=require_https,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            resolver=resolver or system_resolver,
            tls=tls,
        )


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (the pinned addresses) and what to ask for there."""

    scheme: str
    host: str  # lower-case, without a trailing dot; an IPv6 literal without brackets
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[IPAddress, ...]

    @property
    def host_header(self) -> str:
        """The Host header: the host as written, with the port unless it is the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def check_url(url: str, policy: Policy) -> Target:
    """The target of `url`, resolved once; raises `UnsafeURL` unless every address is allowed."""
    scheme, netloc, path = _split(url, policy)
    host, port = _host_and_port(netloc, scheme)
    literal = _literal_address(host)
    if literal is not None:
        reason = _refusal(literal, policy)
        if reason:
            raise UnsafeURL(f"the host {host} is {reason}")
        return Target(scheme, host, port, path, (literal,))
    return Target(scheme, host, port, path, _resolve(host, port, policy))


def _split(url: str, policy: Policy) -> tuple[str, str, str]:
    """Scheme, network location and request path of a URL made of safe characters only."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURL(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if not url.isascii():
        # Also rules out look-alike digits and dots that some parsers fold into ASCII.
        raise UnsafeURL("the URL contains non-ASCII characters (use the xn-- form of the name)")
    if any(not char.isprintable() or char.isspace() for char in url):
        raise UnsafeURL("the URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as error:  # unbalanced or misused brackets around the host
        raise UnsafeURL(f"the URL is malformed ({error})") from None
    allowed = ("https",) if policy.require_https else ("https", "http")
    if parts.scheme not in allowed:
        raise UnsafeURL(f"the URL must use {' or '.join(allowed)}")
    if "@" in parts.netloc:
        raise UnsafeURL("the URL may not contain user information (user:password@)")
    if not parts.netloc:
        raise UnsafeURL("the URL has no host")
    path = parts.path or "/"
    return parts.scheme, parts.netloc, f"{path}?{parts.query}" if parts.query else path


def _host_and_port(netloc: str, scheme: str) -> tuple[str, int]:
    """The host (normalised) and port of a network location, refusing malformed ones."""
    bracketed = netloc.startswith("[")
    if bracketed:
        host, bracket, rest = netloc[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise UnsafeURL("the URL's IPv6 host is malformed")
        has_port, port_text = bool(rest), rest[1:]
    else:
        host, colon, port_text = netloc.partition(":")
        has_port = bool(colon)
    return _host(host, bracketed=bracketed), _port(port_text, has_port, scheme)


def _port(text: str, given: bool, scheme: str) -> int:
    """The port written in the URL, or the scheme's default when none is written."""
    if not given:
        return DEFAULT_PORTS[scheme]
    if not text.isdigit() or len(text) > 5 or not 1 <= int(text) <= 65535:
        raise UnsafeURL("the URL's port must be a number from 1 to 65535")
    return int(text)


def _host(host: str, *, bracketed: bool) -> str:
    """The host in canonical form: refuses empty, malformed, local and non-canonical hosts."""
    host = host.lower()
    if bracketed:
        if "%" in host:
            raise UnsafeURL("the URL's IPv6 host may not carry a zone identifier")
        try:
            return str(ipaddress.IPv6Address(host))
        except ValueError:
            raise UnsafeURL("the URL's IPv6 host is not a valid address") from None
    host = host[:-1] if host.endswith(".") else host
    if not host:
        raise UnsafeURL("the URL has no host")
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        return _dotted_quad(host)
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise UnsafeURL(f"the host {host} is not a valid host name")
    if labels[-1] == "localhost":
        raise UnsafeURL(f"the host {host} is a loopback name")
    return host


def _dotted_quad(host: str) -> str:
    """A numeric host, which must be a canonical dotted quad; other forms are refused, naming
    the address `inet_aton` would read them as (127.1, 0x7f.0.0.1, 0177.0.0.1, 2130706433)."""
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    meaning = _inet_aton(host)
    if meaning is None:
        raise UnsafeURL(f"the host {host} looks numeric but is not an IPv4 address")
    refusal = _class_of(meaning)
    described = f"{meaning}, {refusal}" if refusal else str(meaning)
    raise UnsafeURL(f"the host {host} is a non-canonical IPv4 form meaning {described}")


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """The address the BSD `inet_aton` reads from `host`: one to four decimal, octal (0…) or
    hex (0x…) parts, the last filling the remaining bytes; None if it reads none."""
    parts = host.split(".")
    if len(parts) > 4:
        return None
    values = [_inet_aton_part(part) for part in parts]
    if any(value is None for value in values):
        return None
    *leading, last = [value for value in values if value is not None]
    if any(value > 0xFF for value in leading) or last >= 256 ** (4 - len(leading)):
        return None
    number = last
    for index, value in enumerate(leading):
        number |= value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def _inet_aton_part(part: str) -> int | None:
    """One part of an `inet_aton` address, or None if it is not a number in any base."""
    try:
        if part.startswith("0x"):
            return int(part[2:] or "0", 16)
        if part.startswith("0") and len(part) > 1:
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def _literal_address(host: str) -> IPAddress | None:
    """The address a canonical IP host stands for, or None for a host name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _resolve(host: str, port: int, policy: Policy) -> tuple[IPAddress, ...]:
    """The addresses `host` resolves to, all allowed; refuses the host if any one is not."""
    try:
        answers = policy.resolver(host, port)
    except OSError as error:  # socket.gaierror from the system resolver
        raise HostNotFound(f"the host {host} does not resolve ({error})") from None
    if not answers:
        raise HostNotFound(f"the host {host} does not resolve")
    addresses = tuple(dict.fromkeys(ipaddress.ip_address(answer) for answer in answers))
    for address in addresses:
        reason = _refusal(address, policy)
        if reason:
            raise UnsafeURL(f"the host {host} resolves to {address}, {reason}")
    return addresses


def _refusal(address: IPAddress, policy: Policy) -> str | None:
    """Why a connection to `address` is refused (e.g. "a loopback address"), or None."""
    if any(address in network for network in policy.allow):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        for kind, embedded in _embedded_ipv4(address):
            inner = _class_of(embedded)
            if inner:
                return f"{kind} address embedding {embedded}, {inner}"
    return _class_of(address)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """IPv4 addresses an IPv6 address carries, which some stacks or gateways would reach."""
    found = []
    if address.ipv4_mapped:
        found.append(("an IPv4-mapped", address.ipv4_mapped))
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:
        found.append(("an IPv4-compatible", low32))
    if any(address in prefix for prefix in _NAT64):
        found.append(("a NAT64", low32))
    if address.sixtofour:
        found.append(("a 6to4", address.sixtofour))
    if address.teredo:
        found.append(("a Teredo", address.teredo[1]))
    return found


def _class_of(address: IPAddress) -> str | None:
    """The class of a non-public address as a phrase ("a private address"), None if public."""
    for is_member, phrase in _CLASSES:
        if is_member(address):
            return phrase
    return None if address.is_global else "not a public address"


# Checked in order, so the most specific phrase names an address that is in several classes.
_CLASSES: tuple[tuple[Callable[[IPAddress], bool], str], ...] = (
    (lambda a: a.is_unspecified, "an unspecified address"),
    (lambda a: a.is_loopback, "a loopback address"),
    (lambda a: a in _METADATA, "a cloud metadata address"),
    (lambda a: a.is_link_local, "a link-local address"),
    (lambda a: a in _SHARED, "a shared (carrier-grade NAT) address"),
    (lambda a: a.is_multicast, "a multicast address"),
    (lambda a: a.is_reserved, "a reserved address"),
    (lambda a: a.is_private, "a private address"),
    (lambda a: isinstance(a, ipaddress.IPv6Address) and a.is_site_local, "a site-local address"),
)

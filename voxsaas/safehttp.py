"""HTTP requests to URLs a tenant typed in (outbound webhooks, webhook tools), without SSRF.

A tenant must not be able to make the server reach its own network: the cloud metadata service,
the database, Redis, an admin port on localhost. So, for every request:

1. the host is resolved ONCE, here; literal addresses in any spelling the C library accepts
   (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``[::ffff:127.0.0.1]``) are decoded first;
2. every resolved address must be public: loopback, private, shared (CGNAT), link-local,
   multicast, reserved, unspecified and metadata addresses are refused, including IPv4 addresses
   hidden inside IPv6 (IPv4-mapped, NAT64 ``64:ff9b::/96``, 6to4, Teredo);
3. the connection goes to exactly the address that was checked (the URL is rewritten to it; the
   ``Host`` header and TLS SNI/certificate check keep the original name), so a second DNS answer
   (rebinding) cannot change the target;
4. redirects are not followed (a 3xx is returned as it is), proxies from the environment are
   ignored, the response body is read up to a bound and the whole exchange has a deadline.

``allow_private=True`` (the ``ALLOW_PRIVATE_WEBHOOK_ADDRESSES`` setting, for self-hosters whose
receivers live on their own network) permits loopback/private/link-local targets, but never the
metadata service, unspecified or multicast addresses.

Pure infrastructure: no Django import; callers pass the configuration.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
AsyncResolver = Callable[[str, int], Awaitable[list[str]]]

DEFAULT_MAX_BYTES = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}

# Cloud metadata services: refused even when private addresses are allowed.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254", "192.0.0.192")
)
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT: not public


class SafeHttpError(Exception):
    """The request was not sent, or failed (bad URL, refused address, timeout, connection)."""


class BlockedAddress(SafeHttpError):
    """The URL points at an address this server must not reach."""


class SafeHttpTimeout(SafeHttpError):
    pass


@dataclass(frozen=True)
class SafeResponse:
    status_code: int
    headers: httpx.Headers
    body: bytes  # at most ``max_bytes``
    truncated: bool
    elapsed_ms: int
    address: str  # the address actually connected to


@dataclass(frozen=True)
class Target:
    """A URL split into what was checked and what will be connected to."""

    scheme: str
    hostname: str  # ASCII (IDNA) form, no brackets
    port: int
    path_and_query: str
    host_header: str
    is_literal: bool


# ------------------------------------------------------------------------------ addresses


def parse_loose_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address in any form ``inet_aton`` accepts: 1 to 4 parts, each decimal, octal
    (leading 0) or hex (0x), the last part filling the remaining bytes (``127.1``,
    ``2130706433``, ``0177.0.0.1``, ``0x7f000001``). None if ``host`` is not such a form."""
    parts = host.rstrip(".").split(".") if host else []
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        try:
            if part.lower().startswith("0x"):
                value = int(part[2:] or "0", 16)
            elif len(part) > 1 and part.startswith("0"):
                value = int(part[1:], 8)
            else:
                value = int(part, 10) if part.isdigit() else -1
        except ValueError:
            return None
        if value < 0:
            return None
        values.append(value)
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = 0
    for value in head:
        number = number << 8 | value
    number = number << (8 * (4 - len(head))) | last
    return ipaddress.IPv4Address(number)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def refusal_reason(ip: IPAddress, *, allow_private: bool) -> str | None:
    """Why ``ip`` must not be contacted, or None if it may be."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        if ip in _NAT64_LOCAL:
            return "NAT64 local-use address"
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = refusal_reason(inner, allow_private=allow_private)
            return f"embedded IPv4 {inner}: {reason}" if reason else None
    if ip in METADATA_ADDRESSES:
        return "cloud metadata address"
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_multicast:
        return "multicast address"
    if ip.is_global:
        return None
    if allow_private and (ip.is_private or ip.is_loopback or ip.is_link_local or ip in _SHARED):
        return None
    if ip.is_loopback:
        return "loopback address"
    if ip.is_link_local:
        return "link-local address"
    if ip.is_reserved:
        return "reserved address"
    return "private or non-public address"


def _literal_address(hostname: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(hostname)
    except ValueError:
        return parse_loose_ipv4(hostname)


def split_url(url: str) -> Target:
    """Parse and check the shape of a URL (scheme, host, port, no credentials)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise SafeHttpError(f"invalid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise SafeHttpError("only http and https URLs are allowed")
    if parts.username is not None or parts.password is not None:
        raise SafeHttpError("credentials in the URL are not allowed; send them in a header")
    hostname = parts.hostname or ""
    if not hostname:
        raise SafeHttpError("the URL has no host")
    literal = _literal_address(hostname)
    if literal is None:
        try:
            hostname = hostname.encode("idna").decode("ascii")
        except UnicodeError:
            raise SafeHttpError("invalid host name") from None
    port = port or _DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise SafeHttpError("invalid port")
    shown_host = f"[{hostname}]" if literal is not None and literal.version == 6 else hostname
    host_header = shown_host if port == _DEFAULT_PORTS[scheme] else f"{shown_host}:{port}"
    path_and_query = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, hostname, port, path_and_query, host_header, literal is not None)


def system_resolve(hostname: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def system_resolve_async(hostname: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _check_addresses(target: Target, addresses: list[str], *, allow_private: bool) -> IPAddress:
    if not addresses:
        raise SafeHttpError(f"{target.hostname} does not resolve")
    checked = []
    for text in addresses:
        ip = ipaddress.ip_address(text)
        reason = refusal_reason(ip, allow_private=allow_private)
        if reason is not None:
            # One bad answer refuses the name: a rebinding service may rotate its answers.
            raise BlockedAddress(f"{target.hostname} resolves to a refused address ({reason})")
        checked.append(ip)
    return checked[0]


def check_url(url: str, *, allow_private: bool, resolver: Resolver = system_resolve) -> IPAddress:
    """Resolve and check ``url``; the address to connect to. Raises ``SafeHttpError``."""
    target = split_url(url)
    return _pin(target, allow_private=allow_private, resolver=resolver)


def _pin(target: Target, *, allow_private: bool, resolver: Resolver) -> IPAddress:
    literal = _literal_address(target.hostname) if target.is_literal else None
    if literal is not None:
        return _check_addresses(target, [str(literal)], allow_private=allow_private)
    try:
        addresses = resolver(target.hostname, target.port)
    except OSError as exc:
        raise SafeHttpError(f"cannot resolve {target.hostname}: {exc}") from None
    return _check_addresses(target, addresses, allow_private=allow_private)


async def _pin_async(target: Target, *, allow_private: bool, resolver: AsyncResolver) -> IPAddress:
    literal = _literal_address(target.hostname) if target.is_literal else None
    if literal is not None:
        return _check_addresses(target, [str(literal)], allow_private=allow_private)
    try:
        addresses = await resolver(target.hostname, target.port)
    except OSError as exc:
        raise SafeHttpError(f"cannot resolve {target.hostname}: {exc}") from None
    return _check_addresses(target, addresses, allow_private=allow_private)


def _pinned_request(
    client: httpx.Client | httpx.AsyncClient,
    target: Target,
    address: IPAddress,
    method: str,
    content: bytes | None,
    headers: Mapping[str, str] | None,
) -> httpx.Request:
    host = f"[{address}]" if address.version == 6 else str(address)
    url = httpx.URL(f"{target.scheme}://{host}:{target.port}{target.path_and_query}")
    extensions = {}
    if target.scheme == "https" and not target.is_literal:
        # TLS: SNI and certificate verification against the name, not the pinned address.
        extensions["sni_hostname"] = target.hostname
    request_headers = {**dict(headers or {}), "Host": target.host_header}
    return client.build_request(method, url, content=content, headers=request_headers, extensions=extensions)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The certificate-verifying TLS context every client shares (SSLContext is thread-safe).
    Built once per process: loading the CA bundle costs 50-150 ms of CPU, which a client
    created per request otherwise pays on every webhook delivery and tool call (measured by
    bench/webhook_drain.py: it capped a worker process at a few deliveries per second)."""
    return httpx.create_ssl_context(trust_env=False)


def _client_options(timeout_s: float) -> dict[str, object]:
    return {
        "timeout": httpx.Timeout(timeout_s),
        "follow_redirects": False,
        "trust_env": False,  # an environment proxy would make its own DNS lookup
        "verify": _tls_context(),
    }


def request(
    method: str,
    url: str,
    *,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allow_private: bool = False,
    resolver: Resolver = system_resolve,
    transport: httpx.BaseTransport | None = None,
) -> SafeResponse:
    """Send one request to a checked, pinned address. ``timeout_s`` bounds the whole exchange."""
    target = split_url(url)
    address = _pin(target, allow_private=allow_private, resolver=resolver)
    started = time.monotonic()
    deadline = started + timeout_s
    try:
        with httpx.Client(transport=transport, **_client_options(timeout_s)) as client:  # type: ignore[arg-type]
            built = _pinned_request(client, target, address, method, content, headers)
            response = client.send(built, stream=True)
            try:
                body, truncated = bytearray(), False
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        truncated = True
                        break
                    if time.monotonic() > deadline:
                        raise SafeHttpTimeout(f"response not complete within {timeout_s:g} s")
            finally:
                response.close()
    except httpx.TimeoutException as exc:
        raise SafeHttpTimeout(f"timed out after {timeout_s:g} s ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise SafeHttpError(f"{type(exc).__name__}: {exc}"[:300]) from None
    return SafeResponse(
        response.status_code,
        response.headers,
        bytes(body[:max_bytes]),
        truncated,
        round((time.monotonic() - started) * 1000),
        str(address),
    )


async def request_async(
    method: str,
    url: str,
    *,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allow_private: bool = False,
    resolver: AsyncResolver = system_resolve_async,
    transport: httpx.AsyncBaseTransport | None = None,
) -> SafeResponse:
    """The asyncio twin of ``request`` (for webhook tools called during a live call)."""
    target = split_url(url)
    address = await _pin_async(target, allow_private=allow_private, resolver=resolver)
    started = time.monotonic()

    async def exchange() -> tuple[httpx.Response, bytes, bool]:
        async with httpx.AsyncClient(transport=transport, **_client_options(timeout_s)) as client:  # type: ignore[arg-type]
            built = _pinned_request(client, target, address, method, content, headers)
            response = await client.send(built, stream=True)
            try:
                body, truncated = bytearray(), False
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        truncated = True
                        break
            finally:
                await response.aclose()
            return response, bytes(body[:max_bytes]), truncated

    try:
        async with asyncio.timeout(timeout_s):
            response, body, truncated = await exchange()
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise SafeHttpTimeout(f"timed out after {timeout_s:g} s ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise SafeHttpError(f"{type(exc).__name__}: {exc}"[:300]) from None
    return SafeResponse(
        response.status_code,
        response.headers,
        body,
        truncated,
        round((time.monotonic() - started) * 1000),
        str(address),
    )

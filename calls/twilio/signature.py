"""X-Twilio-Signature validation (HMAC-SHA1 over URL + sorted form params, base64).

Twilio is inconsistent about the port in the signed URL, so (like its own validator) a match for
the URL with the default port removed OR added is accepted. The URL is always rebuilt from
``PUBLIC_BASE_URL`` plus the request path, never from the Host header, which a proxy rewrites
and an attacker controls.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

_DEFAULT_PORTS = {"https": 443, "wss": 443, "http": 80, "ws": 80}


def _values(params: Mapping[str, Any], name: str) -> list[str]:
    # A Django QueryDict maps a name to its LAST value; every value is signed, so use getlist.
    getlist = getattr(params, "getlist", None)
    raw = getlist(name) if getlist is not None else params[name]
    return [raw] if isinstance(raw, str) else [str(v) for v in raw]


def compute_signature(auth_token: str, url: str, params: Mapping[str, Any]) -> str:
    """Twilio's algorithm: URL, then each name+value with names sorted and a name's values
    sorted, HMAC-SHA1 with the auth token, base64."""
    payload = url + "".join(
        name + value for name in sorted(params) for value in sorted(set(_values(params, name)))
    )
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _port_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    without = urlunsplit((parts.scheme, userinfo + host, parts.path, parts.query, parts.fragment))
    if parts.port is not None and parts.port != default:
        return [url]
    with_port = urlunsplit(
        (parts.scheme, f"{userinfo}{host}:{default}", parts.path, parts.query, parts.fragment)
    )
    return [without, with_port]


def is_valid_signature(auth_token: str, url: str, params: Mapping[str, Any], signature: str | None) -> bool:
    if not signature or not auth_token:
        return False
    expected = signature.encode("utf-8")
    return any(
        hmac.compare_digest(compute_signature(auth_token, variant, params).encode("utf-8"), expected)
        for variant in _port_variants(url)
    )

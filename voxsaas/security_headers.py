"""Content-Security-Policy on every HTML response.

The dashboard is built to need nothing inline: scripts and styles are static files under
``/static/`` (htmx runs with ``allowEval: false`` and without its injected indicator styles), no
``style=`` attributes, no inline event handlers, no third-party host. So the policy can be
strict: only this origin, for everything. Notes on the less obvious directives:

- ``connect-src 'self'`` also covers the live-calls and softphone WebSockets to this host
  (``ws:``/``wss:`` of the page's own host match ``'self'`` under CSP Level 3, which Chromium,
  Firefox and Safari implement);
- the softphone's AudioWorklet module is a same-origin script (``script-src 'self'``);
- ``media-src 'self' blob:`` lets the call recordings play (same origin) and a page play audio
  it made itself in the browser (blob URLs can only be minted by scripts already running here);
- ``img-src 'self' data:`` for small inline images in stylesheets (e.g. the API docs' icons);
- ``frame-ancestors 'none'`` is the CSP form of ``X-Frame-Options: DENY`` (both are sent).

A view that needs another policy sets the header itself; this middleware then leaves it alone.
With ``DEBUG`` on, Django's technical 404/500 pages (inline styles and scripts) get no policy,
as django-csp does, so the debug page stays readable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase

HEADER = "Content-Security-Policy"
DEBUG_PAGE_STATUSES = frozenset({404, 500})


def serialize_policy(policy: Mapping[str, Sequence[str]]) -> str:
    """``{"script-src": ["'self'"], ...}`` as a header value (directives in the given order)."""
    return "; ".join(f"{name} {' '.join(sources)}".strip() for name, sources in policy.items())


class ContentSecurityPolicyMiddleware:
    """Adds ``settings.CONTENT_SECURITY_POLICY`` to HTML responses. Sync and async capable, so
    it adds no thread hop to the ASGI request path."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]):
        self.get_response = get_response
        self.header_value = serialize_policy(settings.CONTENT_SECURITY_POLICY)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self.__acall__(request)
        response = self.get_response(request)
        assert isinstance(response, HttpResponseBase)
        return self.add_policy(response)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = await self.get_response(request)  # type: ignore[misc]
        return self.add_policy(response)

    def add_policy(self, response: HttpResponseBase) -> HttpResponseBase:
        if HEADER in response or not response.get("Content-Type", "").startswith("text/html"):
            return response
        if settings.DEBUG and response.status_code in DEBUG_PAGE_STATUSES:
            return response
        response[HEADER] = self.header_value
        return response

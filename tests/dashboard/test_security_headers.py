"""The Content-Security-Policy: on every HTML response, strict (only this origin, nothing inline),
and the templates keep it satisfiable (no inline script, style or event handler). The browser
tests (tests/browser/test_webhooks_and_csp.py) load the pages under it in Chromium."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client
from django.urls import reverse

from tests.dashboard.conftest import World, signed_in
from voxsaas.security_headers import ContentSecurityPolicyMiddleware, serialize_policy

TEMPLATES = Path(django_settings.BASE_DIR) / "templates"
EXPECTED = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "media-src": "'self' blob:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "frame-ancestors": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
}


def _directives(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


@pytest.mark.parametrize(
    "name", ["overview", "calls", "agents", "tools", "webhooks", "webhook-deliveries", "api-keys", "usage"]
)
def test_dashboard_pages_carry_the_policy(client: Client, world: World, name: str) -> None:
    signed_in(client, world.cast.owner_a)
    response = client.get(reverse(f"dashboard:{name}", args=["acme"]))
    assert response.status_code == 200
    directives = _directives(response["Content-Security-Policy"])
    for directive, sources in EXPECTED.items():
        assert directives[directive] == sources, directive
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"  # kept for browsers without frame-ancestors


def test_sign_in_and_error_pages_carry_it_too(client: Client, world: World) -> None:
    assert "Content-Security-Policy" in client.get(reverse("dashboard:login"))
    signed_in(client, world.cast.owner_a)
    form = client.post(reverse("dashboard:webhook-new", args=["acme"]), {"url": "x"})
    assert form.status_code == 400 and "Content-Security-Policy" in form
    forbidden = client.get(reverse("dashboard:webhooks", args=["globex"]))
    assert forbidden.status_code == 404


def test_non_html_responses_get_no_policy(client: Client, world: World) -> None:
    signed_in(client, world.cast.owner_a)
    api = client.get("/api/v1/agents", headers={"X-Tenant": "acme"})
    assert api.status_code == 200 and api["Content-Type"].startswith("application/json")
    assert "Content-Security-Policy" not in api
    transcript = client.get(reverse("dashboard:call-transcript-json", args=["acme", world.a.call.public_id]))
    assert transcript.status_code == 200 and "Content-Security-Policy" not in transcript


def test_the_api_docs_need_nothing_inline(client: Client) -> None:
    page = client.get("/api/docs/")
    html = page.content.decode()
    assert page.status_code == 200 and "Content-Security-Policy" in page
    assert "<style" not in html and not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()
    assert "Content-Security-Policy" not in script  # JavaScript, not a page


def _run(middleware: ContentSecurityPolicyMiddleware, request: HttpRequest) -> Any:
    result = middleware(request)
    return asyncio.run(result) if asyncio.iscoroutine(result) else result


@pytest.mark.parametrize("is_async", [False, True])
def test_the_middleware_in_sync_and_async_stacks(settings: Any, is_async: bool) -> None:
    settings.DEBUG = False

    def respond(response: HttpResponse) -> Any:
        if is_async:

            async def view(request: HttpRequest) -> HttpResponse:
                return response

            return view
        return lambda request: response

    html = _run(ContentSecurityPolicyMiddleware(respond(HttpResponse("<p>hi</p>"))), HttpRequest())
    assert html["Content-Security-Policy"] == serialize_policy(settings.CONTENT_SECURITY_POLICY)
    own = HttpResponse("<p>docs</p>")
    own["Content-Security-Policy"] = "default-src 'none'"
    assert _run(ContentSecurityPolicyMiddleware(respond(own)), HttpRequest())["Content-Security-Policy"] == (
        "default-src 'none'"
    )  # a view's own policy is left alone
    data = _run(ContentSecurityPolicyMiddleware(respond(JsonResponse({"a": 1}))), HttpRequest())
    assert "Content-Security-Policy" not in data


def test_debug_error_pages_stay_readable(settings: Any) -> None:
    """Django's technical 404/500 pages are inline-styled: with DEBUG on they get no policy."""
    settings.DEBUG = True
    missing = _run(
        ContentSecurityPolicyMiddleware(lambda r: HttpResponse("<p>404</p>", status=404)), HttpRequest()
    )
    assert "Content-Security-Policy" not in missing
    settings.DEBUG = False
    missing = _run(
        ContentSecurityPolicyMiddleware(lambda r: HttpResponse("<p>404</p>", status=404)), HttpRequest()
    )
    assert "Content-Security-Policy" in missing


def test_serialize_policy() -> None:
    assert serialize_policy(
        {"default-src": ["'self'"], "img-src": ["'self'", "data:"], "upgrade-insecure-requests": []}
    ) == ("default-src 'self'; img-src 'self' data:; upgrade-insecure-requests")


INLINE = [
    (re.compile(r"\sstyle\s*=", re.IGNORECASE), "a style= attribute"),
    (re.compile(r"<style[\s>]", re.IGNORECASE), "a <style> block"),
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE), "an inline <script>"),
    (re.compile(r"\son[a-z]+\s*=\s*[\"']", re.IGNORECASE), "an inline event handler"),
    (re.compile(r"javascript:", re.IGNORECASE), "a javascript: URL"),
    (re.compile(r"\shx-on", re.IGNORECASE), "an hx-on handler (needs eval)"),
]


def test_templates_need_nothing_inline() -> None:
    """What the policy blocks must not be in a template: it would silently break in the browser."""
    offenders = [
        f"{path.relative_to(TEMPLATES)}: {what}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for pattern, what in INLINE
        if pattern.search(path.read_text())
    ]
    assert offenders == []
    assert len(list(TEMPLATES.rglob("*.html"))) > 20  # the walk found the templates

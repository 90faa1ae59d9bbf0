"""Browser tests: Playwright driving Debian's Chromium (``/usr/bin/chromium``, installed by
``.ci/run``; never ``playwright install``) against the real product under daphne
(``tests.e2e.server.live_server``) and the test database.

Chromium runs headless, with a fake microphone fed from a WAV file built here from the shared
caller fixtures (16-bit PCM, as Chromium's fake capture wants it). Only 127.0.0.1 is ever
contacted: the pages load no third-party asset and the background services are off.

Screenshots of the main pages land in ``artifacts/screenshots/`` (gitignored; CI keeps them).
"""

from __future__ import annotations

import warnings
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, async_playwright

from tests.audio import AUDIO_DIR
from tests.calls.conftest import ACCOUNT_A, TOKEN_A, Telephony, telephony  # noqa: F401 - fixture
from tests.e2e.server import LiveServer, live_server
from tests.fakes.twilio import FakeTwilioRest, read_mulaw_wav

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # audioop: see calls.bridge.audio
    import audioop

ROOT = Path(__file__).resolve().parents[2]

SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 20_000
MIC_SILENCE_BEFORE_S = 3.5  # the agent's greeting plays meanwhile
MIC_SILENCE_AFTER_S = 12.0


def chromium_args(fake_mic: Path) -> list[str]:
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={fake_mic}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    ]


def fake_microphone_wav(path: Path, fixture: str) -> Path:
    """Silence, one spoken caller fixture, silence: 16-bit PCM mono 8 kHz (Chromium resamples)."""
    speech = audioop.ulaw2lin(read_mulaw_wav(AUDIO_DIR / fixture), 2)
    before = b"\x00\x00" * int(8000 * MIC_SILENCE_BEFORE_S)
    after = b"\x00\x00" * int(8000 * MIC_SILENCE_AFTER_S)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(before + speech + after)
    return path


@pytest.fixture(scope="session")
def fake_mic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fake_microphone_wav(tmp_path_factory.mktemp("mic") / "opening_hours.wav", "opening_hours.wav")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """The cast's users are created per test; the server never checks these hashes (sessions are
    made here), except for the one user a test signs in with through the form."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]


@pytest.fixture(autouse=True)
async def _close_thread_connections() -> AsyncIterator[None]:
    yield
    from django.db import connections

    await sync_to_async(connections.close_all)()


@pytest.fixture
async def browser(fake_mic: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=chromium_args(fake_mic)
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Stack:
    """The server under test and the fake Twilio REST API it hangs up and redirects through."""

    server: LiveServer
    rest: FakeTwilioRest
    telephony: Telephony
    contexts: list[BrowserContext] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Paths a test expects to answer with an error status (Chromium logs those as console errors).
    expected_errors: set[str] = field(default_factory=lambda: {"/favicon.ico"})

    def console(self, page: Page, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = urlsplit(str(message.location.get("url", ""))).path
        if where not in self.expected_errors:
            self.errors.append(f"{page.url}: console {message.text} ({where})")

    @property
    def url(self) -> str:
        return self.server.http_url


@pytest.fixture
async def stack(telephony: Telephony) -> AsyncIterator[Stack]:  # noqa: F811 - the fixture above
    # DEBUG: static files are served from the source folders (no collectstatic in tests).
    async with (
        FakeTwilioRest(ACCOUNT_A, TOKEN_A) as rest,
        live_server(DEBUG="true", TWILIO_API_BASE_URL=rest.base_url) as server,
    ):
        stack = Stack(server, rest, telephony)
        try:
            yield stack
        finally:
            for context in stack.contexts:
                await context.close()
    assert stack.errors == [], "the pages raised JavaScript errors"


def _session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return str(client.cookies[settings.SESSION_COOKIE_NAME].value)


async def open_page(browser: Browser, stack: Stack, user: Any = None) -> Page:
    """A fresh browser context (signed in as ``user`` when given: a session made here, in the
    shared database) and a page that records JavaScript errors into ``stack.errors``."""
    context = await browser.new_context(base_url=stack.url, viewport={"width": 1360, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    stack.contexts.append(context)
    if user is not None:
        value = await sync_to_async(_session_cookie)(user)
        await context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": value, "url": stack.url, "httpOnly": True}]
        )
    page = await context.new_page()
    page.on("pageerror", lambda error: stack.errors.append(f"{page.url}: {error}"))
    page.on("console", lambda message: stack.console(page, message))
    page.on("dialog", lambda dialog: dialog.accept())  # data-confirm prompts
    return page


async def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000  # a rendered page, not an empty frame
    return path


Opener = Callable[..., Awaitable[Page]]

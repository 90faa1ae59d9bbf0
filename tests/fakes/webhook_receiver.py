"""A fake webhook receiver: a threaded HTTP server on 127.0.0.1 (random port) that records every
request and answers as scripted: a status and body, or hanging (never answering until the fake
stops) to exercise the sender's timeout.

Usage::

    with FakeWebhookReceiver() as receiver:
        receiver.script(500, 200)             # first request 500, second 200, then the default
        ... receiver.url ...
        receiver.requests[0].headers["webhook-id"]
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANG = -1  # a scripted "status" that never answers


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b'{"received": true}'
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass
class FakeWebhookReceiver:
    default: Reply = field(default_factory=Reply)
    requests: list[ReceivedRequest] = field(default_factory=list)
    hang_limit_s: float = 30.0  # a hanging reply gives up after this, so no thread outlives a test

    def __post_init__(self) -> None:
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def script(self, *replies: int | Reply) -> None:
        with self._lock:
            for reply in replies:
                self._replies.append(
                    reply if isinstance(reply, Reply) else Reply(status=reply, body=b"scripted")
                )

    def _next(self) -> Reply:
        with self._lock:
            return self._replies.popleft() if self._replies else self.default

    def start(self) -> FakeWebhookReceiver:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                with fake._lock:
                    fake.requests.append(ReceivedRequest("POST", self.path, headers, body))
                reply = fake._next()
                if reply.status == HANG:
                    fake._release.wait(fake.hang_limit_s)
                    return
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-webhook-receiver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeWebhookReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

"""Production entry point: daphne serving ``voxsaas.asgi:application`` with a graceful drain.

    python -m voxsaas.serve -b 0.0.0.0 -p 8000 --proxy-headers   # any daphne option but the app

Why not plain ``daphne``: Twisted stops the reactor on SIGTERM at once, cutting every live call
mid-sentence. Here the reactor runs without Twisted's signal handlers, and ours go on its
asyncio loop: SIGTERM starts the drain in ``voxsaas.drain`` (not ready, no new streams, wait for
the calls up to ``DRAIN_TIMEOUT_S``, exit 0); a second SIGTERM, or SIGINT (Ctrl-C in
development), stops at once as before.

daphne's NCSA access log is replaced by log records on ``voxsaas.access`` (so JSON logging
covers it too), without query strings, which may carry signed tokens; probes log at DEBUG.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

from daphne.cli import CommandLineInterface  # imports daphne.server first: installs the reactor
from daphne.server import Server
from twisted.internet import reactor

APPLICATION = "voxsaas.asgi:application"
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

log = logging.getLogger("voxsaas.serve")
access_log = logging.getLogger("voxsaas.access")


def log_access(protocol: str, action: str, details: dict[str, Any]) -> None:
    """daphne's ``action_logger``: one record per finished HTTP request and WebSocket event."""
    path = str(details.get("path", "")).split("?", 1)[0]
    level = logging.DEBUG if path in PROBE_PATHS else logging.INFO
    if not access_log.isEnabledFor(level):
        return
    if protocol == "http" and action == "complete":
        status = details.get("status")
        duration_ms = round(float(details.get("time_taken") or 0) * 1000, 1)
        access_log.log(
            level,
            "%s %s %s %.1f ms",
            details.get("method"),
            path,
            status,
            duration_ms,
            extra={
                "method": details.get("method"),
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
                "client": _client(details),
            },
        )
    elif protocol == "websocket" and action in ("connected", "rejected", "disconnected"):
        access_log.log(
            level, "websocket %s %s", action, path, extra={"path": path, "client": _client(details)}
        )


def _client(details: dict[str, Any]) -> str | None:
    client = details.get("client")
    return str(client) if client else None


class DrainingServer(Server):  # daphne is untyped
    """daphne's Server with our signal handling and a way to stop listening."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["signal_handlers"] = False
        if kwargs.get("action_logger") is not None:
            kwargs["action_logger"] = log_access
        super().__init__(*args, **kwargs)
        self._ports: list[Any] = []
        self.drain: Any = None

    def listen_success(self, port: Any) -> None:
        self._ports.append(port)
        super().listen_success(port)

    def stop_listening(self) -> None:
        ports, self._ports = self._ports, []
        for port in ports:
            port.stopListening()

    def run(self) -> None:
        reactor.callWhenRunning(self._install_signal_handlers)
        super().run()

    def _install_signal_handlers(self) -> None:
        from django.conf import settings

        from voxsaas.drain import DrainController, worker

        self.drain = DrainController(
            worker,
            timeout_s=float(settings.DRAIN_TIMEOUT_S),
            unlisten_after_s=float(settings.DRAIN_UNLISTEN_AFTER_S),
            stop_listening=self.stop_listening,
            stop_server=self.stop,
        )
        loop = asyncio.get_event_loop()  # the reactor's loop, set by Server.run()
        loop.add_signal_handler(signal.SIGTERM, self.drain.begin)
        loop.add_signal_handler(signal.SIGINT, self.stop)
        log.info("graceful drain on SIGTERM (up to %s s)", settings.DRAIN_TIMEOUT_S)


class ServeCommand(CommandLineInterface):  # daphne is untyped
    description = "VoxSaaS: daphne with graceful drain on SIGTERM"
    server_class = DrainingServer

    def run(self, args: list[str]) -> None:
        super().run([*args, APPLICATION])


def main(argv: list[str] | None = None) -> int:
    ServeCommand().run(sys.argv[1:] if argv is None else argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())

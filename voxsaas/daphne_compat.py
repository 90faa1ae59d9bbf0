"""Fixes for daphne and the autobahn WebSocket code under it, applied once from ``voxsaas.asgi``.

Close codes: let daphne send the RFC 6455 close codes a server is meant to send (1008, 1011, ...).
daphne closes sockets through autobahn's application-level ``sendClose``, which only accepts
1000 and 3000-4999, so a policy-violation close (1008) or an internal-error close (1011) raises
inside daphne instead of closing the socket. RFC 6455 section 7.4.1 defines those codes for
exactly this use. This shim routes the server-defined codes through autobahn's frame-level
``sendCloseFrame`` (what ``sendClose`` itself calls after its check) and leaves everything else
to daphne.

Debug-log arguments: autobahn formats the arguments of a ``log.debug`` call for every frame it
sends and receives (``hltype``/``hlval`` -> ``inspect`` + ``click.style``) whether debug logging
is on or not: ~6% of a media-stream worker's CPU (bench/README.md, "Where daphne's CPU goes").
Its modules' ``hltype``/``hlval`` are replaced by versions that defer the same formatting to the
moment a log line is really rendered, so debug output is unchanged when it is enabled.

Both are applied only when daphne (and so autobahn) is the server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Codes an endpoint may send (RFC 6455 7.4.1); 1005, 1006 and 1015 must never be sent.
SERVER_CLOSE_CODES = frozenset({1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


def install() -> bool:
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # another ASGI server: nothing to do
        return False
    _install_close_codes(WebSocketProtocol)
    _install_lazy_log_arguments()
    return True


def _install_close_codes(WebSocketProtocol: Any) -> None:
    if getattr(WebSocketProtocol, "_voxsaas_close_codes", False):
        return
    original = WebSocketProtocol.serverClose

    def server_close(self: Any, code: int | None = None) -> None:
        if code in SERVER_CLOSE_CODES:
            self.sendCloseFrame(code=code, isReply=False)
            return
        original(self, code=code)

    WebSocketProtocol.serverClose = server_close
    WebSocketProtocol._voxsaas_close_codes = True


class DeferredLogArgument:
    """``function(*args, **kwargs)``, computed only when a log line is rendered (``format``,
    ``str`` or ``repr``): then exactly what the eager call would have given."""

    __slots__ = ("_args", "_function", "_kwargs")

    def __init__(self, function: Callable[..., str], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._function = function
        self._args = args
        self._kwargs = kwargs

    def value(self) -> str:
        return self._function(*self._args, **self._kwargs)

    def __format__(self, spec: str) -> str:
        return format(self.value(), spec)

    def __str__(self) -> str:
        return self.value()

    def __repr__(self) -> str:
        return repr(self.value())


def deferred(function: Callable[..., str]) -> Callable[..., DeferredLogArgument]:
    def defer(*args: Any, **kwargs: Any) -> DeferredLogArgument:
        return DeferredLogArgument(function, args, kwargs)

    defer.__name__ = function.__name__
    defer.__doc__ = function.__doc__
    defer._voxsaas_deferred = True  # type: ignore[attr-defined]
    return defer


# The modules on daphne's per-frame path that import autobahn.util's helpers by name.
AUTOBAHN_HOT_MODULES = ("autobahn.websocket.protocol", "autobahn.twisted.websocket")


def _install_lazy_log_arguments() -> None:
    import importlib

    from autobahn import util

    for name in AUTOBAHN_HOT_MODULES:
        module = importlib.import_module(name)
        for helper in ("hltype", "hlval"):
            current = getattr(module, helper, None)
            if current is None or getattr(current, "_voxsaas_deferred", False):
                continue
            setattr(module, helper, deferred(getattr(util, helper)))

"""Let daphne send the RFC 6455 close codes a server is meant to send (1008, 1011, ...).

daphne closes sockets through autobahn's application-level ``sendClose``, which only accepts
1000 and 3000-4999, so a policy-violation close (1008) or an internal-error close (1011) raises
inside daphne instead of closing the socket. RFC 6455 section 7.4.1 defines those codes for
exactly this use. This shim routes the server-defined codes through autobahn's frame-level
``sendCloseFrame`` (what ``sendClose`` itself calls after its check) and leaves everything else
to daphne. It is applied once, from ``voxsaas.asgi``, and only when daphne is the server.
"""

from __future__ import annotations

from typing import Any

# Codes an endpoint may send (RFC 6455 7.4.1); 1005, 1006 and 1015 must never be sent.
SERVER_CLOSE_CODES = frozenset({1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


def install() -> bool:
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # another ASGI server: nothing to do
        return False
    if getattr(WebSocketProtocol, "_voxsaas_close_codes", False):
        return True
    original = WebSocketProtocol.serverClose

    def server_close(self: Any, code: int | None = None) -> None:
        if code in SERVER_CLOSE_CODES:
            self.sendCloseFrame(code=code, isReply=False)
            return
        original(self, code=code)

    WebSocketProtocol.serverClose = server_close
    WebSocketProtocol._voxsaas_close_codes = True
    return True

"""WebSocket routes. Each consumer authenticates its own way, so no global middleware is applied:

- the Twilio media stream: the upgrade's Twilio signature and the signed call token (no cookies,
  no session: it must stay outside the auth middleware, which would cost a database hop);
- the dashboard's sockets (live calls, the softphone): the session cookie, through
  ``AuthMiddlewareStack``, behind an Origin check (``AllowedHostsOriginValidator``) so another
  site cannot open them with a signed-in user's cookie. Each consumer then resolves the
  member's tenant through ``tenants.access`` before accepting.
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from calls.live import LiveCallsConsumer
from calls.routing import websocket_urlpatterns as calls_websockets
from calls.softphone import SoftphoneConsumer


def dashboard_socket(application: Any) -> Any:
    """A dashboard WebSocket: same-origin only, the signed-in user in ``scope["user"]``."""
    return AllowedHostsOriginValidator(AuthMiddlewareStack(application))


dashboard_websockets: list[Any] = [
    path("t/<slug:slug>/live/ws", dashboard_socket(LiveCallsConsumer.as_asgi())),
    path("t/<slug:slug>/agents/<str:agent_id>/talk/ws", dashboard_socket(SoftphoneConsumer.as_asgi())),
]

websocket_urlpatterns: list[Any] = [*calls_websockets, *dashboard_websockets]

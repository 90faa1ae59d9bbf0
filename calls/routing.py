from __future__ import annotations

from django.urls import path

from calls.consumers import MediaStreamConsumer
from calls.views import MEDIA_STREAM_PATH

websocket_urlpatterns = [
    path(MEDIA_STREAM_PATH.lstrip("/"), MediaStreamConsumer.as_asgi()),
]

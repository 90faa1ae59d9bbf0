"""The configured channel layer carries messages: Redis when REDIS_URL is set (CI), in-memory
otherwise. The backend is asserted, so CI can never silently fall back to memory."""

from __future__ import annotations

import os
import uuid

from channels.layers import get_channel_layer
from django.conf import settings


def test_backend_follows_redis_url() -> None:
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    if os.environ.get("REDIS_URL"):
        assert backend == "channels_redis.core.RedisChannelLayer"
        assert os.environ["REDIS_URL"] == settings.CELERY_BROKER_URL
    else:
        assert backend == "channels.layers.InMemoryChannelLayer"
        assert settings.CELERY_TASK_ALWAYS_EAGER is True


async def test_group_round_trip() -> None:
    layer = get_channel_layer()
    assert layer is not None
    channel = await layer.new_channel()
    group = f"test-{uuid.uuid4().hex}"
    await layer.group_add(group, channel)
    try:
        await layer.group_send(group, {"type": "call.transcript", "text": "hello"})
        message = await layer.receive(channel)
    finally:
        await layer.group_discard(group, channel)
    assert message == {"type": "call.transcript", "text": "hello"}

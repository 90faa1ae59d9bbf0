"""OpenAI Realtime API engine (GA protocol, mu-law passthrough). See ``engine.py``."""

from calls.bridge.engines.openai_realtime.engine import OpenAIRealtimeEngine
from calls.bridge.engines.openai_realtime.options import RealtimeOptions

__all__ = ["OpenAIRealtimeEngine", "RealtimeOptions"]

"""Ultravox Realtime engine (``serverWebSocket`` medium). See ``engine.py``."""

from calls.bridge.engines.ultravox.engine import UltravoxEngine
from calls.bridge.engines.ultravox.wire import UltravoxOptions

__all__ = ["UltravoxEngine", "UltravoxOptions"]

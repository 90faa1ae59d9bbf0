"""A faithful fake of the OpenAI Realtime WebSocket API (GA, with beta event names on request).

See ``server.py`` for the controls and ``script.py`` for scripting caller turns.
"""

from tests.fakes.openai_realtime.connection import FakeRealtimeConnection
from tests.fakes.openai_realtime.script import FakeToolCall, FakeTurn
from tests.fakes.openai_realtime.server import FakeOpenAIRealtime

__all__ = ["FakeOpenAIRealtime", "FakeRealtimeConnection", "FakeToolCall", "FakeTurn"]

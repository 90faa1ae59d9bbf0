"""A faithful fake of Ultravox Realtime (REST create-call + ``serverWebSocket`` protocol)."""

from tests.fakes.ultravox.call import FakeUltravoxCall, Script, ToolStep, Turn
from tests.fakes.ultravox.server import CreateCallRequest, FakeUltravox
from tests.fakes.ultravox.voice import EnergyVad, synthesize

__all__ = [
    "CreateCallRequest",
    "EnergyVad",
    "FakeUltravox",
    "FakeUltravoxCall",
    "Script",
    "ToolStep",
    "Turn",
    "synthesize",
]

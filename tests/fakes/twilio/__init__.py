"""A faithful fake Twilio: the media-stream caller, the REST API and webhook signing."""

from tests.fakes.twilio.caller import (
    ClearRecord,
    FakeTwilioCaller,
    MarkEcho,
    ReceivedMark,
    Utterance,
    new_sid,
)
from tests.fakes.twilio.rest import FakeCall, FakeTwilioRest, RecordedRequest, sign_webhook
from tests.fakes.twilio.wav import mulaw_wav_bytes, parse_mulaw_wav, read_mulaw_wav

__all__ = [
    "ClearRecord",
    "FakeCall",
    "FakeTwilioCaller",
    "FakeTwilioRest",
    "MarkEcho",
    "ReceivedMark",
    "RecordedRequest",
    "Utterance",
    "mulaw_wav_bytes",
    "new_sid",
    "parse_mulaw_wav",
    "read_mulaw_wav",
    "sign_webhook",
]

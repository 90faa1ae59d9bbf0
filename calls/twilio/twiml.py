"""TwiML documents the webhooks answer with."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

SORRY_UNAVAILABLE = "Sorry, this number cannot take your call right now. Please try again later. Goodbye."
SORRY_BUSY = "Sorry, all our lines are busy right now. Please call again in a few minutes. Goodbye."
SORRY_NOBODY_AVAILABLE = (
    "Sorry, nobody is available to take your call right now. Please try again later. Goodbye."
)
SORRY_DISCONNECTED = "Sorry, we lost the connection to our assistant. Please call again. Goodbye."


def polite_hangup(message: str) -> str:
    response = VoiceResponse()
    response.say(message)
    response.hangup()
    return str(response)


def connect_stream(*, stream_url: str, token: str, status_callback: str | None = None) -> str:
    """``<Connect><Stream>`` with the call token; if the stream ends without the call being
    redirected or hung up, Twilio continues after ``</Connect>``: a fallback line, then hang up,
    so the caller is never left in silence."""
    response = VoiceResponse()
    connect = response.connect()
    stream = (
        connect.stream(url=stream_url, status_callback=status_callback)
        if status_callback
        else connect.stream(url=stream_url)
    )
    stream.parameter(name="token", value=token)
    response.say(SORRY_DISCONNECTED)
    response.hangup()
    return str(response)


def dial(
    *, number: str, caller_id: str, timeout_s: int = 30, action: str | None = None, say: str = ""
) -> str:
    response = VoiceResponse()
    if say:
        response.say(say)
    kwargs: dict[str, object] = {"caller_id": caller_id, "timeout": timeout_s}
    if action:
        kwargs["action"] = action
    response.dial(number, **kwargs)
    return str(response)


def hangup() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)

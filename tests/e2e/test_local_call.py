"""The offline engine through the real server, no fakes behind it: real synthesized caller speech
(``tests/data/audio``) streams in like Twilio sends it, WebRTC VAD + PocketSphinx recognize it, the
demo dialogue policy looks the question up in the agent's knowledge base, eSpeak speaks the
answer, and what reaches the caller is checked as audio.

eSpeak NG is deterministic, so the test synthesizes the expected lines itself with the engine's
TTS and compares bytes: the caller must hear exactly that mu-law, in 20 ms frames, nothing lost,
reordered or corrupted on the way (transcoding, framing, marks, base64).
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from calls.bridge.audio import ulaw_to_pcm16
from calls.models import TranscriptSegment
from tests.audio import AUDIO_DIR
from tests.calls.conftest import ACCOUNT_A, TOKEN_A, Telephony
from tests.e2e.conftest import (
    SPEECH_TIMEOUT_S,
    add_knowledge_base,
    call_events,
    connect_caller,
    ended_call,
    place_inbound_call,
    transcript_rows,
    wait_db,
    wait_postcall_settled,
)
from tests.e2e.server import ROOT, live_server
from tests.fakes.twilio import FakeTwilioRest, new_sid, read_mulaw_wav

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GREETING = "Acme Plumbing, how can I help?"
KB_TEXT = (
    "Acme Plumbing is open from nine to five, Monday to Friday. "
    "We are closed on weekends and public holidays. "
    "An emergency call-out costs ninety pounds, parts extra."
)
# The policy reads the passage's first two sentences back, then offers more help.
ANSWER = (
    "Acme Plumbing is open from nine to five, Monday to Friday. "
    "We are closed on weekends and public holidays. Is there anything else I can help with?"
)
ANSWER_FIRST_PIECE = "Acme Plumbing is open from nine to five,"  # a clause: TTS gets it first
GOODBYE_PIECES = ("Thank you for calling.", "Goodbye!")
FRAME_MS = 20
HEARD_TOLERANCE_MS = 5 * FRAME_MS  # see test_openai_realtime_call.HEARD_TOLERANCE_MS


# Synthesizes each argument with the engine's TTS (default voice), in order, in a fresh process,
# and prints them as JSON base64.
_SYNTHESIZE = """
import asyncio, base64, json, sys
from calls.bridge.engines.local.tts import LocalTextToSpeech

async def main():
    out = []
    for text in sys.argv[1:]:
        async def one(text=text):
            yield text
        out.append(b"".join([c async for c in LocalTextToSpeech().synthesize(one())]))
    print(json.dumps([base64.b64encode(audio).decode() for audio in out]))

asyncio.run(main())
"""


async def _espeak_in_a_fresh_process(*pieces: str) -> list[bytes]:
    """What the server's eSpeak makes of ``pieces`` when they are the first it synthesizes.
    eSpeak NG is deterministic but keeps state between syntheses (the same text comes out
    slightly different after other text), so the expected audio is made in a process with the
    same history as the server's: the greeting first, then the answer's first piece."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _SYNTHESIZE, *pieces, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await process.communicate()
    assert process.returncode == 0
    return [base64.b64decode(audio) for audio in json.loads(stdout)]


def _rms(mulaw: bytes) -> float:
    samples = memoryview(ulaw_to_pcm16(mulaw)).cast("h")
    return float((sum(s * s for s in samples) / max(1, len(samples))) ** 0.5)


def _agent_segments() -> int:
    return TranscriptSegment.objects.filter(speaker="agent").count()


async def test_spoken_question_answered_from_the_knowledge_base_barge_in_and_goodbye(
    telephony: Telephony, configure_agent: Callable[..., Any]
) -> None:
    await sync_to_async(add_knowledge_base)(telephony, title="Opening hours", text=KB_TEXT)
    await sync_to_async(configure_agent)(engine="local", greeting=GREETING)
    greeting_audio, answer_audio, *goodbye_pieces = await _espeak_in_a_fresh_process(
        GREETING, ANSWER_FIRST_PIECE, *GOODBYE_PIECES
    )
    async with (
        FakeTwilioRest(ACCOUNT_A, TOKEN_A) as rest,
        live_server(TWILIO_API_BASE_URL=rest.base_url) as server,
    ):
        answer = await place_inbound_call(server.http_url, new_sid("CA"))
        caller = await connect_caller(server.ws_url, answer, rest)

        # The greeting: exactly eSpeak's audio, heard to the end.
        await wait_db(lambda: _agent_segments() >= 1)  # written once the engine has produced it
        await caller.wait_for(lambda: len(caller.played) >= len(greeting_audio), timeout_s=10)
        assert bytes(caller.played) == greeting_audio
        assert _rms(greeting_audio) > 1000

        # A real spoken question, recognized and answered from the knowledge base.
        answer_starts_at = len(caller.played)
        await asyncio.wait_for(caller.say_wav(AUDIO_DIR / "opening_hours.wav"), SPEECH_TIMEOUT_S)
        await caller.wait_for(lambda: len(caller.played) >= answer_starts_at + 8000, timeout_s=15)

        # One second into the answer the caller says goodbye over it. (The engine's barge-in
        # signal is its own VAD, inside the server: unlike with the fakes, there is no outside
        # moment to time the clear against.)
        barge = caller.queue_speech(read_mulaw_wav(AUDIO_DIR / "goodbye.wav"))
        await caller.wait_for(lambda: bool(caller.clears), timeout_s=5)
        clear = caller.clears[0]
        heard = bytes(caller.played[answer_starts_at : clear.played_bytes])
        assert heard == answer_audio[: len(heard)]  # the answer, cut where the caller spoke
        assert clear.dropped_bytes > 0
        await asyncio.wait_for(barge, SPEECH_TIMEOUT_S)

        # The policy says goodbye and ends the call: heard to the end, then a REST hang-up.
        async with asyncio.timeout(20):
            await caller.closed.wait()
        # Its bytes depend on what eSpeak said before (the interrupted answer): check its length.
        goodbye = bytes(caller.played[clear.played_bytes :])
        assert abs(len(goodbye) - sum(len(p) for p in goodbye_pieces)) <= 2 * 160
        assert _rms(goodbye) > 1000
        assert caller.mark_echoes[-1].cleared is False  # its last mark was reached by playback
        await wait_db(lambda: ended_call() is not None)
        await wait_postcall_settled()

    assert [r.form.get("Status") for r in rest.requests] == ["completed"]
    # Every frame is 20 ms (only an utterance's last may be shorter) and nothing was malformed.
    assert max(caller.media_sizes) == 160
    assert caller.media_sizes.count(160) >= 0.9 * len(caller.media_sizes)
    assert caller.errors == []

    call = await sync_to_async(ended_call)()
    assert call.end_reason == "agent_hangup"
    rows = await sync_to_async(transcript_rows)(call)
    assert [speaker for speaker, _ in rows] == ["agent", "caller", "agent", "caller", "agent"]
    assert rows[0][1] == GREETING
    assert {"opening", "hours"} <= set(rows[1][1].split())  # recognized by PocketSphinx
    assert rows[2][1] == ANSWER  # what was synthesized before the cut
    assert "goodbye" in rows[3][1].split()
    assert rows[4][1] == " ".join(GOODBYE_PIECES)
    lookup, hang_up = await sync_to_async(call_events)(call, "tool_call")
    assert lookup["name"] == "query_knowledge_base" and lookup["outcome"] == "ok"
    assert lookup["arguments"] == {"query": rows[1][1]}
    assert "nine to five" in lookup["result"]
    assert hang_up["name"] == "end_call" and hang_up["outcome"] == "ok"
    (interruption,) = await sync_to_async(call_events)(call, "interruption")
    assert abs(interruption["heard_ms"] - len(heard) / 8) <= HEARD_TOLERANCE_MS

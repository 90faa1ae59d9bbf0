"""AssemblyAISpeechToText against the faithful fake, with real caller speech."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from calls.bridge.engines.pipeline.assemblyai import AssemblyAIError, AssemblyAISpeechToText
from calls.bridge.engines.pipeline.components import (
    FinalTranscript,
    PartialTranscript,
    SpeechStarted,
    SttEvent,
)
from tests.fakes.assemblyai import FakeAssemblyAI, caller_audio

KEY = "test-assemblyai-key"
SILENCE_FRAME = b"\xff" * 160


def frames(data: bytes, size: int = 160) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.fixture
def book_audio() -> bytes:
    return caller_audio("book_tomorrow_three.wav")


@pytest.fixture
async def fake() -> AsyncIterator[FakeAssemblyAI]:
    async with FakeAssemblyAI(
        scripts=["I would like to book an appointment for tomorrow at three pm"]
    ) as server:
        yield server


def client(fake: FakeAssemblyAI, **options: Any) -> AssemblyAISpeechToText:
    return AssemblyAISpeechToText(api_key=KEY, base_url=fake.url, **options)


async def until_final(stt: AssemblyAISpeechToText) -> list[SttEvent]:
    seen: list[SttEvent] = []
    async with asyncio.timeout(5), contextlib.aclosing(stt.events()) as events:
        async for event in events:
            seen.append(event)
            if isinstance(event, FinalTranscript):
                return seen
    raise AssertionError(f"events ended without a final transcript: {seen}")


async def speak(stt: AssemblyAISpeechToText, audio: bytes, silence_ms: int = 600) -> None:
    """Twilio-style 20 ms frames of speech, then trailing silence."""
    for frame in frames(audio):
        await stt.send_audio(frame)
    for _ in range(silence_ms // 20):
        await stt.send_audio(SILENCE_FRAME)


async def test_real_speech_gives_speech_started_partials_and_the_formatted_final(
    fake: FakeAssemblyAI, book_audio: bytes
) -> None:
    stt = client(fake)
    await stt.start()
    final_seen = asyncio.create_task(until_final(stt))
    await speak(stt, book_audio)
    events = await final_seen
    await stt.close()

    assert isinstance(events[0], SpeechStarted)
    assert events.count(SpeechStarted()) == 1
    partials = [e.text for e in events if isinstance(e, PartialTranscript)]
    assert len(partials) >= 3 and partials[0].startswith("i") and len(partials[-1]) > len(partials[0])
    assert events[-1] == FinalTranscript("I would like to book an appointment for tomorrow at three pm.")

    session = fake.sessions[0]
    assert session.headers["Authorization"] == KEY  # the raw key, no "Bearer"
    assert "permessage-deflate" not in session.headers.get("Sec-WebSocket-Extensions", "")
    assert session.query["sample_rate"] == "8000"
    assert session.query["encoding"] == "pcm_mulaw"
    assert session.query["speech_model"] == "universal-streaming-english"
    assert session.query["format_turns"] == "true"
    assert session.query["min_turn_silence"] == "400"
    # every audio message is 100 ms; Twilio's 20 ms frames would have been refused (3007)
    assert set(session.chunk_sizes[:-1]) == {800}
    assert 400 <= session.chunk_sizes[-1] <= 800


async def test_buffers_to_100_ms_and_force_endpoint_flushes_a_padded_tail(
    fake: FakeAssemblyAI, book_audio: bytes
) -> None:
    stt = client(fake)
    await stt.start()
    final_seen = asyncio.create_task(until_final(stt))
    speech = book_audio[:1000]  # 125 ms of speech: one full chunk and 200 bytes left over
    for frame in frames(speech):
        await stt.send_audio(frame)
    await stt.force_endpoint()
    events = await final_seen

    session = fake.sessions[0]
    assert session.chunk_sizes == [800, 400]  # 200 bytes padded with silence to the 50 ms minimum
    assert session.control[-1] == {"type": "ForceEndpoint"}
    assert isinstance(events[-1], FinalTranscript)
    await stt.close()


async def test_one_large_block_is_cut_into_valid_chunks_and_close_flushes(fake: FakeAssemblyAI) -> None:
    stt = client(fake)
    await stt.start()
    await stt.send_audio(SILENCE_FRAME * 13)  # 2080 bytes = 260 ms
    await stt.close()
    session = fake.sessions[0]
    await asyncio.wait_for(session.ended.wait(), 5)
    assert session.chunk_sizes == [800, 800, 480]
    assert session.control == [{"type": "Terminate"}]
    assert session.sent[-1]["type"] == "Termination" and session.close_code == 1000


async def test_without_format_turns_the_unformatted_end_of_turn_is_final(
    fake: FakeAssemblyAI, book_audio: bytes
) -> None:
    stt = client(fake, format_turns=False)
    await stt.start()
    final_seen = asyncio.create_task(until_final(stt))
    await speak(stt, book_audio)
    events = await final_seen
    await stt.close()
    assert events[-1] == FinalTranscript("i would like to book an appointment for tomorrow at three pm")
    assert fake.sessions[0].query["format_turns"] == "false"


def turn(order: int, text: str, *, end: bool, formatted: bool = False) -> str:
    words = [
        {"start": 0, "end": 1, "text": w, "confidence": 0.9, "word_is_final": True} for w in text.split()
    ]
    return json.dumps(
        {
            "type": "Turn",
            "turn_order": order,
            "turn_is_formatted": formatted,
            "end_of_turn": end,
            "transcript": text,
            "end_of_turn_confidence": 0.5,
            "words": words,
        }
    )


async def test_a_late_formatted_copy_falls_back_to_the_unformatted_text(fake: FakeAssemblyAI) -> None:
    stt = client(fake, format_wait_s=0.05)
    await stt.start()
    final_seen = asyncio.create_task(until_final(stt))
    await fake.sessions[0].send_raw(turn(0, "yes that is correct", end=True))  # no formatted copy follows
    events = await final_seen
    assert events == [SpeechStarted(), FinalTranscript("yes that is correct")]
    await stt.close()


async def test_a_new_turn_releases_the_previous_one_and_its_late_copy_is_ignored(
    fake: FakeAssemblyAI,
) -> None:
    stt = client(fake)
    await stt.start()
    session = fake.sessions[0]
    seen: list[SttEvent] = []

    async def consume() -> None:
        async with contextlib.aclosing(stt.events()) as events:
            async for event in events:
                seen.append(event)
                if event == PartialTranscript("and then"):
                    return

    consumer = asyncio.create_task(consume())
    await session.send_raw(turn(0, "first part", end=False))
    await session.send_raw(turn(0, "first part", end=True))
    await session.send_raw(turn(0, "First part.", end=True, formatted=True))
    await session.send_raw(turn(1, "", end=True))  # an empty turn is no final
    await session.send_raw(turn(2, "second", end=True))  # its formatted copy never comes ...
    await session.send_raw(turn(3, "and then", end=False))  # ... because turn 3 has begun
    await session.send_raw(turn(2, "Second.", end=True, formatted=True))  # too late: ignored
    await asyncio.wait_for(consumer, 5)
    assert seen == [
        SpeechStarted(),
        PartialTranscript("first part"),
        FinalTranscript("First part."),
        SpeechStarted(),
        FinalTranscript("second"),
        SpeechStarted(),
        PartialTranscript("and then"),
    ]
    await stt.close()


async def test_u3_speech_started_messages_are_mapped_once_per_turn(book_audio: bytes) -> None:
    async with FakeAssemblyAI(scripts=["book it"]) as fake:
        stt = client(fake, speech_model="u3-rt-pro")
        await stt.start()
        final_seen = asyncio.create_task(until_final(stt))
        await speak(stt, book_audio)
        events = await final_seen
        await stt.close()
    assert any(m["type"] == "SpeechStarted" for m in fake.sessions[0].sent)
    assert events.count(SpeechStarted()) == 1 and isinstance(events[0], SpeechStarted)
    assert events[-1] == FinalTranscript("Book it.")


async def test_a_refused_key_raises_with_the_code_and_never_shows_the_key(fake: FakeAssemblyAI) -> None:
    stt = AssemblyAISpeechToText(api_key="wrong-secret-key", base_url=fake.url)
    with pytest.raises(AssemblyAIError) as failure:
        await stt.start()
    assert failure.value.code == 4001
    assert "4001 not authorized" in str(failure.value)
    assert "wrong-secret-key" not in str(failure.value)
    await stt.close()


async def test_the_fake_refuses_20_ms_chunks_with_3007_and_the_client_names_the_code(
    fake: FakeAssemblyAI,
) -> None:
    async with connect(
        f"{fake.url}/v3/ws?sample_rate=8000&encoding=pcm_mulaw&speech_model=universal-streaming-english",
        additional_headers={"Authorization": KEY},
    ) as raw:
        assert json.loads(await raw.recv())["type"] == "Begin"
        await raw.send(SILENCE_FRAME)  # 20 ms: what a naive bridge would forward
        error = json.loads(await raw.recv())
        with pytest.raises(ConnectionClosed) as closed:
            await raw.recv()
    assert error["error_code"] == 3007 and "Expected between 50 and 1000 ms" in error["error"]
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 3007

    stt = client(fake)
    await stt.start()
    await fake.sessions[-1].send_raw(json.dumps(error))
    with pytest.raises(AssemblyAIError) as failure:
        await until_final(stt)
    assert failure.value.code == 3007 and "chunk duration" in str(failure.value)
    await stt.close()


async def test_audio_faster_than_real_time_ends_with_4029_named() -> None:
    async with FakeAssemblyAI(realtime_limit=1.0) as fake:
        stt = client(fake)
        await stt.start()
        with pytest.raises(AssemblyAIError) as failure:
            async with asyncio.timeout(5):
                consumer = asyncio.create_task(until_final(stt))
                for _ in range(200):  # 4 s of audio in a blink
                    await stt.send_audio(SILENCE_FRAME)
                await consumer
        await stt.close()
    assert failure.value.code == 4029 and "too fast" in str(failure.value)


async def test_malformed_messages_are_skipped(fake: FakeAssemblyAI, book_audio: bytes) -> None:
    stt = client(fake)
    await stt.start()
    final_seen = asyncio.create_task(until_final(stt))
    session = fake.sessions[0]
    for junk in (
        "not json",
        b"\x00\x01",
        "[1, 2]",
        '{"type": "Turn", "turn_order": "x"}',
        '{"type": "Mystery"}',
    ):
        await session.send_raw(junk)
    await session.send_raw('{"type": "Warning", "warning_code": 1, "warning": "be careful"}')
    await speak(stt, book_audio)
    events = await final_seen
    assert events[-1] == FinalTranscript("I would like to book an appointment for tomorrow at three pm.")
    await stt.close()


async def test_close_terminates_ends_events_cleanly_and_is_idempotent(fake: FakeAssemblyAI) -> None:
    stt = client(fake)
    events_task = asyncio.create_task(until_final(stt))  # consumer first: events() waits for start
    await stt.start()
    await stt.send_audio(SILENCE_FRAME * 5)
    await stt.close()
    await stt.close()
    with pytest.raises(AssertionError, match="without a final"):
        await events_task  # ended (no exception from the client), without a turn
    await stt.send_audio(SILENCE_FRAME)  # after close: dropped, no error
    session = fake.sessions[0]
    assert session.control == [{"type": "Terminate"}]
    assert session.close_code == 1000 and session.ended.is_set()


async def test_an_unrequested_close_is_an_error_with_the_code(fake: FakeAssemblyAI) -> None:
    stt = client(fake)
    await stt.start()
    consumer = asyncio.create_task(until_final(stt))
    session = fake.sessions[0]
    assert session._ws is not None
    await session._ws.close(code=3008, message=b"max session duration")
    with pytest.raises(AssemblyAIError) as failure:
        await consumer
    assert failure.value.code == 3008 and "maximum session duration" in str(failure.value)
    await stt.close()


async def test_digits_mode_lengthens_the_turn_silence_and_speech_mode_restores_it(
    fake: FakeAssemblyAI,
) -> None:
    stt = client(fake)
    await stt.start()
    stt.set_mode("digits")
    await stt.send_audio(SILENCE_FRAME * 5)
    stt.set_mode("speech")
    await stt.send_audio(SILENCE_FRAME * 5)
    await stt.close()
    updates = [m for m in fake.sessions[0].control if m["type"] == "UpdateConfiguration"]
    assert updates == [
        {"type": "UpdateConfiguration", "min_turn_silence": 1200, "max_turn_silence": 3000},
        {"type": "UpdateConfiguration", "min_turn_silence": 400, "max_turn_silence": 1280},
    ]


async def test_chunk_size_outside_the_v3_limits_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="chunk_ms"):
        AssemblyAISpeechToText(api_key=KEY, base_url="ws://127.0.0.1:9", chunk_ms=20)


async def test_the_key_never_reaches_the_logs_even_at_debug(
    fake: FakeAssemblyAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, the websockets library included
    stt = client(fake)
    await stt.start()
    await stt.close()
    assert any("began" in r.getMessage() for r in caplog.records)  # debug logging was on
    assert KEY not in caplog.text

"""ElevenLabsTextToSpeech against the faithful fake."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

import pytest

from calls.bridge.engines.pipeline.elevenlabs import ElevenLabsError, ElevenLabsTextToSpeech
from tests.fakes.elevenlabs import FakeElevenLabs

KEY = "test-elevenlabs-key"


class Sentences:
    """An input iterator the test feeds by hand, like an LLM producing sentences over time."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.exhausted = False
        self.closed = False

    def say(self, *sentences: str) -> None:
        for sentence in sentences:
            self.queue.put_nowait(sentence)

    def end(self) -> None:
        self.queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[str]:
        try:
            while (sentence := await self.queue.get()) is not None:
                yield sentence
            self.exhausted = True
        finally:
            self.closed = True


async def words(*sentences: str) -> AsyncIterator[str]:
    for sentence in sentences:
        yield sentence


@pytest.fixture
async def fake() -> AsyncIterator[FakeElevenLabs]:
    async with FakeElevenLabs(api_key=KEY) as server:
        yield server


@pytest.fixture
async def tts(fake: FakeElevenLabs) -> AsyncIterator[ElevenLabsTextToSpeech]:
    client = ElevenLabsTextToSpeech(
        api_key=KEY, base_url=fake.base_url, voice_id="voice-abc", keep_warm=False
    )
    yield client
    await client.close()


async def speak_all(tts: ElevenLabsTextToSpeech, *sentences: str) -> bytes:
    async with asyncio.timeout(5):
        return b"".join([chunk async for chunk in tts.synthesize(words(*sentences))])


async def test_audio_arrives_before_the_text_is_finished(
    fake: FakeElevenLabs, tts: ElevenLabsTextToSpeech
) -> None:
    text = Sentences()
    audio = bytearray()
    async with asyncio.timeout(5), contextlib.aclosing(tts.synthesize(aiter(text))) as stream:
        text.say("Thanks for calling.")
        audio += await anext(stream)
        assert not text.exhausted  # the first sentence is heard while the model still writes
        text.say("How can I help you today?")
        text.end()
        async for chunk in stream:
            audio += chunk

    session = fake.sessions[0]
    assert session.headers["xi-api-key"] == KEY
    assert "permessage-deflate" not in session.headers.get("Sec-WebSocket-Extensions", "")
    assert session.voice_id == "voice-abc"
    assert session.query["model_id"] == "eleven_flash_v2_5" and session.query["output_format"] == "ulaw_8000"
    assert session.init == {"text": " ", "generation_config": {"chunk_length_schedule": [50, 120, 160, 250]}}
    assert session.messages == [
        {"text": "Thanks for calling. ", "try_trigger_generation": True, "flush": True},
        {"text": "How can I help you today? ", "try_trigger_generation": True},
        {"text": ""},  # EOS: one utterance per socket
    ]
    assert session.generations == ["Thanks for calling.", "How can I help you today?"]
    assert len(audio) == session.audio_bytes == (19 + 25) * 60 * 8  # 60 ms per character, 8 bytes/ms
    assert session.close_code == 1000 and session.eos


async def test_cancelling_mid_utterance_drops_the_socket_at_once(
    fake: FakeElevenLabs, tts: ElevenLabsTextToSpeech
) -> None:
    text = Sentences()
    first_audio = asyncio.Event()

    async def play() -> None:
        async for _chunk in tts.synthesize(aiter(text)):
            first_audio.set()

    player = asyncio.create_task(play())
    text.say("This answer is interrupted by the caller.")
    await asyncio.wait_for(first_audio.wait(), 5)
    player.cancel()  # barge-in
    with pytest.raises(asyncio.CancelledError):
        await player
    session = fake.sessions[0]
    await asyncio.wait_for(session.ended.wait(), 5)
    assert session.client_went_away and not session.eos
    assert text.closed  # the text iterator was cancelled with the synthesis


async def test_empty_pieces_are_never_sent_as_end_of_stream(
    fake: FakeElevenLabs, tts: ElevenLabsTextToSpeech
) -> None:
    audio = await speak_all(tts, "Hello.", "", "   ", "Bye.")
    assert fake.sessions[0].texts == ["Hello. ", "Bye. ", ""]
    assert len(audio) > 0


async def test_a_refused_key_raises_with_the_code_and_never_shows_the_key(fake: FakeElevenLabs) -> None:
    client = ElevenLabsTextToSpeech(
        api_key="xi-wrong-secret", base_url=fake.base_url, voice_id="v", keep_warm=False
    )
    with pytest.raises(ElevenLabsError) as failure:
        await speak_all(client, "Hello.")
    await client.close()
    assert failure.value.code == 1008 and "invalid_api_key" in str(failure.value)
    assert "xi-wrong-secret" not in str(failure.value)


async def test_malformed_messages_and_an_early_is_final_are_skipped() -> None:
    junk: list[str | bytes] = [
        "not json",
        b"\x00\x01",
        "[1, 2]",
        '{"audio": "@@not base64@@"}',
        '{"audio": 5}',
        '{"isFinal": true}',
    ]
    async with FakeElevenLabs(api_key=KEY, before_audio=junk) as fake:
        client = ElevenLabsTextToSpeech(api_key=KEY, base_url=fake.base_url, voice_id="v", keep_warm=False)
        text = Sentences()
        audio = bytearray()
        async with asyncio.timeout(5), contextlib.aclosing(client.synthesize(aiter(text))) as stream:
            text.say("Still fine.")
            audio += await anext(stream)  # the junk, the early isFinal included, came first
            text.say("And more to say.")
            text.end()
            async for chunk in stream:
                audio += chunk
        await client.close()
    # nothing crashed, and the isFinal that came before our end of input did not end the utterance
    assert len(audio) == fake.sessions[0].audio_bytes == (11 + 16) * 60 * 8


async def test_a_failing_text_source_raises_its_error_and_closes_the_socket(
    fake: FakeElevenLabs, tts: ElevenLabsTextToSpeech
) -> None:
    async def broken() -> AsyncIterator[str]:
        yield "Let me check."
        raise RuntimeError("the language model failed")

    with pytest.raises(RuntimeError, match="the language model failed"):
        async with asyncio.timeout(5):
            async for _chunk in tts.synthesize(broken()):
                pass
    await asyncio.wait_for(fake.sessions[0].ended.wait(), 5)
    assert fake.sessions[0].client_went_away


async def test_the_next_socket_is_prewarmed_and_used(fake: FakeElevenLabs) -> None:
    client = ElevenLabsTextToSpeech(api_key=KEY, base_url=fake.base_url, voice_id="v")
    client.prewarm()
    (first,) = await fake.wait_sessions(1)
    await asyncio.wait_for(first.initialised.wait(), 5)  # connected and initialised before any text
    await speak_all(client, "One.")
    second = (await fake.wait_sessions(2))[1]  # opened as soon as the first utterance ended
    await asyncio.wait_for(second.initialised.wait(), 5)
    assert not second.messages
    await speak_all(client, "Two.")
    assert first.texts == ["One. ", ""] and second.texts == ["Two. ", ""]
    third = (await fake.wait_sessions(3))[2]
    await client.close()
    await client.close()  # idempotent
    await asyncio.wait_for(third.ended.wait(), 5)  # the warm socket is closed with the client
    assert third.client_went_away and not third.messages


async def test_a_warm_socket_that_fails_before_audio_is_replaced_and_the_text_replayed() -> None:
    async with FakeElevenLabs(api_key=KEY, fail_on_first_text={0}) as fake:
        client = ElevenLabsTextToSpeech(api_key=KEY, base_url=fake.base_url, voice_id="v")
        client.prewarm()
        await asyncio.wait_for((await fake.wait_sessions(1))[0].initialised.wait(), 5)
        audio = await speak_all(client, "First sentence.", "Second one.")
        await client.close()
    dropped, fresh = fake.sessions[0], fake.sessions[1]
    assert dropped.close_code == 1008 and dropped.texts == ["First sentence. "]
    assert fresh.texts == ["First sentence. ", "Second one. ", ""]
    assert len(audio) == fresh.audio_bytes > 0


async def test_a_warm_socket_closed_by_the_server_for_inactivity_is_not_used() -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        client = ElevenLabsTextToSpeech(
            api_key=KEY, base_url=fake.base_url, voice_id="v", inactivity_timeout_s=1
        )
        client.prewarm()
        (idle,) = await fake.wait_sessions(1)
        await asyncio.wait_for(idle.ended.wait(), 5)  # the fake's 1 s inactivity timer fired
        audio = await speak_all(client, "Hello again.")
        await client.close()
    assert idle.close_code == 1008 and idle.query["inactivity_timeout"] == "1"
    assert fake.sessions[1].texts == ["Hello again. ", ""] and len(audio) > 0


async def test_a_fresh_socket_failing_is_an_error_not_a_retry() -> None:
    async with FakeElevenLabs(api_key=KEY, fail_on_first_text={0, 1}) as fake:
        client = ElevenLabsTextToSpeech(api_key=KEY, base_url=fake.base_url, voice_id="v", keep_warm=False)
        with pytest.raises(ElevenLabsError, match="connection_dropped") as failure:
            await speak_all(client, "Hello.")
        await client.close()
    assert failure.value.code == 1008 and len(fake.sessions) == 1


async def test_settings_reach_the_wire(fake: FakeElevenLabs) -> None:
    client = ElevenLabsTextToSpeech(
        api_key=KEY,
        base_url=fake.base_url,
        voice_id="v",
        model_id="eleven_turbo_v2_5",
        voice_settings={"stability": 0.5, "similarity_boost": 0.8, "speed": 1.1},
        chunk_length_schedule=(80, 160),
        flush="every",
        language_code="de",
        keep_warm=False,
    )
    await speak_all(client, "Guten Tag.", "Wie geht es?")
    await client.close()
    session = fake.sessions[0]
    assert session.query["model_id"] == "eleven_turbo_v2_5" and session.query["language_code"] == "de"
    assert session.init is not None and session.init["voice_settings"]["speed"] == 1.1
    assert session.init["generation_config"] == {"chunk_length_schedule": [80, 160]}
    assert [m.get("flush") for m in session.messages] == [True, True, None]
    assert json.dumps(session.messages[-1]) == '{"text": ""}'


def test_invalid_settings_are_refused_up_front() -> None:
    with pytest.raises(ValueError, match="chunk_length_schedule"):
        ElevenLabsTextToSpeech(
            api_key=KEY, base_url="http://127.0.0.1:1", voice_id="v", chunk_length_schedule=(10,)
        )
    with pytest.raises(ValueError, match="voice_id"):
        ElevenLabsTextToSpeech(api_key=KEY, base_url="http://127.0.0.1:1", voice_id="")


async def test_the_key_never_reaches_the_logs_even_at_debug(
    tts: ElevenLabsTextToSpeech, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, the websockets library included
    await speak_all(tts, "Hello.")
    assert caplog.records  # debug logging was on
    assert KEY not in caplog.text


async def test_a_reply_without_text_leaves_its_socket_warm_for_the_next(fake: FakeElevenLabs) -> None:
    client = ElevenLabsTextToSpeech(api_key=KEY, base_url=fake.base_url, voice_id="v")
    assert await speak_all(client) == b""  # e.g. a turn that was only a tool call
    assert await speak_all(client, "", " ") == b""
    assert len(fake.sessions) == 1 and not fake.sessions[0].messages  # nothing sent, nothing spent
    await speak_all(client, "Done.")
    assert fake.sessions[0].texts == ["Done. ", ""]  # the same socket, still warm
    await client.close()

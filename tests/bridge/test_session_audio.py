"""CallSession audio path: frames and marks out, barge-in, recording, per-turn latency."""

from __future__ import annotations

import asyncio
import io
import struct
import wave
from functools import partial

from calls.bridge.config import SessionSettings
from calls.bridge.frames import AgentAudio, CallerSpeechStarted, CallerTurnEnded, EngineMetric, Transcript
from tests.audio import AUDIO_DIR
from tests.bridge.conftest import FAST, CallHarness, MakeCall, make_config
from tests.fakes.engines import ScriptedEngine, agent_speech, tone
from tests.fakes.twilio import parse_mulaw_wav, read_mulaw_wav


async def test_greeting_arrives_as_20ms_frames_with_marks_echoed_in_real_time(make_call: MakeCall) -> None:
    call = await make_call(engine=ScriptedEngine(greeting=agent_speech(400, "greet", chunk_ms=100)))
    call.start()
    caller = call.caller
    await caller.wait_for(lambda: len([e for e in caller.mark_echoes if not e.cleared]) == 4, 3.0)

    assert caller.media_sizes == [160] * 20  # 400 ms of agent audio as 20 ms frames
    assert [m.name for m in caller.marks_received] == [f"1:greet:{n}" for n in (800, 1600, 2400, 3200)]
    # each mark follows the frames it covers
    events = [event for _, event in caller.log]
    assert events == (["media"] * 5 + ["mark"]) * 4
    # Twilio echoes a mark when playback reaches it: about every 100 ms, the last after ~400 ms
    echo_times = [echo.at_ms for echo in caller.mark_echoes]
    first_audio_ms = caller.media_times_ms[0]
    assert echo_times == sorted(echo_times)
    assert 360 <= echo_times[-1] - first_audio_ms <= 480
    assert bytes(caller.played) == b"".join(
        e.mulaw for e in agent_speech(400, "greet") if isinstance(e, AgentAudio)
    )
    assert caller.errors == []
    # what was heard, on the stream clock: silence until the greeting started playing, then it
    timeline = parse_mulaw_wav(caller.played_wav())
    start = timeline.index(bytes(caller.played[:160]))
    assert timeline[start:] == bytes(caller.played)
    assert abs(start // 8 - first_audio_ms) <= 5
    assert set(timeline[:start]) <= {0xFF}

    await caller.hang_up()
    outcome = await call.outcome()
    assert outcome.end_reason == "caller_hangup"
    assert outcome.counters.frames_out == 20 and outcome.counters.marks_sent == 4
    assert outcome.counters.marks_echoed == 4
    assert call.engine.audio_bytes > 0  # caller audio reached the engine meanwhile
    assert not call.leftover_tasks()


async def test_barge_in_clears_first_and_reports_what_was_heard(make_call: MakeCall) -> None:
    engine = ScriptedEngine(greeting=agent_speech(2000, "long", chunk_ms=200))
    call = await make_call(engine=engine)
    call.start()
    caller = call.caller
    await caller.wait_for(lambda: len(caller.played) >= 8 * 500, 3.0)  # ~500 ms heard
    log_before = len(caller.log)
    # The caller talks; the engine's in-flight audio for the same item arrives right behind.
    engine.emit(CallerSpeechStarted(), AgentAudio(tone(200), "long"), Transcript("caller", "wait", False, 1))
    await engine.wait_for(lambda: engine.interruptions, 2.0)
    await caller.wait_for(lambda: caller.clears, 2.0)

    assert caller.log[log_before][1] == "clear"  # nothing went out before the clear
    assert all(event != "media" for _, event in caller.log[log_before:])  # late audio was dropped
    item_id, heard_ms = engine.interruptions[0]
    assert item_id == "long"
    played_ms = caller.clears[0].played_bytes // 8
    assert abs(heard_ms - played_ms) <= 60  # what the caller really heard
    acked = [int(e.name.rsplit(":", 1)[1]) // 8 for e in caller.mark_echoes if not e.cleared]
    assert acked and max(acked) <= heard_ms <= 2000
    assert caller.clears[0].dropped_bytes > 0
    cleared_echoes = [e for e in caller.mark_echoes if e.cleared]
    assert cleared_echoes  # Twilio echoed pending marks at once...

    engine.emit(*agent_speech(200, "next"))  # ...and the next answer plays normally
    await caller.wait_for(
        lambda: any(e.name.startswith("2:next:") and not e.cleared for e in caller.mark_echoes)
    )
    await caller.hang_up()
    outcome = await call.outcome()
    assert outcome.counters.interruptions == 1 and outcome.counters.clears == 1
    assert outcome.counters.late_audio_dropped == 1
    assert outcome.counters.stale_mark_echoes == len(cleared_echoes)
    interruption = call.recorder.events_of("interruption")
    assert len(interruption) == 1 and interruption[0].payload["heard_ms"] == heard_ms
    assert not call.leftover_tasks()


async def test_speech_start_without_unplayed_audio_sends_no_clear(make_call: MakeCall) -> None:
    engine = ScriptedEngine(greeting=agent_speech(100, "short"))
    call = await make_call(engine=engine)
    call.start()
    await call.caller.wait_for(lambda: call.caller.mark_echoes, 2.0)
    engine.emit(CallerSpeechStarted(), *agent_speech(60, "after"))
    await call.caller.wait_for(lambda: any(m.name.startswith("2:after") for m in call.caller.marks_received))
    assert call.caller.clears == []
    assert engine.interruptions == []
    await call.caller.hang_up()
    await call.outcome()


def _channels(wav_bytes: bytes) -> tuple[list[int], list[int], int]:
    with wave.open(io.BytesIO(wav_bytes), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        frames = wav.readframes(wav.getnframes())
    values = struct.unpack(f"<{len(frames) // 2}h", frames)
    return list(values[0::2]), list(values[1::2]), len(values) // 2


def _loud_ms(samples: list[int]) -> int:
    """Milliseconds (20 ms windows) with real signal in them."""
    return sum(
        20
        for i in range(0, len(samples), 160)
        if max((abs(s) for s in samples[i : i + 160]), default=0) > 2000
    )


async def test_recording_is_a_valid_stereo_wav_with_both_sides(make_call: MakeCall) -> None:
    speech = read_mulaw_wav(AUDIO_DIR / "greeting_reply_yes.wav")
    config = make_config(session=_recording())
    engine = ScriptedEngine(greeting=agent_speech(300, "greet"))
    call = await make_call(engine=engine, config=config)
    call.start()
    await call.caller.wait_for(lambda: call.caller.mark_echoes, 2.0)  # greeting heard
    await call.caller.say(speech)
    engine.emit(*agent_speech(1000, "answer"))
    await call.caller.wait_for(lambda: len(call.caller.played) >= 8 * 500, 3.0)
    engine.emit(CallerSpeechStarted())  # cut the answer after ~500 ms
    await engine.wait_for(lambda: engine.interruptions)
    await call.caller.hang_up()
    outcome = await call.outcome()

    assert outcome.recording_wav is not None
    left, right, frames = _channels(outcome.recording_wav)
    assert frames >= 8 * 1000
    assert abs(_loud_ms(left) - _loud_ms([s for s in _pcm(speech)])) <= 60  # the caller, on the left
    heard_ms = engine.interruptions[0][1]
    # the agent on the right: the greeting plus what was heard of the answer, not the rest
    assert abs(_loud_ms(right) - (300 + heard_ms)) <= 60


def _recording() -> SessionSettings:
    return SessionSettings(
        max_duration_s=FAST.max_duration_s,
        silence_timeout_s=FAST.silence_timeout_s,
        silence_hangup_after_s=FAST.silence_hangup_after_s,
        flush_interval_s=FAST.flush_interval_s,
        record=True,
    )


def _pcm(mulaw: bytes) -> list[int]:
    from calls.bridge.audio import ulaw_to_pcm16

    pcm = ulaw_to_pcm16(mulaw)
    return list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


def turns_reached(call: CallHarness, turns: int) -> bool:
    return call.session.counters.turns >= turns


def frames_received(call: CallHarness, count: int) -> bool:
    return len(call.caller.media_sizes) >= count


async def test_turn_latency_is_measured_to_the_first_frame_with_breakdown(make_call: MakeCall) -> None:
    loop = asyncio.get_running_loop()
    skew = [0.0]  # a clock we can move forward: the engine "thinks" without real waiting

    def clock() -> float:
        return loop.time() + skew[0]

    engine = ScriptedEngine()
    call = await make_call(engine=engine, clock=clock)
    call.start()
    await engine.wait_for(lambda: engine.stages)
    for turn, think_s in enumerate((0.25, 0.45), start=1):
        engine.emit(CallerTurnEnded(), EngineMetric("stt_final", loop.time()))
        await call.caller.wait_for(partial(turns_reached, call, turn))
        skew[0] += think_s
        before = len(call.caller.media_sizes)
        engine.emit(*agent_speech(100, f"reply-{think_s}"))
        await call.caller.wait_for(partial(frames_received, call, before + 5))
    await call.caller.hang_up()
    outcome = await call.outcome()

    latencies = call.recorder.events_of("turn_latency")
    assert len(latencies) == 2
    # the engine's thinking time plus the (small) real time the test took to notice the turn
    first, second = (event.payload["ms"] for event in latencies)
    assert 250 <= first < 330 and 450 <= second < 530
    assert outcome.turn_latencies_ms == (first, second)
    assert "stt_final" in latencies[0].payload["breakdown"]
    assert outcome.turn_latency_p50_ms == (first + second) / 2
    assert outcome.turn_latency_avg_ms == sum(outcome.turn_latencies_ms) / 2

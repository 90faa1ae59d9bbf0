"""WebRTC VAD turn detection on real caller speech (``tests/data/audio``) and on silence."""

from __future__ import annotations

import pytest

from calls.bridge.audio import ulaw_to_pcm16
from calls.bridge.config import EngineSettings
from calls.bridge.engines.local.vad import FRAME_BYTES_PCM, TurnDetector, VadSettings
from tests.fakes.pipeline_parts import frames, speech_fixture

SILENCE_FRAME = b"\xff" * 160  # mu-law digital silence, 20 ms


def run(detector: TurnDetector, mulaw: bytes) -> list[tuple[str, int]]:
    """(event, frame index) for every start/end, and checks the audio handed to the turn."""
    found: list[tuple[str, int]] = []
    for index, frame in enumerate(frames(mulaw)):
        step = detector.process(ulaw_to_pcm16(frame))
        if step.event is not None:
            found.append((step.event, index))
        if step.event == "start":
            assert len(step.audio) % FRAME_BYTES_PCM == 0 and len(step.audio) >= 4 * FRAME_BYTES_PCM
    return found


def test_finds_one_turn_in_a_caller_utterance() -> None:
    fixture = speech_fixture("opening_hours.wav")
    detector = TurnDetector(VadSettings(end_silence_ms=600))
    events = run(detector, fixture.mulaw + SILENCE_FRAME * 50)
    assert [kind for kind, _ in events] == ["start", "end"]
    start, end = events[0][1], events[1][1]
    speech_frames = len(fixture.mulaw) // 160
    assert start < speech_frames // 2  # starts near the beginning of the words
    # ends 600 ms (30 frames) after the last voiced frame, which lies inside the fixture
    assert speech_frames // 2 < end - 30 <= speech_frames


def test_silence_and_quiet_hiss_are_not_speech() -> None:
    detector = TurnDetector()
    assert run(detector, SILENCE_FRAME * 100) == []
    hiss = bytes([0xFE, 0x7E] * 80)  # alternating +/- one quantisation step: line noise
    assert run(detector, hiss * 100) == []
    assert not detector.in_turn


def test_turn_is_cut_at_max_length_and_digits_wait_longer() -> None:
    fixture = speech_fixture("book_tomorrow_three.wav")
    capped = TurnDetector(VadSettings(max_turn_ms=1000))
    events = run(capped, fixture.mulaw)
    assert events[:2] and events[1][0] == "end" and events[1][1] - events[0][1] <= 50
    digits = TurnDetector(VadSettings(end_silence_ms=200, digits_end_silence_ms=1000))
    digits.use_digits_timing(True)
    events = run(digits, speech_fixture("pin_digits.wav").mulaw + SILENCE_FRAME * 80)
    assert [kind for kind, _ in events] == ["start", "end"]
    assert digits.end_silence_ms == 1000


def test_settings_from_engine_settings_and_validation() -> None:
    plain = VadSettings.from_engine_settings(EngineSettings(kind="local", turn_endpoint_delay_ms=500))
    assert plain.end_silence_ms == 500 and plain.digits_end_silence_ms == 1200
    tuned = VadSettings.from_engine_settings(
        EngineSettings(kind="local", extra={"end_of_turn_silence_ms": 800, "vad_mode": 3})
    )
    assert tuned.end_silence_ms == 800 and tuned.mode == 3
    with pytest.raises(ValueError, match="vad_mode"):
        VadSettings.from_engine_settings(EngineSettings(kind="local", extra={"vad_mode": "high"}))
    with pytest.raises(ValueError, match="mode"):
        VadSettings(mode=7)
    with pytest.raises(ValueError, match="320 bytes"):
        TurnDetector().process(b"\x00" * 10)

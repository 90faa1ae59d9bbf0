"""Codecs, framing and resampling (calls/bridge/audio.py)."""

from __future__ import annotations

import math
import struct

import pytest

from calls.bridge.audio import (
    FRAME_BYTES,
    FrameChunker,
    MulawResampler,
    Resampler,
    interleave_stereo,
    mulaw_duration_ms,
    mulaw_silence,
    pcm16_duration_ms,
    pcm16_to_ulaw,
    ulaw_to_pcm16,
)
from tests.audio import AUDIO_DIR
from tests.fakes.twilio import read_mulaw_wav


def sine_pcm(rate: int, ms: int, freq: float = 440.0, amplitude: int = 10000) -> bytes:
    count = rate * ms // 1000
    return struct.pack(
        f"<{count}h", *(int(amplitude * math.sin(2 * math.pi * freq * n / rate)) for n in range(count))
    )


def samples(pcm: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


def test_mulaw_round_trip_of_real_caller_speech_is_lossless_after_first_pass() -> None:
    speech = read_mulaw_wav(AUDIO_DIR / "opening_hours.wav")
    assert len(speech) > 8000  # more than a second of real audio
    pcm = ulaw_to_pcm16(speech)
    assert len(pcm) == 2 * len(speech)
    # mu-law -> linear -> mu-law is exact (every code maps to one linear value and back)
    assert pcm16_to_ulaw(pcm) == speech


def test_mulaw_silence_decodes_to_near_zero() -> None:
    silence = mulaw_silence(20)
    assert len(silence) == FRAME_BYTES
    assert max(abs(s) for s in samples(ulaw_to_pcm16(silence))) < 10
    assert mulaw_silence(-5) == b""


def test_durations() -> None:
    assert mulaw_duration_ms(b"\xff" * 8000) == 1000
    assert pcm16_duration_ms(b"\x00" * 48000, 24000) == 1000
    assert pcm16_duration_ms(b"\x00" * 320, 8000) == 20


def test_frame_chunker_holds_the_tail_until_more_audio_or_flush() -> None:
    chunker = FrameChunker(160)
    assert chunker.push(b"a" * 100) == []
    assert chunker.pending == 100
    frames = chunker.push(b"b" * 300)  # 400 bytes in total: two frames, 80 held
    assert [len(f) for f in frames] == [160, 160]
    assert frames[0] == b"a" * 100 + b"b" * 60
    assert chunker.pending == 80
    assert chunker.flush() == b"b" * 80
    assert chunker.pending == 0
    assert chunker.push(b"c" * 160) == [b"c" * 160]
    chunker.push(b"d" * 10)
    chunker.discard()
    assert chunker.flush() == b""


def test_frame_chunker_rejects_nonsense_size() -> None:
    with pytest.raises(ValueError):
        FrameChunker(0)


def test_resampler_is_continuous_across_frame_boundaries() -> None:
    pcm = sine_pcm(8000, 400)
    whole = Resampler(8000, 24000).process(pcm)
    chunked = Resampler(8000, 24000)
    pieces = b"".join(chunked.process(pcm[i : i + 320]) for i in range(0, len(pcm), 320))
    # Keeping ratecv state makes chunked output identical to one-shot output: no clicks.
    assert pieces == whole
    assert abs(len(whole) - 3 * len(pcm)) <= 4

    fresh_each_time = b"".join(
        Resampler(8000, 24000).process(pcm[i : i + 320]) for i in range(0, len(pcm), 320)
    )
    assert fresh_each_time != whole  # the state really matters


def test_resampler_down_and_identity_and_odd_bytes() -> None:
    pcm24 = sine_pcm(24000, 100)
    down = Resampler(24000, 8000).process(pcm24)
    assert abs(len(down) - len(pcm24) // 3) <= 4
    same = Resampler(8000, 8000)
    assert same.process(b"\x01\x02\x03") == b"\x01\x02\x03"
    odd = Resampler(8000, 16000).process(b"\x00\x00\x00")  # stray byte dropped, no exception
    assert len(odd) in (2, 4)
    with pytest.raises(ValueError):
        Resampler(0, 8000)


def test_mulaw_resampler_carries_a_sample_split_across_messages() -> None:
    pcm = sine_pcm(16000, 60)
    whole = MulawResampler(16000).pcm_to_mulaw(pcm)
    split = MulawResampler(16000)
    # cut at an odd byte offset, as a network message boundary may
    out = split.pcm_to_mulaw(pcm[:641]) + split.pcm_to_mulaw(pcm[641:])
    assert out == whole
    up = MulawResampler(16000).mulaw_to_pcm(whole)
    assert abs(len(up) - len(pcm)) <= 8


def test_interleave_stereo_places_channels() -> None:
    left = struct.pack("<3h", 100, 200, 300)
    right = struct.pack("<3h", -1, -2, -3)
    assert samples(interleave_stereo(left, right)) == [100, -1, 200, -2, 300, -3]

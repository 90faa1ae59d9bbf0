"""StereoWavRecorder: caller left, agent right, on the stream clock, cut at clear."""

from __future__ import annotations

import io
import struct
import wave

from calls.bridge.audio import ulaw_to_pcm16
from calls.bridge.recording import StereoWavRecorder
from tests.audio import AUDIO_DIR
from tests.fakes.engines import tone
from tests.fakes.twilio import read_mulaw_wav


def channels(wav_bytes: bytes) -> tuple[list[int], list[int], wave._wave_params]:
    with wave.open(io.BytesIO(wav_bytes), "rb") as wav:
        params = wav.getparams()
        frames = wav.readframes(params.nframes)
    values = struct.unpack(f"<{len(frames) // 2}h", frames)
    return list(values[0::2]), list(values[1::2]), params


def loud(samples: list[int], start_ms: int, end_ms: int) -> bool:
    window = samples[start_ms * 8 : end_ms * 8]
    return bool(window) and max(abs(s) for s in window) > 1000


def test_channels_are_placed_on_the_stream_clock() -> None:
    speech = read_mulaw_wav(AUDIO_DIR / "greeting_reply_yes.wav")
    recorder = StereoWavRecorder()
    for offset in range(0, len(speech), 160):  # caller frames at their Twilio timestamps
        recorder.add_caller(speech[offset : offset + 160], offset // 8)
    agent = tone(300)
    recorder.add_agent(agent, 2000)  # the agent spoke later, from 2.0 s
    left, right, params = channels(recorder.render_wav())
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 8000)
    assert params.nframes == 2300 * 8
    assert left[: len(speech)] == list(struct.unpack(f"<{len(speech)}h", ulaw_to_pcm16(speech)))
    assert not loud(right, 0, 1990)
    assert loud(right, 2000, 2300)
    assert not loud(left, len(speech) // 8 + 10, 2300)


def test_cut_at_clear_removes_what_was_never_heard() -> None:
    recorder = StereoWavRecorder()
    recorder.add_agent(tone(1000), 0)
    recorder.cut_agent(400)
    recorder.add_caller(b"\xff" * 8000, 0)
    _, right, params = channels(recorder.render_wav())
    assert params.nframes == 8000
    assert loud(right, 0, 390)
    assert not loud(right, 410, 1000)
    assert recorder.duration_ms == 1000


def test_length_limit_bounds_memory() -> None:
    recorder = StereoWavRecorder(max_seconds=1)
    recorder.add_caller(tone(600), 0)
    recorder.add_caller(tone(600), 600)  # crosses the limit: truncated
    recorder.add_caller(tone(100), 5000)  # entirely beyond: dropped
    assert recorder.duration_ms == 1000


def test_empty_recording_is_still_a_valid_wav() -> None:
    _, _, params = channels(StereoWavRecorder().render_wav())
    assert (params.nchannels, params.nframes) == (2, 0)

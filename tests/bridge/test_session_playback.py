"""PlaybackTracker: frames, marks, echoes, clears and what the caller heard."""

from __future__ import annotations

from collections.abc import Sequence

from calls.bridge.frames import PlaceMark, PlayAudio
from calls.bridge.playback import PlaybackTracker


def frames_and_marks(commands: Sequence[object]) -> tuple[list[int], list[str]]:
    sizes = [len(c.mulaw) for c in commands if isinstance(c, PlayAudio)]
    marks = [c.name for c in commands if isinstance(c, PlaceMark)]
    return sizes, marks


def test_audio_is_cut_into_frames_with_a_mark_after_each_chunk() -> None:
    tracker = PlaybackTracker(160)
    plan = tracker.audio(b"\x01" * 1000, "item_a", now_ms=0)
    sizes, marks = frames_and_marks(plan.commands)
    assert sizes == [160] * 6  # 40 bytes held back
    assert marks == ["1:item_a:960"]
    assert isinstance(plan.commands[-1], PlaceMark)
    assert plan.started_utterance and plan.play_at_ms == 0
    done = tracker.done("item_a", now_ms=5)
    assert frames_and_marks(done.commands) == ([40], ["1:item_a:1000"])
    assert tracker.has_unplayed and not tracker.drained.is_set()


def test_long_chunks_get_a_mark_every_second() -> None:
    tracker = PlaybackTracker(160, mark_every_bytes=8000)
    _, marks = frames_and_marks(tracker.audio(b"\x01" * 20000, None, now_ms=0).commands)
    assert marks == ["1::8000", "1::16000", "1::20000"]


def test_echoes_drain_and_heard_is_bounded_by_acks_and_sent() -> None:
    tracker = PlaybackTracker(160)
    tracker.audio(b"\x01" * 1600, "a", now_ms=100)  # 200 ms, plays from 100
    tracker.audio(b"\x01" * 1600, "a", now_ms=110)
    echo = tracker.on_mark("1:a:1600", now_ms=300)
    assert echo is not None and echo.cumulative_bytes == 1600 and not echo.drained
    interruption = tracker.interrupt(now_ms=350)
    assert interruption is not None
    # last ack at 200 ms of audio, 50 ms later: 250 ms heard
    assert interruption.heard_ms == 250
    assert (interruption.acked_ms, interruption.sent_ms, interruption.item_id) == (200, 400, "a")
    assert not tracker.has_unplayed and tracker.drained.is_set()


def test_heard_is_clamped_to_what_was_sent() -> None:
    tracker = PlaybackTracker(160)
    tracker.audio(b"\x01" * 800, "a", now_ms=0)  # 100 ms sent
    interruption = tracker.interrupt(now_ms=5000)  # echo lost, much later
    assert interruption is not None and interruption.heard_ms == 100


def test_echoes_of_marks_cleared_are_ignored_and_late_audio_dropped() -> None:
    tracker = PlaybackTracker(160)
    tracker.audio(b"\x01" * 1600, "a", now_ms=0)
    tracker.audio(b"\x01" * 1600, "a", now_ms=0)
    assert tracker.interrupt(now_ms=50) is not None
    # Twilio echoes every pending mark on clear: those echoes mean nothing
    assert tracker.on_mark("1:a:1600", now_ms=51) is None
    assert tracker.on_mark("1:a:3200", now_ms=51) is None
    assert tracker.stale_echoes == 2
    assert tracker.audio(b"\x01" * 160, "a", now_ms=60).dropped  # the engine was told to stop "a"
    fresh = tracker.audio(b"\x01" * 160, "b", now_ms=60)
    assert not fresh.dropped and frames_and_marks(fresh.commands)[1] == ["2:b:160"]
    assert tracker.on_mark("unknown", now_ms=70) is None


def test_next_utterance_starts_playing_when_the_previous_one_is_heard() -> None:
    tracker = PlaybackTracker(160)
    tracker.audio(b"\x01" * 1600, "a", now_ms=0)
    tracker.done("a", now_ms=0)
    tracker.audio(b"\x01" * 1600, "b", now_ms=10)  # queued behind "a"
    assert tracker.playing is not None and tracker.playing.item_id == "a"
    tracker.on_mark("1:a:1600", now_ms=200)
    assert tracker.playing is not None and tracker.playing.item_id == "b"
    interruption = tracker.interrupt(now_ms=260)
    assert interruption is not None and interruption.item_id == "b" and interruption.heard_ms == 60


def test_nothing_unplayed_means_no_interruption() -> None:
    tracker = PlaybackTracker(160)
    assert tracker.interrupt(now_ms=0) is None
    tracker.audio(b"\x01" * 160, "a", now_ms=0)
    tracker.on_mark("1:a:160", now_ms=20)
    assert tracker.interrupt(now_ms=30) is None
    assert tracker.idle_since_ms == 20

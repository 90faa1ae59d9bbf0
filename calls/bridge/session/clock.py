"""The stream clock: milliseconds since the media stream started, as Twilio counts them."""

from __future__ import annotations

from collections.abc import Callable


class StreamClock:
    """Stream time in ms, following Twilio's media ``timestamp`` when audio flows.

    Barge-in arithmetic, transcript times and the recording all use one clock. Between media
    frames (and in tests without media) it extrapolates with the local clock, so it never stalls;
    it never goes backwards either, even when a late frame carries an older timestamp.
    """

    __slots__ = ("_clock", "_last", "_media_at", "_media_ts", "_t0")

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._t0 = clock()
        self._media_ts: int | None = None
        self._media_at = self._t0
        self._last = 0

    def observe_media(self, timestamp_ms: int) -> None:
        self._media_ts = timestamp_ms
        self._media_at = self._clock()

    def now_ms(self) -> int:
        now = self._clock()
        if self._media_ts is None:
            value = int((now - self._t0) * 1000)
        else:
            value = self._media_ts + int((now - self._media_at) * 1000)
        if value < self._last:
            return self._last
        self._last = value
        return value

    def elapsed_s(self) -> float:
        """Local seconds since the session started (for timers and latency)."""
        return self._clock() - self._t0

"""A call as a chat timeline: transcript segments and call events merged by time."""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from calls.models import Call, CallEvent, TranscriptSegment
from calls.postcall.models import CallSummary

MAX_ROWS = 5000  # per kind: a call is at most a few hundred turns; this only bounds a pathological one

# Event types shown in the timeline, with a label; others appear under their raw type name.
EVENT_LABELS: dict[str, str] = {
    "tool_call": "Tool call",
    "stage_changed": "Stage changed",
    "interruption": "Caller interrupted",
    "turn_latency": "Answer latency",
    "dtmf": "Key pressed",
    "transfer_completed": "Transfer ended",
    "silence_reminder": "Silence reminder",
    "error": "Error",
}


@dataclass(frozen=True)
class TimelineItem:
    at_ms: int
    kind: str  # "caller" / "agent" for speech, else the event type
    text: str = ""
    end_ms: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def is_speech(self) -> bool:
        return self.kind in ("caller", "agent")

    @property
    def label(self) -> str:
        return EVENT_LABELS.get(self.kind, self.kind.replace("_", " ").capitalize())

    @property
    def clock(self) -> str:
        return clock(self.at_ms)

    def _pretty(self, key: str) -> str:
        value = self.payload.get(key)
        if value is None:
            return ""
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return value
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)

    @property
    def arguments_json(self) -> str:
        return self._pretty("arguments")

    @property
    def result_json(self) -> str:
        return self._pretty("result") or self._pretty("error")

    @property
    def payload_json(self) -> str:
        return json.dumps(self.payload, ensure_ascii=False, default=str, sort_keys=True)


def clock(ms: int) -> str:
    """Milliseconds since the stream started as ``m:ss.t`` (or ``h:mm:ss``)."""
    seconds, millis = divmod(max(0, ms), 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}.{millis // 100}"


def call_segments(call: Call) -> list[TranscriptSegment]:
    return list(
        TranscriptSegment.objects.filter(tenant_id=call.tenant_id, call=call).order_by(
            "start_ms", "ordinal", "pk"
        )[:MAX_ROWS]
    )


def call_events(call: Call) -> list[CallEvent]:
    return list(
        CallEvent.objects.filter(tenant_id=call.tenant_id, call=call).order_by("at_ms", "pk")[:MAX_ROWS]
    )


def call_summary(call: Call) -> CallSummary | None:
    return CallSummary.objects.filter(tenant_id=call.tenant_id, call=call).first()


def event_offset_ms(call: Call, event: CallEvent) -> int:
    """Stream time of an event. Events written outside the live session (Twilio callbacks) have
    no stream time; place them by wall clock relative to when the call was answered."""
    if event.at_ms or event.seq is not None or call.answered_at is None:
        return event.at_ms
    return max(0, int((event.at - call.answered_at).total_seconds() * 1000))


def timeline(call: Call, segments: list[TranscriptSegment], events: list[CallEvent]) -> list[TimelineItem]:
    speech: Iterator[TimelineItem] = (
        TimelineItem(at_ms=s.start_ms, kind=s.speaker, text=s.text, end_ms=s.end_ms) for s in segments
    )
    happenings = sorted(
        (TimelineItem(at_ms=event_offset_ms(call, e), kind=e.type, payload=e.payload or {}) for e in events),
        key=lambda item: item.at_ms,
    )
    # Stable merge by time; on a tie, what was said comes before what it caused.
    return list(heapq.merge(speech, happenings, key=lambda item: item.at_ms))


def turn_latencies(events: list[CallEvent]) -> list[int]:
    return [
        int(e.payload["ms"])
        for e in events
        if e.type == "turn_latency" and isinstance(e.payload.get("ms"), int)
    ]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    ms: int


def latency_bars(latencies: list[int], *, width: float = 300, height: float = 44) -> list[Bar]:
    """Per-turn latency as SVG bars (drawn with attributes, so no inline styles are needed)."""
    if not latencies:
        return []
    shown = latencies[-120:]
    top = max(max(shown), 1)
    step = width / len(shown)
    bars = []
    for i, ms in enumerate(shown):
        h = max(1.0, height * ms / top)
        bars.append(
            Bar(
                x=round(i * step, 2),
                y=round(height - h, 2),
                width=round(max(step - 1, 1), 2),
                height=round(h, 2),
                ms=ms,
            )
        )
    return bars


def transcript_text(call: Call, segments: list[TranscriptSegment], summary: CallSummary | None) -> str:
    lines = [
        f"Call {call.public_id}",
        f"Direction: {call.get_direction_display()}",
        f"From: {call.from_number or '-'}",
        f"To: {call.to_number or '-'}",
        f"Started: {call.created_at.isoformat()}",
        f"Duration: {call.duration_s if call.duration_s is not None else '-'} s",
        f"Status: {call.status}" + (f" ({call.end_reason})" if call.end_reason else ""),
        "",
    ]
    lines += [f"[{clock(s.start_ms)}] {s.get_speaker_display()}: {s.text}" for s in segments]
    if summary is not None and summary.text:
        lines += ["", "Summary:", summary.text]
    return "\n".join(lines) + "\n"


def transcript_json(
    call: Call, segments: list[TranscriptSegment], events: list[CallEvent], summary: CallSummary | None
) -> dict[str, Any]:
    return {
        "call": {
            "id": str(call.public_id),
            "direction": call.direction,
            "from": call.from_number,
            "to": call.to_number,
            "status": call.status,
            "end_reason": call.end_reason,
            "agent": call.agent.name if call.agent else None,
            "agent_revision": call.agent_revision.number if call.agent_revision else None,
            "created_at": call.created_at.isoformat(),
            "answered_at": call.answered_at.isoformat() if call.answered_at else None,
            "ended_at": call.ended_at.isoformat() if call.ended_at else None,
            "duration_s": call.duration_s,
        },
        "transcript": [
            {"speaker": s.speaker, "text": s.text, "start_ms": s.start_ms, "end_ms": s.end_ms}
            for s in segments
        ],
        "events": [{"type": e.type, "at_ms": event_offset_ms(call, e), "payload": e.payload} for e in events],
        "summary": None
        if summary is None
        else {
            "text": summary.text,
            "structured_fields": summary.structured_fields,
            "structured_fields_status": summary.fields_status,
        },
    }

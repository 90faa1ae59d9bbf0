"""The load generator of ``bridge_load.py``: simulated Twilio callers, one asyncio task pair each.

Runs in its own process (``run_generator``), many calls per process, so the generator's CPU is not
the server's. Each call:

1. (Django server only) POSTs the signed ``/twilio/voice`` webhook like Twilio and reads the
   signed call token from the TwiML's ``<Parameter name="token">``;
2. opens the media stream with a signed upgrade (``X-Twilio-Signature`` over the public
   ``wss://`` URL), sends ``connected`` and ``start``, then a ``media`` frame every 20 ms on an
   absolute schedule (frame k is due at t0 + k * 20 ms; a late generator catches up instead of
   drifting, and its lateness is recorded);
3. echoes every ``mark`` at once (playback is not modelled: an echo server's audio would otherwise
   queue behind itself), counts ``clear``;
4. stops sending at the common end time, waits up to ``grace_s`` for the outstanding echoes, sends
   ``stop`` and closes.

Exact matching of echoes: the first 3 bytes of every 160-byte frame carry the frame's chunk number
(7 bits per byte, each byte | 0x80), the other 157 bytes are real speech from the WAV files. Three
bytes are one base64 quantum, so the marker is exactly the first 4 base64 characters of the payload
and the rest of the payload is fixed per audio frame: an echo is matched by its marker and checked
character for character. mu-law byte 0x7F (negative zero) does not survive mu-law -> PCM16 ->
mu-law (it comes back as 0xFF, positive zero), so the audio is loaded with 0x7F replaced by 0xFF:
then the transcoding relay echoes byte-identical frames too.

Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import pickle
import struct
import time
import xml.etree.ElementTree as ET
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

FRAME_BYTES = 160
FRAME_S = 0.020
MARKER_BYTES = 3  # one base64 quantum: 4 characters
MARKER_CHARS = 4
MAX_CHUNK = (1 << 21) - 1  # 7 bits x 3 marker bytes: 11.6 hours of 20 ms frames
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
LAG_PROBE_S = 0.005
WEBHOOK_ATTEMPTS = 3
WEBHOOK_RETRY_S = 0.2
WORKER_HEADER = "x-bench-worker"  # set by the bench's HAProxy on every HTTP answer: which worker


# ------------------------------------------------------------------------------------ audio


def read_mulaw_wav(path: Path) -> bytes:
    """The ``data`` chunk of an 8 kHz mono mu-law WAV (format tag 7)."""
    data = path.read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a RIFF/WAVE file")
    offset, fmt = 12, None
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = data[offset + 8 : offset + 8 + size]
        if chunk_id == b"fmt ":
            tag, channels, rate = struct.unpack_from("<HHI", body)
            fmt = (tag, channels, rate)
        elif chunk_id == b"data":
            if fmt != (7, 1, 8000):
                raise ValueError(f"{path}: expected mu-law (tag 7) mono 8 kHz, got {fmt}")
            return bytes(body)
        offset += 8 + size + (size & 1)
    raise ValueError(f"{path}: no data chunk")


def load_frames(audio_dir: Path) -> list[str]:
    """Every WAV of ``audio_dir`` cut into 160-byte frames, as the base64 of bytes 3..159 (the
    part after the marker). 0x7F is replaced by 0xFF (both are zero amplitude; see above)."""
    speech = b"".join(read_mulaw_wav(p) for p in sorted(audio_dir.glob("*.wav")))
    speech = speech.replace(b"\x7f", b"\xff")
    usable = len(speech) - len(speech) % FRAME_BYTES
    if usable == 0:
        raise ValueError(f"no audio in {audio_dir}")
    return [
        base64.b64encode(speech[i + MARKER_BYTES : i + FRAME_BYTES]).decode("ascii")
        for i in range(0, usable, FRAME_BYTES)
    ]


def marker_b64(chunk: int) -> str:
    return base64.b64encode(
        bytes((0x80 | (chunk >> 14) & 0x7F, 0x80 | (chunk >> 7) & 0x7F, 0x80 | chunk & 0x7F))
    ).decode("ascii")


def chunk_of_marker(marker: str) -> int:
    """The chunk number in a payload's first 4 base64 characters, or -1 if it is not a marker."""
    try:
        raw = base64.b64decode(marker, validate=True)
    except ValueError:
        return -1
    if len(raw) != MARKER_BYTES or not all(b & 0x80 for b in raw):
        return -1
    return (raw[0] & 0x7F) << 14 | (raw[1] & 0x7F) << 7 | raw[2] & 0x7F


# ----------------------------------------------------------------------------- plan, results


@dataclass(frozen=True)
class Target:
    """Where and how to call. ``http_base`` is None for the bare relay (no webhook)."""

    ws_url: str
    http_base: str | None
    public_base_url: str
    account_sid: str
    auth_token: str
    to_number: str
    from_number: str
    sid_prefix: str  # unique per phase: a CallSid seen before would be answered with its old Call


@dataclass(frozen=True)
class Schedule:
    """Absolute ``time.monotonic()`` instants, common to all generator processes (the clock is
    system-wide on Linux)."""

    calls: tuple[tuple[int, float], ...]  # (global call index, start instant) of this process's calls
    window_start: float
    window_end: float  # also when every call stops sending
    grace_s: float
    late_threshold_s: float = FRAME_S


@dataclass
class CallResult:
    index: int
    error: str = ""
    setup_s: float | None = None  # webhook POST (or connect) -> first echoed frame
    webhook_s: float | None = None
    webhook_retries: int = 0  # 5xx answers retried
    webhook_worker: str = ""  # the worker that answered the webhook, when a balancer names it
    stream_started_at: float | None = None
    sent_total: int = 0
    echoed_total: int = 0
    echoes_in_window: int = 0  # echoes received during the window, whenever their frame was sent
    sent_window: int = 0
    lost_window: int = 0
    lost_total: int = 0
    corrupt: int = 0  # echoes with an unknown marker, a duplicate, or different audio
    marks_echoed: int = 0
    clears: int = 0
    late_sends: int = 0  # window frames sent more than ``late_threshold_s`` after their deadline
    closed_by_server: bool = False


@dataclass
class GeneratorReport:
    calls: list[CallResult] = field(default_factory=list)
    latencies_ms: array = field(default_factory=lambda: array("f"))  # window frames, echoed
    lateness_ms: array = field(default_factory=lambda: array("f"))  # window frames, send lateness
    loop_lag_ms: array = field(default_factory=lambda: array("f"))  # window, event-loop lag probes
    cpu_s: float = 0.0
    error: str = ""


# ------------------------------------------------------------------------------------- caller


class SimulatedCall:
    def __init__(
        self, index: int, target: Target, schedule: Schedule, frames: list[str], report: GeneratorReport
    ) -> None:
        self.index = index
        self.target = target
        self.schedule = schedule
        self.frames = frames
        self.report = report
        self.result = CallResult(index=index)
        self.call_sid = f"CA{target.sid_prefix}{index:024x}"
        self.stream_sid = f"MZ{target.sid_prefix}{index:024x}"
        self.sent_at: dict[int, float] = {}  # chunk -> monotonic send time, until echoed
        self.seq = 0
        self.token = ""
        self.setup_started = 0.0
        self.first_echo = asyncio.Event()
        self.all_echoed = asyncio.Event()
        self.sending_done = False

    def _message(self, body: str) -> str:
        self.seq += 1
        return '{"sequenceNumber":"' + str(self.seq) + '",' + body

    async def _webhook(self, http: httpx.AsyncClient) -> str:
        assert self.target.http_base is not None
        params = {
            "AccountSid": self.target.account_sid, "ApiVersion": "2010-04-01", "CallSid": self.call_sid,
            "CallStatus": "ringing", "Direction": "inbound", "From": self.target.from_number,
            "To": self.target.to_number, "Caller": self.target.from_number, "Called": self.target.to_number,
        }  # fmt: skip
        signature = RequestValidator(self.target.auth_token).compute_signature(
            self.target.public_base_url + "/twilio/voice", params
        )
        for attempt in range(WEBHOOK_ATTEMPTS):
            response = await http.post(
                self.target.http_base + "/twilio/voice",
                data=params,
                headers={"X-Twilio-Signature": signature},
            )
            if response.status_code < 500 or attempt == WEBHOOK_ATTEMPTS - 1:
                break
            # Twilio would play its error message; the bench retries (and reports it) so the streaming
            # figures stay about N calls. Seen with SQLite: "database is locked" in call_admit_inbound.
            self.result.webhook_retries += 1
            await asyncio.sleep(WEBHOOK_RETRY_S)
        if response.status_code != 200:
            raise RuntimeError(f"voice webhook answered {response.status_code}")
        self.result.webhook_worker = response.headers.get(WORKER_HEADER, "")
        doc = ET.fromstring(response.text)  # noqa: S314 - our own server's TwiML
        parameter = doc.find("./Connect/Stream/Parameter[@name='token']")
        if parameter is None:
            raise RuntimeError(f"no stream token in the TwiML: {response.text[:200]}")
        return parameter.get("value", "")

    async def run(self, http: httpx.AsyncClient, start_at: float) -> CallResult:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        self.setup_started = time.monotonic()
        try:
            if self.target.http_base is not None:
                self.token = await self._webhook(http)
                self.result.webhook_s = time.monotonic() - self.setup_started
            headers = {}
            if self.target.http_base is not None:
                stream_url = (
                    self.target.public_base_url.replace("https://", "wss://") + "/twilio/media-stream"
                )
                headers["X-Twilio-Signature"] = RequestValidator(self.target.auth_token).compute_signature(
                    stream_url, {}
                )
            async with connect(
                self.target.ws_url,
                additional_headers=headers,
                compression=None,
                proxy=None,
                open_timeout=15,
                close_timeout=2,
                ping_interval=None,
                max_size=2**16,
            ) as ws:
                receiver = asyncio.create_task(self._receive(ws))
                try:
                    await self._stream(ws)
                    self.sending_done = True
                    if not self.sent_at:
                        self.all_echoed.set()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.schedule.grace_s):
                            await self.all_echoed.wait()
                    with contextlib.suppress(ConnectionClosed):
                        stop = {"accountSid": self.target.account_sid, "callSid": self.call_sid}
                        await ws.send(
                            self._message(
                                '"event":"stop","streamSid":"'
                                + self.stream_sid
                                + '","stop":'
                                + json.dumps(stop)
                                + "}"
                            )
                        )
                finally:
                    receiver.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                        await receiver
        except ConnectionClosed as exc:
            self.result.closed_by_server = True
            self.result.error = f"closed by the server: {exc.rcvd.code if exc.rcvd else 'no close frame'}"
        except Exception as exc:
            self.result.error = f"{type(exc).__name__}: {exc}"[:300]
        self._account_losses()
        return self.result

    async def _stream(self, ws: ClientConnection) -> None:
        sid = self.stream_sid
        await ws.send('{"event":"connected","protocol":"Call","version":"1.0.0"}')
        start = {
            "accountSid": self.target.account_sid, "streamSid": sid, "callSid": self.call_sid,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"token": self.token} if self.token else {},
        }  # fmt: skip
        await ws.send(
            self._message('"event":"start","start":' + json.dumps(start) + ',"streamSid":"' + sid + '"}')
        )
        t0 = time.monotonic()
        self.result.stream_started_at = t0
        frames, n_frames = self.frames, len(self.frames)
        window_start, stop_at = self.schedule.window_start, self.schedule.window_end
        late_threshold = self.schedule.late_threshold_s
        lateness_ms, result, sent_at = self.report.lateness_ms, self.result, self.sent_at
        k = 0
        while True:
            deadline = t0 + k * FRAME_S
            if deadline >= stop_at or k >= MAX_CHUNK - 1:
                return
            now = time.monotonic()
            if deadline > now:
                await asyncio.sleep(deadline - now)
                now = time.monotonic()
            chunk = k + 1
            payload = marker_b64(chunk) + frames[k % n_frames]
            text = self._message(
                '"event":"media","media":{"track":"inbound","chunk":"' + str(chunk) + '","timestamp":"'
                + str(k * 20) + '","payload":"' + payload + '"},"streamSid":"' + sid + '"}'
            )  # fmt: skip
            sent_at[chunk] = now
            result.sent_total += 1
            if now >= window_start:
                result.sent_window += 1
                late = now - deadline
                lateness_ms.append(late * 1000)
                if late > late_threshold:
                    result.late_sends += 1
            await ws.send(text)
            k += 1

    async def _receive(self, ws: ClientConnection) -> None:
        frames, n_frames = self.frames, len(self.frames)
        window_start, window_end = self.schedule.window_start, self.schedule.window_end
        latencies, result, sent_at = self.report.latencies_ms, self.result, self.sent_at
        async for message in ws:
            now = time.monotonic()
            if isinstance(message, bytes):
                result.corrupt += 1
                continue
            key = message.find('"payload"')
            if key >= 0:  # media: the hot path, no JSON parse needed to match it
                begin = message.index('"', message.index(":", key) + 1) + 1
                end = message.index('"', begin)
                chunk = chunk_of_marker(message[begin : begin + MARKER_CHARS])
                sent = sent_at.pop(chunk, None)
                if sent is None or message[begin + MARKER_CHARS : end] != frames[(chunk - 1) % n_frames]:
                    result.corrupt += 1
                    continue
                result.echoed_total += 1
                if not self.first_echo.is_set():
                    self.first_echo.set()
                    result.setup_s = now - self.setup_started
                if window_start <= sent < window_end:
                    latencies.append((now - sent) * 1000)
                if window_start <= now < window_end:
                    result.echoes_in_window += 1
                if self.sending_done and not sent_at:
                    self.all_echoed.set()
                continue
            msg = json.loads(message)
            event = msg.get("event")
            if event == "mark":
                result.marks_echoed += 1
                name = json.dumps(msg["mark"]["name"])
                await ws.send(
                    self._message(
                        '"event":"mark","streamSid":"' + self.stream_sid + '","mark":{"name":' + name + "}}"
                    )
                )
            elif event == "clear":
                result.clears += 1
            else:
                result.corrupt += 1

    def _account_losses(self) -> None:
        window_start, window_end = self.schedule.window_start, self.schedule.window_end
        self.result.lost_total = len(self.sent_at)
        self.result.lost_window = sum(1 for t in self.sent_at.values() if window_start <= t < window_end)


async def _run_calls(
    target: Target, schedule: Schedule, frames: list[str], report: GeneratorReport, overall_timeout_s: float
) -> None:
    if urlsplit(target.ws_url).hostname not in LOCAL_HOSTS or (
        target.http_base is not None and urlsplit(target.http_base).hostname not in LOCAL_HOSTS
    ):
        raise ValueError("the load generator only calls servers on this machine (127.0.0.1)")
    async with httpx.AsyncClient(
        timeout=15, trust_env=False, limits=httpx.Limits(max_connections=50, max_keepalive_connections=50)
    ) as http:
        calls = [SimulatedCall(index, target, schedule, frames, report) for index, _ in schedule.calls]
        tasks = [
            asyncio.create_task(call.run(http, start_at))
            for call, (_, start_at) in zip(calls, schedule.calls, strict=True)
        ]
        monitor = asyncio.create_task(_watch_loop_lag(report, schedule))
        try:
            async with asyncio.timeout(overall_timeout_s):
                await asyncio.gather(*tasks)
        except TimeoutError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for call in calls:
                if not call.result.error:
                    call.result.error = "generator timeout"
                call._account_losses()
        finally:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
        report.calls = [call.result for call in calls]


async def _watch_loop_lag(report: GeneratorReport, schedule: Schedule) -> None:
    """The generator's own event-loop lag during the window: how late a 5 ms sleep wakes up.
    Past ~20 ms the generator cannot keep its 20 ms send schedule by itself (CPU-starved), whatever
    the server does."""
    loop_lag = report.loop_lag_ms
    while True:
        before = time.monotonic()
        await asyncio.sleep(LAG_PROBE_S)
        after = time.monotonic()
        if schedule.window_start <= before < schedule.window_end:
            loop_lag.append(max(0.0, after - before - LAG_PROBE_S) * 1000)


def run_generator(
    target: Target, schedule: Schedule, audio_dir: str, out_path: str, overall_timeout_s: float
) -> None:
    """Process entry point: run this process's calls, pickle a ``GeneratorReport`` to ``out_path``."""
    report = GeneratorReport()
    cpu0 = time.process_time()
    try:
        frames = load_frames(Path(audio_dir))
        asyncio.run(_run_calls(target, schedule, frames, report, overall_timeout_s))
    except Exception as exc:
        report.error = f"{type(exc).__name__}: {exc}"[:500]
    report.cpu_s = time.process_time() - cpu0
    Path(out_path).write_bytes(pickle.dumps(report))

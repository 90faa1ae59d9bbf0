"""The floor of ``bridge_load.py``: a minimal pure-``websockets`` Twilio media-stream echo relay.

No Django, no Channels, no ``CallSession``: for every ``media`` message it does the work any
bridge must do — JSON parse, base64 decode, mu-law -> PCM16 -> mu-law (``calls.bridge.audio``,
i.e. ``audioop``), base64 encode, JSON serialize — and sends the audio back as a ``media`` message
followed by a ``mark`` (as our session does for every frame). Mark echoes are parsed and counted;
``stop`` ends the stream.

    .venv/bin/python bench/minimal_relay.py --port 8765     # 127.0.0.1 only; SIGTERM/Ctrl-C stops
    .venv/bin/python bench/minimal_relay.py --fd 3          # an inherited listening socket (bridge_load)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import signal
import socket
import sys
from pathlib import Path

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from calls.bridge.audio import pcm16_to_ulaw, ulaw_to_pcm16  # noqa: E402 - after the path fix

COMPACT = (",", ":")


async def relay(ws: ServerConnection) -> None:
    stream_sid = ""
    frames = 0
    marks_echoed = 0
    try:
        async for message in ws:
            msg = json.loads(message)
            event = msg.get("event")
            if event == "media":
                mulaw = base64.b64decode(msg["media"]["payload"])
                out = pcm16_to_ulaw(ulaw_to_pcm16(mulaw))
                frames += 1
                payload = base64.b64encode(out).decode("ascii")
                await ws.send(
                    json.dumps(
                        {"event": "media", "streamSid": stream_sid, "media": {"payload": payload}},
                        separators=COMPACT,
                    )
                )
                await ws.send(
                    json.dumps(
                        {"event": "mark", "streamSid": stream_sid, "mark": {"name": f"m{frames}"}},
                        separators=COMPACT,
                    )
                )
            elif event == "mark":
                marks_echoed += 1
            elif event == "start":
                stream_sid = msg["start"]["streamSid"]
            elif event == "stop":
                break
    except ConnectionClosed:
        pass


async def main(port: int, fd: int | None = None) -> None:
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[None] = loop.create_future()

    def request_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop)
    where: dict[str, object] = {"host": "127.0.0.1", "port": port}
    if fd is not None:
        where = {"sock": socket.socket(fileno=fd)}
    async with serve(relay, compression=None, max_size=2**16, close_timeout=1, **where):  # type: ignore[arg-type]
        print("relay ready", flush=True)
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--fd", type=int, default=None, help="serve on this inherited listening socket")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.port, arguments.fd))

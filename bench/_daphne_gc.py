"""``python -m daphne ARGS`` with the garbage collector watched, for ``bridge_load.py --daphne-gc``.

Same server, same CLI (``daphne.cli.CommandLineInterface``), plus a ``gc.callbacks`` hook timing
every collection; at exit one line starting with ``GC-PAUSES`` goes to stderr: generation-0 pauses
summed up, and each generation-1/2 collection with its ``time.monotonic()`` start (the bench keeps
those inside its window). With ``BENCH_GC_FREEZE=1`` the application is imported first and everything alive
after start-up is moved to the permanent generation (``gc.freeze()``), so later full collections
do not walk Django's ~125k start-up objects again. With ``BENCH_GC_OBSERVE=0`` collections are
not watched (plain daphne). With ``BENCH_READY_FILE`` set, that file is written once the reactor
runs, i.e. the server is serving: how ``bridge_load.py`` knows a worker listening on an inherited
socket is ready (the socket itself accepts connections before that).
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

_young: list[float] = []  # generation-0 pauses, ms (many: kept as durations only)
_events: list[tuple[float, int, float]] = []  # (monotonic start, generation, ms) for generations 1-2
_started = [0.0, 0.0]


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0], _started[1] = time.perf_counter(), time.monotonic()
        return
    ms = (time.perf_counter() - _started[0]) * 1000
    if info["generation"] == 0:
        _young.append(ms)
    else:
        _events.append((round(_started[1], 4), info["generation"], round(ms, 3)))


def _report() -> None:
    young = {
        "n": len(_young),
        "max_ms": round(max(_young, default=0.0), 2),
        "total_ms": round(sum(_young), 1),
    }
    print("GC-PAUSES " + json.dumps({"gen0": young, "events": _events}), file=sys.stderr, flush=True)


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root
    import daphne.server  # noqa: F401 - installs the asyncio Twisted reactor before anything imports one

    if os.environ.get("BENCH_GC_FREEZE") == "1":
        import voxsaas.asgi  # noqa: F401 - Django set up and every app loaded, as daphne would

        gc.collect()
        gc.freeze()
    if os.environ.get("BENCH_GC_OBSERVE", "1") == "1":
        gc.callbacks.append(_on_gc)
        atexit.register(_report)
    ready_file = os.environ.get("BENCH_READY_FILE")
    if ready_file:
        from twisted.internet import reactor

        reactor.callWhenRunning(Path(ready_file).write_text, "serving\n")
    from daphne.cli import CommandLineInterface

    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()

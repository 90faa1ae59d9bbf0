"""The servers of ``bridge_load.py``: K worker processes, optionally behind a local balancer.

``Server`` is one process (daphne serving the product, or the bare relay) in its own process
group, listening on its own port or on a socket it inherits (``--fd``). ``Cluster`` is what the
load generator talks to:

- ``balancer="none"``: one worker, called directly (the single-process bench);
- ``"haproxy"``: K workers on their own ports behind HAProxy (Debian's ``haproxy``, run in the
  foreground as a child, config generated into the run's temp dir). HTTP mode with WebSocket
  upgrade, one thread (its CPU is measured as one process): webhooks are balanced round-robin per
  request and media streams round-robin per connection, in two backends whose server order is
  rotated by one, so the webhook and the stream of a call normally land on DIFFERENT workers
  (the bench counts how many did: each webhook answer carries the worker's name, set by HAProxy
  in ``X-Bench-Worker``, and each Call row the ``WORKER_ID`` of the worker that bound its stream);
- ``"haproxy-tcp"``: the same in TCP mode: each connection round-robin, bytes relayed without
  HTTP parsing (cheaper; the webhooks' workers are then not known);
- ``"reuseport"``: no balancer process; K listening sockets bound to one port with
  ``SO_REUSEPORT``, one per worker (daphne ``--fd``): the kernel spreads connections over them by
  a hash of the addresses;
- ``"shared"``: no balancer process; ONE listening socket inherited by all K workers: whichever
  worker accepts first gets the connection.

Only 127.0.0.1 is used. ``stop()`` always ends every process (SIGTERM, then SIGKILL of the group).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from contextlib import suppress
from pathlib import Path
from typing import IO

import psutil

ROOT = Path(__file__).resolve().parent.parent
BALANCERS = ("none", "haproxy", "haproxy-tcp", "reuseport", "shared")
HAPROXY_HEADER = "x-bench-worker"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def haproxy_binary() -> str | None:
    return shutil.which("haproxy") or next(
        (path for path in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if Path(path).exists()), None
    )


def runqueue_wait_s(pid: int) -> float:
    """Seconds the process's threads spent runnable but waiting for a CPU (Linux schedstat): the
    time other processes on the machine took from it. 0 where schedstat is not available."""
    total_ns = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with suppress(OSError, ValueError, IndexError):
                total_ns += int((task / "schedstat").read_text().split()[1])
    except OSError:
        return 0.0
    return total_ns / 1e9


def kill_group(pid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pid, sig)


def cpu_s_of(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


class Server:
    """A server in its own process group, logging to a file; ``stop()`` always ends it.

    ``fd``: listen on this inherited socket instead of a port of its own (``port`` is then the
    socket's port, for the URLs)."""

    def __init__(
        self,
        kind: str,
        env: dict[str, str],
        log_path: Path,
        gc_mode: str = "off",
        *,
        name: str = "w0",
        fd: int | None = None,
        port: int | None = None,
    ) -> None:
        self.kind = kind
        self.name = name
        self.port = port if port is not None else free_port()
        self.log_path = log_path
        listen = ["--fd", str(fd)] if fd is not None else ["-b", "127.0.0.1", "-p", str(self.port)]
        self.ready_file: Path | None = None
        if kind == "daphne":
            # ``--daphne-gc``, or an inherited socket: the same daphne CLI, started through a wrapper
            # that times collections and/or says when the reactor runs.
            wrapped = gc_mode != "off" or fd is not None
            launcher = [str(ROOT / "bench" / "_daphne_gc.py")] if wrapped else ["-m", "daphne"]
            env = {
                **env,
                "BENCH_GC_FREEZE": "1" if gc_mode == "freeze" else "0",
                "BENCH_GC_OBSERVE": "0" if gc_mode == "off" else "1",
                "WORKER_ID": f"bench-{name}",
            }
            if fd is not None:
                self.ready_file = log_path.with_suffix(".ready")
                self.ready_file.unlink(missing_ok=True)
                env["BENCH_READY_FILE"] = str(self.ready_file)
            argv = [sys.executable, *launcher, *listen, "voxsaas.asgi:application"]
        else:
            relay_listen = ["--fd", str(fd)] if fd is not None else ["--port", str(self.port)]
            argv = [sys.executable, str(ROOT / "bench" / "minimal_relay.py"), *relay_listen]
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=(fd,) if fd is not None else (),
        )
        self.ps = psutil.Process(self.process.pid)

    @property
    def ws_path(self) -> str:
        return "/twilio/media-stream" if self.kind == "daphne" else "/"

    def wait_ready(self, timeout_s: float = 60.0, *, probe_port: bool = True) -> None:
        """Until the port accepts (``probe_port``), or until the process has its listening socket
        (an inherited socket accepts before the server is ready to serve)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.process.returncode}:\n{self.log_tail()}")
            if probe_port:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return
                except OSError:
                    pass
            elif self._serving():
                return
            time.sleep(0.1)  # not listening yet; no event to wait on across processes
        raise RuntimeError(f"{self.kind} did not listen within {timeout_s:.0f} s:\n{self.log_tail()}")

    def _serving(self) -> bool:
        """The server runs: daphne's wrapper wrote its ready file, or the relay its ready line."""
        if self.ready_file is not None:
            return self.ready_file.exists()
        return "relay ready" in self.log_tail(20000)

    def cpu_wait_s(self) -> float:
        return runqueue_wait_s(self.process.pid)

    def cpu_s(self) -> float:
        return cpu_s_of(self.ps)

    def rss_mb(self) -> float:
        try:
            return float(self.ps.memory_info().rss) / 2**20
        except psutil.Error:
            return 0.0

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def log_warnings(self) -> Counter[str]:
        """WARNING/ERROR lines of the server log, by message (numbers stripped)."""
        self._log.flush()
        found: Counter[str] = Counter()
        for line in self.log_path.read_text(errors="replace").splitlines():
            for level in (" WARNING ", " ERROR ", "Traceback"):
                if level in line:
                    text = line.split(level, 1)[1] if level != "Traceback" else line
                    found["".join("#" if c.isdigit() else c for c in text)[:120]] += 1
                    break
        return found

    def gc_pauses(self, start: float, end: float) -> str:
        """Collections inside [start, end) from ``_daphne_gc.py``'s exit line (after ``stop()``)."""
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("GC-PAUSES "):
                data = json.loads(line.removeprefix("GC-PAUSES "))
                parts = []
                for gen in (1, 2):
                    pauses = [ms for t, g, ms in data["events"] if g == gen and start <= t < end]
                    parts.append(
                        f"gen{gen} {len(pauses)} collections, max {max(pauses, default=0):.1f} ms, "
                        f"total {sum(pauses):.0f} ms"
                    )
                young = data["gen0"]
                parts.append(f"gen0 (whole run) {young['n']}, max {young['max_ms']:.1f} ms")
                return "; ".join(parts)
        return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            kill_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                kill_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


def haproxy_tcp_config(port: int, workers: list[tuple[str, int]]) -> str:
    """TCP mode: each connection to the next worker, bytes relayed as they come (no HTTP parsing;
    webhooks ride the generator's keep-alive connections, so they cannot be attributed)."""
    servers = "\n".join(f"    server {name} 127.0.0.1:{p}" for name, p in workers)
    return f"""# generated by bench/bridge_load.py for one run; 127.0.0.1 only
global
    maxconn 8000
    nbthread 1
    log stderr format raw local0 warning

defaults
    mode tcp
    log global
    timeout connect 5s
    timeout client 2h
    timeout server 2h
    timeout client-fin 5s

frontend calls
    bind 127.0.0.1:{port}
    default_backend workers

backend workers
    balance roundrobin
{servers}
"""


def haproxy_config(port: int, workers: list[tuple[str, int]], ws_path: str) -> str:
    """HTTP mode, WebSocket upgrades tunnelled. Two backends over the same workers: ``webhooks``
    (round-robin per request, server order rotated by one) and ``streams`` (round-robin per
    connection). Each HTTP answer names its worker in ``X-Bench-Worker``."""
    streams = "\n".join(f"    server {name} 127.0.0.1:{p}" for name, p in workers)
    rotated = workers[1:] + workers[:1]
    webhooks = "\n".join(f"    server {name} 127.0.0.1:{p}" for name, p in rotated)
    return f"""# generated by bench/bridge_load.py for one run; 127.0.0.1 only
global
    maxconn 8000
    nbthread 1
    log stderr format raw local0 warning

defaults
    mode http
    log global
    option dontlognull
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-request 15s
    timeout tunnel 2h
    timeout client-fin 5s

frontend calls
    bind 127.0.0.1:{port}
    acl websocket hdr(upgrade) -i websocket
    acl stream_path path {ws_path}
    use_backend streams if websocket stream_path
    default_backend webhooks

backend webhooks
    balance roundrobin
    http-response set-header X-Bench-Worker %[srv_name]
{webhooks}

backend streams
    balance roundrobin
{streams}
"""


class Cluster:
    """K workers of one kind and how the load generator reaches them."""

    def __init__(
        self,
        kind: str,
        env: dict[str, str],
        workdir: Path,
        *,
        workers: int = 1,
        balancer: str = "none",
        gc_mode: str = "off",
        tag: str = "",
    ) -> None:
        if balancer == "none" and workers != 1:
            raise ValueError("several workers need a balancer")
        if balancer.startswith("haproxy") and haproxy_binary() is None:
            raise SystemExit(NO_HAPROXY)
        self.kind = kind
        self.balancer_kind = balancer
        self.workers: list[Server] = []
        self.balancer: subprocess.Popen[bytes] | None = None
        self.balancer_ps: psutil.Process | None = None
        self._balancer_log_path = workdir / f"haproxy-{tag}.log"
        self._balancer_config_path = workdir / f"haproxy-{tag}.cfg"
        self._balancer_log: IO[bytes] | None = None
        self._listeners: list[socket.socket] = []
        prefix = f"{kind}-{tag}"
        try:
            if balancer in ("none", "haproxy", "haproxy-tcp"):
                for i in range(workers):
                    self.workers.append(
                        Server(kind, env, workdir / f"{prefix}-w{i}.log", gc_mode, name=f"w{i}")
                    )
                self.port = self.workers[0].port
                if balancer.startswith("haproxy"):
                    self._start_haproxy(self._balancer_config_path, tcp=balancer == "haproxy-tcp")
            else:
                self.port = free_port()
                for i in range(workers):
                    if balancer == "reuseport" or not self._listeners:
                        self._listeners.append(
                            _listening_socket(self.port, reuse_port=balancer == "reuseport")
                        )
                    fd = self._listeners[-1].fileno()
                    self.workers.append(
                        Server(
                            kind,
                            env,
                            workdir / f"{prefix}-w{i}.log",
                            gc_mode,
                            name=f"w{i}",
                            fd=fd,
                            port=self.port,
                        )
                    )
        except BaseException:
            self.stop()
            raise

    def _start_haproxy(self, config_path: Path, *, tcp: bool) -> None:
        self.port = free_port()
        workers = [(w.name, w.port) for w in self.workers]
        config_path.write_text(
            haproxy_tcp_config(self.port, workers)
            if tcp
            else haproxy_config(self.port, workers, self.workers[0].ws_path)
        )
        binary = haproxy_binary()
        assert binary is not None
        checked = subprocess.run(
            [binary, "-c", "-q", "-f", str(config_path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if checked.returncode != 0:
            raise RuntimeError(f"haproxy rejected its config:\n{checked.stdout}{checked.stderr}")
        log = self._balancer_log_path.open("wb")
        self._balancer_log = log
        self.balancer = subprocess.Popen(
            [binary, "-db", "-f", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.balancer_ps = psutil.Process(self.balancer.pid)

    @property
    def size(self) -> int:
        return len(self.workers)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.workers[0].ws_path}"

    @property
    def http_base(self) -> str | None:
        return f"http://127.0.0.1:{self.port}" if self.kind == "daphne" else None

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        inherited = self.balancer_kind in ("reuseport", "shared")
        for worker in self.workers:
            worker.wait_ready(timeout_s, probe_port=not inherited)
        if self.balancer is not None:
            deadline = time.monotonic() + timeout_s
            while True:
                if self.balancer.poll() is not None:
                    raise RuntimeError(
                        f"haproxy exited with {self.balancer.returncode}:\n{self.balancer_log()}"
                    )
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"haproxy did not listen:\n{self.balancer_log()}") from None
                    time.sleep(0.1)
        for listener in self._listeners:  # the workers hold their copies now
            listener.close()
        self._listeners = []

    def balancer_files(self) -> list[Path]:
        """HAProxy's generated config and its log, when there is a balancer process."""
        return [p for p in (self._balancer_config_path, self._balancer_log_path) if p.exists()]

    def balancer_log(self) -> str:
        if self._balancer_log is None:
            return ""
        return self._balancer_log_path.read_text(errors="replace")[-3000:]

    # ------------------------------------------------------------------------- figures

    def cpu_by_worker(self) -> list[float]:
        return [w.cpu_s() for w in self.workers]

    def cpu_s(self) -> float:
        return sum(self.cpu_by_worker())

    def balancer_cpu_s(self) -> float:
        return cpu_s_of(self.balancer_ps) if self.balancer_ps is not None else 0.0

    def balancer_rss_mb(self) -> float:
        if self.balancer_ps is None:
            return 0.0
        try:
            return float(self.balancer_ps.memory_info().rss) / 2**20
        except psutil.Error:
            return 0.0

    def cpu_wait_s(self) -> float:
        """Run-queue wait of all workers (add up over the window, divide by the worker count)."""
        return sum(w.cpu_wait_s() for w in self.workers)

    def rss_by_worker(self) -> list[float]:
        return [w.rss_mb() for w in self.workers]

    def log_warnings(self) -> Counter[str]:
        found: Counter[str] = Counter()
        for worker in self.workers:
            found.update(worker.log_warnings())
        return found

    def gc_pauses(self, start: float, end: float) -> str:
        parts = [f"{w.name}: {w.gc_pauses(start, end)}" for w in self.workers]
        return " | ".join(parts) if self.size > 1 else self.workers[0].gc_pauses(start, end)

    def stop(self) -> None:
        for listener in self._listeners:
            listener.close()
        self._listeners = []
        if self.balancer is not None and self.balancer.poll() is None:
            kill_group(self.balancer.pid, signal.SIGTERM)
            try:
                self.balancer.wait(timeout=10)
            except subprocess.TimeoutExpired:
                kill_group(self.balancer.pid, signal.SIGKILL)
                self.balancer.wait(timeout=10)
        if self._balancer_log is not None:
            self._balancer_log.close()
        for worker in self.workers:
            worker.stop()


def _listening_socket(port: int, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


NO_HAPROXY = (
    "haproxy is not installed, so --balancer haproxy cannot run.\n"
    "  Install it (Debian: apt-get install -y haproxy), or use a balancer without a process:\n"
    "  --balancer reuseport   K sockets on one port with SO_REUSEPORT, the kernel spreads connections\n"
    "  --balancer shared      one listening socket shared by the K workers (daphne --fd)"
)

"""py-spy profiles of the servers of ``bridge_load.py``: where a worker's CPU goes.

``start_profiler`` samples one process at 200 Hz over the window (raw collapsed stacks);
``summarise_profile`` reads one or several such files and prints shares of busy samples by
package, our functions on the stack (inclusive), and the top self time.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_profiler(pid: int, duration_s: float, path: Path) -> subprocess.Popen[bytes] | None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy not found (pip install py-spy): no profile", file=sys.stderr)
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        py_spy, "record", "--pid", str(pid), "--duration", str(max(1, int(duration_s))), "--rate", "200",
        "--format", "raw", "--full-filenames", "--nonblocking", "--output", str(path),
    ]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _frame_parts(frame: str) -> tuple[str, str]:
    """``"func (path:line)"`` -> (``func``, ``path``)."""
    name, _, rest = frame.partition(" (")
    return name, rest.rsplit(":", 1)[0]


def _area(path: str) -> str:
    """Which package a leaf frame's file belongs to."""
    if "/site-packages/" in path:
        return path.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if path.startswith(str(ROOT) + "/"):
        return "ours: " + path.removeprefix(str(ROOT) + "/").split("/", 1)[0]
    if "/lib/python3" in path:
        stdlib = path.split("/lib/python3", 1)[1].split("/", 1)[-1]
        return "stdlib: " + stdlib.split("/", 1)[0].removesuffix(".py")
    return "other"


def summarise_profile(paths: Path | list[Path], top: int = 18) -> str:
    """Inclusive and self sample shares from py-spy's collapsed stacks: where the server's CPU goes,
    by package, and which of OUR functions are on the hot path (several files: the workers of one
    phase, added up)."""
    total = idle = 0
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    by_area: Counter[str] = Counter()
    text = "\n".join(p.read_text(errors="replace") for p in ([paths] if isinstance(paths, Path) else paths))
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        leaf_name, leaf_file = _frame_parts(frames[-1])
        if leaf_file.endswith("/selectors.py") and leaf_name.endswith("select"):
            idle += count  # waiting for the network: not CPU
            continue
        total += count
        seen: set[str] = set()
        for frame in frames:
            name, file = _frame_parts(frame)
            if file.startswith(str(ROOT) + "/") and "/.venv/" not in file:
                key = f"{name} ({file.removeprefix(str(ROOT) + '/')})"
                if key not in seen:
                    seen.add(key)
                    inclusive[key] += count
        self_time[f"{leaf_name} ({leaf_file.rsplit('/', 2)[-2:][-1]})"] += count
        by_area[_area(leaf_file)] += count
    if not total:
        return "(no samples)"
    lines = [
        f"{total} busy samples (+{idle} idle in select), shares of busy samples",
        "self time by package:",
    ]
    lines += [f"  {100 * n / total:5.1f}%  {area}" for area, n in by_area.most_common(12)]
    lines.append("our functions, inclusive (on the stack):")
    lines += [f"  {100 * n / total:5.1f}%  {key}" for key, n in inclusive.most_common(top)]
    lines.append("top self time, any code:")
    lines += [f"  {100 * n / total:5.1f}%  {key}" for key, n in self_time.most_common(top)]
    return "\n".join(lines)

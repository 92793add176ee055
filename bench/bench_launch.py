"""Launch-to-interactive time of the desktop app (``python -m lostpet_desktop``).

Each run starts a fresh interpreter with ``LOSTPET_STARTUP_REPORT=quit``: the app prints how long
after its start the main window had painted with the event loop running (model still loading in the
background), then closes itself. This script also times from spawning the process to that line (the
interpreter's own start included) and prints the median of both.

    xvfb-run -a .venv/bin/python bench/bench_launch.py --runs 7          # a real X server
    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_launch.py   # no display at all
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"lostpet: interactive after ([0-9.]+) s \(heavy modules loaded by then: (.*)\)")


def launch_once(data_dir: Path, config_dir: Path, extra_env: dict[str, str]) -> tuple[float, float, str]:
    env = dict(os.environ, LOSTPET_STARTUP_REPORT="quit", LOSTPET_DATA_DIR=str(data_dir),
               LOSTPET_CONFIG_DIR=str(config_dir), **extra_env)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "lostpet_desktop"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        match = LINE.search(line)
        if match:
            wall = time.perf_counter() - start
            proc.wait(timeout=120)  # it closes itself (after the model thread's current step)
            return wall, float(match.group(1)), match.group(2)
    proc.wait(timeout=120)
    raise RuntimeError(f"the app exited ({proc.returncode}) without reporting its startup")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--models-dir", help="LOSTPET_MODELS_DIR for the app (default: the user's)")
    args = parser.parse_args(argv)
    extra = {"LOSTPET_MODELS_DIR": args.models_dir} if args.models_dir else {}
    platform = os.environ.get("QT_QPA_PLATFORM") or ("xcb" if os.environ.get("DISPLAY") else "default")
    walls, internals = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs + 1):
            wall, internal, heavy = launch_once(Path(tmp) / "data", Path(tmp) / "config", extra)
            tag = " (warm-up, not counted)" if i == 0 else ""
            print(f"run {i}: {wall:.3f} s from spawn, {internal:.3f} s in-process; heavy modules: {heavy}{tag}")
            if i:
                walls.append(wall)
                internals.append(internal)
    print(f"platform {platform}: launch-to-interactive median {statistics.median(walls):.3f} s from spawn "
          f"(min {min(walls):.3f}, max {max(walls):.3f}), {statistics.median(internals):.3f} s in-process, "
          f"over {args.runs} runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

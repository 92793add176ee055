"""Helpers shared by the bench scripts (not part of the product)."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))


def median_time(fn: Callable[[], object], runs: int = 7, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def require_data(path: Path) -> Path:
    if not path.is_dir():
        sys.exit(f"data folder not found: {path} (pass --data DIR; see ../shared/data/README.md)")
    return path


def table(rows: list[dict], columns: list[str]) -> str:
    """A plain Markdown table."""
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        cells = [f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c]) for c in columns]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)

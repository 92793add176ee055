"""Entry point of ``lostpet-train``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("Training is not built yet.", file=sys.stderr)
    return 1

"""Entry point of the ``lostpet`` desktop application."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("The LostPet desktop app is not built yet; use lostpet-cli.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())

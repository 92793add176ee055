"""``lostpet-cli``: the headless commands.

Each sub-command lives in its own module with ``add_parser(subparsers)``; the parsed namespace
carries ``func(args) -> int``. Exit codes a script can trust:

* 0: done;
* 1: failed (the one-line message on stderr says what to do);
* 2: bad command line;
* 3: done, but some items failed (for example unreadable photos in an import);
* 130: interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from ..errors import ReidError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

# Modules that add sub-commands, in the order they appear in --help.
COMMAND_MODULES = ("registry_cmds", "eval_cmd", "weights_cmd", "crop_cmd", "backup_cmd")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lostpet-cli",
        description="LostPet Re-ID: register, search and match dogs by photo, on this computer.",
    )
    parser.add_argument("--version", action="version", version=f"lostpet-cli {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue  # that command is not part of this build
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``lostpet-cli`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ReidError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())

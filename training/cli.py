"""Entry point of ``lostpet-train``: ``ssl`` (self-supervised backbone refresh) and ``head`` (re-ID head).

    lostpet-train ssl --images DIR --out RUN [...]     (same as python -m training.ssl)
    lostpet-train head --data DIR [--out FILE] [...]   (same as python -m training.head)

Each sub-command has its own ``main(argv)``; ``lostpet-train SUB --help`` lists its options.
"""

from __future__ import annotations

import importlib
import sys

from .common import EXIT_USAGE

COMMANDS = {
    "ssl": ("training.ssl", "self-supervised refresh of the backbone (two-view InfoNCE)"),
    "head": ("training.head", "identity-supervised re-ID head on the frozen backbone"),
}


def _usage() -> str:
    lines = ["usage: lostpet-train {ssl,head} [options]", "", "commands:"]
    lines += [f"  {name:6} {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "`lostpet-train COMMAND --help` lists a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a sub-command's ``main``; returns its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else EXIT_USAGE
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"lostpet-train: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return EXIT_USAGE
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return int(module.main(rest) or 0)
    except SystemExit as exc:  # argparse: --help (0) or a bad option (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

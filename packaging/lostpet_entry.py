"""Entry point of the installed (PyInstaller) app: one program, three ways in.

* ``LostPet``                       the desktop app (``lostpet_desktop.app.main``);
* ``LostPet --cli ARGS`` or the ``lostpet-cli`` executable beside it: the command line
  (``reid_engine.cli.main``), e.g. ``lostpet-cli backup``;
* ``LostPet --self-test [ARGS]``    load the shipped model, register and search synthetic dogs
  in a temporary folder, exit 0 only if the right dog ranks first (``reid_engine.selftest.main``).

Both executables run this same script; which one was started decides (busybox style), so the
bundle carries one copy of the Python code.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path

CLI_NAMES = {"lostpet-cli"}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # The installed app never downloads a model behind the user's back.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    program = Path(sys.executable if getattr(sys, "frozen", False) else sys.argv[0]).stem.lower()
    if program in CLI_NAMES or args[:1] == ["--cli"]:
        from reid_engine.cli import main as cli_main

        return cli_main(args[1:] if args[:1] == ["--cli"] else args)
    if args[:1] == ["--self-test"]:
        from reid_engine.selftest import main as selftest_main

        return selftest_main(args[1:])
    from lostpet_desktop.app import main as app_main

    return app_main(args)


if __name__ == "__main__":
    multiprocessing.freeze_support()  # torch's data loaders may start worker processes
    raise SystemExit(main())

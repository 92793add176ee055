"""``python -m lostpet_desktop``: the same as the ``lostpet`` command."""

import time

_STARTED = time.perf_counter()  # before anything heavy: the startup report measures from here

from lostpet_desktop.app import main  # noqa: E402

raise SystemExit(main(started=_STARTED))

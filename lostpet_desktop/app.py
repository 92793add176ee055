"""Entry point of the ``lostpet`` desktop application.

Importing this module is light (Qt and the engine's plain modules only): torch, timm and faiss are
imported by the engine worker threads after the window is up.

Options: ``--data-dir DIR`` (the registry folder) and ``--weights FILE`` (model weights). For tests
and benchmarks, :func:`create_window` takes an ``embedder_factory`` (and a hidden
``--embedder-factory module:function`` option does the same from the command line).
``LOSTPET_STARTUP_REPORT=1`` prints the time from launch until the window is interactive;
``=quit`` also quits then (see ``bench/bench_launch.py``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import logging.handlers
import os
import sys
import time
from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

import reid_engine
from reid_engine.paths import config_dir, resources_dir
from reid_engine.settings import Settings

from .main_window import MainWindow
from .state import AppState, EmbedderFactory

STARTUP_ENV = "LOSTPET_STARTUP_REPORT"
log = logging.getLogger("lostpet_desktop")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lostpet", description="LostPet: find and register dogs by photo.")
    parser.add_argument("--data-dir", metavar="DIR", help="the registry folder (default: the settings', "
                        "else the user data folder)")
    parser.add_argument("--weights", metavar="FILE", help="DINOv2 ViT-S/14 weights file to use")
    parser.add_argument("--version", action="version", version=f"LostPet {reid_engine.__version__}")
    # Tests and benchmarks: a `module:function` returning an embedder factory's result.
    parser.add_argument("--embedder-factory", help=argparse.SUPPRESS)
    return parser.parse_args(list(argv) if argv is not None else sys.argv[1:])


def load_factory(spec: str) -> EmbedderFactory:
    """``"package.module:function"`` -> the function (``factory(settings, weights_file) -> Embedder``)."""
    module_name, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module_name), attr or "embedder_factory")


def app_icon() -> QIcon:
    icon = QIcon()
    folder = resources_dir() / "icons"
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        path = folder / f"lostpet-{size}.png"
        if path.exists():
            icon.addFile(str(path))
    return icon


def ensure_application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setApplicationName("LostPet")
    app.setOrganizationName("LostPet")
    app.setApplicationVersion(reid_engine.__version__)
    app.setDesktopFileName("lostpet")
    app.setWindowIcon(app_icon())
    return app


def create_window(
    argv: Sequence[str] | None = None,
    *,
    embedder_factory: EmbedderFactory | None = None,
    settings: Settings | None = None,
) -> MainWindow:
    """Build the state and the main window and start loading (the window is not shown).

    Args:
        argv: Command-line arguments (``--data-dir``, ``--weights``).
        embedder_factory: Overrides model loading (tests pass a tiny random-init model).
        settings: Overrides the saved settings.
    """
    args = parse_args(argv if argv is not None else [])
    ensure_application()
    if embedder_factory is None and args.embedder_factory:
        embedder_factory = load_factory(args.embedder_factory)
    state = AppState(
        settings or Settings.load(),
        data_dir=args.data_dir,
        weights_file=args.weights,
        embedder_factory=embedder_factory,
    )
    window = MainWindow(state)
    state.setParent(window)
    state.start()
    return window


class _StartupReporter(QObject):
    """Prints the launch-to-interactive time once the window has painted and the loop runs."""

    def __init__(self, window: MainWindow, started: float, quit_after: bool):
        super().__init__(window)
        self.started = started
        self.quit_after = quit_after
        self.window = window
        self.done = False
        window.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt API
        if not self.done and event.type() in (QEvent.Type.Paint, QEvent.Type.UpdateRequest):
            self.done = True
            # Reported from the next loop turn: the window has painted and input is being processed.
            QTimer.singleShot(0, self._report)
        return False

    def _report(self) -> None:
        elapsed = time.perf_counter() - self.started
        heavy = [m for m in ("torch", "timm", "faiss") if m in sys.modules]
        print(f"lostpet: interactive after {elapsed:.3f} s (heavy modules loaded by then: {heavy or 'none'})",
              flush=True)
        if self.quit_after:
            self.window.close()


def _setup_logging() -> None:
    try:
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            config_dir() / "lostpet.log", maxBytes=1_000_000, backupCount=2, encoding="utf-8")
    except OSError:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None, *, embedder_factory: EmbedderFactory | None = None,
         started: float | None = None) -> int:
    """Run the app; returns the exit status."""
    started = time.perf_counter() if started is None else started
    args = list(argv) if argv is not None else sys.argv[1:]
    parse_args(args)  # --help / --version / bad options exit here, before any window
    _setup_logging()
    app = ensure_application()
    window = create_window(args, embedder_factory=embedder_factory)
    report = os.environ.get(STARTUP_ENV, "")
    if report:
        _StartupReporter(window, started, quit_after=report == "quit")
    window.show()
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())

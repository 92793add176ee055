"""Helpers for the engine's tests (import as ``from engine_helpers import drain``; ``tests/`` is
on ``sys.path``, see ``tests/conftest.py``)."""

from __future__ import annotations


def drain(gen):
    """Run one of the engine's progress generators to its end: ``(returned value, progress list)``."""
    progress = []
    while True:
        try:
            progress.append(next(gen))
        except StopIteration as stop:
            return stop.value, progress

"""Run engine work off the UI thread and report back through Qt signals.

Shaped after napari's ``thread_worker``: a :class:`Job` wraps a plain function or a generator
function. Each ``yield`` of a generator becomes a ``progress`` signal (``Progress`` objects drive the
progress bars), the return value becomes ``result``, an exception becomes ``error`` and ``finished``
always comes last. Signals are emitted from the worker thread and delivered on the UI thread,
because every :class:`JobSignals` object is created (and so lives) on the UI thread.

Two kinds of pools exist:

* :class:`SerialWorker` runs one job at a time, in order. The app has exactly one for the engine, so
  the :class:`~reid_engine.registry.Registry` is only ever used from one thread at a time.
* :func:`background_pool` style pools (plain :class:`QThreadPool`) run work that never touches the
  registry (loading the model, decoding thumbnails).

:func:`active_jobs` lists every job submitted and not finished yet; tests fail when one is left over.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from reid_engine.errors import CancelledError, ReidError

log = logging.getLogger(__name__)

# Progress signals are throttled: a fast import must not flood the event loop.
_PROGRESS_INTERVAL_S = 1 / 30

_active_lock = threading.Lock()
_active: set[Job] = set()


def active_jobs() -> list[Job]:
    """Jobs submitted to a pool that have not finished running (queued or running)."""
    with _active_lock:
        return [job for job in _active if not job.is_done()]


def describe_error(error: BaseException) -> str:
    """The message a person sees for ``error``.

    Engine errors (:class:`ReidError`) are written for people already; anything else is a bug, so
    it says so plainly, names the exception, and points at the log (it has been logged with its
    traceback by the job that caught it).
    """
    if isinstance(error, ReidError):
        return str(error)
    detail = str(error) or type(error).__name__
    return (
        f"Something unexpected went wrong ({type(error).__name__}: {detail}). "
        "Nothing you saved was lost. If it happens again, please send the log file to support."
    )


class JobSignals(QObject):
    """The signals of one :class:`Job` (a ``QRunnable`` cannot own signals itself)."""

    started = Signal()
    progress = Signal(object)  # whatever the generator yielded (usually reid_engine.models.Progress)
    result = Signal(object)  # the return value
    error = Signal(object)  # the exception; describe_error(exc) is the text for people
    finished = Signal()  # always emitted last, after result or error


class Job(QRunnable):
    """One piece of work: ``fn(*args, **kwargs)``, run on a pool thread.

    Args:
        fn: A function, or a generator function whose yields are progress reports.
        name: Short text for the status bar (``"Searching"``).
        pass_cancel: Call ``fn(..., cancel=job.is_cancelled)`` so the function can stop early by
            itself (the engine's generators take such a callable). Without it, a cancelled
            generator is closed at its next ``yield`` and the job ends with :class:`CancelledError`.
        pass_report: Call ``fn(..., report=job.report)`` for work that reports through a callback.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "", pass_cancel: bool = False,
                 pass_report: bool = False, **kwargs: Any):
        super().__init__()
        self.setAutoDelete(False)  # Python owns the object: it is referenced until ``finished``.
        self.signals = JobSignals()
        self.name = name or getattr(fn, "__name__", "work")
        self._fn = fn
        self._args = args
        self._kwargs = dict(kwargs)
        if pass_cancel:
            self._kwargs["cancel"] = self.is_cancelled
        if pass_report:
            self._kwargs["report"] = self.report
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._last_report = 0.0

    # -- control (any thread)
    def cancel(self) -> None:
        """Ask the job to stop at its next chance; ``finished`` still follows."""
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def report(self, item: Any, *, force: bool = False) -> None:
        """Emit ``progress`` from inside the work (for callback-style engine APIs); throttled."""
        now = time.monotonic()
        if force or now - self._last_report >= _PROGRESS_INTERVAL_S:
            self._last_report = now
            self.signals.progress.emit(item)

    def is_done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the job has finished running (not until its signals are delivered)."""
        return self._done.wait(timeout_s)

    # -- the pool thread
    def run(self) -> None:  # noqa: D102 - QRunnable API
        signals = self.signals
        try:
            if self.is_cancelled():
                raise CancelledError(self.name)
            signals.started.emit()
            out = self._fn(*self._args, **self._kwargs)
            if inspect.isgenerator(out):
                out = self._drive(out)
        except CancelledError as exc:
            signals.error.emit(exc)
        except ReidError as exc:
            log.info("%s failed: %s", self.name, exc)
            signals.error.emit(exc)
        except Exception as exc:  # noqa: BLE001 - reported to the user, logged with its traceback
            log.exception("Unexpected error in %s", self.name)
            signals.error.emit(exc)
        else:
            signals.result.emit(out)
        finally:
            self._done.set()
            _forget(self)
            signals.finished.emit()

    def abandon(self) -> None:
        """Finish a job that will never run (taken off its queue), as cancelled (UI thread)."""
        self.fail(CancelledError(self.name))

    def fail(self, error: BaseException) -> None:
        """Finish a job that will never run with ``error`` (UI thread)."""
        self._done.set()
        _forget(self)
        self.signals.error.emit(error)
        self.signals.finished.emit()

    def _drive(self, gen: Generator) -> Any:
        last_emit = 0.0
        pending = None
        try:
            while True:
                try:
                    item = next(gen)
                except StopIteration as stop:
                    if pending is not None:
                        self.signals.progress.emit(pending)
                    return stop.value
                if self.is_cancelled() and "cancel" not in self._kwargs:
                    gen.close()
                    raise CancelledError(self.name)
                now = time.monotonic()
                if now - last_emit >= _PROGRESS_INTERVAL_S:
                    self.signals.progress.emit(item)
                    last_emit, pending = now, None
                else:
                    pending = item
        finally:
            gen.close()


class SerialWorker(QObject):
    """Runs jobs one after another on a single thread, in submission order.

    The app's one engine worker: the registry is used only from here, so it is never used from two
    threads at once and the UI thread never waits on it.
    """

    busy_changed = Signal(bool)

    def __init__(self, name: str = "engine", parent: QObject | None = None):
        super().__init__(parent)
        self.name = name
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._pool.setExpiryTimeout(-1)  # keep the one thread: thread-local state stays put
        self._queued: list[Job] = []

    def submit(self, job: Job) -> Job:
        """Queue ``job``; returns it so callers can connect signals and cancel it."""
        job.signals.finished.connect(self._job_finished)  # before it can run: no emission is missed
        was_idle = not self.jobs()
        _start(self._pool, job, self._queued)
        if was_idle:
            self.busy_changed.emit(True)
        return job

    def _job_finished(self) -> None:
        self._queued[:] = [j for j in self._queued if not j.is_done()]
        if not self._queued:
            self.busy_changed.emit(False)

    def jobs(self) -> list[Job]:
        """Queued or running jobs."""
        return [j for j in self._queued if not j.is_done()]

    def cancel_all(self) -> None:
        for job in self.jobs():
            job.cancel()

    def shutdown(self, timeout_s: float = 30.0) -> bool:
        """Cancel everything and wait for the thread to go idle."""
        return _shutdown(self._pool, self._queued, timeout_s)

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Wait (without cancelling) until every queued job has run."""
        return self._pool.waitForDone(int(timeout_s * 1000))


class BackgroundPool(QObject):
    """A small pool for work that never touches the registry (model loading, thumbnails)."""

    def __init__(self, threads: int = 2, parent: QObject | None = None):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._jobs: list[Job] = []

    def submit(self, job: Job) -> Job:
        self._jobs[:] = [j for j in self._jobs if not j.is_done()]
        _start(self._pool, job, self._jobs)
        return job

    def cancel_all(self) -> None:
        for job in self._jobs:
            job.cancel()

    def shutdown(self, timeout_s: float = 30.0) -> bool:
        """Cancel everything and wait until no job runs."""
        return _shutdown(self._pool, self._jobs, timeout_s)


def _start(pool: QThreadPool, job: Job, queue: list[Job]) -> None:
    with _active_lock:
        _active.add(job)
    queue.append(job)
    pool.start(job)


def _shutdown(pool: QThreadPool, jobs: list[Job], timeout_s: float) -> bool:
    for job in list(jobs):
        job.cancel()
        if not job.is_done() and pool.tryTake(job):
            job.abandon()  # never started: nothing else would emit finished
    return pool.waitForDone(int(timeout_s * 1000))


def _forget(job: Job) -> None:
    with _active_lock:
        _active.discard(job)

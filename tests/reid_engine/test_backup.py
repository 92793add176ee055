"""Backup and restore of a data directory: consistent while the registry is open, verified on restore."""

from __future__ import annotations

import json
import sqlite3
import threading
import zipfile

import pytest
from photos import make_dog_photo

from reid_engine import backup as backup_mod
from reid_engine.backup import BackupError, create_backup, read_backup_manifest, restore_backup
from reid_engine.cli import main as cli_main
from reid_engine.errors import RegistryLockedError
from reid_engine.models import DogDetails
from reid_engine.registry import Registry
from reid_engine.store import DB_FILENAME


@pytest.fixture
def registry_dir(tmp_path, tiny_embedder):
    """A data directory with 3 dogs (2 photos each) and a saved index."""
    folder = tmp_path / "data"
    with Registry.open(folder, embedder=tiny_embedder) as reg:
        for seed in range(3):
            photos = [make_dog_photo(tmp_path / "in" / f"d{seed}_{v}.jpg", seed, variant=v) for v in range(2)]
            reg.register(photos, DogDetails(name=f"dog{seed}"))
    return folder


def _counts(folder, embedder):
    with Registry.open(folder, embedder=embedder, readonly=True) as reg:
        return reg.counts(), reg.check_integrity()


def test_backup_then_restore_gives_the_same_registry(registry_dir, tmp_path, tiny_embedder):
    result = create_backup(tmp_path / "b.zip", registry_dir)
    assert (result.dogs, result.photos) == (3, 6)
    assert result.index_included  # saved on close, from this very database generation
    with zipfile.ZipFile(result.path) as zf:
        names = set(zf.namelist())
    assert f"data/{DB_FILENAME}" in names and "backup.json" in names
    assert not any("thumbs/" in n or "registry.lock" in n or "models/" in n for n in names)

    restored = restore_backup(result.path, tmp_path / "new")
    assert (restored.dogs, restored.photos, restored.moved_aside) == (3, 6, None)
    counts, problems = _counts(tmp_path / "new", tiny_embedder)
    assert counts["dogs"] == 3 and counts["photos"] == 6 and problems == []
    with Registry.open(tmp_path / "new", embedder=tiny_embedder) as reg:
        match = reg.search([make_dog_photo(tmp_path / "q.jpg", 1, variant=1)], k=1)[0]
        assert match.dog.name == "dog1"


def test_backup_while_the_app_holds_the_registry_open(registry_dir, tmp_path, tiny_embedder):
    with Registry.open(registry_dir, embedder=tiny_embedder) as app:  # the app keeps the writer lock
        app.register([make_dog_photo(tmp_path / "x.jpg", 7)], DogDetails(name="late"))
        result = create_backup(tmp_path, registry_dir)  # a folder: default file name inside
        with pytest.raises(RegistryLockedError):
            restore_backup(result.path, registry_dir, force=True)  # never under a running app
    assert result.path.parent == tmp_path and result.path.name.startswith("lostpet-backup-")
    assert result.dogs == 4  # committed before the snapshot, index not saved yet: left out
    assert not result.index_included
    restored = restore_backup(result.path, tmp_path / "new")
    assert "rebuilt" in restored.notes[0]
    counts, problems = _counts(tmp_path / "new", tiny_embedder)
    assert counts["dogs"] == 4 and problems == []


def test_backup_is_consistent_while_dogs_are_being_registered(registry_dir, tmp_path, tiny_embedder):
    photos = [make_dog_photo(tmp_path / "more" / f"{s}.jpg", s) for s in range(10, 22)]
    stop = threading.Event()

    def app():
        with Registry.open(registry_dir, embedder=tiny_embedder) as reg:
            for p in photos:
                if stop.is_set():
                    break
                reg.register([p])

    worker = threading.Thread(target=app)
    worker.start()
    try:
        results = [create_backup(tmp_path / f"b{i}.zip", registry_dir) for i in range(3)]
    finally:
        stop.set()
        worker.join()
    for i, result in enumerate(results):
        restored = restore_backup(result.path, tmp_path / f"r{i}")
        counts, problems = _counts(tmp_path / f"r{i}", tiny_embedder)
        assert problems == [], problems  # every photo the snapshot names is in the backup
        assert counts["photos"] == result.photos == restored.photos


def test_a_photo_deleted_during_the_backup_makes_it_start_again(registry_dir, tmp_path, monkeypatch):
    real = backup_mod._describe_snapshot
    calls = []

    def describe_then_delete(snapshot):
        facts = real(snapshot)
        calls.append(facts)
        if len(calls) == 1:  # the first time only, like a user deleting a photo at that moment
            (registry_dir / facts.photo_files[0]).unlink()
        return facts

    monkeypatch.setattr(backup_mod, "_describe_snapshot", describe_then_delete)
    with pytest.raises(BackupError, match="kept changing"):  # the file is gone for good
        create_backup(tmp_path / "b.zip", registry_dir)
    assert len(calls) == backup_mod.SNAPSHOT_ATTEMPTS
    assert not (tmp_path / "b.zip").exists()  # nothing half-written

    # The photo's deletion commits after the first snapshot: the second attempt succeeds.
    victim = calls[0].photo_files[0]
    con = sqlite3.connect(registry_dir / DB_FILENAME)
    sha = victim.rsplit("/", 1)[1].split(".")[0]
    photo_id = con.execute("SELECT id FROM photos WHERE sha256 = ?", (sha,)).fetchone()[0]
    con.close()
    calls.clear()

    def describe_then_commit(snapshot):
        facts = real(snapshot)
        calls.append(facts)
        if len(calls) == 1:
            with Registry.open(registry_dir) as reg:
                reg.remove_photo(photo_id)
        return facts

    monkeypatch.setattr(backup_mod, "_describe_snapshot", describe_then_commit)
    result = create_backup(tmp_path / "b.zip", registry_dir)
    assert len(calls) == 2 and result.photos == 5


def test_restore_refuses_a_registry_with_dogs_unless_forced(registry_dir, tmp_path, tiny_embedder):
    result = create_backup(tmp_path / "b.zip", registry_dir)
    other = tmp_path / "other"
    with Registry.open(other, embedder=tiny_embedder) as reg:
        reg.register([make_dog_photo(tmp_path / "o.jpg", 9)], DogDetails(name="other"))
    (other / "models").mkdir()
    (other / "models" / "cache.bin").write_bytes(b"weights")
    (other / "settings.json").write_text("{}")  # macOS and Windows keep settings in the data folder

    with pytest.raises(BackupError, match="--force"):
        restore_backup(result.path, other)
    assert _counts(other, tiny_embedder)[0]["dogs"] == 1  # untouched

    restored = restore_backup(result.path, other, force=True)
    assert restored.dogs == 3
    aside = restored.moved_aside
    assert aside is not None and aside.name.startswith("other.before-restore-")
    assert _counts(aside, tiny_embedder)[0]["dogs"] == 1  # the old registry is kept whole
    assert (other / "models" / "cache.bin").read_bytes() == b"weights"  # the model cache stays
    assert (other / "settings.json").is_file() and not (aside / "settings.json").exists()
    assert not (aside / "models").exists() and (aside / "photos").is_dir()


def test_restore_into_an_empty_registry_needs_no_force(registry_dir, tmp_path, tiny_embedder):
    result = create_backup(tmp_path / "b.zip", registry_dir)
    Registry.open(tmp_path / "fresh", embedder=tiny_embedder).close()  # the app started once
    assert restore_backup(result.path, tmp_path / "fresh").dogs == 3


def test_a_damaged_backup_is_refused_before_anything_changes(registry_dir, tmp_path):
    good = create_backup(tmp_path / "b.zip", registry_dir).path
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.startswith("data/photos/") and info.filename.endswith(".jpg"):
                data = data[:-10] + b"0123456789"
            dst.writestr(info, data)
    with pytest.raises(BackupError, match="checksum"):
        restore_backup(bad, tmp_path / "target")
    assert not (tmp_path / "target").exists()
    assert not list(tmp_path.glob(".target.restore-*"))  # the staging folder is cleaned up

    not_zip = tmp_path / "x.zip"
    not_zip.write_bytes(b"hello")
    with pytest.raises(BackupError, match="not a LostPet backup"):
        restore_backup(not_zip, tmp_path / "target")


def test_a_crafted_path_cannot_escape_the_data_folder(registry_dir, tmp_path):
    good = create_backup(tmp_path / "b.zip", registry_dir).path
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(evil, "w") as dst:
        manifest = json.loads(src.read("backup.json"))
        manifest["files"]["../escaped.txt"] = {"size": 1, "sha256": "0"}
        for info in src.infolist():
            if info.filename != "backup.json":
                dst.writestr(info, src.read(info))
        dst.writestr("backup.json", json.dumps(manifest))
        dst.writestr("data/../escaped.txt", b"x")
    with pytest.raises(BackupError, match="unsafe"):
        restore_backup(evil, tmp_path / "target")
    assert not (tmp_path / "escaped.txt").exists()


def test_backup_needs_a_registry_and_a_place_outside_it(tmp_path, registry_dir):
    with pytest.raises(BackupError, match="nothing to back up"):
        create_backup(tmp_path / "b.zip", tmp_path / "empty")
    with pytest.raises(BackupError, match="outside the data folder"):
        create_backup(registry_dir / "b.zip", registry_dir)


def test_the_snapshot_is_one_self_contained_file(registry_dir, tmp_path):
    result = create_backup(tmp_path / "b.zip", registry_dir)
    manifest = read_backup_manifest(result.path)
    assert manifest["counts"] == {"dogs": 3, "photos": 6, "embeddings": 6}
    with zipfile.ZipFile(result.path) as zf:
        (tmp_path / "db").write_bytes(zf.read(f"data/{DB_FILENAME}"))
    con = sqlite3.connect(tmp_path / "db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert con.execute("SELECT COUNT(*) FROM dogs").fetchone()[0] == 3


def test_cli_backup_and_restore(registry_dir, tmp_path, capsys):
    out = tmp_path / "cli.zip"
    assert cli_main(["backup", str(out), "--data-dir", str(registry_dir)]) == 0
    assert "3 dog(s) and 6 photo(s)" in capsys.readouterr().out
    assert cli_main(["restore", str(out), "--data-dir", str(tmp_path / "r"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dogs"] == 3 and report["moved_aside"] is None
    assert cli_main(["restore", str(out), "--data-dir", str(tmp_path / "r")]) == 1  # has dogs now
    assert "--force" in capsys.readouterr().err
    assert cli_main(["backup", str(tmp_path / "notzip.txt"), "--data-dir", str(registry_dir)]) == 1

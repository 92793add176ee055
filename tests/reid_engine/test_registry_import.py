"""Folder imports: hostile files, one dog per photo or per sub-folder, resuming, cancelling."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine_helpers import drain
from photos import QUIETLY_SKIPPED, make_dog_photo, make_hostile_corpus
from reid_engine.errors import InvalidInputError
from reid_engine.models import DogDetails, DogStatus
from reid_engine.registry import IMPORT_BATCH, Registry

SIZE = (96, 72)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _consistent(reg: Registry) -> None:
    assert reg.check_integrity() == []
    counts = reg.counts()
    assert counts["photos"] == counts["index_vectors"]
    # No copy is left in the photo store without its row (unreadable, cancelled, not committed).
    stored_files = [p for p in (reg.data_dir / "photos").rglob("*") if p.is_file()]
    assert len(stored_files) == counts["photos"]


def test_hostile_corpus_reports_each_bad_file_and_loses_nothing_else(reg, tmp_path):
    folder = tmp_path / "hostile"
    expected = make_hostile_corpus(folder)
    summary, progress = drain(reg.import_folder(folder))
    rel = lambda paths: {p.relative_to(folder).as_posix() for p in paths}  # noqa: E731
    assert rel(summary.imported) == {name for name, good in expected.items() if good}
    assert rel(p for p, _ in summary.failed) == {name for name, good in expected.items() if not good}
    assert all(reason and "Traceback" not in reason for _, reason in summary.failed)
    reasons = {p.name: r for p, r in summary.failed}
    assert "empty" in reasons["empty.jpg"]
    assert not set(QUIETLY_SKIPPED) & (rel(summary.imported) | rel(p for p, _ in summary.failed))
    assert summary.dogs_created == len(summary.imported) and not summary.cancelled
    assert progress[-1].done == progress[-1].total == len(expected)
    assert reg.find_dog("photo 1 ñ") is not None  # unicode and spaces in the path
    rotated = reg.find_dog("exif_rotate_90").photos[0]
    assert (rotated.width, rotated.height) == (64, 96)
    _consistent(reg)

    again, _ = drain(reg.import_folder(folder))
    assert again.imported == [] and len(again.skipped) == len(summary.imported)
    assert len(again.failed) == len(summary.failed)
    assert reg.counts()["photos"] == len(summary.imported)


def test_per_folder_import_makes_one_dog_per_sub_folder_and_resumes(reg, tmp_path):
    folder = tmp_path / "dogs"
    for seed in (1, 2, 3):
        for v in range(2):
            make_dog_photo(folder / f"rex{seed}" / f"{v}.jpg", seed, SIZE, variant=v)
    make_dog_photo(folder / "rex1" / "side" / "deep.jpg", 1, SIZE, variant=7)  # deeper: still rex1
    make_dog_photo(folder / "loose.jpg", 9, SIZE)  # directly in the folder: a dog named after it
    details = DogDetails(status=DogStatus.FOUND, location="Shelter A")
    summary, _ = drain(reg.import_folder(folder, "per-folder", details=details))
    assert summary.dogs_created == 4 and len(summary.imported) == 8
    dogs = {d.tag: d for d in reg.list_dogs()}
    assert set(dogs) == {"rex1", "rex2", "rex3", "dogs"}
    assert len(dogs["rex1"].photos) == 3 and dogs["rex2"].status == DogStatus.FOUND
    assert dogs["rex3"].location == "Shelter A"
    # A new photo in a known sub-folder joins the existing dog; nothing is duplicated.
    make_dog_photo(folder / "rex2" / "new.jpg", 2, SIZE, variant=5)
    again, _ = drain(reg.import_folder(folder, "per-folder"))
    assert len(again.imported) == 1 and again.dogs_created == 0 and len(again.skipped) == 8
    assert len(reg.find_dog("rex2").photos) == 3 and reg.counts()["dogs"] == 4
    _consistent(reg)


def test_per_photo_tags_are_unique_and_take_a_prefix(reg, tmp_path):
    folder = tmp_path / "flat"
    make_dog_photo(folder / "a" / "bella.jpg", 1, SIZE)
    make_dog_photo(folder / "b" / "bella.jpg", 2, SIZE)
    summary, _ = drain(reg.import_folder(folder, details=DogDetails(tag="IN")))
    assert sorted(d.tag for d in reg.list_dogs()) == ["IN-bella", "IN-bella-2"]
    assert summary.dogs_created == 2


def test_duplicate_files_in_one_folder_are_stored_once(reg, tmp_path):
    folder = tmp_path / "dups"
    first = make_dog_photo(folder / "one.jpg", 1, SIZE)
    (folder / "two.jpg").write_bytes(first.read_bytes())
    summary, _ = drain(reg.import_folder(folder))
    assert [p.name for p in summary.imported] == ["one.jpg"]
    assert summary.skipped == [(folder / "two.jpg", "same photo as one.jpg")]


def test_cancel_keeps_what_was_stored_and_a_rerun_completes_it(reg, tmp_path):
    folder = tmp_path / "many"
    paths = [make_dog_photo(folder / f"{i:03d}.jpg", i, SIZE) for i in range(IMPORT_BATCH + 20)]
    seen = []

    def cancel() -> bool:
        return len(seen) > IMPORT_BATCH + 5

    gen = reg.import_folder(folder, cancel=cancel)
    summary = None
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            summary = stop.value
            break
        if p.message == "Importing":
            seen.append(p)
    assert summary.cancelled
    assert 0 < len(summary.imported) < len(paths)
    assert reg.counts()["photos"] == len(summary.imported)
    _consistent(reg)
    rest, _ = drain(reg.import_folder(folder))
    assert len(rest.imported) + len(summary.imported) == len(paths)
    assert reg.counts()["photos"] == len(paths)
    _consistent(reg)


def test_closing_the_generator_early_keeps_the_embedded_batch(reg, tmp_path):
    folder = tmp_path / "few"
    for i in range(10):
        make_dog_photo(folder / f"{i}.jpg", i, SIZE)
    gen = reg.import_folder(folder)
    for p in gen:
        if p.message == "Importing" and p.done == 4:
            break
    gen.close()
    assert reg.counts()["photos"] == 4
    _consistent(reg)


def test_import_needs_a_folder_and_a_known_mode(reg, tmp_path):
    with pytest.raises(InvalidInputError):
        drain(reg.import_folder(tmp_path / "nowhere"))
    with pytest.raises(InvalidInputError, match="per-photo or per-folder"):
        drain(reg.import_folder(tmp_path, "per-dog"))  # type: ignore[arg-type]


def test_an_empty_folder_imports_nothing(reg, tmp_path):
    (tmp_path / "empty").mkdir()
    summary, progress = drain(reg.import_folder(tmp_path / "empty"))
    assert summary.total == 0 and progress[-1].message == "Done"
    assert isinstance(summary.seconds, float) and Path(tmp_path / "empty").is_dir()

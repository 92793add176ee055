"""The registry API with the tiny random-init model: every operation leaves the store and the index
consistent, search is per dog, filters hold, the index and the vector space heal on open."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine_helpers import drain
from photos import make_dog_photo
from reid_engine.errors import (
    ImageLoadError,
    InvalidInputError,
    NotFoundError,
    RegistryError,
    RegistryLockedError,
)
from reid_engine.index import INDEX_FILENAME, MANIFEST_FILENAME
from reid_engine.models import DogDetails, DogStatus, SearchFilters
from reid_engine.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("one_torch_thread")
SIZE = (96, 72)


def assert_consistent(reg: Registry) -> None:
    """The database, the stored files and the index agree."""
    assert reg.check_integrity() == []
    photo_ids = {p.id for d in reg.list_dogs() for p in d.photos}
    assert set(reg._index.ids().tolist()) == photo_ids
    counts = reg.counts()
    assert counts["photos"] == counts["index_vectors"] == len(photo_ids)


@pytest.fixture
def photos_dir(tmp_path):
    """Three photos each of dogs 1, 2 and 3."""
    folder = tmp_path / "incoming"
    for seed in (1, 2, 3):
        for variant in range(3):
            make_dog_photo(folder / f"dog{seed}" / f"v{variant}.jpg", seed, SIZE, variant=variant)
    return folder


# --------------------------------------------------------------------------- register, edit, remove
def test_register_copies_photos_by_hash_and_leaves_the_originals(reg, photos_dir):
    originals = sorted((photos_dir / "dog1").iterdir())
    before = [(p.read_bytes(), p.stat().st_mtime_ns) for p in originals]
    dog = reg.register(originals, DogDetails(tag="A-1", name="Bella", status=DogStatus.LOST,
                                             date=dt.date(2026, 3, 1), location="Park"))
    assert (dog.tag, dog.name, dog.status, len(dog.photos)) == ("A-1", "Bella", DogStatus.LOST, 3)
    for photo, original in zip(dog.photos, originals):
        assert photo.path.parent.parent == reg.data_dir / "photos"
        assert photo.path.name == f"{photo.sha256}.jpg"
        assert photo.path.read_bytes() == original.read_bytes()
        assert (photo.width, photo.height) == SIZE and photo.original_name == original.name
    assert [(p.read_bytes(), p.stat().st_mtime_ns) for p in originals] == before
    assert_consistent(reg)


def test_register_accepts_in_memory_images_and_no_photo(reg):
    image = Image.new("RGBA", (40, 30), (200, 100, 50, 255))
    dog = reg.register([image])
    assert dog.tag.startswith("LP-") and dog.photos[0].path.suffix == ".png"
    assert (dog.photos[0].width, dog.photos[0].height) == (40, 30)
    report = reg.register([], DogDetails(status=DogStatus.LOST, notes="no photo yet"))
    assert report.photos == ()
    assert_consistent(reg)


def test_the_same_photo_is_recognised_by_its_bytes(reg, photos_dir, tmp_path):
    first = reg.register([photos_dir / "dog1" / "v0.jpg"], DogDetails(tag="A"))
    copy = tmp_path / "renamed copy.jpg"
    copy.write_bytes((photos_dir / "dog1" / "v0.jpg").read_bytes())
    with pytest.raises(InvalidInputError, match="already registered for dog A"):
        reg.register([copy])
    # Twice in one call, or again on the same dog: stored once, quietly.
    dog = reg.add_photos(first.id, [copy, photos_dir / "dog1" / "v1.jpg", photos_dir / "dog1" / "v1.jpg"])
    assert len(dog.photos) == 2
    assert reg.counts()["dogs"] == 1
    assert_consistent(reg)


def test_an_unreadable_photo_stores_nothing(reg, photos_dir, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(ImageLoadError):
        reg.register([photos_dir / "dog1" / "v0.jpg", broken])
    with pytest.raises(ImageLoadError, match="missing.jpg"):
        reg.register([tmp_path / "missing.jpg"])
    assert reg.counts() == {"dogs": 0, "photos": 0, "index_vectors": 0}
    assert not any(p.is_file() for p in (reg.data_dir / "photos").rglob("*"))


def test_edit_changes_only_given_fields(reg, photos_dir):
    dog = reg.register([photos_dir / "dog1" / "v0.jpg"], DogDetails(tag="A", name="Bella", notes="shy"))
    other = reg.register([photos_dir / "dog2" / "v0.jpg"], DogDetails(tag="B"))
    edited = reg.edit(dog.id, DogDetails(status=DogStatus.REUNITED, location="Home"))
    assert (edited.name, edited.notes, edited.status, edited.location) == ("Bella", "shy", DogStatus.REUNITED, "Home")
    assert edited.updated_at >= dog.updated_at
    with pytest.raises(InvalidInputError):
        reg.edit(dog.id, DogDetails(tag=other.tag))
    with pytest.raises(InvalidInputError, match="already used"):  # a taken tag stores nothing
        reg.register([photos_dir / "dog3" / "v0.jpg"], DogDetails(tag="a"))
    assert len(list((reg.data_dir / "photos").rglob("*.jpg"))) == 2
    with pytest.raises(NotFoundError):
        reg.edit(12345, DogDetails(name="x"))
    assert_consistent(reg)


def test_removing_photos_and_dogs_keeps_the_index_consistent(reg, photos_dir):
    a = reg.register(sorted((photos_dir / "dog1").iterdir()), DogDetails(tag="A"))
    b = reg.register(sorted((photos_dir / "dog2").iterdir()), DogDetails(tag="B"))
    reg.thumbnail(a.photos[0])
    gone = a.photos[0]
    a = reg.remove_photo(gone.id)
    assert len(a.photos) == 2 and not gone.path.exists()
    assert not list((reg.data_dir / "thumbs").rglob(f"{gone.sha256}*"))
    assert_consistent(reg)
    matches = reg.search([photos_dir / "dog1" / "v0.jpg"], k=5)
    assert gone.id not in {m.photo.id for m in matches}
    reg.remove_dog(b.id)
    assert all(not p.path.exists() for p in b.photos)
    with pytest.raises(NotFoundError):
        reg.get_dog(b.id)
    assert_consistent(reg)
    assert [m.dog.tag for m in reg.search([photos_dir / "dog2" / "v0.jpg"], k=5)] == ["A"]
    with pytest.raises(NotFoundError):
        reg.remove_photo(gone.id)


# --------------------------------------------------------------------------- search
def test_search_is_per_dog_and_ranks_the_right_dog_first(reg, photos_dir):
    for seed in (1, 2, 3):
        reg.register(sorted((photos_dir / f"dog{seed}").iterdir()), DogDetails(tag=f"D{seed}"))
    query = photos_dir / "dog2" / "v1.jpg"
    matches = reg.search([query], k=10)
    assert [m.dog.tag for m in matches].count("D2") == 1 and len(matches) == 3
    best = matches[0]
    assert best.dog.tag == "D2" and best.photo.original_name == "v1.jpg" and best.score == pytest.approx(1.0, abs=1e-4)
    assert [m.rank for m in matches] == [1, 2, 3]
    scores = [m.score for m in matches]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)
    assert [m.dog.tag for m in reg.search([query], k=1)] == ["D2"]


def test_search_accepts_several_photos_as_one_query_and_images(reg, photos_dir):
    for seed in (1, 2, 3):
        reg.register(sorted((photos_dir / f"dog{seed}").iterdir()), DogDetails(tag=f"D{seed}"))
    both = [photos_dir / "dog3" / "v0.jpg", Image.open(photos_dir / "dog3" / "v2.jpg")]
    matches = reg.search(both, k=3)
    assert matches[0].dog.tag == "D3" and matches[0].query_index in (0, 1)
    assert len({m.dog.id for m in matches}) == 3
    vectors = reg.embed_query(both)
    assert vectors.shape == (2, reg.embedder.dim)
    assert [m.dog.id for m in reg.search_vectors(vectors, k=3)] == [m.dog.id for m in matches]


def test_search_filters_by_status_date_and_excluded_dog(reg, photos_dir):
    lost = reg.register([photos_dir / "dog1" / "v0.jpg"], DogDetails(tag="L", status=DogStatus.LOST,
                                                                     date=dt.date(2026, 1, 10)))
    found = reg.register([photos_dir / "dog2" / "v0.jpg"], DogDetails(tag="F", status=DogStatus.FOUND,
                                                                      date=dt.date(2026, 2, 10)))
    reg.register([photos_dir / "dog3" / "v0.jpg"], DogDetails(tag="U"))  # no date
    q = [photos_dir / "dog1" / "v0.jpg"]
    tags = lambda f=None, **kw: [m.dog.tag for m in reg.search(q, k=10, filters=f, **kw)]  # noqa: E731
    assert tags(SearchFilters(statuses=(DogStatus.FOUND,))) == ["F"]
    assert set(tags(SearchFilters(statuses=(DogStatus.FOUND, DogStatus.LOST)))) == {"L", "F"}
    assert tags(SearchFilters(date_from=dt.date(2026, 2, 1))) == ["F"]
    assert tags(SearchFilters(date_to=dt.date(2026, 1, 31))) == ["L"]
    assert tags(SearchFilters(statuses=(DogStatus.ADOPTED,))) == []
    assert "L" not in tags(exclude_dog=lost.id) and found.tag in tags(exclude_dog=lost.id)


def test_search_widens_until_it_has_k_dogs(reg, tmp_path):
    # One dog with many near-identical photos must not crowd the others out of the top k.
    many = [make_dog_photo(tmp_path / "many" / f"{v}.png", 5, SIZE, "PNG", variant=v) for v in range(70)]
    reg.register(many, DogDetails(tag="MANY"))
    for seed in (6, 7, 8):
        reg.register([make_dog_photo(tmp_path / f"{seed}.jpg", seed, SIZE)], DogDetails(tag=f"S{seed}"))
    matches = reg.search([many[0]], k=4)
    assert matches[0].dog.tag == "MANY" and len(matches) == 4


def test_search_an_empty_registry(reg, photos_dir):
    assert reg.search([photos_dir / "dog1" / "v0.jpg"]) == []


# --------------------------------------------------------------------------- browsing
def test_list_find_counts_info_and_thumbnails(reg, photos_dir):
    a = reg.register([photos_dir / "dog1" / "v0.jpg"], DogDetails(tag="A-1", name="Bella", status=DogStatus.LOST))
    reg.register([photos_dir / "dog2" / "v0.jpg"], DogDetails(tag="B-2", location="Harbour"))
    assert [d.tag for d in reg.list_dogs()] == ["B-2", "A-1"]
    assert [d.tag for d in reg.list_dogs(text="harb")] == ["B-2"]
    assert [d.tag for d in reg.list_dogs(statuses=[DogStatus.LOST])] == ["A-1"]
    assert reg.find_dog("a-1").id == a.id and reg.find_dog("nope") is None
    info = reg.info()
    assert info["dogs"] == 2 and info["photos"] == 2 and info["index_vectors"] == 2
    assert info["counts"] == {"dogs": 2, "photos": 2, "index_vectors": 2}
    assert info["model"]["space_id"] == reg.embedder.space_id and info["pending_reembed"] == 0
    thumb = reg.thumbnail(a.photos[0], size=48)
    assert max(Image.open(thumb).size) == 48 and reg.thumbnail(a.photos[0], size=48) == thumb
    assert reg.photo_path(a.photos[0]).is_file()


def test_browsing_works_without_a_model(tmp_path, photos_dir, tiny_embedder):
    with Registry.open(tmp_path / "data", tiny_embedder) as r:
        dog = r.register([photos_dir / "dog1" / "v0.jpg"], DogDetails(tag="A"))
    with Registry.open(tmp_path / "data") as r:
        assert r.get_dog(dog.id).tag == "A" and r.counts()["index_vectors"] == 1
        r.edit(dog.id, DogDetails(name="Bella"))
        with pytest.raises(RegistryError, match="model is not loaded"):
            r.register([photos_dir / "dog2" / "v0.jpg"])
        with pytest.raises(RegistryError, match="model is not loaded"):
            r.search([photos_dir / "dog1" / "v0.jpg"])
        assert list(r.attach_embedder(tiny_embedder)) == []
        assert r.search([photos_dir / "dog1" / "v0.jpg"])[0].dog.name == "Bella"
        assert_consistent(r)


# --------------------------------------------------------------------------- healing on open
def _registry_with_dogs(data: Path, emb, photos_dir: Path) -> None:
    with Registry.open(data, emb) as r:
        for seed in (1, 2, 3):
            r.register(sorted((photos_dir / f"dog{seed}").iterdir()), DogDetails(tag=f"D{seed}"))


@pytest.mark.parametrize("damage", ["delete", "truncate", "garbage", "manifest", "stale"])
def test_a_missing_stale_or_corrupt_index_is_rebuilt_on_open(tmp_path, photos_dir, tiny_embedder, damage):
    data = tmp_path / "data"
    _registry_with_dogs(data, tiny_embedder, photos_dir)
    index_file, manifest = data / "index" / INDEX_FILENAME, data / "index" / MANIFEST_FILENAME
    with Registry.open(data, tiny_embedder) as r:
        assert r.info()["index"]["state"] == "loaded"
    if damage == "delete":
        index_file.unlink()
    elif damage == "truncate":
        index_file.write_bytes(index_file.read_bytes()[:100])
    elif damage == "garbage":
        index_file.write_bytes(os.urandom(index_file.stat().st_size))
    elif damage == "manifest":
        manifest.write_text("{")
    else:  # an older index: saved before the last photo was added
        old = index_file.read_bytes(), manifest.read_bytes()
        with Registry.open(data, tiny_embedder) as r:
            r.register([make_dog_photo(tmp_path / "late.jpg", 9, SIZE)], DogDetails(tag="LATE"))
        index_file.write_bytes(old[0])
        manifest.write_bytes(old[1])
    with Registry.open(data, tiny_embedder) as r:
        assert r.info()["index"]["state"].startswith("rebuilt")
        assert_consistent(r)
        assert r.search([photos_dir / "dog1" / "v2.jpg"], k=1)[0].dog.tag == "D1"
    with Registry.open(data, tiny_embedder) as r:
        assert r.info()["index"]["state"] == "loaded"  # the rebuilt index was saved


def test_switching_weights_re_embeds_every_photo(tmp_path, photos_dir, tiny_embedder):
    from reid_engine.embedder import Embedder

    data = tmp_path / "data"
    _registry_with_dogs(data, tiny_embedder, photos_dir)
    new = Embedder.random_init(seed=1)
    assert new.space_id != tiny_embedder.space_id
    with Registry.open(data, new) as r:
        assert r.pending_reembed() == 9
        assert r.counts()["index_vectors"] == 0  # never a mix of spaces
        progress = list(r.attach_embedder(new))
        assert progress[-1].done == progress[-1].total == 9
        assert r.pending_reembed() == 0
        assert [s["space_id"] for s in r.info()["spaces"]] == [new.space_id]
        photos = r._store.all_photos()
        ids, stored = r._store.vectors(new.space_id)
        assert ids.tolist() == [p.id for p in photos]
        expected = new.embed([new.load_photo(p.path) for p in photos])
        np.testing.assert_allclose(stored, expected, atol=1e-5)
        np.testing.assert_allclose(r._index.reconstruct(ids), expected, atol=2e-3)  # float16 index
        assert_consistent(r)
        assert r.search([photos_dir / "dog3" / "v0.jpg"], k=1)[0].dog.tag == "D3"


def test_reindex_rebuilds_everything(reg, photos_dir):
    for seed in (1, 2):
        reg.register(sorted((photos_dir / f"dog{seed}").iterdir()), DogDetails(tag=f"D{seed}"))
    progress = list(reg.reindex())
    assert progress[-1].done == 6
    assert_consistent(reg)


# --------------------------------------------------------------------------- one writer at a time
def test_a_second_writer_gets_the_lock_message_and_readers_still_work(tmp_path, photos_dir, tiny_embedder):
    data = tmp_path / "data"
    with Registry.open(data, tiny_embedder, program="lostpet") as writer:
        writer.register([photos_dir / "dog1" / "v0.jpg"], DogDetails(tag="A"))
        with pytest.raises(RegistryLockedError) as err:
            Registry.open(data)
        assert f"in use by lostpet (pid {os.getpid()}) since" in str(err.value)
        assert "try again" in str(err.value)
        with Registry.open(data, tiny_embedder, readonly=True) as reader:
            assert reader.find_dog("A") is not None
            assert reader.search([photos_dir / "dog1" / "v0.jpg"], k=1)[0].dog.tag == "A"
            with pytest.raises(RegistryError, match="read-only"):
                reader.edit(reader.find_dog("A").id, DogDetails(name="x"))
            writer.register([photos_dir / "dog2" / "v0.jpg"], DogDetails(tag="B"))
            # The reader catches up with what the writer stored since it opened.
            assert reader.search([photos_dir / "dog2" / "v0.jpg"], k=1)[0].dog.tag == "B"
            assert reader.check_integrity() == []
    with Registry.open(data) as again:  # released on close
        assert again.counts()["dogs"] == 2


def test_a_writer_in_another_process_is_named(tmp_path):
    data = tmp_path / "data"
    code = textwrap.dedent(
        f"""
        import sys
        from reid_engine.registry import Registry
        reg = Registry.open({str(data)!r}, program="lostpet-cli")
        print("ready", flush=True)
        sys.stdin.read()
        reg.close()
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        with pytest.raises(RegistryLockedError, match=rf"in use by lostpet-cli \(pid {child.pid}\)"):
            Registry.open(data)
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    Registry.open(data).close()


def test_readonly_open_of_a_new_folder_is_an_empty_registry(tmp_path, tiny_embedder):
    with Registry.open(tmp_path / "fresh", tiny_embedder, readonly=True) as r:
        assert r.counts() == {"dogs": 0, "photos": 0, "index_vectors": 0}
        assert r.list_dogs() == []

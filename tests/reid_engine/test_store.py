"""The SQLite store on its own: schema, migrations, generation counter, dogs, photos, vectors."""

from __future__ import annotations

import datetime as dt
import sqlite3

import numpy as np
import pytest

from reid_engine.errors import InvalidInputError, NotFoundError, RegistryError
from reid_engine.models import DogDetails, DogStatus, SearchFilters
from reid_engine.store import MIGRATIONS, SCHEMA_VERSION, NewPhoto, Store

SPACE = {"space_id": "space-a", "model": "m", "weights_sha256": "w" * 64, "dim": 4}


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db.sqlite3", tmp_path / "photos")
    yield s
    s.close()


def _photo(n: int, vector=None) -> NewPhoto:
    return NewPhoto(sha256=f"{n:064x}", ext=".jpg", original_name=f"{n}.jpg", source_path="", width=8,
                    height=6, vector=vector)


def test_new_database_has_current_schema_and_wal(store):
    assert store.schema_version() == SCHEMA_VERSION == len(MIGRATIONS)
    assert store.generation() == 0
    mode = sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_every_write_transaction_bumps_the_generation(store):
    with store.write() as con:
        store.insert_dog(con, DogDetails(tag="A-1"))
    assert store.generation() == 1
    with pytest.raises(RuntimeError), store.write() as con:
        store.insert_dog(con, DogDetails(tag="A-2"))
        raise RuntimeError("boom")
    assert store.generation() == 1  # rolled back, counter included
    assert store.find_dog("A-2") is None


def test_dogs_round_trip_with_photos_and_vectors(store):
    with store.write() as con:
        store.ensure_space(con, SPACE)
        dog_id = store.insert_dog(con, DogDetails(tag="A-1", name=" Bella ", status=DogStatus.LOST,
                                                  date=dt.date(2026, 3, 1), location="Park", notes="shy"))
        ids = store.insert_photos(con, dog_id, [_photo(1, np.ones(4)), _photo(2, np.arange(4.0))], "space-a")
    dog = store.get_dog(dog_id)
    assert (dog.tag, dog.name, dog.status, dog.date, dog.location) == ("A-1", "Bella", DogStatus.LOST,
                                                                       dt.date(2026, 3, 1), "Park")
    assert [p.id for p in dog.photos] == ids
    assert dog.photos[0].path == store.photos_dir / "00" / f"{1:064x}.jpg"
    got_ids, vecs = store.vectors("space-a")
    assert got_ids.tolist() == ids and vecs.dtype == np.float32
    np.testing.assert_array_equal(vecs[1], np.arange(4.0))
    assert store.photo_by_sha(f"{2:064x}") == (ids[1], dog_id, "A-1")
    assert store.photos_without_vector("space-a") == []
    assert [p.id for p in store.photos_without_vector("other")] == ids


def test_tags_are_unique_case_insensitively_and_generated_when_missing(store):
    with store.write() as con:
        store.insert_dog(con, DogDetails(tag="Rex"))
        with pytest.raises(InvalidInputError, match="already used"):
            store.insert_dog(con, DogDetails(tag="rex"))
        generated = store.insert_dog(con, DogDetails())
        assert store.unique_tag(con, "Rex") == "Rex-2"
    assert store.find_dog("REX").tag == "Rex"
    assert store.get_dog(generated).tag.startswith("LP-")


def test_update_leaves_none_fields_and_rejects_a_taken_tag(store):
    with store.write() as con:
        a = store.insert_dog(con, DogDetails(tag="A", name="Bella", notes="n"))
        store.insert_dog(con, DogDetails(tag="B"))
    with store.write() as con:
        store.update_dog(con, a, DogDetails(status=DogStatus.REUNITED))
    dog = store.get_dog(a)
    assert (dog.name, dog.notes, dog.status) == ("Bella", "n", DogStatus.REUNITED)
    with pytest.raises(InvalidInputError), store.write() as con:
        store.update_dog(con, a, DogDetails(tag="b"))
    with pytest.raises(NotFoundError), store.write() as con:
        store.update_dog(con, 999, DogDetails(name="x"))


def test_deleting_a_dog_cascades_to_photos_and_vectors(store):
    with store.write() as con:
        store.ensure_space(con, SPACE)
        dog = store.insert_dog(con, DogDetails(tag="A"))
        store.insert_photos(con, dog, [_photo(1, np.ones(4))], "space-a")
    with store.write() as con:
        removed = store.delete_dog(con, dog)
    assert len(removed) == 1
    assert store.counts() == {"dogs": 0, "photos": 0}
    assert store.vector_count("space-a") == 0
    assert store.check() == []


def test_list_filters_text_status_and_pages_newest_first(store):
    with store.write() as con:
        for i, status in enumerate([DogStatus.LOST, DogStatus.FOUND, DogStatus.LOST]):
            store.insert_dog(con, DogDetails(tag=f"T{i}", name="100%_dog" if i == 1 else None, status=status))
    assert [d.tag for d in store.list_dogs()] == ["T2", "T1", "T0"]
    assert [d.tag for d in store.list_dogs(statuses=[DogStatus.LOST])] == ["T2", "T0"]
    assert [d.tag for d in store.list_dogs(text="0%_")] == ["T1"]  # LIKE wildcards are literal
    assert [d.tag for d in store.list_dogs(limit=1, offset=1)] == ["T1"]


def test_filtered_photo_ids_by_status_date_and_excluded_dog(store):
    with store.write() as con:
        a = store.insert_dog(con, DogDetails(tag="A", status=DogStatus.LOST, date=dt.date(2026, 1, 5)))
        b = store.insert_dog(con, DogDetails(tag="B", status=DogStatus.FOUND, date=dt.date(2026, 2, 5)))
        (pa,) = store.insert_photos(con, a, [_photo(1)], None)
        (pb,) = store.insert_photos(con, b, [_photo(2)], None)
    assert store.filtered_photo_ids(None) is None
    assert store.filtered_photo_ids(SearchFilters(statuses=(DogStatus.LOST,))).tolist() == [pa]
    assert store.filtered_photo_ids(SearchFilters(date_from=dt.date(2026, 2, 1))).tolist() == [pb]
    assert store.filtered_photo_ids(SearchFilters(date_to=dt.date(2026, 1, 31))).tolist() == [pa]
    assert store.filtered_photo_ids(None, exclude_dog=a).tolist() == [pb]


def test_other_spaces_are_dropped(store):
    with store.write() as con:
        store.ensure_space(con, SPACE)
        store.ensure_space(con, {**SPACE, "space_id": "space-b"})
        dog = store.insert_dog(con, DogDetails(tag="A"))
        (pid,) = store.insert_photos(con, dog, [_photo(1, np.ones(4))], "space-a")
        store.put_vectors(con, "space-b", [(pid, np.zeros(4))])
    with store.write() as con:
        assert store.drop_other_spaces(con, "space-b") == 1
    assert [s["space_id"] for s in store.spaces()] == ["space-b"]


def test_readonly_store_refuses_writes(tmp_path):
    Store(tmp_path / "db.sqlite3", tmp_path / "photos").close()
    ro = Store(tmp_path / "db.sqlite3", tmp_path / "photos", readonly=True)
    with pytest.raises(RegistryError, match="read-only"), ro.write():
        pass
    ro.close()


def test_newer_schema_and_garbage_files_are_refused_clearly(tmp_path):
    s = Store(tmp_path / "db.sqlite3", tmp_path / "photos")
    with s.write() as con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    s.close()
    with pytest.raises(RegistryError, match="newer LostPet"):
        Store(tmp_path / "db.sqlite3", tmp_path / "photos")
    (tmp_path / "junk.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(RegistryError, match="cannot be opened"):
        Store(tmp_path / "junk.sqlite3", tmp_path / "photos")

"""Dog crops in the registry: register and search embed the dog, the box is stored with the photo,
re-embedding reuses it, a user can change it, and old databases migrate without losing anything.

A stub finder stands in for the dog finder (the real finders are tested in ``test_crop.py``): it
returns a fixed box, so every vector can be compared with the embedding of the crop it should be.
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from PIL import Image

from engine_helpers import drain
from photos import dog_image
from reid_engine.crop import Box
from reid_engine.errors import InvalidInputError
from reid_engine.models import Crop, DogDetails
from reid_engine.registry import Registry
from reid_engine.store import _migrate_0_to_1, Store

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SCENE = (240, 180)
DOG_BOX = (150, 90, 60, 60)  # x, y, w, h: the dog fills 8% of the scene


class StubFinder:
    """Finds the dog where :func:`scene` pasted it."""

    method = "stub"

    def __init__(self, box=DOG_BOX):
        self.box = box
        self.calls = 0

    def find(self, image: Image.Image, *, max_dogs: int = 4) -> list[Box]:
        self.calls += 1
        kx, ky = image.width / SCENE[0], image.height / SCENE[1]
        x, y, w, h = self.box
        return [Box(int(x * kx), int(y * ky), int(w * kx), int(h * ky), 0.9)][:max_dogs]


def scene(seed: int, path=None) -> Image.Image:
    """A small dog pasted into a larger plain scene."""
    dog, _ = dog_image(seed, (DOG_BOX[2], DOG_BOX[3]))
    canvas = Image.new("RGB", SCENE, (90 + seed * 20 % 100, 120, 80))
    canvas.paste(dog, DOG_BOX[:2])
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        canvas.save(path)
    return canvas


@pytest.fixture
def reg(tmp_path, tiny_embedder):
    registry = Registry.open(tmp_path / "data", tiny_embedder)
    registry.set_dog_finder(StubFinder())
    yield registry
    registry.close()


def _stored_vector(reg: Registry, photo_id: int) -> np.ndarray:
    ids, vectors = reg._store.vectors(reg.embedder.space_id, [photo_id])
    assert ids.tolist() == [photo_id]
    return vectors[0]


def test_register_embeds_the_dog_and_stores_the_box_with_the_photo(reg, tmp_path, tiny_embedder):
    path = tmp_path / "in" / "rex.png"
    whole = scene(1, path)
    dog = reg.register([path], DogDetails(tag="rex"))
    photo = dog.photos[0]
    assert photo.crop is not None and photo.crop.by == "auto"
    # The box is the finder's, grown by the margin, in fractions of the photo.
    l, t, r, b = photo.crop.pixels(whole.size)
    assert l <= DOG_BOX[0] and t <= DOG_BOX[1] and r >= DOG_BOX[0] + DOG_BOX[2] and b >= DOG_BOX[1] + DOG_BOX[3]
    assert photo.crop.area < 0.2
    # The vector is the crop's (of the photo as the model decodes it), not the whole frame's; the
    # stored file is the whole photo.
    expected = tiny_embedder.embed([photo.crop.apply(tiny_embedder.load_photo(path))])[0]
    np.testing.assert_allclose(_stored_vector(reg, photo.id), expected, atol=1e-5)
    assert Image.open(photo.path).size == whole.size
    assert reg.check_integrity() == []


def test_crop_none_embeds_the_whole_photo_and_no_finder_means_no_crop(reg, tmp_path, tiny_embedder):
    scene(2, tmp_path / "a.png")
    scene(3, tmp_path / "b.png")
    photo = reg.register([tmp_path / "a.png"], crop=None).photos[0]
    assert photo.crop is None
    whole = tiny_embedder.embed([tiny_embedder.load_photo(tmp_path / "a.png")])[0]
    np.testing.assert_allclose(_stored_vector(reg, photo.id), whole, atol=1e-5)
    reg.set_dog_finder(None)
    assert reg.register([tmp_path / "b.png"]).photos[0].crop is None
    assert reg.find_crop(tmp_path / "b.png") is None and reg.dog_candidates(tmp_path / "b.png") == []


def test_per_photo_choices_and_a_drawn_box(reg, tmp_path):
    paths = [tmp_path / f"p{i}.png" for i in range(3)]
    for i, p in enumerate(paths):
        scene(4 + i, p)
    drawn = Crop(0.1, 0.1, 0.6, 0.7, by="user")
    dog = reg.register(paths, crop=["auto", None, drawn])
    crops = [p.crop for p in dog.photos]
    assert crops[0].by == "auto" and crops[1] is None and crops[2] == drawn
    with pytest.raises(InvalidInputError, match="one crop per photo"):
        reg.register(paths, crop=["auto"])
    with pytest.raises(InvalidInputError, match="crop choice"):
        reg.add_photos(dog.id, [tmp_path / "p0.png"], crop="sometimes")  # type: ignore[arg-type]


def test_reembedding_reuses_the_stored_box_and_never_guesses_again(reg, tmp_path):
    paths = [tmp_path / f"d{i}.png" for i in range(3)]
    for i, p in enumerate(paths):
        scene(10 + i, p)
    dog = reg.register(paths, crop=["auto", None, Crop(0.0, 0.0, 0.5, 0.5, by="user")])
    before = {p.id: _stored_vector(reg, p.id) for p in dog.photos}
    reg.set_dog_finder(StubFinder(box=(0, 0, 40, 40)))  # a different guess now must not matter
    list(reg.reindex())
    for p in reg.get_dog(dog.id).photos:
        np.testing.assert_allclose(_stored_vector(reg, p.id), before[p.id], atol=1e-5)
    assert [p.crop for p in reg.get_dog(dog.id).photos] == [p.crop for p in dog.photos]
    assert reg.check_integrity() == []


def test_set_photo_crop_reembeds_updates_the_index_and_search(reg, tmp_path, tiny_embedder):
    path = tmp_path / "q.png"
    scene(20, path)
    photo = reg.register([path]).photos[0]
    updated = reg.set_photo_crop(photo.id, None)
    assert updated.crop is None
    whole = tiny_embedder.embed([tiny_embedder.load_photo(path)])[0]
    np.testing.assert_allclose(_stored_vector(reg, photo.id), whole, atol=1e-5)
    np.testing.assert_allclose(reg._index.reconstruct([photo.id])[0], whole, atol=2e-3)
    drawn = Crop(0.5, 0.4, 0.95, 0.95, by="user")
    assert reg.set_photo_crop(photo.id, drawn).crop == drawn
    assert reg.set_photo_crop(photo.id, "auto").crop.by == "auto"
    assert reg.check_integrity() == []


def test_search_crops_the_query_like_the_registered_photos(reg, tmp_path):
    for seed in range(5):
        scene(30 + seed, tmp_path / f"g{seed}.png")
        reg.register([tmp_path / f"g{seed}.png"], DogDetails(tag=f"dog{seed}"))
    query = tmp_path / "g2.png"  # the same photo: its cropped query vector equals the stored one
    found = reg.search([query], k=3)
    assert found[0].dog.tag == "dog2" and found[0].score > 0.999
    assert reg.find_crop(query) == reg.get_dog(found[0].dog.id).photos[0].crop
    candidates = reg.dog_candidates(query)
    assert len(candidates) == 1 and candidates[0] == reg.find_crop(query)
    whole = reg.search([query], k=3, crop=None)
    assert whole[0].score < found[0].score  # the whole frame is another picture than the crop


def test_guided_search_crops_the_region_with_the_query(reg, tmp_path):
    for seed in range(3):
        scene(40 + seed, tmp_path / f"g{seed}.png")
        reg.register([tmp_path / f"g{seed}.png"], DogDetails(tag=f"dog{seed}"))
    region = np.zeros((SCENE[1], SCENE[0]), np.float32)
    region[DOG_BOX[1] : DOG_BOX[1] + 30, DOG_BOX[0] : DOG_BOX[0] + 30] = 1.0
    found = reg.search([scene(41)], k=3, region=region)
    assert found[0].dog.tag == "dog1"


def test_import_crops_in_the_decoder_threads_and_can_be_told_not_to(reg, tmp_path):
    folder = tmp_path / "intake"
    for seed in range(4):
        scene(50 + seed, folder / f"dog{seed}.png")
    summary = drain(reg.import_folder(folder))[0]
    assert len(summary.imported) == 4
    assert all(p.crop is not None and p.crop.by == "auto" for d in reg.list_dogs() for p in d.photos)
    other = tmp_path / "intake2"
    scene(60, other / "whole.png")
    drain(reg.import_folder(other, crop=False))
    assert reg.find_dog("whole").photos[0].crop is None
    assert reg.check_integrity() == []


def test_a_failing_finder_never_stops_registering(reg, tmp_path):
    class Broken:
        method = "broken"

        def find(self, image, *, max_dogs=4):
            raise RuntimeError("onnxruntime exploded")

    reg.set_dog_finder(Broken())
    scene(70, tmp_path / "x.png")
    assert reg.register([tmp_path / "x.png"]).photos[0].crop is None


def test_crop_boxes_are_checked():
    with pytest.raises(InvalidInputError, match="between 0 and 1"):
        Crop(-0.1, 0, 0.5, 0.5)
    with pytest.raises(InvalidInputError, match="too small"):
        Crop(0.5, 0.5, 0.5, 0.9)
    with pytest.raises(InvalidInputError, match="origin"):
        Crop(0, 0, 1, 1, by="robot")
    c = Crop.from_pixels((10, 20, 110, 70), (200, 100), by="user")
    assert (c.left, c.top, c.right, c.bottom) == (0.05, 0.2, 0.55, 0.7)
    assert c.pixels((200, 100)) == (10, 20, 110, 70) and c.pixels((400, 200)) == (20, 40, 220, 140)
    assert "by hand" in c.describe() and "25%" in c.describe()


def test_a_version_1_database_migrates_and_keeps_its_photos_uncropped(tmp_path):
    db = tmp_path / "registry.sqlite3"
    con = sqlite3.connect(db, isolation_level=None)
    _migrate_0_to_1(con)
    con.execute("INSERT INTO meta VALUES ('schema_version', '1'), ('generation', '3')")
    con.execute("INSERT INTO dogs(tag, status, created_at, updated_at) VALUES ('old', 'in_shelter', "
                "'2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')")
    con.execute("INSERT INTO photos(dog_id, sha256, ext, original_name, width, height, added_at) VALUES "
                "(1, 'ab' || hex(randomblob(31)), '.jpg', 'old.jpg', 10, 10, '2026-01-01T00:00:00+00:00')")
    con.close()
    store = Store(db, tmp_path / "photos")
    try:
        assert store.schema_version() == 2
        (photo,) = store.all_photos()
        assert photo.original_name == "old.jpg" and photo.crop is None
    finally:
        store.close()


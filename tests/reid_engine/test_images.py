"""Tests for reid_engine.images: safe decoding, folder scans, thumbnails and model-input squares."""

from __future__ import annotations

import builtins
import hashlib
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from reid_engine import images
from reid_engine.errors import ImageLoadError, InvalidInputError
from reid_engine.images import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    fit_square,
    is_image_file,
    iter_image_files,
    load_image,
    load_image_bytes,
    make_thumbnail,
    photo_sha256,
)
from photos import (  # tests/ is on sys.path (tests/conftest.py)
    HOSTILE_PHOTO_SIZE,
    QUIETLY_SKIPPED,
    ROTATED_PHOTO,
    dog_image,
    make_dog_photo,
    make_hostile_corpus,
)

WHITE = np.array([255, 255, 255])

# The friendly reason every bad file of the corpus must give.
BAD_FILE_REASONS = {
    "truncated.jpg": images.REASON_DAMAGED,
    "truncated.png": images.REASON_DAMAGED,
    "empty.jpg": "the file is empty (0 bytes)",
    "notes_renamed.jpg": images.REASON_NOT_A_PHOTO,
    "document.jpg": images.REASON_NOT_A_PHOTO,
    "bomb.png": "the picture is too large (10,000 megapixels, limit 120)",
    "no_permission.jpg": "permission denied: LostPet cannot open this file",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, bool]]:
    folder = tmp_path_factory.mktemp("hostile corpus")
    return folder, make_hostile_corpus(folder)


def _corpus_names() -> list[str]:
    # The names are fixed; build once in a throwaway folder to parametrize by them.
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        names = sorted(make_hostile_corpus(tmp))
    return names


CORPUS_NAMES = _corpus_names()


# ---------------------------------------------------------------------------------------------
# The hostile corpus


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_every_corpus_file_loads_or_fails_with_a_friendly_reason(corpus, name):
    folder, expected = corpus
    path = folder / name
    if expected[name]:
        image = load_image(path)
        assert image.mode == "RGB"
        want = HOSTILE_PHOTO_SIZE[::-1] if name == ROTATED_PHOTO else HOSTILE_PHOTO_SIZE
        assert image.size == want
        assert np.asarray(image).std() > 10  # a picture, not a flat fill
    else:
        with pytest.raises(ImageLoadError) as caught:
            load_image(path)
        assert caught.value.reason == BAD_FILE_REASONS[name]
        assert Path(name).name in str(caught.value)
        assert caught.value.path == path


def test_bad_corpus_files_fail_the_same_way_from_memory(corpus):
    folder, expected = corpus
    for name, ok in expected.items():
        if ok or name == "no_permission.jpg":
            continue
        with pytest.raises(ImageLoadError) as caught:
            load_image_bytes((folder / name).read_bytes(), name)
        assert caught.value.reason == BAD_FILE_REASONS[name], name


def test_a_truncated_jpeg_fails_even_when_decoded_small(corpus):
    folder, _ = corpus
    assert not ImageFile.LOAD_TRUNCATED_IMAGES  # nobody switched the check off for the process
    with pytest.raises(ImageLoadError, match="incomplete or damaged"):
        load_image(folder / "truncated.jpg", min_side=8)


def test_a_folder_named_like_a_photo_is_refused(corpus):
    folder, _ = corpus
    with pytest.raises(ImageLoadError) as caught:
        load_image(folder / "folder_named_like_photo.jpg")
    assert caught.value.reason == "this is a folder, not a photo"


def test_missing_file(tmp_path):
    with pytest.raises(ImageLoadError) as caught:
        load_image(tmp_path / "Bella.jpg")
    assert caught.value.reason == "the file does not exist"
    assert str(caught.value) == "Cannot read photo Bella.jpg: the file does not exist"


def test_permission_denied_is_reported_even_as_root(tmp_path, monkeypatch):
    path = make_dog_photo(tmp_path / "locked.jpg", 1, (32, 24))

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(images, "open", refuse, raising=False)  # the module's own open()
    with pytest.raises(ImageLoadError) as caught:
        load_image(path)
    assert caught.value.reason == "permission denied: LostPet cannot open this file"
    monkeypatch.setattr(images, "sha256_file", refuse)
    with pytest.raises(ImageLoadError, match="permission denied"):
        photo_sha256(path)


def test_disk_errors_are_not_called_damage(tmp_path, monkeypatch):
    path = make_dog_photo(tmp_path / "usb.jpg", 1, (32, 24))
    real_open = builtins.open

    class FailingFile(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(images, "open", lambda *a, **k: io.BufferedReader(FailingFile()), raising=False)
    with pytest.raises(ImageLoadError) as caught:
        load_image(path)
    assert "Input/output error" in caught.value.reason
    assert "check the drive" in caught.value.reason
    monkeypatch.setattr(images, "open", real_open, raising=False)
    assert load_image(path).size == (32, 24)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_chmod_000_file_is_permission_denied(tmp_path):
    path = make_dog_photo(tmp_path / "locked.jpg", 1, (32, 24))
    path.chmod(0)
    with pytest.raises(ImageLoadError, match="permission denied"):
        load_image(path)


def test_pillow_formats_that_are_never_photos_are_not_decoded(tmp_path):
    xbm = b"#define im_width 8\n#define im_height 8\nstatic char im_bits[] = {\n" + b"0x00," * 8 + b"\n};\n"
    assert Image.open(io.BytesIO(xbm)).format == "XBM"  # Pillow alone would decode it
    (tmp_path / "cute.jpg").write_bytes(xbm)
    with pytest.raises(ImageLoadError) as caught:
        load_image(tmp_path / "cute.jpg")
    assert caught.value.reason == images.REASON_NOT_A_PHOTO


def test_too_large_uses_the_engine_limit_before_decoding(tmp_path, monkeypatch):
    path = make_dog_photo(tmp_path / "big.png", 1, (100, 50), "PNG")
    monkeypatch.setattr(images, "MAX_PIXELS", 4_000)
    with pytest.raises(ImageLoadError) as caught:
        load_image(path)
    assert caught.value.reason == "the picture is too large (0.005 megapixels, limit 0.004)"
    monkeypatch.setattr(images, "MAX_PIXELS", 5_000)
    assert load_image(path).size == (100, 50)


def test_max_pixels_is_above_common_phone_photos_and_below_pillow_hard_limit():
    assert 12_000 * 9_000 <= MAX_PIXELS  # 108 MP phone mode
    assert Image.MAX_IMAGE_PIXELS is None or MAX_PIXELS <= 2 * Image.MAX_IMAGE_PIXELS


def test_random_damage_never_escapes_as_a_pillow_error(tmp_path):
    rng = np.random.default_rng(0)
    encodings = []
    for fmt, mode in [("JPEG", "RGB"), ("PNG", "RGBA"), ("GIF", "P"), ("BMP", "RGB"), ("TIFF", "RGB"), ("WEBP", "RGB")]:
        encodings.append(make_dog_photo(tmp_path / f"x.{fmt.lower()}", 3, (40, 30), fmt, mode).read_bytes())
    outcomes = {"loaded": 0, "refused": 0}
    for data in encodings:
        for _ in range(12):
            damaged = bytearray(data)
            if rng.random() < 0.5:
                damaged = damaged[: int(rng.integers(1, len(damaged)))]
            else:
                for at in rng.integers(0, len(damaged), size=int(rng.integers(1, 8))):
                    damaged[at] = int(rng.integers(256))
            try:
                image = load_image_bytes(bytes(damaged), "damaged.bin", min_side=int(rng.integers(1, 40)))
            except ImageLoadError as exc:
                assert "damaged.bin" in str(exc)
                outcomes["refused"] += 1
            else:
                assert image.mode == "RGB"
                outcomes["loaded"] += 1
    assert outcomes["refused"] > 10


# ---------------------------------------------------------------------------------------------
# Modes, transparency, orientation


@pytest.mark.parametrize("name", ["palette_transparent.png", "la.png", "rgba.png", "animated.gif"])
def test_transparent_background_becomes_white(corpus, name, tmp_path):
    folder, _ = corpus
    if name == "animated.gif":  # the corpus GIF is opaque: make one whose first frame is not
        path = make_dog_photo(tmp_path / "t.gif", 6, HOSTILE_PHOTO_SIZE, "GIF", "P", transparent_background=True)
    else:
        path = folder / name
    pixels = np.asarray(load_image(path)).astype(int)
    seed = {"la.png": 7, "rgba.png": 8}.get(name, 6)  # as make_hostile_corpus draws them
    _, mask = dog_image(seed, HOSTILE_PHOTO_SIZE)
    background = np.asarray(mask) == 0
    assert (np.abs(pixels[background] - WHITE) <= 2).all()
    assert np.abs(pixels[~background] - WHITE).max() > 50  # the dog itself is still there


def test_grey16_png_keeps_its_tones(corpus):
    folder, _ = corpus
    pixels = np.asarray(load_image(folder / "grey16.png"))
    expected = np.asarray(dog_image(5, HOSTILE_PHOTO_SIZE)[0].convert("L")).astype(float)
    assert pixels.min() < 40 and pixels.max() > 180 and pixels.std() > 20
    got = pixels[..., 0].astype(float)
    assert np.corrcoef(got.ravel(), expected.ravel())[0, 1] > 0.99
    assert np.abs(got - expected).mean() < 20  # 16-bit 1000..62200 maps close to the 8-bit source


@pytest.mark.parametrize(
    ("array", "low", "high"),
    [
        (np.linspace(0, 4095, 64 * 48).reshape(48, 64).astype(np.uint16), 0, 255),  # 12-bit sensor data
        (np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16), 0, 255),
        (np.linspace(0.0, 1.0, 64 * 48).reshape(48, 64).astype(np.float32), 0, 255),
        (np.linspace(-3.0, 9.0, 64 * 48).reshape(48, 64).astype(np.float32), 0, 255),
        (np.linspace(-70_000, 70_000, 64 * 48).reshape(48, 64).astype(np.int32), 0, 255),
    ],
    ids=["12-bit", "16-bit", "float-unit", "float-any", "int32-signed"],
)
def test_high_bit_depth_greyscale_is_scaled_not_clipped(tmp_path, array, low, high):
    path = tmp_path / "deep.tif"
    Image.fromarray(array).save(path, "TIFF")
    pixels = np.asarray(load_image(path))[..., 0].astype(int)
    assert pixels.min() <= low + 2 and pixels.max() >= high - 2
    assert (np.diff(pixels[:, 0]) >= 0).all()  # brightness order is kept


def test_cmyk_jpeg_colours_survive(tmp_path):
    cmyk = Image.new("CMYK", (48, 32), (0, 255, 255, 0))  # pure red, in CMYK
    cmyk.paste((0, 0, 0, 255), (24, 0, 48, 32))  # black right half
    cmyk.save(tmp_path / "print.jpg", "JPEG", quality=95)  # Adobe marker, inverted data
    assert Image.open(tmp_path / "print.jpg").info.get("adobe")
    pixels = np.asarray(load_image(tmp_path / "print.jpg")).astype(int)
    red, black = pixels[16, 6], pixels[16, 42]
    assert red[0] > 200 and red[1] < 60 and red[2] < 60
    assert black.max() < 60


def test_exif_orientation_6_is_turned_upright(tmp_path):
    stored = Image.new("RGB", (60, 40), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 15, 10))  # red mark at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view"
    stored.save(tmp_path / "phone.jpg", "JPEG", quality=95, exif=exif.tobytes())
    upright = load_image(tmp_path / "phone.jpg")
    assert upright.size == (40, 60)
    top_right = np.asarray(upright)[3, 36]
    assert top_right[0] > 200 and top_right[2] < 60  # the mark is now at the top-right
    small = load_image(tmp_path / "phone.jpg", min_side=10)
    assert small.height > small.width and small.width >= 10


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_broken_exif_does_not_cost_the_photo(tmp_path):
    image = dog_image(2, (64, 48))[0]
    image.save(tmp_path / "odd.jpg", "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff")
    assert load_image(tmp_path / "odd.jpg").size == (64, 48)


def test_animated_gif_gives_its_first_frame(corpus):
    folder, _ = corpus
    first = np.asarray(load_image(folder / "animated.gif")).astype(int)
    expected = np.asarray(dog_image(14, HOSTILE_PHOTO_SIZE)[0]).astype(int)
    other = np.asarray(dog_image(15, HOSTILE_PHOTO_SIZE)[0]).astype(int)
    assert np.abs(first - expected).mean() < np.abs(first - other).mean() / 2


# ---------------------------------------------------------------------------------------------
# Reduced decoding (min_side)


@pytest.fixture(scope="module")
def photos_400x300(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("400x300")
    return make_dog_photo(folder / "a.jpg", 1, (400, 300)), make_dog_photo(folder / "a.png", 1, (400, 300), "PNG")


def test_min_side_decodes_a_big_jpeg_small(tmp_path):
    path = tmp_path / "big.jpg"
    dog_image(1, (400, 300))[0].resize((1600, 1200), Image.Resampling.BILINEAR).save(path, quality=90)
    full = load_image(path)
    small = load_image(path, min_side=100)
    assert full.size == (1600, 1200)
    assert min(small.size) >= 100
    assert small.size == (200, 150)  # JPEG DCT scaling at 1/8 (a reduce after decoding gives 134 x 100)
    assert small.width * small.height * 16 <= full.width * full.height
    mean_full = np.asarray(full.resize(small.size, Image.Resampling.BOX)).astype(float)
    assert np.abs(np.asarray(small).astype(float) - mean_full).mean() < 8  # same picture


@pytest.mark.parametrize("min_side", [1, 50, 99, 100, 101, 299, 300, 1000])
def test_min_side_keeps_the_shorter_side_at_least_min_side(photos_400x300, min_side):
    for path in photos_400x300:
        image = load_image(path, min_side=min_side)
        assert min(image.size) >= min(min_side, 300), (path.name, image.size)
        assert min(image.size) < 2 * min_side or image.size == (400, 300), (path.name, image.size)
        if min(image.size) >= 20:  # tiny results cannot keep 4:3 exactly
            assert abs(image.width / image.height - 4 / 3) < 0.05


def test_min_side_reduces_other_formats_after_decoding(photos_400x300):
    _, png = photos_400x300
    assert load_image(png, min_side=50).size == (67, 50)  # reduce(6): ceil(400 / 6) x 300 / 6


@pytest.mark.parametrize("bad", [0, -5, 2.5])
def test_min_side_must_be_positive(tmp_path, bad):
    path = make_dog_photo(tmp_path / "a.jpg", 1, (40, 30))
    with pytest.raises(ValueError, match="min_side"):
        load_image(path, min_side=bad)


# ---------------------------------------------------------------------------------------------
# From memory, hashes


def test_load_image_bytes_matches_load_image(tmp_path):
    path = make_dog_photo(tmp_path / "a.png", 4, (64, 48), "PNG", "RGBA", exif_orientation=6)
    from_file = load_image(path)
    from_memory = load_image_bytes(path.read_bytes())
    assert from_memory.mode == "RGB" and from_memory.size == (48, 64)
    assert np.array_equal(np.asarray(from_file), np.asarray(from_memory))
    assert load_image_bytes(bytearray(path.read_bytes()), min_side=10).size == (12, 16)


def test_load_image_bytes_names_the_source_in_errors():
    with pytest.raises(ImageLoadError) as caught:
        load_image_bytes(b"")
    assert str(caught.value) == "Cannot read photo pasted image: the file is empty (0 bytes)"
    with pytest.raises(ImageLoadError, match="clipboard.png"):
        load_image_bytes(b"<html>not an image</html>", "clipboard.png")


def test_photo_sha256_hashes_the_file_bytes(tmp_path):
    path = make_dog_photo(tmp_path / "a.jpg", 1, (40, 30))
    assert photo_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ImageLoadError, match="does not exist"):
        photo_sha256(tmp_path / "gone.jpg")


# ---------------------------------------------------------------------------------------------
# Folder scans


def test_scan_offers_exactly_the_corpus_photos_sorted(corpus):
    folder, expected = corpus
    found = list(iter_image_files(folder))
    relative = [p.relative_to(folder).as_posix() for p in found]
    assert set(relative) == set(expected)
    assert not set(relative) & set(QUIETLY_SKIPPED)
    assert relative == sorted(relative, key=lambda name: [(part.casefold(), part) for part in name.split("/")])
    assert list(iter_image_files(folder)) == found  # deterministic


def test_scan_without_recursion_stays_in_the_folder(corpus):
    folder, expected = corpus
    top = {p.name for p in iter_image_files(folder, recursive=False)}
    assert top == {name for name in expected if "/" not in name}


def test_scan_survives_symlink_loops_and_reports_unlistable_folders(tmp_path, monkeypatch):
    make_dog_photo(tmp_path / "a" / "dog.jpg", 1, (16, 12))
    (tmp_path / "a" / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    found = list(iter_image_files(tmp_path))
    assert found == [tmp_path / "a" / "dog.jpg"]

    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "a":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(images.os, "scandir", scandir)
    errors = []
    assert list(iter_image_files(tmp_path, on_error=lambda p, e: errors.append(p))) == []
    assert errors == [tmp_path / "a"]


def test_scan_of_a_missing_folder_says_so(tmp_path):
    with pytest.raises(InvalidInputError, match="cannot be opened"):
        list(iter_image_files(tmp_path / "nope"))
    (tmp_path / "file.jpg").write_bytes(b"x")
    with pytest.raises(InvalidInputError, match="not a folder"):
        list(iter_image_files(tmp_path / "file.jpg"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("dog.jpg", True),
        ("DOG.JPEG", True),
        ("dir/photo 1 ñ.Png", True),
        ("x.webp", True),
        ("x.tiff", True),
        ("x.tif", True),
        ("x.bmp", True),
        ("x.gif", True),
        ("._dog.jpg", False),
        (".DS_Store", False),
        ("notes.txt", False),
        ("jpg", False),
        ("dog.jpg.txt", False),
        ("scan.pdf", False),
    ],
)
def test_is_image_file_by_name(name, expected):
    assert is_image_file(name) is expected


def test_image_extensions_are_lower_case_with_a_dot():
    assert {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"} <= IMAGE_EXTENSIONS
    assert all(ext.startswith(".") and ext == ext.lower() for ext in IMAGE_EXTENSIONS)
    assert (".heic" in IMAGE_EXTENSIONS) == images._HEIF_AVAILABLE


def test_heic_without_support_says_what_to_do(tmp_path):
    if images._HEIF_AVAILABLE:
        pytest.skip("pillow-heif is installed")
    (tmp_path / "IMG_0001.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(32))
    with pytest.raises(ImageLoadError, match="pillow-heif"):
        load_image(tmp_path / "IMG_0001.HEIC")


# ---------------------------------------------------------------------------------------------
# fit_square and thumbnails


@pytest.mark.parametrize("mode", ["pad", "center-crop", "squash"])
@pytest.mark.parametrize("shape", [(300, 100), (100, 300), (64, 64), (7, 3), (1, 1)])
def test_fit_square_is_always_size_by_size_rgb(mode, shape):
    result = fit_square(Image.new("RGBA", shape, (10, 200, 30, 255)), 224, mode)
    assert result.mode == "RGB" and result.size == (224, 224)


def test_fit_square_pad_keeps_the_whole_picture_and_pads_with_fill():
    wide = Image.new("RGB", (400, 200), (255, 0, 0))
    square = np.asarray(fit_square(wide, 100, "pad", fill=(124, 116, 104))).astype(int)
    assert (square[:20] == [124, 116, 104]).all() and (square[-20:] == [124, 116, 104]).all()
    assert (np.abs(square[30:70] - [255, 0, 0]) <= 1).all()


def test_fit_square_center_crop_keeps_the_middle():
    wide = Image.new("RGB", (300, 100), (0, 0, 255))
    wide.paste((0, 255, 0), (100, 0, 200, 100))  # the middle third is green
    square = np.asarray(fit_square(wide, 50, "center-crop")).astype(int)
    assert (np.abs(square[:, 2:-2] - [0, 255, 0]) <= 2).all()  # bicubic may bleed 1-2 px at the cut


def test_fit_square_squash_keeps_everything_stretched():
    wide = Image.new("RGB", (300, 100), (0, 0, 255))
    wide.paste((255, 0, 0), (0, 0, 150, 100))
    square = np.asarray(fit_square(wide, 50, "squash")).astype(int)
    assert square[25, 5, 0] > 240 and square[25, 45, 2] > 240


def test_fit_square_rejects_unknown_modes_and_sizes():
    with pytest.raises(ValueError, match="mode"):
        fit_square(Image.new("RGB", (4, 4)), 8, "stretch")
    with pytest.raises(ValueError, match="size"):
        fit_square(Image.new("RGB", (4, 4)), 0)


@pytest.mark.parametrize(("shape", "want"), [((400, 300), (128, 96)), ((300, 400), (96, 128)), ((40, 10), (128, 32)), ((1000, 1), (128, 1))])
def test_make_thumbnail_fits_the_longest_side(shape, want):
    thumb = make_thumbnail(Image.new("LA", shape, (90, 128)), 128)
    assert thumb.mode == "RGB" and thumb.size == want


# ---------------------------------------------------------------------------------------------
# The generated photos themselves


def test_generated_dogs_differ_by_seed_and_repeat_by_variant():
    def coat_histogram(seed, variant):
        image, mask = dog_image(seed, (160, 120), variant=variant)
        dog_pixels = np.asarray(image)[np.asarray(mask) > 0] // 32
        codes = dog_pixels[:, 0] * 64 + dog_pixels[:, 1] * 8 + dog_pixels[:, 2]
        return np.bincount(codes, minlength=512) / len(codes)

    assert np.array_equal(np.asarray(dog_image(3)[0]), np.asarray(dog_image(3)[0]))
    for seed in range(6):
        same_dog = np.abs(coat_histogram(seed, 0) - coat_histogram(seed, 1)).sum()
        other_dog = np.abs(coat_histogram(seed, 0) - coat_histogram(seed + 1, 0)).sum()
        assert same_dog < other_dog / 2, seed
        whole = np.asarray(dog_image(seed, (160, 120))[0]).astype(int)
        neighbour = np.asarray(dog_image(seed + 1, (160, 120))[0]).astype(int)
        assert np.abs(whole - neighbour).mean() > 15, seed

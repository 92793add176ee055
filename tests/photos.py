"""Generated photos for tests: synthetic dogs, and a folder of every kind of file a shelter sends us.

Nothing here reads real photos or the network, and everything is deterministic.

* :func:`dog_image` / :func:`make_dog_photo` draw a "dog": a textured body, head, ears, legs and tail
  whose coat colours and markings come from ``seed`` (the identity), on a background, pose, scale and
  lighting that come from ``variant`` (the photo). Two seeds look clearly different; two variants of
  one seed are the same dog photographed twice.
* :func:`make_hostile_corpus` fills a folder with good photos in awkward encodings, broken files and
  files that are not photos at all, and says which ones should load.

Import as ``from photos import make_dog_photo``: ``tests/conftest.py`` puts ``tests/`` on ``sys.path``.
"""

from __future__ import annotations

import colorsys
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, features

__all__ = [
    "HOSTILE_PHOTO_SIZE",
    "QUIETLY_SKIPPED",
    "ROTATED_PHOTO",
    "dog_image",
    "make_dog_photo",
    "make_hostile_corpus",
]

HOSTILE_PHOTO_SIZE = (96, 64)
"""(width, height) of every good photo in the hostile corpus once loaded, except :data:`ROTATED_PHOTO`."""

ROTATED_PHOTO = "exif_rotate_90.jpg"
"""Stored as 96 x 64 with EXIF orientation 6, so it must load as 64 x 96."""

QUIETLY_SKIPPED = (
    "notes.txt",
    "scan.pdf",
    ".DS_Store",
    "._dog.jpg",
    ".hidden/dog.jpg",
    "@eaDir/dog.jpg/SYNOPHOTO_THUMB_M.jpg",
    "__MACOSX/._dog.jpg",
    "folder_named_like_photo.jpg",
)
"""Entries the corpus also creates, that a folder scan must not offer as photos (posix relative paths).

``folder_named_like_photo.jpg`` is an empty folder: loading it directly must fail ("a folder").
"""


def dog_image(
    seed: int, size: tuple[int, int] = (320, 240), *, variant: int = 0
) -> tuple[Image.Image, Image.Image]:
    """Draw a synthetic dog.

    Args:
        seed: The dog's identity: coat colours, marking pattern, ear shape, proportions.
        size: (width, height) in pixels.
        variant: The photo of that dog: background, position, scale, facing side and lighting.
            Variant 0 of every seed shares one background, so only the dog tells seeds apart.

    Returns:
        ``(image, mask)``: the RGB picture and an ``L`` mask, 255 on the dog and 0 on the background.
    """
    width, height = size
    dog = np.random.default_rng([7919, seed])
    photo = np.random.default_rng([104729, variant])
    grain = np.random.default_rng([15485863, seed, variant])

    # Identity: two well-separated coat colours and one of three marking patterns.
    hue = dog.random()
    base = np.array(colorsys.hsv_to_rgb(hue, dog.uniform(0.35, 0.85), dog.uniform(0.45, 0.95)))
    second = np.array(
        colorsys.hsv_to_rgb((hue + dog.uniform(0.3, 0.7)) % 1.0, dog.uniform(0.2, 0.9), dog.uniform(0.1, 1.0))
    )
    pattern = int(dog.integers(3))
    spots = dog.uniform([-0.28, -0.15, 0.03], [0.28, 0.15, 0.09], size=(int(dog.integers(4, 9)), 3))
    stripe_freq, stripe_phase = dog.uniform(18, 40), dog.uniform(0, 2 * np.pi)
    body_rx, body_ry = dog.uniform(0.26, 0.34), dog.uniform(0.13, 0.19)
    head_r = dog.uniform(0.08, 0.11)
    ear_long = dog.random() < 0.5
    leg_len = dog.uniform(0.12, 0.2)

    # Photo: where the dog stands, how big, which way it faces, the light and the background.
    scale = min(width, height * 4 / 3) * photo.uniform(0.85, 1.05)
    cx = width * (0.5 + photo.uniform(-0.06, 0.06))
    cy = height * (0.45 + photo.uniform(-0.05, 0.05))
    facing = 1.0 if photo.random() < 0.5 else -1.0
    light = photo.uniform(0.85, 1.1)
    sky = np.array(colorsys.hsv_to_rgb(photo.uniform(0.05, 0.6), photo.uniform(0.05, 0.3), photo.uniform(0.6, 0.9)))
    ground = np.array(colorsys.hsv_to_rgb(photo.uniform(0.15, 0.35), photo.uniform(0.2, 0.5), photo.uniform(0.3, 0.6)))

    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u = (x - cx) / scale * facing  # dog coordinates: +u towards the head, +v downwards
    v = (y - cy) / scale

    def ellipse(u0, v0, ru, rv):
        return ((u - u0) / ru) ** 2 + ((v - v0) / rv) ** 2 <= 1.0

    head_u, head_v = body_rx * 0.95, -body_ry * 0.9
    body = ellipse(0, 0, body_rx, body_ry)
    head = ellipse(head_u, head_v, head_r, head_r * 0.9) | ellipse(head_u + head_r * 0.9, head_v + head_r * 0.3, head_r * 0.6, head_r * 0.4)
    ear_rv = head_r * (0.9 if ear_long else 0.5)
    ear_v = head_v + (head_r * 0.3 if ear_long else -head_r * 1.0)
    ears = ellipse(head_u - head_r * 0.35, ear_v, head_r * 0.3, ear_rv)
    legs = np.zeros_like(body)
    for leg_u in (-body_rx * 0.7, -body_rx * 0.45, body_rx * 0.45, body_rx * 0.7):
        legs |= (np.abs(u - leg_u) <= 0.025) & (v >= 0) & (v <= body_ry + leg_len)
    tail = ellipse(-body_rx * 1.05, -body_ry * 0.8, 0.1, 0.025)
    mask = body | head | ears | legs | tail

    if pattern == 0:  # spots
        marking = np.zeros_like(body)
        for su, sv, sr in spots:
            marking |= ellipse(su, sv, sr, sr)
    elif pattern == 1:  # saddle and dark ears
        marking = ellipse(-0.02, -body_ry * 0.55, body_rx * 0.75, body_ry * 0.6) | ears
    else:  # brindle stripes
        marking = np.sin(u * stripe_freq + v * 6 + stripe_phase) > 0.3
    marking &= mask

    sky_to_ground = np.clip((y / height - 0.35) * 3, 0, 1)[..., None]
    background = sky * (1 - sky_to_ground) + ground * sky_to_ground
    background = background + grain.normal(0, 0.03, (height, width, 1))
    coat = np.where(marking[..., None], second, base)
    fur = 1 + 0.12 * np.sin(u * 90 + np.sin(v * 40) * 2) + grain.normal(0, 0.05, (height, width, 1))[..., 0]
    shade = np.clip(1.15 - 0.6 * (v + 0.2), 0.6, 1.2)  # lit from above
    coat = coat * (fur * shade)[..., None] * light
    eye = ellipse(head_u + head_r * 0.25, head_v - head_r * 0.2, 0.012, 0.012)
    coat[eye] = 0.05
    picture = np.where(mask[..., None], coat, background)
    rgb = np.clip(picture * 255 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(rgb, "RGB"), Image.fromarray(mask.astype(np.uint8) * 255, "L")


def make_dog_photo(
    path: str | os.PathLike[str],
    seed: int,
    size: tuple[int, int] = (320, 240),
    fmt: str = "JPEG",
    mode: str = "RGB",
    *,
    variant: int = 0,
    exif_orientation: int | None = None,
    transparent_background: bool = False,
    **save_options,
) -> Path:
    """Write a synthetic dog photo (see :func:`dog_image`) to ``path``; parent folders are created.

    Args:
        path: Destination file.
        seed: The dog's identity.
        size: (width, height) as stored in the file.
        fmt: Pillow format name: ``"JPEG"``, ``"PNG"``, ``"BMP"``, ``"GIF"``, ``"WEBP"``, ``"TIFF"``...
        mode: Pillow mode to store: ``RGB``, ``L``, ``1``, ``P``, ``CMYK``, ``RGBA`` and ``LA``
            (the background is transparent), ``I;16`` (16-bit grey using most of 0-65535),
            ``I`` (32-bit) or ``F`` (floats in [0, 1]).
        variant: Which photo of that dog (see :func:`dog_image`).
        exif_orientation: When given, an EXIF Orientation tag with this value (6: view rotated 90°
            clockwise). The pixels are stored unrotated.
        transparent_background: For ``P``: mark the background colour transparent (tRNS / GIF).
        **save_options: Passed to ``Image.save`` (``quality`` defaults to 90, ``progressive``...).

    Returns:
        ``Path(path)``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb, mask = dog_image(seed, size, variant=variant)
    image = _as_mode(rgb, mask, mode, transparent_background)
    if fmt.upper() in {"JPEG", "WEBP"}:
        save_options.setdefault("quality", 90)
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        save_options["exif"] = exif.tobytes()
    image.save(path, format=fmt, **save_options)
    return path


def _as_mode(rgb: Image.Image, mask: Image.Image, mode: str, transparent_background: bool) -> Image.Image:
    grey = np.asarray(rgb.convert("L"), dtype=np.float64)
    if mode in {"RGBA", "LA"}:
        image = rgb.convert(mode[:-1])
        image.putalpha(mask)
        return image
    if mode == "P":
        image = rgb.quantize(colors=63, dither=Image.Dither.NONE)
        if transparent_background:  # index 63: black, transparent, on every background pixel
            indices = np.asarray(image).copy()
            indices[np.asarray(mask) == 0] = 63
            palette = image.getpalette()[: 63 * 3]
            palette += [0] * (64 * 3 - len(palette))
            image = Image.fromarray(indices, "P")
            image.putpalette(palette)
            image.info["transparency"] = 63
        return image
    if mode == "I;16":
        return Image.fromarray((grey * 240 + 1000).astype(np.uint16))  # 1000 .. 62200
    if mode == "I":
        return Image.fromarray((grey * 1000 - 50_000).astype(np.int32))
    if mode == "F":
        return Image.fromarray((grey / 255.0).astype(np.float32))
    return rgb.convert(mode)


def make_hostile_corpus(folder: str | os.PathLike[str]) -> dict[str, bool]:
    """Fill ``folder`` with every kind of file a shelter's photo folder holds.

    Good photos (all :data:`HOSTILE_PHOTO_SIZE` once loaded, except :data:`ROTATED_PHOTO`): plain,
    progressive, upper-case extension, greyscale, CMYK (Adobe-inverted, as Pillow and Photoshop write
    it), 16-bit grey PNG, animated GIF, palette PNG with a transparent background, LA and RGBA PNGs,
    1-bit BMP, TIFF, WebP (where Pillow has it), EXIF orientation 6, and one in
    ``Hündin Bella/photo 1 ñ.jpg``.

    Bad files: a truncated JPEG and PNG, a zero-byte .jpg, a text file and a PDF renamed .jpg, a
    decompression bomb (a 200-byte PNG declaring 100000 x 100000 pixels) and, when not running as
    root on POSIX (root reads anything), a ``chmod 000`` photo.

    Also created, but to be skipped by a folder scan: :data:`QUIETLY_SKIPPED`.

    Returns:
        ``{posix path relative to folder: True if it should load}``, one entry per file that a
        folder scan should offer, and no others.
    """
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    size = HOSTILE_PHOTO_SIZE
    expected: dict[str, bool] = {}

    def photo(name: str, fmt: str = "JPEG", mode: str = "RGB", seed: int = 0, **kw) -> Path:
        expected[name] = True
        return make_dog_photo(root / name, seed, size, fmt, mode, **kw)

    def broken(name: str, data: bytes) -> None:
        expected[name] = False
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)

    photo("dog.jpg")
    photo("UPPER CASE.JPG", seed=1)
    photo("progressive.jpg", seed=2, progressive=True)
    photo("grey.jpg", mode="L", seed=3)
    photo("cmyk.jpg", mode="CMYK", seed=4)
    photo("grey16.png", "PNG", "I;16", seed=5)
    photo("palette_transparent.png", "PNG", "P", seed=6, transparent_background=True)
    photo("la.png", "PNG", "LA", seed=7)
    photo("rgba.png", "PNG", "RGBA", seed=8)
    photo("bw_1bit.bmp", "BMP", "1", seed=9)
    photo("photo.tif", "TIFF", seed=10, compression="tiff_lzw")
    photo(ROTATED_PHOTO, seed=11, exif_orientation=6)
    photo("Hündin Bella/photo 1 ñ.jpg", seed=12)
    if features.check("webp"):
        photo("photo.webp", "WEBP", seed=13)

    frames = [dog_image(seed, size)[0].quantize(colors=32) for seed in (14, 15, 16)]
    frames[0].save(root / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    expected["animated.gif"] = True

    whole_jpeg = make_dog_photo(root / "truncated.jpg", 17, size, "JPEG").read_bytes()
    broken("truncated.jpg", whole_jpeg[: len(whole_jpeg) * 6 // 10])
    whole_png = make_dog_photo(root / "truncated.png", 18, size, "PNG").read_bytes()
    broken("truncated.png", whole_png[: len(whole_png) * 6 // 10])
    broken("empty.jpg", b"")
    broken("notes_renamed.jpg", "Bella: friendly, vaccinated 2024-03-01.\n".encode())
    broken("document.jpg", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n")
    broken("bomb.png", _png_declaring(100_000, 100_000))
    if os.name == "posix" and os.geteuid() != 0:
        locked = make_dog_photo(root / "no_permission.jpg", 19, size)
        locked.chmod(0)
        expected["no_permission.jpg"] = False

    (root / "notes.txt").write_text("Bella came in on Monday.\n", encoding="utf-8")
    (root / "scan.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(64))
    (root / "._dog.jpg").write_bytes(b"\x00\x05\x16\x07" + bytes(60))  # AppleDouble resource fork
    make_dog_photo(root / ".hidden/dog.jpg", 20, size)
    make_dog_photo(root / "@eaDir/dog.jpg/SYNOPHOTO_THUMB_M.jpg", 0, size)
    (root / "__MACOSX").mkdir(exist_ok=True)
    (root / "__MACOSX/._dog.jpg").write_bytes(b"\x00\x05\x16\x07" + bytes(60))
    (root / "folder_named_like_photo.jpg").mkdir(exist_ok=True)
    return expected


def _png_declaring(width: int, height: int) -> bytes:
    """A valid-looking, tiny PNG whose header claims ``width`` x ``height`` RGB pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(1 + 3 * 64)))
        + chunk(b"IEND", b"")
    )

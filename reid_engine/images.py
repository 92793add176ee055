"""Safe photo decoding: any file a shelter might have -> an RGB ``PIL.Image``, or an ``ImageLoadError``.

This is the first arrow of the pipeline (photo file -> safe decode -> preprocess -> embed). Every
photo the engine sees goes through :func:`load_image` or :func:`load_image_bytes`, which

* apply the EXIF orientation, so a phone photo taken upright is upright;
* return the first frame of animated files;
* convert every mode to RGB properly: transparency is composited on white, CMYK JPEGs (including
  Adobe's inverted ones) become RGB, 16-bit and floating-point greyscale is scaled to 8 bits;
* refuse decompression bombs before decoding them (see :data:`MAX_PIXELS`);
* decode only as much as needed when the caller says how small the result may be (``min_side``);
* turn every failure into :class:`~reid_engine.errors.ImageLoadError` with a reason written for the
  person at the shelter's desk. No Pillow or ``OSError`` exception escapes.

Folder scans use :func:`iter_image_files`; :func:`fit_square` and :func:`make_thumbnail` prepare
decoded photos for the model and the screen.
"""

from __future__ import annotations

import functools
import io
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError, features

from reid_engine.errors import ImageLoadError, InvalidInputError
from reid_engine.fileio import sha256_file

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "REASON_DAMAGED",
    "REASON_EMPTY",
    "REASON_FOLDER",
    "REASON_MISSING",
    "REASON_NOT_A_PHOTO",
    "REASON_PERMISSION",
    "fit_square",
    "is_image_file",
    "iter_image_files",
    "load_image",
    "load_image_bytes",
    "make_thumbnail",
    "photo_sha256",
]

try:  # iPhone photos. Optional: without pillow-heif, .heic files are not offered to the importer.
    import pillow_heif

    pillow_heif.register_heif_opener()
    _HEIF_AVAILABLE = True
except Exception:  # ImportError, or a broken native library: treat both as "not installed"
    _HEIF_AVAILABLE = False

_AVIF_AVAILABLE = bool(features.check("avif"))

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
    | ({".heic", ".heif"} if _HEIF_AVAILABLE else set())
    | ({".avif"} if _AVIF_AVAILABLE else set())
)
"""Lower-case extensions (with the dot) that folder scans treat as photos."""

MAX_PIXELS: int = 120_000_000
"""Largest picture, in pixels as declared by the file header, that the engine will decode.

Why 120 million: ordinary phone and camera photos are 12-50 MP, and the largest a shelter is likely
to meet are 108 MP phone modes (12000 x 9000) and 100 MP medium-format cameras, so those still load.
Past that, one fully decoded RGB copy costs more than 360 MB and decoding and converting it makes a
few copies more, which is how a tiny crafted file (a "decompression bomb") exhausts a shelter laptop's
memory. The check reads only the header, so such a file is refused before any pixel is decoded.
Pillow itself warns above ~89 MP and refuses above ~179 MP; this limit sits between the two and is
checked here whatever Pillow's global setting is.
"""

# Only real photo formats. Pillow can open ~40 formats; some are never photos (XBM is a C source
# file, EPS is handed to Ghostscript), so a document renamed to .jpg must not reach those decoders.
# MPO (multi-picture JPEG from some cameras) is opened by the JPEG plugin.
_PHOTO_FORMATS_WANTED = ("JPEG", "PNG", "BMP", "DIB", "GIF", "WEBP", "TIFF", "HEIF", "AVIF")


@functools.cache
def _photo_formats() -> tuple[str, ...]:
    """The wanted formats this Pillow build can open (asking loads every plugin, so only on first use)."""
    Image.init()
    return tuple(name for name in _PHOTO_FORMATS_WANTED if name in Image.OPEN)


# Folders that hold copies or system files, never the shelter's own photos: NAS thumbnails
# (Synology's @eaDir holds a JPEG thumbnail of every photo), macOS zip leftovers, Windows bins.
_SKIPPED_FOLDERS = frozenset({"@eaDir", "__MACOSX", "$RECYCLE.BIN", "System Volume Information"})

_WHITE = (255, 255, 255)
_RESIZE_REDUCING_GAP = 3.0  # Pillow: with a gap of 3 the result is indistinguishable from a full resample
_FIT_MODES = ("pad", "center-crop", "squash")

# Reasons shown to the user (``ImageLoadError.reason``).
REASON_MISSING = "the file does not exist"
REASON_EMPTY = "the file is empty (0 bytes)"
REASON_NOT_A_PHOTO = "this is not a photo LostPet can read (is it a PDF or a document?)"
REASON_DAMAGED = "the file is incomplete or damaged (it may have been cut off while copying)"
REASON_PERMISSION = "permission denied: LostPet cannot open this file"
REASON_FOLDER = "this is a folder, not a photo"
REASON_NOT_A_FILE = "this is not a regular file (it is a device, pipe or socket)"
REASON_NO_MEMORY = "there is not enough memory to open this picture; close other programs and try again"
REASON_HEIC = (
    "this is an iPhone HEIC photo and HEIC support is not installed; install pillow-heif, or "
    "export the photo as JPEG"
)


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """Say whether a folder scan should offer ``path`` as a photo, by its name alone.

    Hidden files (``.DS_Store``, macOS ``._photo.jpg`` companions) are never photos. No disk access.

    Args:
        path: A file path or name.

    Returns:
        True when the extension, in any case, is in :data:`IMAGE_EXTENSIONS`.
    """
    name = Path(path).name
    return not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS


def iter_image_files(
    folder: str | os.PathLike[str],
    recursive: bool = True,
    *,
    on_error: Callable[[Path, OSError], None] | None = None,
) -> Iterator[Path]:
    """Yield the photo files in ``folder``, in a deterministic sorted order.

    Entries are sorted by name (case-insensitively, ties by exact name) in each folder and folders are
    entered where they sort, so the order is the same on every run and every platform. Hidden files
    and folders (name starting with a dot, or the Windows hidden attribute), NAS thumbnail folders
    (``@eaDir``), ``__MACOSX`` and recycle bins are skipped, as is anything that is not a regular file.
    Symbolic links are followed; a link back to a folder already visited is not entered twice.

    Args:
        folder: The folder to scan.
        recursive: Also scan sub-folders.
        on_error: Called with ``(path, error)`` for a sub-folder that cannot be listed; the scan then
            carries on. Without it such folders are skipped silently.

    Yields:
        Paths of files for which :func:`is_image_file` is true.

    Raises:
        InvalidInputError: ``folder`` does not exist, is not a folder, or cannot be listed.
    """
    root = Path(folder)
    try:
        root_stat = root.stat()
    except OSError as exc:
        raise InvalidInputError(
            f"The folder {root} cannot be opened ({_describe_os_error(exc)}). Check the path and try again."
        ) from exc
    if not stat.S_ISDIR(root_stat.st_mode):
        raise InvalidInputError(f"{root} is not a folder. Choose the folder that holds the photos.")
    try:
        first_entries = _sorted_entries(root)
    except OSError as exc:
        raise InvalidInputError(
            f"The folder {root} cannot be read ({_describe_os_error(exc)}). Check its permissions."
        ) from exc
    visited = {(root_stat.st_dev, root_stat.st_ino)}
    yield from _walk(first_entries, recursive, visited, on_error)


def _sorted_entries(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as it:
        return sorted(it, key=lambda e: (e.name.casefold(), e.name))


def _walk(
    entries: list[os.DirEntry[str]],
    recursive: bool,
    visited: set[tuple[int, int]],
    on_error: Callable[[Path, OSError], None] | None,
) -> Iterator[Path]:
    for entry in entries:
        if entry.name.startswith(".") or _has_hidden_attribute(entry):
            continue
        try:
            is_dir = entry.is_dir()
            is_file = not is_dir and entry.is_file()
        except OSError:  # a dangling link or a vanished entry: nothing to offer
            continue
        if is_dir:
            if not recursive or entry.name in _SKIPPED_FOLDERS:
                continue
            try:
                st = entry.stat()
                key = (st.st_dev, st.st_ino)
                if key in visited:
                    continue
                visited.add(key)
                sub_entries = _sorted_entries(Path(entry.path))
            except OSError as exc:
                if on_error is not None:
                    on_error(Path(entry.path), exc)
                continue
            yield from _walk(sub_entries, recursive, visited, on_error)
        elif is_file and is_image_file(entry.name):
            yield Path(entry.path)


def _has_hidden_attribute(entry: os.DirEntry[str]) -> bool:
    hidden_flag = getattr(stat, "FILE_ATTRIBUTE_HIDDEN", 0)
    if not hidden_flag:
        return False
    try:
        return bool(getattr(entry.stat(follow_symlinks=False), "st_file_attributes", 0) & hidden_flag)
    except OSError:
        return False


def load_image(path: str | os.PathLike[str], *, min_side: int | None = None) -> Image.Image:
    """Decode a photo file into an upright RGB image.

    Args:
        path: The photo file.
        min_side: When given, the caller needs no more than this many pixels on the shorter side, so
            JPEGs are decoded at 1/2, 1/4 or 1/8 scale (DCT scaling) and other formats are reduced
            by an integer factor after decoding. The shorter side of the result is still at least
            ``min_side`` (or the original size, if that is smaller). Use it for the model, not for
            showing the photo.

    Returns:
        A fully loaded RGB image, not tied to the file.

    Raises:
        ImageLoadError: The file is missing, empty, a folder, unreadable, not a photo, damaged or
            truncated, or too large (see :data:`MAX_PIXELS`). ``reason`` says which, in plain words.
        ValueError: ``min_side`` is not a positive integer.
    """
    _check_min_side(min_side)
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise ImageLoadError(path, _describe_os_error(exc)) from exc
    if stat.S_ISDIR(st.st_mode):
        raise ImageLoadError(path, REASON_FOLDER)
    if not stat.S_ISREG(st.st_mode):  # opening a FIFO would block forever
        raise ImageLoadError(path, REASON_NOT_A_FILE)
    if st.st_size == 0:
        raise ImageLoadError(path, REASON_EMPTY)
    try:
        fp = open(path, "rb")  # noqa: SIM115 -- closed below; we open it so errors are ours to name
    except OSError as exc:
        raise ImageLoadError(path, _describe_os_error(exc)) from exc
    with fp:
        return _decode(fp, path, min_side)


def load_image_bytes(
    data: bytes | bytearray | memoryview, name: str = "pasted image", *, min_side: int | None = None
) -> Image.Image:
    """Decode a photo held in memory (a clipboard paste, a download) exactly as :func:`load_image` does.

    Args:
        data: The encoded photo (JPEG, PNG, ... bytes).
        name: What to call it in error messages.
        min_side: See :func:`load_image`.

    Returns:
        A fully loaded, upright RGB image.

    Raises:
        ImageLoadError: As :func:`load_image`; its ``path`` is ``Path(name)``.
        ValueError: ``min_side`` is not a positive integer.
    """
    _check_min_side(min_side)
    if len(data) == 0:
        raise ImageLoadError(name, REASON_EMPTY)
    return _decode(io.BytesIO(bytes(data)), Path(name), min_side)


def photo_sha256(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of a photo file's bytes (its identity for de-duplication).

    Raises:
        ImageLoadError: The file cannot be read.
    """
    path = Path(path)
    try:
        return sha256_file(path)
    except OSError as exc:
        raise ImageLoadError(path, _describe_os_error(exc)) from exc


def make_thumbnail(image: Image.Image, size: int) -> Image.Image:
    """Return an RGB copy of ``image`` whose longest side is exactly ``size`` pixels.

    The aspect ratio is kept (the shorter side is rounded, and at least 1 pixel). Smaller images are
    enlarged, so thumbnails in a grid all have the same longest side.

    Raises:
        ValueError: ``size`` is smaller than 1, or the image mode cannot be converted to RGB.
    """
    _check_size(size)
    image = _to_rgb(image)
    return _resize(image, _fit_longest_side(image.size, size))


def fit_square(
    image: Image.Image,
    size: int,
    mode: str = "pad",
    fill: tuple[int, int, int] = (124, 116, 104),
) -> Image.Image:
    """Make a ``size`` x ``size`` RGB image for a model input.

    Args:
        image: Any PIL image (converted to RGB first, transparency on white).
        size: Side of the square, in pixels.
        mode: ``"pad"``: fit the longer side to ``size`` and pad the rest with ``fill``, so the whole
            dog stays in view undistorted. ``"center-crop"``: fit the shorter side and crop the middle
            square. ``"squash"``: resize to the square, ignoring the aspect ratio.
        fill: Padding colour; the default is the ImageNet mean, which normalises to zero.

    Returns:
        A new RGB image of exactly ``size`` x ``size``.

    Raises:
        ValueError: Unknown ``mode`` or ``size`` smaller than 1.
    """
    _check_size(size)
    if mode not in _FIT_MODES:
        raise ValueError(f"fit_square mode must be one of {', '.join(_FIT_MODES)}; got {mode!r}")
    image = _to_rgb(image)
    width, height = image.size
    if mode == "squash":
        return _resize(image, (size, size))
    if mode == "center-crop":
        side = min(width, height)
        left, top = (width - side) / 2, (height - side) / 2
        return _resize(image, (size, size), box=(left, top, left + side, top + side))
    inner = _fit_longest_side(image.size, size)
    canvas = Image.new("RGB", (size, size), tuple(fill))
    canvas.paste(_resize(image, inner), ((size - inner[0]) // 2, (size - inner[1]) // 2))
    return canvas


# --------------------------------------------------------------------------------------------------
# Decoding


def _decode(fp: IO[bytes], path: Path, min_side: int | None) -> Image.Image:
    """Open, check, decode and normalise; every failure becomes an ImageLoadError for ``path``."""
    try:
        with Image.open(fp, formats=_photo_formats()) as opened:
            return _decode_opened(opened, path, min_side)
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own, stricter-than-ours limit hit in open()
        raise ImageLoadError(path, _too_large_reason(_pixels_from_bomb_message(str(exc)))) from exc
    except UnidentifiedImageError as exc:
        reason = REASON_HEIC if path.suffix.lower() in {".heic", ".heif"} else REASON_NOT_A_PHOTO
        raise ImageLoadError(path, reason) from exc
    except MemoryError as exc:
        raise ImageLoadError(path, REASON_NO_MEMORY) from exc
    except OSError as exc:
        # Decoder errors carry no errno ("image file is truncated", "broken data stream");
        # errors from the disk itself do (EIO from a failing USB stick, a vanished network share).
        reason = _describe_os_error(exc) if exc.errno is not None else REASON_DAMAGED
        raise ImageLoadError(path, reason) from exc
    except Exception as exc:
        # Pillow's plugins raise SyntaxError, ValueError, EOFError, struct.error, zlib.error,
        # IndexError ... on malformed data. They all mean the same thing to the user.
        raise ImageLoadError(path, REASON_DAMAGED) from exc


def _decode_opened(image: Image.Image, path: Path, min_side: int | None) -> Image.Image:
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageLoadError(path, REASON_DAMAGED)
    if width * height > MAX_PIXELS:
        raise ImageLoadError(path, _too_large_reason(width * height))
    if min_side is not None:
        # JPEG: decode at 1/2, 1/4 or 1/8 scale, the smallest that keeps both sides >= min_side.
        # Every other format inherits a draft() that does nothing.
        image.draft("RGB", (min_side, min_side))
    image.load()  # the full decode; raises on a truncated file (LOAD_TRUNCATED_IMAGES stays off)
    image = _exif_transpose(image)
    image = _to_rgb(image)
    if min_side is not None:
        factor = min(image.size) // min_side
        if factor >= 2:
            image = image.reduce(factor)  # box filter; sides become ceil(side / factor) >= min_side
    return image


def _exif_transpose(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        # A malformed EXIF block must not cost the shelter a good photo: keep it as stored.
        return image.copy()


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB: alpha on white, CMYK via Pillow, high bit depths scaled."""
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    has_alpha = mode in {"RGBA", "RGBa", "LA", "La", "PA"} or "transparency" in image.info
    if has_alpha and mode in {"RGBA", "RGBa", "LA", "La", "PA", "P", "L", "RGB", "1"}:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, _WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if mode.startswith("I") or mode == "F":
        return _scale_to_8bit(image).convert("RGB")
    try:
        return image.convert("RGB")  # 1, L, P, CMYK (Adobe-inverted data is un-inverted on open), YCbCr, ...
    except ValueError as exc:
        raise ValueError(f"cannot convert a {mode} image to RGB") from exc


def _scale_to_8bit(image: Image.Image) -> Image.Image:
    """Map a 16/32-bit integer or float greyscale image to 8 bits without clipping it to white.

    Integer data is scaled by its bit depth, taken as the smallest depth that holds the largest
    value (a 16-bit photo uses the full 0-65535 range; 10-, 12- and 14-bit sensor data stored in
    16-bit files would otherwise come out nearly black). Signed integer data, and float data outside
    [0, 1], is stretched from its minimum to its maximum; float data in [0, 1] is scaled by 255.
    """
    array = np.asarray(image)
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        values = array[finite]
        if values.size == 0:
            return Image.new("L", image.size, 0)
        low, high = float(values.min()), float(values.max())
        if low >= 0.0 and high <= 1.0:
            low, high = 0.0, 1.0
        scaled = np.where(finite, array, low).astype(np.float64)
    else:
        scaled = array.astype(np.float64)
        low, high = float(scaled.min()), float(scaled.max())
        if low >= 0:  # unsigned data: scale by bit depth; signed data has none, so stretch it
            low, high = 0.0, float(2 ** max(8, int(high).bit_length()) - 1)
    span = high - low if high > low else 1.0
    out = np.clip((scaled - low) * (255.0 / span) + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(out)


def _fit_longest_side(image_size: tuple[int, int], size: int) -> tuple[int, int]:
    width, height = image_size
    if width >= height:
        return size, max(1, round(height * size / width))
    return max(1, round(width * size / height)), size


def _resize(image: Image.Image, size: tuple[int, int], box=None) -> Image.Image:
    return image.resize(
        size, Image.Resampling.BICUBIC, box=box, reducing_gap=_RESIZE_REDUCING_GAP
    )


# --------------------------------------------------------------------------------------------------
# Messages and argument checks


def _describe_os_error(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return REASON_MISSING
    if isinstance(exc, PermissionError):
        return REASON_PERMISSION
    if isinstance(exc, IsADirectoryError):
        return REASON_FOLDER
    detail = exc.strerror or str(exc) or type(exc).__name__
    return f"the disk or network drive reported an error ({detail}); check the drive and try again"


def _too_large_reason(pixels: int | None) -> str:
    limit = _format_megapixels(MAX_PIXELS)
    if pixels is None:
        return f"the picture is too large (limit {limit} megapixels)"
    return f"the picture is too large ({_format_megapixels(pixels)} megapixels, limit {limit})"


def _format_megapixels(pixels: int) -> str:
    megapixels = pixels / 1_000_000
    return f"{megapixels:,.0f}" if megapixels >= 10 else f"{megapixels:.2g}"


def _pixels_from_bomb_message(message: str) -> int | None:
    match = re.search(r"\((\d+) pixels\)", message)
    return int(match.group(1)) if match else None


def _check_min_side(min_side: int | None) -> None:
    if min_side is not None and (not isinstance(min_side, int) or min_side < 1):
        raise ValueError(f"min_side must be a positive integer or None; got {min_side!r}")


def _check_size(size: int) -> None:
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer; got {size!r}")

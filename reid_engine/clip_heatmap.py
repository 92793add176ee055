"""Text -> where in the photo: CLIP relevance heatmaps for prompts like "red collar".

Staff often know what tells a dog apart ("white patch on the chest", "torn left ear"). A
:class:`ClipHeatmapper` turns such a prompt into an (H, W) map in [0, 1] over a photo; region-guided
search (:mod:`reid_engine.guided`) then weights the DINOv2 patch tokens under it.

Method: dense patch-text similarity without training, ClearCLIP-style (Lan et al., ECCV 2024; the
MaskCLIP / CLIP-Surgery family). CLIP's last block is what blurs its patch tokens into global
features: its residual path and feed-forward network carry the class-token context, and its
query-key attention mixes every patch with every other. So the last block is replaced, for the
heatmap only, by query-query self-attention with neither residual nor FFN; the result goes through
CLIP's own ``ln_post`` and projection, which puts each patch in the text embedding space. Each
patch is then scored by a softmax over the prompt and a few contrast prompts ("dog fur",
"background", "grass", ...) at CLIP's logit scale, which removes the similarity every patch shares
with every text (the "redundant features" of CLIP Surgery) and gives a sharp, calibrated map in
[0, 1]. Why not gradients (Grad-CAM, Chefer relevance): they need a backward pass per prompt, are
noisier on ViTs, and give relevance to the global prediction rather than per-patch matches.
The photo is letterboxed (:class:`~reid_engine.heatmap.SquareLayout`) at 448 px with bicubically
resampled position embeddings, so a ViT-B/16 gives a 28x28 grid instead of 14x14.

Weights, like DINOv2's: a file the user names, else the local Hugging Face cache of the
model's pretrained tag (where open_clip itself downloads to), else a download only when asked
(``allow_download=True``, with progress). Where none is found :class:`ClipUnavailableError` says so,
and :func:`clip_status` lets the app disable the prompt box with the reason instead of failing.

Quality caveat: the method is built and tested on the real open_clip code with random-init models
(no CLIP weights could be obtained where it was written), so its sharpness on real weights is as
reported for ClearCLIP, not measured here.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from .errors import InvalidInputError, WeightsError
from .heatmap import SquareLayout

if TYPE_CHECKING:
    import torch

    from .settings import Settings

__all__ = [
    "DEFAULT_MODEL",
    "DOG_PROMPT",
    "ClipHeatmapper",
    "ClipUnavailableError",
    "clip_status",
    "find_clip_weights",
    "load_clip_or_none",
    "normalise_prompt",
]

DEFAULT_MODEL = "ViT-B-16"

# The pretrained tag used for each model when the user names no file. OpenAI's ViT-B/16 is the model
# the dense-CLIP papers (MaskCLIP, CLIP Surgery, ClearCLIP, SCLIP) report on.
DEFAULT_TAGS = {"ViT-B-16": "openai", "ViT-B-32": "openai", "ViT-L-14": "openai"}

# Where open_clip fetches those tags (from open_clip.pretrained), so that the status check needs
# neither torch nor open_clip imported. Other models are looked up in open_clip itself.
_KNOWN_SOURCES = {
    ("ViT-B-16", "openai"): ("timm/vit_base_patch16_clip_224.openai", "ViT-B-16.pt", True),
    ("ViT-B-32", "openai"): ("timm/vit_base_patch32_clip_224.openai", "ViT-B-32.pt", True),
    ("ViT-L-14", "openai"): ("timm/vit_large_patch14_clip_224.openai", "ViT-L-14.pt", True),
}
_HF_FILENAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")

CLIP_HOW_TO_GET = (
    "Download them once where LostPet offers it (about 600 MB for ViT-B-16; needs internet), or "
    "choose an open_clip checkpoint file in Settings. Search without a text prompt works as usual."
)

DOG_PROMPT = "a photo of a dog"

# Contrast prompts a patch must beat to count as the prompt. For markings the dog itself is a
# contrast (a collar must win over "dog fur"); for finding the dog it is not.
MARKING_CONTRAST = ("a dog", "dog fur", "background", "the floor", "a wall", "grass", "a person")
BACKGROUND_CONTRAST = ("background", "the floor", "a wall", "grass", "a person", "a cage", "the sky")

_TEMPLATES = ("a photo of a {}.", "a close-up photo of the {}.", "a cropped photo of a {}.", "{}")
_MAX_PROMPT_CHARS = 200
DEFAULT_RESOLUTION = 448


class ClipUnavailableError(WeightsError):
    """No CLIP weights can be used: text guidance is off, everything else keeps working.

    Attributes:
        source: ``"clip"``.
        reason: What is missing and how to get it.
    """

    def __init__(self, reason: str):
        super().__init__("clip", reason)


@dataclass(frozen=True)
class ClipWeights:
    """A CLIP checkpoint found on disk (or downloaded).

    Attributes:
        model_name: open_clip architecture name (``"ViT-B-16"``).
        tag: Pretrained tag (``"openai"``), or ``"file"`` for a user-named file.
        path: The checkpoint file.
        quick_gelu: Whether the checkpoint was trained with QuickGELU (OpenAI's models were).
    """

    model_name: str
    tag: str
    path: Path
    quick_gelu: bool


# ------------------------------------------------------------------------------------ status


def clip_status(settings: Settings | None = None) -> tuple[bool, str]:
    """Whether text guidance can be offered now, and a sentence for the user either way.

    Looks only at local files (the named checkpoint, the Hugging Face cache);
    never the network, and imports neither torch nor open_clip.

    Returns:
        ``(True, "CLIP ViT-B-16 (openai) is ready.")`` or ``(False, "why, and how to fix it")``.
    """
    import importlib.util

    model_name = (settings.clip_model if settings else None) or DEFAULT_MODEL
    weights_file = settings.clip_weights if settings else None
    if importlib.util.find_spec("open_clip") is None:
        return False, "Text search is off: open_clip is not installed (pip install open_clip_torch)."
    try:
        found = find_clip_weights(model_name, weights_file)
    except ClipUnavailableError as exc:
        return False, f"Text search is off: {exc.reason}"
    what = f"{found.path.name}" if found.tag == "file" else f"{found.model_name} ({found.tag})"
    return True, f"Text search uses CLIP {what}."


def load_clip_or_none(settings: Settings | None = None, **kwargs: Any) -> tuple[ClipHeatmapper | None, str]:
    """Load CLIP for text guidance if its weights are here: ``(heatmapper, "")`` or ``(None, why)``.

    Never raises for missing or unusable weights: callers carry on without text guidance and show
    the reason. ``kwargs`` go to :meth:`ClipHeatmapper.load` (``device``, ``resolution``).
    """
    model_name = (settings.clip_model if settings else None) or DEFAULT_MODEL
    weights_file = settings.clip_weights if settings else None
    try:
        return ClipHeatmapper.load(model_name, weights_file, **kwargs), ""
    except (WeightsError, ImportError) as exc:
        return None, getattr(exc, "reason", str(exc))


def find_clip_weights(
    model_name: str = DEFAULT_MODEL, weights_file: str | os.PathLike[str] | None = None, tag: str | None = None
) -> ClipWeights:
    """Locate CLIP weights on this computer without downloading anything.

    Raises:
        ClipUnavailableError: The named file is missing, or nothing is cached; the message says how
            to get weights.
    """
    if weights_file:
        path = Path(weights_file).expanduser()
        if not path.is_file():
            raise ClipUnavailableError(
                f"the CLIP weights file {path} does not exist. Choose an open_clip checkpoint for "
                f"{model_name} in Settings, or clear the setting to use the download."
            )
        return ClipWeights(model_name, "file", path, model_name.endswith("quickgelu"))
    tag = tag or DEFAULT_TAGS.get(model_name, "")
    repo_id, _, quick_gelu = _pretrained_source(model_name, tag)
    for filename in _HF_FILENAMES:
        cached = _hf_cached(repo_id, filename)
        if cached is not None:
            return ClipWeights(model_name, tag, cached, quick_gelu)
    raise ClipUnavailableError(f"no CLIP weights for {model_name} ({tag}) on this computer. {CLIP_HOW_TO_GET}")


def _pretrained_source(model_name: str, tag: str) -> tuple[str, str, bool]:
    """(HF repo id, legacy URL file name, quick_gelu) of an open_clip pretrained tag."""
    if (model_name, tag) in _KNOWN_SOURCES:
        return _KNOWN_SOURCES[(model_name, tag)]
    try:
        import open_clip
    except ImportError as exc:
        raise ClipUnavailableError("open_clip is not installed (pip install open_clip_torch).") from exc
    cfg = open_clip.get_pretrained_cfg(model_name, tag) if tag else {}
    if not cfg or not cfg.get("hf_hub"):
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(model_name)) or "none"
        raise ClipUnavailableError(
            f"open_clip has no downloadable weights {model_name!r} / {tag!r} (tags for this model: "
            f"{tags}). Choose another model or a checkpoint file in Settings."
        )
    repo_id = cfg["hf_hub"].rstrip("/")
    url = cfg.get("url", "")
    return repo_id, url.rsplit("/", 1)[-1] if url else "", bool(cfg.get("quick_gelu", False))


def _hf_cached(repo_id: str, filename: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(repo_id, filename)
    except Exception:  # noqa: BLE001 - a malformed cache folder means "not cached"
        return None
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def download_clip_weights(
    model_name: str = DEFAULT_MODEL, tag: str | None = None, progress: Callable[[int, int], None] | None = None
) -> ClipWeights:
    """Download CLIP weights into the Hugging Face cache (needs internet).

    Args:
        progress: ``progress(done_bytes, total_bytes)`` while downloading.

    Raises:
        ClipUnavailableError: The download failed; the message says what to do instead.
    """
    tag = tag or DEFAULT_TAGS.get(model_name, "")
    repo_id, _, quick_gelu = _pretrained_source(model_name, tag)
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise ClipUnavailableError("huggingface_hub is not installed, so nothing can be downloaded.") from exc
    extra = {"tqdm_class": _progress_tqdm(progress)} if progress is not None else {}
    last: Exception | None = None
    for filename in _HF_FILENAMES:
        try:
            path = Path(hf_hub_download(repo_id, filename, **extra))
            return ClipWeights(model_name, tag, path, quick_gelu)
        except Exception as exc:  # noqa: BLE001 - offline, HTTP, missing file: try the next name
            last = exc
    raise ClipUnavailableError(
        f"downloading CLIP {model_name} ({tag}) from {repo_id} failed ({type(last).__name__}: {last}). "
        "Without internet, copy an open_clip checkpoint to this computer and choose it in Settings."
    )


def _progress_tqdm(progress: Callable[[int, int], None]):
    from tqdm.auto import tqdm

    class _Reporting(tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            out = super().update(n)
            progress(int(self.n), int(self.total or 0))
            return out

    return _Reporting


# ------------------------------------------------------------------------------------ prompts


def normalise_prompt(prompt: str) -> str:
    """Trim and collapse whitespace; refuse empty or absurdly long prompts.

    Raises:
        InvalidInputError: Empty prompt, or longer than 200 characters.
    """
    if not isinstance(prompt, str):
        raise InvalidInputError("A text prompt must be text, for example 'red collar'.")
    text = re.sub(r"\s+", " ", prompt).strip()
    if not text:
        raise InvalidInputError("The text prompt is empty: describe what to look for, e.g. 'red collar'.")
    if len(text) > _MAX_PROMPT_CHARS:
        raise InvalidInputError(
            f"The text prompt is {len(text)} characters long; keep it under {_MAX_PROMPT_CHARS} "
            "(a few words such as 'white patch on the chest' work best)."
        )
    return text


def _templated(prompt: str) -> list[str]:
    # A prompt that is already a sentence about a photo is used as it is.
    if prompt.lower().startswith(("a photo", "a picture", "an image", "a close-up")):
        return [prompt]
    return [t.format(prompt) for t in _TEMPLATES]


# ------------------------------------------------------------------------------------ the model


class ClipHeatmapper:
    """Prompt -> relevance heatmap over a photo, with a cache of text embeddings.

    Build with :meth:`load` (real weights) or :meth:`random_init` (tests). Thread-safe.

    Attributes:
        model_name: open_clip architecture.
        source: ``"file"``, the pretrained tag, or ``"random-init"``.
        resolution: Side of the square input in pixels (position embeddings resampled to fit).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        model_name: str,
        source: str,
        resolution: int = DEFAULT_RESOLUTION,
        device: str = "cpu",
        text_cache_size: int = 256,
    ):
        import torch

        visual = getattr(model, "visual", None)
        blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
        if visual is None or blocks is None or not hasattr(blocks[-1], "attn") or not hasattr(
            blocks[-1].attn, "in_proj_weight"
        ) or getattr(visual, "attn_pool", None) is not None:
            raise InvalidInputError(
                f"CLIP model {model_name} is not a plain open_clip ViT; text heatmaps support "
                "ViT-B-16, ViT-B-32, ViT-L-14 and other models of that family."
            )
        self.model = model.eval().to(device)
        self.tokenizer = tokenizer
        self.model_name = model_name
        self.source = source
        self.device = device
        patch = visual.patch_size[0] if isinstance(visual.patch_size, tuple) else int(visual.patch_size)
        self.patch_size = int(patch)
        self.resolution = max(self.patch_size, int(resolution) // self.patch_size * self.patch_size)
        cfg = getattr(visual, "preprocess_cfg", None) or {}
        from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

        self.mean = tuple(float(v) for v in cfg.get("mean", OPENAI_DATASET_MEAN))
        self.std = tuple(float(v) for v in cfg.get("std", OPENAI_DATASET_STD))
        self.logit_scale = float(model.logit_scale.exp().clamp(max=100).item())
        self._text_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._text_cache_size = text_cache_size
        self._lock = threading.RLock()
        self._pos_cache: dict[tuple[int, int], torch.Tensor] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(
        cls,
        model_name: str = DEFAULT_MODEL,
        weights_file: str | os.PathLike[str] | None = None,
        *,
        tag: str | None = None,
        allow_download: bool = False,
        progress: Callable[[int, int], None] | None = None,
        device: str = "auto",
        resolution: int = DEFAULT_RESOLUTION,
    ) -> ClipHeatmapper:
        """Find CLIP weights (see module doc) and build the heatmapper.

        Raises:
            ClipUnavailableError: No weights on disk (and no download allowed or possible), or the
                file does not fit ``model_name``.
        """
        try:
            found = find_clip_weights(model_name, weights_file, tag)
        except ClipUnavailableError:
            if weights_file or not allow_download:
                raise
            found = download_clip_weights(model_name, tag, progress)
        import open_clip

        from .embedder import pick_device

        dev = pick_device(device)
        try:
            model = open_clip.create_model(
                model_name, pretrained=str(found.path), force_quick_gelu=found.quick_gelu, device=dev
            )
        except Exception as exc:  # noqa: BLE001 - open_clip raises RuntimeError/KeyError/ValueError
            raise ClipUnavailableError(
                f"{found.path} cannot be loaded as CLIP {model_name} ({type(exc).__name__}: {exc}). "
                "Check that the file and the model name in Settings belong together."
            ) from exc
        tokenizer = open_clip.get_tokenizer(model_name)
        return cls(model, tokenizer, model_name=model_name, source=found.tag, resolution=resolution, device=dev)

    @classmethod
    def random_init(
        cls,
        model_name: str = "ViT-B-32",
        *,
        model_cfg: dict[str, Any] | None = None,
        seed: int = 0,
        resolution: int | None = None,
    ) -> ClipHeatmapper:
        """A randomly initialised CLIP for tests (the real open_clip model code, no weights).

        Args:
            model_name: A built-in open_clip architecture.
            model_cfg: An open_clip model config dict (``embed_dim``, ``vision_cfg``, ``text_cfg``)
                to build instead, e.g. a tiny one; its tokenizer is open_clip's default.
            seed: Torch seed for the initial weights.
            resolution: Input side; default the model's own image size.
        """
        import open_clip
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if model_cfg is not None:
                model = open_clip.CLIP(**model_cfg)
                context = int(model_cfg.get("text_cfg", {}).get("context_length", 77))
                tokenizer = open_clip.tokenizer.SimpleTokenizer(context_length=context)
            else:
                model = open_clip.create_model(model_name, pretrained=None)
                tokenizer = open_clip.get_tokenizer(model_name)
        size = model.visual.image_size
        side = resolution or int(size[0] if isinstance(size, tuple) else size)
        return cls(model, tokenizer, model_name=model_name, source="random-init", resolution=side)

    # ------------------------------------------------------------------ text
    def text_embedding(self, prompt: str) -> np.ndarray:
        """The (D,) unit text embedding of a prompt (template-averaged), cached per prompt."""
        key = normalise_prompt(prompt).lower()
        with self._lock:
            hit = self._text_cache.get(key)
            if hit is not None:
                self._text_cache.move_to_end(key)
                return hit
        import torch

        with torch.inference_mode():
            tokens = self.tokenizer(_templated(normalise_prompt(prompt))).to(self.device)
            feats = self.model.encode_text(tokens, normalize=True).float()
            vec = torch.nn.functional.normalize(feats.mean(0), dim=-1).cpu().numpy()
        with self._lock:
            self._text_cache[key] = vec
            self._text_cache.move_to_end(key)
            while len(self._text_cache) > self._text_cache_size:
                self._text_cache.popitem(last=False)
        return vec

    @property
    def cached_prompts(self) -> tuple[str, ...]:
        """Prompts whose embeddings are cached, least recently used first."""
        with self._lock:
            return tuple(self._text_cache)

    # ------------------------------------------------------------------ image
    def dense_features(self, image: Image.Image) -> tuple[np.ndarray, SquareLayout]:
        """(gh, gw, D) unit patch features in the text space, and the photo's layout in the square."""
        import torch

        layout = SquareLayout.of(image.size, self.resolution, "pad")
        from .images import fit_square

        fill = tuple(int(round(255 * m)) for m in self.mean)
        square = fit_square(image.convert("RGB"), self.resolution, mode="pad", fill=fill)
        x = torch.from_numpy(np.asarray(square, np.float32).transpose(2, 0, 1).copy() / 255.0)[None]
        x = (x - torch.tensor(self.mean).view(1, 3, 1, 1)) / torch.tensor(self.std).view(1, 3, 1, 1)
        with self._lock, torch.inference_mode():
            feats = self._clear_forward(x.to(self.device))
        return feats[0].cpu().numpy(), layout

    def _clear_forward(self, x: torch.Tensor) -> torch.Tensor:
        h, (gh, gw) = self._before_last_block(x)
        return self._clear_last_block(h, gh, gw)

    def _before_last_block(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """CLIP's own forward up to the last block: (B, 1 + gh*gw, width) tokens and the grid."""
        import torch

        v = self.model.visual
        dtype = v.conv1.weight.dtype
        patches = v.conv1(x.to(dtype))  # (B, width, gh, gw)
        b, _, gh, gw = patches.shape
        tokens = patches.flatten(2).transpose(1, 2)
        cls_tok = v.class_embedding.to(dtype).view(1, 1, -1).expand(b, -1, -1)
        h = torch.cat([cls_tok, tokens], dim=1) + self._pos_embed(gh, gw).to(dtype)
        h = v.ln_pre(h)
        transformer = v.transformer
        if not getattr(transformer, "batch_first", True):
            h = h.transpose(0, 1)
        for block in transformer.resblocks[:-1]:
            h = block(h)
        if not getattr(transformer, "batch_first", True):
            h = h.transpose(0, 1)
        return h, (gh, gw)

    def _clear_last_block(self, h: torch.Tensor, gh: int, gw: int) -> torch.Tensor:
        """The last block as query-query attention without residual or FFN -> unit text-space tokens."""
        import torch
        import torch.nn.functional as F

        v = self.model.visual
        b = h.shape[0]
        last = v.transformer.resblocks[-1]
        y = last.ln_1(h)
        attn = last.attn
        q, _, val = F.linear(y, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
        heads = attn.num_heads
        head_dim = q.shape[-1] // heads
        q = q.reshape(b, -1, heads, head_dim).transpose(1, 2)
        val = val.reshape(b, -1, heads, head_dim).transpose(1, 2)
        # Query-query attention; no residual, no FFN (ClearCLIP).
        weights = torch.softmax((q @ q.transpose(-2, -1)) * head_dim**-0.5, dim=-1)
        out = (weights @ val).transpose(1, 2).reshape(b, -1, heads * head_dim)
        out = attn.out_proj(out)
        out = v.ln_post(out)
        if v.proj is not None:
            out = out @ v.proj
        out = F.normalize(out[:, 1:].float(), dim=-1)
        return out.reshape(b, gh, gw, -1)

    def _pos_embed(self, gh: int, gw: int) -> torch.Tensor:
        """The position embedding resampled (bicubic) to a gh x gw grid, class position kept."""
        import torch
        import torch.nn.functional as F

        key = (gh, gw)
        if key not in self._pos_cache:
            pos = self.model.visual.positional_embedding.detach().float()
            cls_pos, grid_pos = pos[:1], pos[1:]
            n = int(round(grid_pos.shape[0] ** 0.5))
            if (n, n) != (gh, gw):
                grid_pos = grid_pos.reshape(1, n, n, -1).permute(0, 3, 1, 2)
                grid_pos = F.interpolate(grid_pos, size=(gh, gw), mode="bicubic", align_corners=False)
                grid_pos = grid_pos.permute(0, 2, 3, 1).reshape(gh * gw, -1)
            self._pos_cache[key] = torch.cat([cls_pos, grid_pos], dim=0)
        return self._pos_cache[key]

    # ------------------------------------------------------------------ heatmaps
    def grid_heatmap(
        self, image: Image.Image, prompt: str, contrast: Sequence[str] = MARKING_CONTRAST
    ) -> tuple[np.ndarray, SquareLayout]:
        """The prompt's relevance per patch (gh, gw) in [0, 1], and the photo's layout."""
        feats, layout = self.dense_features(image)
        return self._relevance(feats, prompt, contrast), layout

    def heatmap(self, image: Image.Image, prompt: str, contrast: Sequence[str] = MARKING_CONTRAST) -> np.ndarray:
        """An (H, W) float32 map in [0, 1] of where ``prompt`` shows in ``image``.

        Args:
            image: The photo.
            prompt: A few words ("red collar", "white patch on the chest").
            contrast: Prompts each patch is weighed against (those equal to ``prompt`` are dropped).

        Raises:
            InvalidInputError: Empty or overlong prompt.
        """
        grid, layout = self.grid_heatmap(image, prompt, contrast)
        return np.clip(layout.grid_to_image(grid), 0.0, 1.0).astype(np.float32)

    def _relevance(self, feats: np.ndarray, prompt: str, contrast: Sequence[str]) -> np.ndarray:
        target = self.text_embedding(prompt)
        key = normalise_prompt(prompt).lower()
        others = [c for c in contrast if normalise_prompt(c).lower() != key]
        texts = np.stack([target] + [self.text_embedding(c) for c in others])  # (1 + k, D)
        logits = self.logit_scale * (feats @ texts.T)  # (gh, gw, 1 + k)
        logits -= logits.max(axis=-1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=-1, keepdims=True)
        return probs[..., 0].astype(np.float32)

    def describe(self) -> dict[str, Any]:
        return {"model": self.model_name, "source": self.source, "resolution": self.resolution,
                "device": self.device, "cached_prompts": len(self._text_cache)}

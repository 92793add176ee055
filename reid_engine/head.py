"""The re-ID head: a small learned map applied to the backbone's pooled vector.

The head is trained with dog identities on top of the frozen backbone (``lostpet-train head``) and
shipped in ``resources/reid_head.safetensors``. It is only valid for the backbone weights and the
pooling it was trained on, so the file records both, and :func:`load_shipped_head` returns no head
when either differs: a vector space is never silently mixed with another.

The :class:`~reid_engine.embedder.Embedder` L2-normalises the pooled vector, applies the head, and
L2-normalises the result again. The head itself is plain torch and holds no state besides weights.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InvalidInputError, ReidError
from .fileio import atomic_write_bytes, atomic_write_text, sha256_file
from .paths import resources_dir

if TYPE_CHECKING:
    import torch

HEAD_FILENAME = "reid_head.safetensors"
FORMAT_VERSION = "1"
HEAD_KINDS = ("linear", "residual", "fused")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeadInfo:
    """What a head file says about itself (stored as safetensors metadata and a JSON sidecar).

    Attributes:
        backbone_sha256: sha256 of the backbone weights file the head was trained on.
        pooling: The embedder pooling it was trained on (``cls``, ``mean`` or ``cls+mean``).
        in_dim: Size of the pooled vector it takes.
        out_dim: Size of the vector it gives.
        kind: ``linear`` (``W x + b``), ``residual`` (``x + alpha (W x + b)``) or ``fused``
            (``[x, alpha * normalize(W x + b)]``: the backbone's own similarity plus the learned one).
        alpha: Weight of the learned part for ``residual`` and ``fused``.
        proj_dim: Output size of ``W``.
        loss: The training loss, with its settings.
        training_data: What it was trained on (and what was held out).
        created: ISO date of training.
        extra: Anything else worth keeping (figures, seed), as JSON text.
        likely_threshold, possible_threshold: Score bands calibrated on the held-out dogs with
            :func:`reid_engine.evaluation.calibrate_bands` (0: not calibrated). Scores with the
            head are spread differently from the backbone's, so the app's bands follow the head.
    """

    backbone_sha256: str
    pooling: str
    in_dim: int
    out_dim: int
    kind: str
    alpha: float
    proj_dim: int
    loss: str = ""
    training_data: str = ""
    created: str = ""
    extra: str = "{}"
    likely_threshold: float = 0.0
    possible_threshold: float = 0.0

    def to_metadata(self) -> dict[str, str]:
        meta = {k: str(v) for k, v in asdict(self).items()}
        meta["format_version"] = FORMAT_VERSION
        return meta

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> HeadInfo:
        try:
            return cls(
                backbone_sha256=meta["backbone_sha256"],
                pooling=meta["pooling"],
                in_dim=int(meta["in_dim"]),
                out_dim=int(meta["out_dim"]),
                kind=meta["kind"],
                alpha=float(meta["alpha"]),
                proj_dim=int(meta["proj_dim"]),
                loss=meta.get("loss", ""),
                training_data=meta.get("training_data", ""),
                created=meta.get("created", ""),
                extra=meta.get("extra", "{}"),
                likely_threshold=float(meta.get("likely_threshold", 0.0)),
                possible_threshold=float(meta.get("possible_threshold", 0.0)),
            )
        except (KeyError, ValueError) as exc:
            raise ReidError(f"The re-ID head's metadata is incomplete or damaged ({exc}).") from exc


def head_out_dim(kind: str, in_dim: int, proj_dim: int) -> int:
    """Size of the vector a head of ``kind`` gives."""
    if kind == "linear":
        return proj_dim
    if kind == "residual":
        return in_dim
    if kind == "fused":
        return in_dim + proj_dim
    raise InvalidInputError(f"Unknown head kind {kind!r}: choose one of {', '.join(HEAD_KINDS)}.")


def build_head(in_dim: int, proj_dim: int, kind: str = "linear", alpha: float = 1.0) -> torch.nn.Module:
    """A fresh head (see :class:`HeadInfo` for the kinds). ``residual`` needs ``proj_dim == in_dim``."""
    import torch
    import torch.nn.functional as F

    head_out_dim(kind, in_dim, proj_dim)
    if kind == "residual" and proj_dim != in_dim:
        raise InvalidInputError(f"A residual head maps {in_dim} -> {in_dim}; got proj_dim {proj_dim}.")

    class ReidHead(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kind = kind
            self.alpha = float(alpha)
            self.proj = torch.nn.Linear(in_dim, proj_dim)
            if kind == "residual":  # starts as the identity: training moves away only as needed
                torch.nn.init.zeros_(self.proj.weight)
                torch.nn.init.zeros_(self.proj.bias)

        def projection(self, x: torch.Tensor) -> torch.Tensor:
            """The learned part alone (what ``fused`` heads are trained on)."""
            return self.proj(x)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            z = self.proj(x)
            if self.kind == "linear":
                return z
            if self.kind == "residual":
                return x + self.alpha * z
            return torch.cat([F.normalize(x, dim=-1), self.alpha * F.normalize(z, dim=-1)], dim=-1)

        def extra_repr(self) -> str:
            return f"kind={self.kind}, alpha={self.alpha}"

    return ReidHead()


def save_head(path: str | Path, head: torch.nn.Module, info: HeadInfo) -> str:
    """Write ``head`` with ``info`` atomically (safetensors + JSON sidecar); returns the file sha256."""
    import torch
    from safetensors.torch import save

    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in head.state_dict().items()}
    data = save(tensors, metadata=info.to_metadata())
    path = Path(path)
    atomic_write_bytes(path, data)
    sha = sha256_file(path)
    sidecar = {"file": path.name, "sha256": sha, "size": len(data), **info.to_metadata()}
    sidecar["extra"] = json.loads(info.extra or "{}")
    atomic_write_text(path.with_suffix(".json"), json.dumps(sidecar, indent=2) + "\n")
    return sha


def read_head(path: str | Path) -> tuple[torch.nn.Module, HeadInfo, str]:
    """Load a head file: ``(head in eval mode, its info, head id)``.

    Raises:
        ReidError: The file is missing, damaged, or not a head this version can read.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
        tensors = load_file(str(path))
        sha = sha256_file(path)
    except Exception as exc:  # noqa: BLE001 - OSError, safetensors and header errors alike
        raise ReidError(f"Cannot read the re-ID head {path}: {exc}. Reinstall LostPet or use --no-head.") from exc
    if meta.get("format_version") != FORMAT_VERSION:
        raise ReidError(f"The re-ID head {path} has format {meta.get('format_version')!r}, "
                        f"not {FORMAT_VERSION!r}; it was made by another version of LostPet.")
    info = HeadInfo.from_metadata(meta)
    head = build_head(info.in_dim, info.proj_dim, info.kind, info.alpha)
    try:
        head.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise ReidError(f"The re-ID head {path} does not match its own metadata: {exc}") from exc
    head.info = info  # the embedder reads the calibrated score bands from it
    return head.eval(), info, f"reidhead-{sha[:12]}"


def load_shipped_head(
    weights_sha256: str, in_dim: int, pooling: str | None = None, *, path: str | Path | None = None
) -> tuple[Any, str]:
    """The shipped head if it was trained on exactly these weights and this pooling.

    Args:
        weights_sha256: sha256 of the backbone weights in use.
        in_dim: Size of the pooled vector.
        pooling: The embedder's pooling; ``None`` skips that check (older callers).
        path: A head file; default ``resources/reid_head.safetensors``.

    Returns:
        ``(head module, head id)``, or ``(None, "")`` when there is no head for this backbone, or
        the file cannot be read (logged: the embedder then works without a head, as with ``--no-head``).
    """
    path = Path(path) if path is not None else resources_dir() / HEAD_FILENAME
    if not path.is_file():
        return None, ""
    try:
        head, info, head_id = read_head(path)
    except ReidError as exc:
        log.warning("%s", exc)
        return None, ""
    if info.backbone_sha256 != weights_sha256 or info.in_dim != in_dim:
        return None, ""
    if pooling is not None and info.pooling != pooling:
        return None, ""
    return head, head_id


__all__ = ["HeadInfo", "build_head", "head_out_dim", "load_shipped_head", "read_head", "save_head",
           "HEAD_FILENAME", "HEAD_KINDS"]

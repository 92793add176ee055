"""End to end, as a new user would do it: import ``dogfacenet-dev`` with one dog per sub-folder into
a fresh data folder with ``lostpet-cli``, then search with photos held back from the import.

For every dog with at least two photos, its last photo (by name) is held back; the rest are imported
(``lostpet-cli import --per-folder``). Each held-back photo is then a query (``lostpet-cli search
--each --json -k 5``), and the right dog is the one whose tag is the photo's sub-folder. Reports how
often the right dog is first and in the top 5, and the time each step took.

    .venv/bin/python bench/e2e_registry.py [--data ../shared/data] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DEFAULT_DATA, ROOT, require_data

from reid_engine.images import iter_image_files

CLI = [sys.executable, "-c", "import sys; from reid_engine.cli import main; sys.exit(main())"]


def cli(*args: str) -> tuple[int, str, float]:
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if done.returncode not in (0, 3):
        sys.exit(f"lostpet-cli {args[0]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.returncode, done.stdout, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--keep", action="store_true", help="keep the data folder and print where it is")
    args = ap.parse_args()
    source = require_data(args.data / "dogfacenet-dev")
    work = Path(tempfile.mkdtemp(prefix="lostpet-e2e-"))
    incoming, data = work / "incoming", work / "data"
    by_dog: dict[str, list[Path]] = {}
    for path in iter_image_files(source):
        by_dog.setdefault(path.relative_to(source).parts[0], []).append(path)
    held = []
    for dog, photos in by_dog.items():
        keep = photos[:-1] if len(photos) >= 2 else photos
        if len(photos) >= 2:
            held.append((dog, photos[-1]))
        for p in keep:
            (incoming / dog).mkdir(parents=True, exist_ok=True)
            os.symlink(p.resolve(), incoming / dog / p.name)
    n_import = sum(1 for _ in iter_image_files(incoming))
    print(f"{len(by_dog)} dogs: importing {n_import} photos, holding back {len(held)} as queries "
          f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    try:
        code, out, import_s = cli("import", str(incoming), "--per-folder", "--json", "--data-dir", str(data))
        summary = json.loads(out)
        print(f"import: exit {code}, {summary['imported']} photos, {summary['dogs_created']} dogs, "
              f"{len(summary['failed'])} unreadable, {summary['images_per_s']:.1f} images/s in the engine, "
              f"{import_s:.0f} s for the whole command", flush=True)

        code, out, search_s = cli("search", "--each", "--json", "-k", "5", "--data-dir", str(data),
                                  *[str(p) for _, p in held])
        results = [json.loads(line) for line in out.splitlines()]
        assert len(results) == len(held), (len(results), len(held))
        top1 = top5 = 0
        for (dog, photo), result in zip(held, results):
            assert result["query"] == str(photo)
            tags = [m["tag"] for m in result["matches"]]
            top1 += bool(tags) and tags[0] == dog
            top5 += dog in tags[:5]
        _, out, _ = cli("info", "--json", "--data-dir", str(data))
        info = json.loads(out)
        print(f"search: {len(held)} queries in {search_s:.0f} s for the whole command "
              f"({1000 * search_s / len(held):.0f} ms per query including model loading)")
        print(f"registry: {info['dogs']} dogs, {info['photos']} photos, {info['index_vectors']} vectors in the index")
        print(f"\nright dog first: {100 * top1 / len(held):.1f}% ({top1}/{len(held)}); "
              f"in the top 5: {100 * top5 / len(held):.1f}% ({top5}/{len(held)})")
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

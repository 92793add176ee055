"""``lostpet-cli`` registry commands: register, add, search, import, list, show, edit, remove,
reindex, info.

Every command takes ``--data-dir``; those that print results take ``--json`` (JSON on stdout only,
progress bars on stderr). A dog is named by its tag or its id (``id:12`` or ``tag:12`` when a tag
looks like a number). Read-only commands (``list``, ``show``, ``info``) work while the desktop app
has the registry open; ``search`` updates the registry for a new model when it can, and otherwise
searches read-only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, NotFoundError, RegistryLockedError, ReidError
from ..models import Dog, DogDetails, DogStatus, Match, SearchFilters, parse_date
from . import EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, common

PROGRAM = "lostpet-cli"
STATUS_CHOICES = ", ".join(s.value for s in DogStatus)


# ===================================================================== parsers
def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("register", help="register a new dog with its photos",
                       description="Register a new dog. The photos are copied into the registry; the "
                                   "originals are left as they are.")
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="photo files of the dog")
    _add_details_options(p)
    _common(p, model=True)
    p.set_defaults(func=cmd_register)

    p = sub.add_parser("add", help="add photos to a dog", description="Add photos to a registered dog.")
    p.add_argument("dog", metavar="DOG", help="tag or id of the dog")
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="photo files of the dog")
    _common(p, model=True)
    p.set_defaults(func=cmd_add)

    p = sub.add_parser(
        "search", help="find the dogs that look most like a photo",
        description="Find the registered dogs that look most like the photo(s). Several photos are one "
                    "query (photos of the same dog) unless --each is given. Results are per dog.",
    )
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="query photo(s)")
    p.add_argument("-k", type=int, default=10, help="how many dogs to list (default 10)")
    p.add_argument("--status", action="append", metavar="STATUS",
                   help=f"only dogs with this status (repeatable): {STATUS_CHOICES}")
    p.add_argument("--from", dest="date_from", metavar="DATE", help="only dogs dated on or after YYYY-MM-DD")
    p.add_argument("--to", dest="date_to", metavar="DATE", help="only dogs dated on or before YYYY-MM-DD")
    p.add_argument("--each", action="store_true",
                   help="each photo is its own query (with --json: one JSON object per line; an unreadable "
                        "photo gets an \"error\" and the others carry on, exit code 3)")
    g = p.add_argument_group("guidance (one photo per query)")
    g.add_argument("--region", metavar="X,Y,W,H",
                   help="make this part of the photo count more: pixels, or fractions such as 0.3,0.5,0.2,0.2")
    g.add_argument("--prompt", metavar="TEXT",
                   help='make what the text describes count more, e.g. "red collar" (needs CLIP weights)')
    g.add_argument("--guide-weight", type=float, default=None, metavar="A",
                   help="weight of the guided region against the whole photo, 0..1 (default 0.5)")
    _common(p, model=True)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser(
        "import", help="import a folder of photos",
        description="Import every photo under FOLDER (sub-folders included): one new dog per photo, or "
                    "with --per-folder one dog per sub-folder, tagged with the sub-folder's name. Photos "
                    "already in the registry are skipped, so running it again resumes an interrupted "
                    "import. Exit code 3 when some photos could not be read.",
    )
    p.add_argument("folder", metavar="FOLDER")
    p.add_argument("--per-folder", action="store_true", help="one dog per sub-folder (tag = its name)")
    p.add_argument("--status", help=f"status of the new dogs: {STATUS_CHOICES}")
    p.add_argument("--date", help="date of the new dogs (YYYY-MM-DD)")
    p.add_argument("--location", help="where the new dogs were found or lost")
    p.add_argument("--notes", help="notes for the new dogs")
    _common(p, model=True)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("list", help="list the registered dogs", description="List dogs, newest first.")
    p.add_argument("--status", action="append", metavar="STATUS", help=f"only this status (repeatable): {STATUS_CHOICES}")
    p.add_argument("--text", help="only dogs whose tag, name, location or notes contain this")
    p.add_argument("--limit", type=int, help="at most this many")
    p.add_argument("--offset", type=int, default=0, help="skip this many first")
    _common(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="show a dog and its photos", description="Show a dog's details and photos.")
    p.add_argument("dog", metavar="DOG", help="tag or id of the dog")
    _common(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("edit", help="change a dog's details",
                       description="Change a dog's details; options not given are left as they are.")
    p.add_argument("dog", metavar="DOG", help="tag or id of the dog")
    _add_details_options(p)
    _common(p)
    p.set_defaults(func=cmd_edit)

    p = sub.add_parser("remove", help="remove a dog, or one photo",
                       description="Remove a dog with all its photos, or one photo (--photo ID). Needs --yes.")
    p.add_argument("dog", nargs="?", metavar="DOG", help="tag or id of the dog to remove")
    p.add_argument("--photo", type=int, metavar="ID", help="remove only this photo (its id, see `show`)")
    p.add_argument("--yes", action="store_true", help="confirm the removal (it cannot be undone)")
    _common(p)
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser(
        "set-crop", help="change which part of a stored photo is embedded (the dog's box)",
        description="Change the box around the dog in a stored photo and re-embed it. The stored photo "
                    "itself is never cropped. See each photo's id and crop with `show`.",
    )
    p.add_argument("photo", type=int, metavar="PHOTO_ID", help="the photo's id (see `show`)")
    p.add_argument("box", metavar="BOX",
                   help="X,Y,W,H in pixels of the photo (or fractions, all between 0 and 1); "
                        "'auto' to let the dog finder choose; 'none' for the whole photo")
    _common(p, model=True)
    p.set_defaults(func=cmd_set_crop)

    p = sub.add_parser("reindex", help="re-embed every photo and rebuild the search index",
                       description="Re-embed every stored photo with the current model and rebuild the index.")
    _common(p, model=True)
    p.set_defaults(func=cmd_reindex)

    p = sub.add_parser("info", help="where the registry is, the model, counts, index state",
                       description="Show the data folder, the model and its weights, the device, counts and "
                                   "the index state. Works while the desktop app is open.")
    _common(p, model=True)
    p.set_defaults(func=cmd_info)


def _common(p: argparse.ArgumentParser, *, model: bool = False) -> None:
    common.add_data_dir_option(p)
    common.add_json_option(p)
    if model:
        common.add_model_options(p)


def _add_details_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("dog details")
    g.add_argument("--tag", help="shelter tag or id (default: generated, e.g. LP-000042)")
    g.add_argument("--name", help="the dog's name")
    g.add_argument("--status", help=f"one of {STATUS_CHOICES} (default in_shelter)")
    g.add_argument("--date", help="intake or report date, YYYY-MM-DD")
    g.add_argument("--location", help="where the dog was found or lost")
    g.add_argument("--notes", help="free notes")


# ===================================================================== commands
def cmd_register(args: argparse.Namespace) -> int:
    details = _details(args)
    with _open_writer(args) as reg:
        dog = reg.register([Path(p) for p in args.photos], details)
    _print_dog(args, dog, verb="registered")
    return EXIT_OK


def cmd_add(args: argparse.Namespace) -> int:
    with _open_writer(args) as reg:
        dog = _resolve_dog(reg, args.dog)
        dog = reg.add_photos(dog.id, [Path(p) for p in args.photos])
    _print_dog(args, dog, verb="updated")
    return EXIT_OK


def cmd_search(args: argparse.Namespace) -> int:
    from ..registry import Registry

    if args.k < 1:
        raise InvalidInputError("-k must be at least 1.")
    statuses = tuple(DogStatus.parse(s) for s in args.status) if args.status else None
    filters = SearchFilters(statuses, parse_date(args.date_from), parse_date(args.date_to))
    queries = [[p] for p in args.photos] if args.each else [list(args.photos)]
    try:
        reg = _open_writer(args)
    except RegistryLockedError:  # the app is open: search what it has stored so far
        reg = Registry.open(args.data_dir, readonly=True, program=PROGRAM)
        _drive(reg.attach_embedder(common.load_embedder(args)), "loading", args)
        common.attach_finder(reg, args)
    with reg:
        pending = reg.pending_reembed()
        if pending:
            print(f"warning: {pending} photo(s) are not searchable yet (stored with other model weights); "
                  "run `lostpet-cli reindex` once the registry is free.", file=sys.stderr)
        guide = _Guidance(args) if (args.region or args.prompt) else None
        if args.each and guide is None:
            # Many queries: decode in threads and embed in batches, like an import. An unreadable
            # photo gets its own result line with the reason, and the others carry on (exit 3).
            failed = 0
            for item in reg.embedder.iter_embed_files([Path(p) for p in args.photos], transform=reg.crop_to_dog):
                label = args.photos[item.index]
                if item.error is not None:
                    failed += 1
                    _print_search(args, label, [], error=item.error.reason)
                else:
                    _print_search(args, label, reg.search_vectors(item.vector, k=args.k, filters=filters))
            return EXIT_PARTIAL if failed else EXIT_OK
        for query in queries:
            region, note = guide.region_for(query) if guide else (None, "")
            matches = reg.search([Path(p) for p in query], k=args.k, filters=filters, region=region,
                                 alpha=args.guide_weight)
            label = query[0] if len(query) == 1 else query
            extra = {"guided": region is not None, "guidance_note": note or None} if guide else {}
            _print_search(args, label, matches, extra=extra)
    return EXIT_OK


def _print_search(args: argparse.Namespace, label: str | list[str], matches: list[Match], *,
                  error: str = "", extra: dict | None = None) -> None:
    """One query's result: a JSON object on one line, or a few lines of text."""
    if args.json:
        out = {"query": label, "matches": [_match_json(m) for m in matches], **(extra or {})}
        if error:
            out["error"] = error
        common.print_json(out)
        return
    print(f"query: {label if isinstance(label, str) else ', '.join(label)}")
    if error:
        print(f"  cannot read this photo: {error}")
    elif not matches:
        print("  no dogs to compare with (the registry is empty or nothing passes the filters)")
    for m in matches:
        name = f" {m.dog.name}" if m.dog.name else ""
        print(f"  {m.rank:>3}. {m.score:.3f}  {m.dog.tag}{name}  [{m.dog.status.value}]  "
              f"photo {m.photo.id} ({m.photo.original_name})")


class _Guidance:
    """Turns ``--region`` / ``--prompt`` into a region map over each query photo."""

    def __init__(self, args: argparse.Namespace):
        self.box, self.prompt = args.region, args.prompt
        self.clip, self.clip_problem = None, ""
        if self.prompt:
            from ..clip_heatmap import load_clip_or_none
            from ..settings import Settings

            self.clip, self.clip_problem = load_clip_or_none(Settings.load())
            if self.clip is None:
                print(f"warning: searching without the text prompt: {self.clip_problem}", file=sys.stderr)

    def region_for(self, query: list[str]):
        from ..guided import query_region
        from ..images import load_image

        if len(query) != 1:
            raise InvalidInputError("--region and --prompt guide one photo per query: add --each.")
        image = load_image(query[0])  # full size: --region is in the photo's own pixels
        return query_region(image, box=self.box, prompt=self.prompt, clip=self.clip,
                            clip_unavailable=self.clip_problem or "no CLIP weights are loaded")


def cmd_import(args: argparse.Namespace) -> int:
    details = DogDetails(
        status=DogStatus.parse(args.status) if args.status else None, date=parse_date(args.date),
        location=args.location, notes=args.notes,
    )
    folder = Path(args.folder)
    with _open_writer(args) as reg:
        summary = _drive(reg.import_folder(folder, "per-folder" if args.per_folder else "per-photo",
                                           details=details), "importing", args)
        counts = reg.counts()
    rate = len(summary.imported) / summary.seconds if summary.seconds > 0 else 0.0
    if args.json:
        common.print_json({
            "folder": str(folder), "imported": len(summary.imported), "skipped": len(summary.skipped),
            "failed": [{"path": str(p), "reason": r} for p, r in summary.failed],
            "dogs_created": summary.dogs_created, "cancelled": summary.cancelled,
            "seconds": round(summary.seconds, 3), "images_per_s": round(rate, 2), **counts,
        })
    else:
        print(f"imported     {len(summary.imported)} photo(s) ({rate:.1f}/s), {summary.dogs_created} new dog(s)")
        print(f"skipped      {len(summary.skipped)} already in the registry")
        print(f"unreadable   {len(summary.failed)}")
        for path, reason in summary.failed:
            print(f"  {path}: {reason}")
        print(f"registry     {counts['dogs']} dogs, {counts['photos']} photos")
    if summary.cancelled:
        return EXIT_INTERRUPTED
    return EXIT_PARTIAL if summary.failed else EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    statuses = [DogStatus.parse(s) for s in args.status] if args.status else None
    with _open_reader(args) as reg:
        dogs = reg.list_dogs(text=args.text, statuses=statuses, limit=args.limit, offset=args.offset)
    if args.json:
        common.print_json([_dog_json(d, photos=False) for d in dogs])
        return EXIT_OK
    if not dogs:
        print("no dogs")
    for d in dogs:
        date = d.date.isoformat() if d.date else "-"
        print(f"{d.id:>6}  {d.tag:<20} {d.name or '-':<16} {d.status.value:<11} {date:<10}  {len(d.photos)} photo(s)")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    with _open_reader(args) as reg:
        dog = _resolve_dog(reg, args.dog)
    _print_dog(args, dog)
    return EXIT_OK


def cmd_edit(args: argparse.Namespace) -> int:
    details = _details(args)
    with _open_writer(args, model=False) as reg:
        dog = reg.edit(_resolve_dog(reg, args.dog).id, details)
    _print_dog(args, dog, verb="updated")
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    if (args.dog is None) == (args.photo is None):
        print("error: name a DOG or give --photo ID (one of them).", file=sys.stderr)
        return EXIT_USAGE
    if not args.yes:
        print("error: removing cannot be undone; add --yes to confirm.", file=sys.stderr)
        return EXIT_USAGE
    with _open_writer(args, model=False) as reg:
        if args.photo is not None:
            dog = reg.remove_photo(args.photo)
            result = {"removed_photo": args.photo, "dog": _dog_json(dog, photos=False)}
            text = f"removed photo {args.photo} of {dog.display_name}"
        else:
            dog = _resolve_dog(reg, args.dog)
            reg.remove_dog(dog.id)
            result = {"removed_dog": _dog_json(dog, photos=False)}
            text = f"removed {dog.display_name} and its {len(dog.photos)} photo(s)"
    if args.json:
        common.print_json(result)
    else:
        print(text)
    return EXIT_OK


def cmd_set_crop(args: argparse.Namespace) -> int:
    from ..guided import parse_region
    from ..models import Crop

    text = args.box.strip().lower()
    with _open_writer(args) as reg:
        photo = reg.get_photo(args.photo)
        if text == "auto":
            if reg.dog_finder is None:
                raise InvalidInputError("No dog finder is available here (see `lostpet-cli crop --help`); "
                                        "give the box as X,Y,W,H instead.")
            crop = "auto"
        elif text in ("none", "whole", "off"):
            crop = None
        else:
            size = (photo.width, photo.height)
            x, y, w, h = parse_region(args.box, size)
            crop = Crop.from_pixels((x, y, x + w, y + h), size, by="user")
        photo = reg.set_photo_crop(photo.id, crop)
    if args.json:
        common.print_json(_photo_json(photo))
    else:
        print(f"photo {photo.id}: {photo.crop.describe() if photo.crop else 'the whole photo is embedded'}")
    return EXIT_OK


def cmd_reindex(args: argparse.Namespace) -> int:
    with _open_writer(args) as reg:
        _drive(reg.reindex(), "re-embedding", args)
        counts = reg.counts()
        problems = reg.check_integrity()
    if args.json:
        common.print_json({**counts, "problems": problems})
    else:
        print(f"reindexed    {counts['photos']} photo(s) of {counts['dogs']} dog(s); index holds {counts['index_vectors']}")
        for problem in problems:
            print(f"  problem: {problem}")
    return EXIT_PARTIAL if problems else EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    from ..registry import Registry

    model_error = None
    embedder = None
    try:
        embedder = common.load_embedder(args)
    except ReidError as exc:
        model_error = str(exc)
    with Registry.open(args.data_dir, readonly=True, program=PROGRAM) as reg:
        if embedder is not None:
            _drive(reg.attach_embedder(embedder), "loading", args)
        info = reg.info()
        lock = _lock_holder(reg.data_dir)
    info["in_use_by"] = lock
    if model_error:
        info["model"] = {"error": model_error}
    if args.json:
        common.print_json(info)
        return EXIT_OK
    model = info["model"] or {}
    print(f"data folder   {info['data_dir']}")
    print(f"database      {info['database']} (schema {info['schema_version']})")
    print(f"in use by     {lock or 'nobody'}")
    if "error" in model:
        print(f"model         not available: {model['error']}")
    else:
        print(f"model         {model.get('model')} ({model.get('pooling')}, head: {model.get('head') or 'none'})")
        print(f"weights       {model.get('weights_source')} {model.get('weights_path') or ''} "
              f"(sha256 {str(model.get('weights_sha256'))[:12]})")
        print(f"device        {model.get('device')} ({model.get('precision')})")
    print(f"dogs          {info['dogs']}")
    print(f"photos        {info['photos']}")
    print(f"index         {info['index_vectors']} vectors, {info['index']['state']}")
    if info["pending_reembed"]:
        print(f"pending       {info['pending_reembed']} photo(s) need re-embedding: run `lostpet-cli reindex`")
    return EXIT_OK


# ===================================================================== helpers
def _open_writer(args: argparse.Namespace, *, model: bool = True):
    """Open for writing (fails fast if another program writes), then load and attach the model."""
    from ..registry import Registry

    reg = Registry.open(args.data_dir, program=PROGRAM)
    if not model:
        return reg
    try:
        _drive(reg.attach_embedder(common.load_embedder(args)), "updating photos for the model", args)
        common.attach_finder(reg, args)
    except BaseException:
        reg.close()
        raise
    return reg


def _open_reader(args: argparse.Namespace):
    from ..registry import Registry

    return Registry.open(args.data_dir, readonly=True, program=PROGRAM)


def _drive(gen: Generator, desc: str, args: argparse.Namespace) -> Any:
    """Run an engine generator with a tqdm bar on stderr; return its result."""
    bar = None
    try:
        while True:
            try:
                p = next(gen)
            except StopIteration as stop:
                return stop.value
            if bar is None and p.total:
                bar = common.progress_bar(p.total, desc, quiet=not sys.stderr.isatty())
            if bar is not None:
                bar.total = p.total
                bar.n = p.done
                bar.set_postfix_str(p.item[-32:], refresh=False)
                bar.refresh()
    finally:
        gen.close()  # on Ctrl-C: the engine keeps what it finished
        if bar is not None:
            bar.close()


def _details(args: argparse.Namespace) -> DogDetails:
    return DogDetails(
        tag=args.tag, name=args.name, status=DogStatus.parse(args.status) if args.status else None,
        date=parse_date(args.date), location=args.location, notes=args.notes,
    )


def _resolve_dog(reg, ref: str) -> Dog:
    """A dog by ``id:N``, ``tag:T``, a tag, or else a numeric id."""
    ref = ref.strip()
    if ref.lower().startswith("id:"):
        return reg.get_dog(_int(ref[3:]))
    if ref.lower().startswith("tag:"):
        dog = reg.find_dog(ref[4:])
    else:
        dog = reg.find_dog(ref)
        if dog is None and ref.isdigit():
            return reg.get_dog(int(ref))
    if dog is None:
        raise NotFoundError(f"No dog has the tag {ref!r}. Check it with `lostpet-cli list --text {ref}`.")
    return dog


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInputError(f"{text!r} is not a dog id (a whole number).") from None


def _lock_holder(data_dir: Path) -> str:
    from ..registry import _holder_text

    return _holder_text(data_dir)


def _photo_json(photo) -> dict:
    return {"id": photo.id, "path": str(photo.path), "original_name": photo.original_name,
            "sha256": photo.sha256, "width": photo.width, "height": photo.height,
            "added_at": photo.added_at.isoformat(),
            "crop": None if photo.crop is None else {
                "left": photo.crop.left, "top": photo.crop.top, "right": photo.crop.right,
                "bottom": photo.crop.bottom, "by": photo.crop.by}}


def _dog_json(dog: Dog, *, photos: bool = True) -> dict:
    out = {
        "id": dog.id, "tag": dog.tag, "name": dog.name, "status": dog.status.value,
        "date": dog.date.isoformat() if dog.date else None, "location": dog.location, "notes": dog.notes,
        "created_at": dog.created_at.isoformat(), "updated_at": dog.updated_at.isoformat(),
        "photo_count": len(dog.photos),
    }
    if photos:
        out["photos"] = [_photo_json(p) for p in dog.photos]
    return out


def _match_json(m: Match) -> dict:
    return {
        "rank": m.rank, "dog_id": m.dog.id, "tag": m.dog.tag, "name": m.dog.name, "status": m.dog.status.value,
        "date": m.dog.date.isoformat() if m.dog.date else None, "location": m.dog.location,
        "score": round(m.score, 4), "photo": str(m.photo.path), "photo_id": m.photo.id,
        "photo_original_name": m.photo.original_name, "query_index": m.query_index,
    }


def _print_dog(args: argparse.Namespace, dog: Dog, verb: str = "") -> None:
    if args.json:
        common.print_json(_dog_json(dog))
        return
    if verb:
        print(f"{verb} {dog.display_name} (id {dog.id})")
    print(f"id         {dog.id}")
    print(f"tag        {dog.tag}")
    print(f"name       {dog.name or '-'}")
    print(f"status     {dog.status.label}")
    print(f"date       {dog.date.isoformat() if dog.date else '-'}")
    print(f"location   {dog.location or '-'}")
    print(f"notes      {dog.notes or '-'}")
    print(f"photos     {len(dog.photos)}")
    for p in dog.photos:
        crop = f"  ({p.crop.describe()})" if p.crop else ""
        print(f"  {p.id:>6}  {p.original_name}  {p.width}x{p.height}  {p.path}{crop}")


__all__ = ["add_parser"]

"""``lostpet-cli backup`` and ``lostpet-cli restore``: the data directory in one zip file, and back."""

from __future__ import annotations

import argparse

from .common import add_data_dir_option, add_json_option, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backup",
        help="save the registry (database, photos, index) into one zip file",
        description=(
            "Save the registry into one zip file. Safe while the app is open: the backup is one "
            "consistent moment of the registry. Model weights and thumbnails are not included."
        ),
    )
    p.add_argument(
        "output", nargs="?", metavar="FILE_OR_FOLDER",
        help="the .zip to write, or a folder for lostpet-backup-<date>-<time>.zip (default: this folder)",
    )
    add_data_dir_option(p)
    add_json_option(p)
    p.set_defaults(func=run_backup)

    r = sub.add_parser(
        "restore",
        help="restore the registry from a backup zip",
        description=(
            "Restore a backup made by 'lostpet-cli backup' into an empty or new data folder. A "
            "registry that already holds dogs is replaced only with --force, and is then moved aside "
            "(<folder>.before-restore-<date>-<time>), never deleted. Close the app first."
        ),
    )
    r.add_argument("backup", metavar="BACKUP_ZIP", help="a file made by 'lostpet-cli backup'")
    r.add_argument("--force", action="store_true", help="replace a registry that already holds dogs")
    add_data_dir_option(r)
    add_json_option(r)
    r.set_defaults(func=run_restore)


def run_backup(args: argparse.Namespace) -> int:
    from ..backup import create_backup

    result = create_backup(args.output, args.data_dir)
    if args.json:
        print_json({
            "path": str(result.path), "dogs": result.dogs, "photos": result.photos,
            "files": result.files, "size": result.size, "index_included": result.index_included,
        })
        return 0
    print(f"Backed up {result.dogs} dog(s) and {result.photos} photo(s) to {result.path} "
          f"({_size(result.size)}).")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from ..backup import restore_backup

    result = restore_backup(args.backup, args.data_dir, force=args.force)
    if args.json:
        print_json({
            "data_dir": str(result.data_dir), "dogs": result.dogs, "photos": result.photos,
            "moved_aside": str(result.moved_aside) if result.moved_aside else None,
            "created_at": result.created_at, "notes": result.notes,
        })
        return 0
    print(f"Restored {result.dogs} dog(s) and {result.photos} photo(s) from the backup of "
          f"{result.created_at} into {result.data_dir}.")
    if result.moved_aside:
        print(f"The registry that was there is kept in {result.moved_aside}.")
    for note in result.notes:
        print(note)
    return 0


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} bytes"

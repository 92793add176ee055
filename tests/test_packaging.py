"""Fast checks of the packaging: the PyInstaller spec (run against stand-ins for PyInstaller's
classes), the entry script's dispatch, the icons, the Linux menu entry and the build script.

Building the bundle itself takes minutes and is proved by ``packaging/build.sh``, not here.
"""

from __future__ import annotations

import configparser
import importlib.util
import shutil
import subprocess
import sys
import tomllib
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

import reid_engine

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "build.spec"
ICONS = ROOT / "resources" / "icons"
PYPROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


# ----------------------------------------------------------------------------- build.spec
class _Target:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _Analysis(_Target):
    def __init__(self, scripts, **kwargs):
        super().__init__(scripts, **kwargs)
        self.scripts = [("lostpet_entry", scripts[0], "PYSOURCE")]
        self.pure = []
        self.datas = list(kwargs["datas"]) + [
            ("PySide6/Qt/translations/qtbase_de.qm", "/x", "DATA"),
            ("torch/include/ATen/ATen.h", "/x", "DATA"),
        ]
        self.binaries = [
            ("torch/lib/libtorch_cpu.so", "/x", "BINARY"),
            ("torch/lib/libtorchbind_test.so", "/x", "BINARY"),
            ("torch/test/atest", "/x", "BINARY"),
            ("torch/bin/test_jit", "/x", "BINARY"),
            ("torch/bin/torch_shm_manager", "/x", "BINARY"),
            ("torchvision/_C.so", "/x", "EXTENSION"),
            ("nvidia/cu13/lib/libcublas.so.13", "/x", "BINARY"),
            ("libcudart.so.13", "/x", "BINARY"),
            ("PySide6/Qt/lib/libQt6Widgets.so.6", "/x", "BINARY"),
        ]


def run_spec(monkeypatch, tmp_path, *, cuda: bool, weights: Path | None) -> dict:
    """Execute build.spec with PyInstaller's build classes replaced by recorders."""
    fake_config = types.ModuleType("PyInstaller.config")
    fake_config.CONF = {"workpath": str(tmp_path / "work")}
    fake_hooks = types.ModuleType("PyInstaller.utils.hooks")
    fake_hooks.collect_submodules = lambda package: [f"{package}.stand_in"]
    for name, module in {
        "PyInstaller": types.ModuleType("PyInstaller"),
        "PyInstaller.utils": types.ModuleType("PyInstaller.utils"),
        "PyInstaller.config": fake_config,
        "PyInstaller.utils.hooks": fake_hooks,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setenv("LOSTPET_BUNDLE_CUDA", "1" if cuda else "0")
    monkeypatch.setenv("LOSTPET_BUNDLE_WEIGHTS", str(weights) if weights else "")
    if not cuda:  # the spec refuses a CUDA torch for the CPU build; pretend this one is CPU-only
        import torch

        monkeypatch.setattr(torch.version, "cuda", None)
    (tmp_path / "dist" / "LostPet").mkdir(parents=True, exist_ok=True)
    namespace = {
        "SPECPATH": str(ROOT), "DISTPATH": str(tmp_path / "dist"), "__file__": str(SPEC),
        "Analysis": _Analysis, "PYZ": _Target, "EXE": _Target, "COLLECT": _Target, "BUNDLE": _Target,
    }
    monkeypatch.setattr(sys, "path", list(sys.path))
    exec(compile(SPEC.read_text(), str(SPEC), "exec"), namespace)  # noqa: S102 - our own spec
    return namespace


def test_spec_reads_the_version_from_pyproject(monkeypatch, tmp_path):
    ns = run_spec(monkeypatch, tmp_path, cuda=True, weights=None)
    assert ns["VERSION"] == PYPROJECT_VERSION == reid_engine.__version__


def test_spec_bundles_resources_weights_and_two_executables(monkeypatch, tmp_path):
    weights = tmp_path / "dinov2_vits14_imgfocus.safetensors"
    weights.write_bytes(b"not really weights")
    ns = run_spec(monkeypatch, tmp_path, cuda=False, weights=weights)
    datas = {(Path(src).name, dest) for src, dest in ns["a"].kwargs["datas"]}
    assert ("lostpet.svg", "resources/icons") in datas
    assert ("lostpet-256.png", "resources/icons") in datas
    assert ("dinov2_vits14.safetensors", "resources/models") in datas  # the name paths.py looks for
    staged = tmp_path / "work" / "weights" / "dinov2_vits14.safetensors"
    assert staged.read_bytes() == b"not really weights"

    exes = {t.kwargs["name"]: t.kwargs for t in (ns["app_exe"], ns["cli_exe"])}
    assert exes["LostPet"]["console"] is False and exes["lostpet-cli"]["console"] is True
    collected = ns["coll"]
    assert collected.kwargs["name"] == "LostPet" and ns["app_exe"] in collected.args
    assert ns["cli_exe"] in collected.args
    assert ns["a"].args[0] == [str(ROOT / "packaging" / "lostpet_entry.py")]
    if sys.platform.startswith("linux"):
        assert (tmp_path / "dist" / "LostPet" / "lostpet.desktop").is_file()
        assert (tmp_path / "dist" / "LostPet" / "install-linux.sh").is_file()


def test_spec_without_weights_still_builds(monkeypatch, tmp_path):
    ns = run_spec(monkeypatch, tmp_path, cuda=True, weights=None)
    assert not any(dest == "resources/models" for _, dest in ns["a"].kwargs["datas"])


def test_cpu_spec_leaves_out_cuda_qt_extras_and_test_tools(monkeypatch, tmp_path):
    ns = run_spec(monkeypatch, tmp_path, cuda=False, weights=None)
    binaries = {entry[0] for entry in ns["a"].binaries}
    assert binaries == {
        "torch/lib/libtorch_cpu.so", "torch/bin/torch_shm_manager", "PySide6/Qt/lib/libQt6Widgets.so.6"
    }
    assert not any(d[0].startswith(("PySide6/Qt/translations", "torch/include")) for d in ns["a"].datas)
    excludes = ns["a"].kwargs["excludes"]
    for name in ("triton", "pytest", "onnxruntime", "training", "tkinter"):
        assert name in excludes
    assert "PySide6.QtWidgets" not in excludes and "PySide6.QtCore" not in excludes
    import PySide6

    if list(Path(PySide6.__file__).parent.glob("QtQml.*")):
        assert "PySide6.QtQml" in excludes  # installed, never imported by the app
    assert ns["a"].kwargs["runtime_hooks"] == [str(ROOT / "packaging" / "hooks" / "rthook_torchvision_cpu.py")]
    assert "reid_engine.stand_in" in ns["a"].kwargs["hiddenimports"]


def test_cuda_spec_keeps_the_cuda_libraries(monkeypatch, tmp_path):
    ns = run_spec(monkeypatch, tmp_path, cuda=True, weights=None)
    binaries = {entry[0] for entry in ns["a"].binaries}
    assert {"nvidia/cu13/lib/libcublas.so.13", "torchvision/_C.so"} <= binaries
    assert "torch/lib/libtorchbind_test.so" not in binaries
    assert ns["a"].kwargs["runtime_hooks"] == []


def test_spec_keeps_every_qt_module_the_gui_imports(monkeypatch, tmp_path):
    ns = run_spec(monkeypatch, tmp_path, cuda=True, weights=None)
    used = ns["qt_modules_used"]()
    assert {"QtCore", "QtGui", "QtWidgets"} <= used
    for path in (ROOT / "lostpet_desktop").rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("from PySide6.Qt"):
                assert line.split()[1].split(".")[1] in used, line


# ----------------------------------------------------------------------------- the entry script
@pytest.fixture
def entry(monkeypatch):
    spec = importlib.util.spec_from_file_location("lostpet_entry", ROOT / "packaging" / "lostpet_entry.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    calls = []
    for target in ("reid_engine.cli", "reid_engine.selftest", "lostpet_desktop.app"):
        mod = importlib.import_module(target)
        monkeypatch.setattr(mod, "main", lambda argv=None, _t=target: calls.append((_t, argv)) or 0)
    monkeypatch.setattr(sys, "argv", ["/opt/LostPet/LostPet"])
    return module, calls


def test_entry_dispatches_to_app_cli_and_self_test(entry, monkeypatch):
    module, calls = entry
    assert module.main([]) == 0
    assert module.main(["--cli", "backup", "x.zip"]) == 0
    assert module.main(["--self-test", "--dogs", "3"]) == 0
    monkeypatch.setattr(sys, "argv", ["/opt/LostPet/lostpet-cli"])
    assert module.main(["restore", "x.zip"]) == 0
    assert calls == [
        ("lostpet_desktop.app", []),
        ("reid_engine.cli", ["backup", "x.zip"]),
        ("reid_engine.selftest", ["--dogs", "3"]),
        ("reid_engine.cli", ["restore", "x.zip"]),
    ]


def test_entry_leaves_the_weights_choice_to_the_resolver(entry, monkeypatch, tmp_path):
    """The bundled weights are a source of reid_engine.weights, not an environment override, so
    a file the user chooses in the settings still wins over them."""
    module, _ = entry
    monkeypatch.delenv("LOSTPET_WEIGHTS", raising=False)
    module.main([])
    assert "LOSTPET_WEIGHTS" not in __import__("os").environ


def test_bundled_weights_path_looks_in_the_bundle(monkeypatch, tmp_path):
    from reid_engine import paths

    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert paths.resources_dir() == tmp_path / "resources"
    assert paths.bundled_weights_path() is None
    target = tmp_path / "resources" / "models" / "dinov2_vits14.safetensors"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"w")
    assert paths.bundled_weights_path() == target


@pytest.mark.slow
def test_runtime_hook_lets_torchvision_import_without_its_compiled_ops():
    """Simulate PyPI's CUDA torchvision on a CPU torch: its ops library is missing."""
    code = f"""
import sys, types
exec(open({str(ROOT / 'packaging' / 'hooks' / 'rthook_torchvision_cpu.py')!r}).read())
finder = sys.meta_path[0]
assert type(finder).__name__ == "_Finder" and finder.find_spec("json", None) is None
import torch
extension = types.ModuleType("torchvision.extension")
extension._has_ops = lambda: False  # what a CUDA-built torchvision reports on a CPU torch
sys.modules["torchvision.extension"] = extension
_define_missing_ops()
assert torch.ops.torchvision.nms.default._schema.name == "torchvision::nms"
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


# ----------------------------------------------------------------------------- icons and Linux files
def test_icon_is_an_svg_with_every_platform_format():
    root = ET.parse(ICONS / "lostpet.svg").getroot()
    assert root.tag.endswith("svg") and root.get("viewBox") == "0 0 512 512"
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        with Image.open(ICONS / f"lostpet-{size}.png") as im:
            assert im.size == (size, size) and im.mode == "RGBA"
    with Image.open(ICONS / "lostpet.ico") as ico:
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(ico.info["sizes"])
    with Image.open(ICONS / "lostpet.icns") as icns:
        assert icns.format == "ICNS"


def test_linux_desktop_entry():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(ROOT / "packaging" / "linux" / "lostpet.desktop")
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application" and section["Icon"] == "lostpet"
    assert section["Exec"].split()[0] == "LostPet" and section["Terminal"] == "false"
    validator = shutil.which("desktop-file-validate")
    if validator:
        out = subprocess.run([validator, str(ROOT / "packaging" / "linux" / "lostpet.desktop")],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("script", ["packaging/build.sh", "packaging/smoke_gui.sh", "packaging/linux/install-linux.sh"])
def test_shell_scripts_parse(script):
    assert subprocess.run(["bash", "-n", str(ROOT / script)]).returncode == 0


def test_build_script_help():
    out = subprocess.run(["bash", str(ROOT / "packaging" / "build.sh"), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--cuda" in out.stdout and "--worktree" in out.stdout

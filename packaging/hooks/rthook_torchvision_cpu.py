"""Runtime hook: let ``import torchvision`` work in the CPU-only bundle.

PyPI's torchvision wheels for Linux are CUDA builds; their compiled ops (``torchvision/_C.so``)
need the CUDA runtime, which the CPU-only bundle leaves out. torchvision then carries on without
its ops (detection ops such as ``nms``, which LostPet never calls) except for one unguarded line:
``_meta_registrations`` registers a fake ``torchvision::nms`` kernel, which fails when the op was
never defined. This hook defines the two op schemas just before that module runs, and only when
the compiled ops did not load; nothing is imported up front, so the window still appears first.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

_TARGET = "torchvision._meta_registrations"
_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_libraries = []  # torch.library.Library objects must stay alive for their definitions to hold


def _define_missing_ops() -> None:
    extension = sys.modules.get("torchvision.extension")
    if extension is None or extension._has_ops():
        return
    import torch.library

    lib = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS:
        lib.define(schema)
    _libraries.append(lib)


class _Loader(importlib.abc.Loader):
    def __init__(self, real: importlib.abc.Loader):
        self._real = real

    def create_module(self, spec):
        return self._real.create_module(spec)

    def exec_module(self, module) -> None:
        _define_missing_ops()
        self._real.exec_module(module)

    def __getattr__(self, name):  # get_code, get_source, ... as the real loader has them
        return getattr(self._real, name)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        sys.meta_path.remove(self)  # once is enough; also keeps find_spec below from recursing
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


sys.meta_path.insert(0, _Finder())

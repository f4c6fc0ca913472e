"""Stand-ins for the plotting / scipy / sklearn / tqdm imports of pytorch-grad-cam and Captum.

Both libraries import these at module level but never call them on the Score-CAM and
occlusion paths; where they are not installed (the staged GPU machine) the suite puts
these stand-ins in their place. Real modules always win.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import types
from typing import Any

from benchmarks._gpu_common import STUBBABLE


class _StubMeta(type):
    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _stub_class(f"{cls.__name__}.{name}")

    def __getitem__(cls, item: object) -> Any:
        return cls


def _stub_class(name: str) -> type:
    def init(self: object, *args: object, **kwargs: object) -> None:
        pass

    def call(self: object, *args: object, **kwargs: object) -> Any:
        return _stub_class(f"{name}()")

    def getattr_(self: object, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _stub_class(f"{name}.{attr}")

    return _StubMeta(name, (), {"__init__": init, "__call__": call, "__getattr__": getattr_})


class _StubModule(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if self.__name__.split(".")[0] == "tqdm" and name in ("tqdm", "trange", "auto"):
            return _tqdm_passthrough
        return _stub_class(f"{self.__name__}.{name}")


def _tqdm_passthrough(iterable: Any = None, *args: Any, **kwargs: Any) -> Any:
    return iterable if iterable is not None else range(*args)


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Stand-in modules for ``roots`` (only those not installed; appended to meta_path)."""

    def __init__(self, roots: list[str]) -> None:
        self.roots = set(roots)

    def find_spec(self, fullname: str, path: object, target: object = None) -> Any:
        if fullname.split(".")[0] in self.roots:
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        return None

    def create_module(self, spec: Any) -> types.ModuleType:
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # the parent package is missing
        return False


def install_stubs(enabled: bool) -> list[str]:
    """Stub the STUBBABLE modules that are not installed; return the packages stubbed.

    The finder goes last on ``sys.meta_path``: real modules always win, and a namespace
    package left behind (``mpl_toolkits`` without matplotlib) gets stub submodules.
    """
    if not enabled:
        return []
    roots = sorted({name.split(".")[0] for name in STUBBABLE if not _installed(name)})
    if roots:
        sys.meta_path.append(_StubFinder(roots))
    return roots

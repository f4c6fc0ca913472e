"""Fuzz worker: reads one JSON case per line, runs the engine on it, answers one JSON line.

Runs in its own process so that a crash of onnxruntime or a hang is observed
by the driver (:mod:`tests.fuzz.runner`) instead of taking the test run down.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path


def run_case(model_path: str, input_path: str | None, out: str) -> dict[str, str]:
    """Load, catalogue, extract and write maps; return the outcome."""
    from engine.atomic_files import atomic_directory
    from engine.errors import EngineError
    from engine.featuremaps import extract_feature_maps
    from engine.maps_export import write_maps
    from engine.model_io import load_model
    from engine.preprocess import prepare_input

    try:
        model = load_model(model_path)
        if input_path is None:
            return {"outcome": "result", "message": "loaded"}
        prepared = prepare_input(model.info, input_path)
        result = extract_feature_maps(model, prepared, preference="cpu")
        with atomic_directory(out) as folder:
            write_maps(result, folder)
        return {"outcome": "result", "message": f"{len(result.layers)} layers"}
    except EngineError as exc:
        return {"outcome": "error", "type": type(exc).__name__, "message": exc.message}
    except Exception as exc:  # noqa: BLE001 - what the fuzzer looks for
        return {"outcome": "traceback", "type": type(exc).__name__,
                "message": "".join(traceback.format_exception(exc))[-2000:]}


def main() -> int:
    """Serve cases from stdin until it closes.

    Answers go to a private copy of stdout; file descriptor 1 is pointed at
    stderr so that native libraries printing to stdout cannot corrupt them.
    """
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for line in sys.stdin:
        case = json.loads(line)
        answer = run_case(case["model"], case.get("input"), case["out"])
        answer["out_exists"] = str(Path(case["out"]).exists())
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""gpu_suite's environment record and its Markdown tables."""

from __future__ import annotations

import importlib.util
import os
import platform
from typing import Any

import numpy as np

from benchmarks._gpu_common import DEMO, DTYPES, error_text
from benchmarks._gpu_dataset_sections import dataset_lines


def environment(sites: list[str]) -> dict[str, Any]:
    """Versions and devices."""
    env: dict[str, Any] = {
        "python": platform.python_version(), "platform": platform.platform(),
        "cpu_count": os.cpu_count(), "numpy": np.__version__, "site_dirs": sites,
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }
    try:
        import onnx
        import onnxruntime as ort

        env.update(onnx=onnx.__version__, onnxruntime=ort.__version__,
                   onnxruntime_file=ort.__file__,
                   available_providers=ort.get_available_providers())
    except Exception as exc:  # noqa: BLE001 - reported
        env["onnxruntime_error"] = error_text(exc)
    try:
        from engine.providers import cuda_status

        status = cuda_status()
        env["cuda"] = {"usable": status.usable, "reason": status.reason,
                       "device_name": status.device_name}
    except Exception as exc:  # noqa: BLE001 - reported
        env["cuda"] = {"error": error_text(exc)}
    if importlib.util.find_spec("torch") is not None:
        try:
            import torch

            env["torch"] = {"version": torch.__version__,
                            "cuda_available": bool(torch.cuda.is_available()),
                            "device": torch.cuda.get_device_name(0)
                            if torch.cuda.is_available() else "cpu",
                            "threads": torch.get_num_threads()}
        except Exception as exc:  # noqa: BLE001 - reported
            env["torch"] = {"error": f"torch import failed: {error_text(exc)}"}
    else:
        env["torch"] = None
    return env


def _cell(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


def _maps_lines(m: dict[str, Any]) -> list[str]:
    lines = ["| maps | provider | layers | plain ms | exposed ms | exposed/plain | "
             "extract/plain |", "|---|---|---|---|---|---|---|"]
    if "error" in m or "skipped" in m:
        lines.append(f"| {DEMO.name} | {m.get('error') or m.get('skipped')} ||||||")
    else:
        lines.append(f"| {DEMO.name} | {m['provider']} | {m['layers']} | "
                     f"{1e3 * m['plain_forward_median_s']:.2f} | "
                     f"{1e3 * m['exposed_forward_median_s']:.2f} | "
                     f"{m['ratio_exposed_vs_plain']} | {m['ratio_extract_vs_plain']} |")
    return lines


def _engine_lines(s: dict[str, Any]) -> list[str]:
    lines = ["| attribution | dtype | provider | passes | batch | best s | bound s | "
             "over bound | fp16~fp32 | goal | met |", "|" + "---|" * 11]
    for name in ("score_cam", "occlusion"):
        sec = s.get(name, {})
        if "error" in sec and not any(dt in sec for dt in DTYPES):
            lines.append(f"| {name} | | {sec['error']} |||||||||")
            continue
        for dt in DTYPES:
            r = sec.get(dt, {})
            if "error" in r and "best_s" not in r:
                lines.append(f"| {name} | {dt} | error: {r['error'][:80]} |||||||||")
                continue
            g = r.get("goal", {})
            met = ("n/a" if not g.get("judged") else
                   f"time {'yes' if g['time_met'] else 'NO'}, bound "
                   f"{'yes' if g['bound_met'] else 'NO'}")
            corr = sec.get("fp16_vs_fp32_pearson") if dt == "fp16" else ""
            lines.append(f"| {name} | {dt} | {_cell(r.get('provider'))} | "
                         f"{_cell(r.get('perturbation_passes'))} | {_cell(r.get('batch_size'))} | "
                         f"{_cell(r.get('best_s'))} | {_cell(r.get('bound_s'))} | "
                         f"{_cell(r.get('over_bound'))} | {_cell(corr)} | "
                         f"{_cell(g.get('goal'))} | {met} |")
    return lines


def _library_lines(s: dict[str, Any]) -> list[str]:
    lines = ["| library | dtype | run | passes | batch | best s | over torch bound | "
             "pearson vs engine | max abs diff |", "|---|---|---|---|---|---|---|---|---|"]
    for name in ("pytorch_grad_cam", "captum"):
        sec = s.get(name, {})
        if "skipped" in sec or ("error" in sec and not any(dt in sec for dt in DTYPES)):
            lines.append(f"| {name} | | {sec.get('skipped') or sec.get('error')} |||||||")
            continue
        for dt in DTYPES:
            r = sec.get(dt, {})
            rows = ([(k, v) for k, v in r.items() if isinstance(v, dict)]
                    if name == "pytorch_grad_cam" and "error" not in r
                    and "unsupported" not in r else [("", r)])
            for label, row in rows:
                if "error" in row or "unsupported" in row:
                    why = row.get("error") or f"unsupported: {row.get('unsupported')}"
                    lines.append(f"| {name} | {dt} | {label} | {why[:90]} ||||||")
                    continue
                run = (f"{label} ({row['target_layer']})" if "target_layer" in row
                       else label or "occlusion")
                batch = row.get("batch_size") or row.get("perturbations_per_eval")
                lines.append(f"| {name} | {dt} | {run} | {_cell(row.get('forward_passes'))} | "
                             f"{_cell(batch)} | {_cell(row.get('best_s'))} | "
                             f"{_cell(row.get('over_torch_bound'))} | "
                             f"{_cell(row.get('pearson_vs_engine'))} | "
                             f"{_cell(row.get('max_abs_diff_vs_engine'))} |")
    return lines


def table(report: dict[str, Any]) -> str:
    """The main figures as Markdown tables."""
    s = report["sections"]
    lines = [f"gpu_suite ({'quick, ' if report['quick'] else ''}"
             f"{report['config']['provider']}), {report['total_s']} s; failed: "
             f"{', '.join(report['failed_sections']) or 'none'}", ""]
    lines += _maps_lines(s.get("maps", {}))
    lines += ["", *dataset_lines(s)]
    lines += ["", *_engine_lines(s)]
    lines += ["", *_library_lines(s)]
    eq = s.get("torch_equivalence", {})
    if "logits_max_abs_diff" in eq:
        lines += ["", f"torch vs onnxruntime (same weights): logits max abs diff "
                      f"{eq['logits_max_abs_diff']:.2e}, Score-CAM layer "
                      f"{eq['layer_max_abs_diff']:.2e}"]
    net = s.get("network", {})
    if "cam_layer" in net:
        cam = net["cam_layer"]
        lines += ["", f"Score-CAM layer: {cam['tensor']} ({cam['torchvision_module']}; "
                      f"{cam['channels']} channels, {cam['constant_channels']} constant); "
                      f"target class {net['target_class']}"]
    return "\n".join(lines)

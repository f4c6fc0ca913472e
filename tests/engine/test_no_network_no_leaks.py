"""No network connection is ever opened; repeated runs keep memory flat."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from engine.cli import main
from engine.featuremaps import extract_feature_maps
from engine.model_io import load_model
from engine.preprocess import prepare_input


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        pages = int(handle.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


def test_whole_cli_path_without_sockets(demo_model: Path, chelsea: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    attempts: list[tuple[object, ...]] = []

    class NoSocket(socket.socket):
        def __init__(self, *args: object, **kwargs: object) -> None:
            attempts.append(args)
            raise OSError("network access is forbidden in this test")

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network access is forbidden in this test")

    monkeypatch.setattr(socket, "socket", NoSocket)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    assert main(["inspect", str(demo_model), "--json"]) == 0
    assert main(["maps", str(demo_model), str(chelsea), "--out", str(tmp_path / "m")]) == 0
    assert main(["attribute", str(demo_model), str(chelsea), "--method", "eigen-cam",
                 "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert attempts == []


@pytest.mark.slow
def test_500_runs_keep_memory_flat(demo_model: Path, chelsea: Path) -> None:
    model = load_model(demo_model)
    prepared = prepare_input(model.info, chelsea)
    layers = ["/_conv_stem/Conv", "/_blocks.7/_expand_conv/Conv", "/_conv_head/Conv"]
    for _ in range(50):  # warm-up: sessions, allocator arenas, caches
        extract_feature_maps(model, prepared, layers)
    before = _rss_bytes()
    for _ in range(450):
        result = extract_feature_maps(model, prepared, layers)
    growth = _rss_bytes() - before
    assert len(result.layers) == 3
    assert growth < 30 * 1024**2, f"RSS grew by {growth / 1024**2:.1f} MiB over 450 runs"

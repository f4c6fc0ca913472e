"""Dataset scans: the top-k images of every channel of every conv layer, in one pass.

:func:`run_scan` scans on this machine (decoding in a thread pool overlapped
with inference); :func:`engine.scan.ray_runner.run_scan_ray` spreads shards
over a Ray cluster (Ray is imported only there). Each image's per-channel
maximum, arg-max and mean are reduced inside the graph
(:mod:`engine.scan.reduce_graph`), merged into per-channel top-k and
statistics (:mod:`engine.scan.topk`) and committed shard by shard to
``SCAN/scan.sqlite`` (:mod:`engine.scan.store`), so an interrupted scan
continues where it stopped. :mod:`engine.scan.examples` reads a scan back.
"""

from engine.scan.examples import (
    channel_statistics,
    example_crops,
    read_examples,
    receptive_box,
    write_examples,
)
from engine.scan.records import ChannelStatistics, Example, ScanSummary
from engine.scan.runner import ScanRequest, run_scan
from engine.scan.store import ScanStore, content_digest

__all__ = [
    "ChannelStatistics",
    "Example",
    "ScanRequest",
    "ScanStore",
    "ScanSummary",
    "channel_statistics",
    "content_digest",
    "example_crops",
    "read_examples",
    "receptive_box",
    "run_scan",
    "write_examples",
]

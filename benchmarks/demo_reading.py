"""Demonstration reading: throughput (steps/s) of both .demo formats, and peak memory while validating.

    .venv/bin/python benchmarks/demo_reading.py [--steps 100000 400000] [--out benchmarks/results/demo_reading.md]

Builds, in a temporary folder, an mlx file of 3DBall-like records (8 float observations,
2 continuous actions, 22 interleaved agents) with DemoWriter, and an ML-Agents file by
repeating the step records of ML-Agents' own test.demo (../shared/data/mlagents-demos) behind
its metadata (restated for the new count) and brain records. For each format and size it times
``read_info`` (validate: walk every record) and ``iter_steps`` (decode every record into
arrays), and measures the peak memory of ``read_info`` twice: Python's allocations
(tracemalloc, which numpy reports to) in this process, and how far a fresh process's peak
resident set (Linux's VmHWM, reset before reading) rises above its resident size (protobuf's C
allocations included).
Memory that stays flat from the small file to the large one is the point.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from mlx_core.demos import DemoWriter, iter_steps, read_info
from mlx_core.demos.format import decode_varint, encode_varint
from mlx_core.demos.mlagents import BRAIN_OFFSET
from mlx_core.demos.mlagents_demo_pb2 import DemoMetadata
from mlx_core.env.base import ActionSpec, BehaviorSpec, ObservationSpec

REPO = Path(__file__).resolve().parents[1]
TEST_DEMO = REPO.parent / "shared" / "data" / "mlagents-demos" / "test.demo"
SPEC = BehaviorSpec((ObservationSpec((8,)),), ActionSpec(continuous_size=2))


def write_mlx(path: Path, steps: int, batch: int = 4096) -> float:
    """A 3DBall-like mlx file of ``steps`` records; returns the writing rate (steps/s)."""
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    with DemoWriter(path, "3DBall", SPEC) as writer:
        for first in range(0, steps, batch):
            n = min(batch, steps - first)
            index = np.arange(first, first + n)
            writer.add(
                [rng.standard_normal((n, 8)).astype(np.float32)],
                rng.uniform(-1, 1, (n, 2)).astype(np.float32),
                np.zeros((n, 0), np.int64),
                np.full(n, 0.1, np.float32),
                index % 2200 >= 2178,  # each of 22 agents ends an episode every 100 of its records
                np.zeros(n, bool),
                None,
                index % 22,
            )
    return steps / (time.perf_counter() - start)


def write_mlagents(path: Path, steps: int) -> None:
    """An ML-Agents-layout file: test.demo's metadata (restated), brain, and its records repeated."""
    data = TEST_DEMO.read_bytes()
    length, start = decode_varint(data, 0) or (0, 0)
    meta = DemoMetadata.FromString(data[start : start + length])
    brain_length, brain_start = decode_varint(data, BRAIN_OFFSET) or (0, 0)
    records_start = brain_start + brain_length
    records_end = len(data) - length  # test.demo ends with a bare copy of its metadata
    offsets = []
    offset = records_start
    while offset < records_end:
        record_length, body = decode_varint(data, offset) or (0, 0)
        offsets.append(offset)
        offset = body + record_length
    records = data[records_start:records_end]
    repeats, rest = divmod(steps, len(offsets))
    meta.number_steps = steps
    meta.number_episodes *= steps // len(offsets)
    head = encode_varint(meta.ByteSize()) + meta.SerializeToString()
    with open(path, "wb") as f:
        f.write(head.ljust(BRAIN_OFFSET, b"\0"))
        f.write(data[BRAIN_OFFSET:records_start])
        for _ in range(repeats):
            f.write(records)
        f.write(data[records_start : offsets[rest]] if rest else b"")


def timed(function, *args) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def drain(path: Path) -> int:
    return sum(len(steps) for steps in iter_steps(path))


def tracemalloc_peak(path: Path) -> float:
    """MiB: the peak of Python's (and numpy's) allocations while read_info validates ``path``."""
    tracemalloc.start()
    read_info(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def rss_growth(path: Path) -> float:
    """MiB: how far a fresh process's peak resident set grows while read_info validates ``path``."""
    out = subprocess.run([sys.executable, __file__, "--child", str(path)], capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout)["growth_mib"])


def _status_kib(field: str) -> int:
    """A field of /proc/self/status (VmRSS: resident now, VmHWM: its peak), in KiB."""
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))  # type: ignore[union-attr]


def child(path: Path) -> None:
    next(iter(iter_steps(path, chunk=64)))  # warm up: the readers' code and numpy's paths, loaded once
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) restarts from the resident size now
    before = _status_kib("VmRSS")
    read_info(path)
    print(json.dumps({"growth_mib": (_status_kib("VmHWM") - before) / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[100_000, 400_000])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "demo_reading.md")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if not TEST_DEMO.is_file():
        sys.exit(f"{TEST_DEMO} is absent: the ML-Agents file is built from it")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for steps in args.steps:
            mlx_path, mla_path = Path(folder) / f"mlx_{steps}.demo", Path(folder) / f"mlagents_{steps}.demo"
            write_rate = write_mlx(mlx_path, steps)
            write_mlagents(mla_path, steps)
            for name, path in (("mlx", mlx_path), ("ML-Agents", mla_path)):
                assert read_info(path).steps == steps and drain(path) == steps
                rows.append(
                    {
                        "format": name,
                        "steps": steps,
                        "file_mb": path.stat().st_size / 1e6,
                        "validate": steps / timed(read_info, path),
                        "iterate": steps / timed(drain, path),
                        "write": write_rate if name == "mlx" else None,
                        "tracemalloc": tracemalloc_peak(path),
                        "rss": rss_growth(path),
                    }
                )
                print(rows[-1], flush=True)
    lines = [
        "| format | steps | file MB | read_info (validate) steps/s | iter_steps (decode) steps/s | DemoWriter steps/s "
        "| read_info peak, tracemalloc MiB | read_info peak RSS growth MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        write = f"{r['write']:,.0f}" if r["write"] else "-"
        lines.append(
            f"| {r['format']} | {r['steps']:,} | {r['file_mb']:.1f} | {r['validate']:,.0f} | {r['iterate']:,.0f} "
            f"| {write} | {r['tracemalloc']:.1f} | {r['rss']:.1f} |"
        )
    table = "\n".join(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        "# Demonstration reading\n\n`.venv/bin/python benchmarks/demo_reading.py` "
        f"(Python {sys.version.split()[0]}, numpy {np.__version__}).\n\n{table}\n"
    )
    print(table)


if __name__ == "__main__":
    main()

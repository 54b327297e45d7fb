"""Load on the scoring service: 8 concurrent keep-alive connections on loopback, N requests each,
of 1 row and of 256 rows; p50/p99 latency, rows/s, errors, and the service's CPU microseconds per
row (all its processes; steadier than rows/s, which moves with how the 8 connections fell on
the worker processes).

    .venv/bin/python benchmarks/serve.py [--bundle DIR] [--requests 2000] [--connections 8] [--workers 1 2]

Without ``--bundle`` it trains DeepFM for one epoch on 200k synthetic Criteo rows and exports it.
The service runs as ``recsys serve --workers W`` (W processes) for each W asked; the client is one asyncio process
writing raw HTTP/1.1 (a bounded load client: each connection sends its next request when the
answer to the previous one has arrived). Both share this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import print_table, recsys_cmd, run_measured  # noqa: E402
from benchmarks.train import prepared  # noqa: E402
from serving.probe import wait_ready  # noqa: E402


def bundle(out: Path, rows: int) -> Path:
    raw, data, _ = prepared(out, rows)
    run, target = out / f"serve_run_{rows}", out / f"serve_bundle_{rows}"
    if not (target / "manifest.json").is_file():
        run_measured(recsys_cmd("train", str(data), "--model", "deepfm", "--out", str(run), "--epochs", "1",
                                "--no-progress"))
        run_measured(recsys_cmd("export", str(run), "--out", str(target)))
    return target


def request_bodies(raw: Path, sizes: tuple[int, ...], count: int = 64) -> dict[int, list[bytes]]:
    """JSON bodies of ``size`` raw rows each, cut from the raw Criteo file."""
    names = ["label"] + [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)]
    lines = raw.open().read(20_000_000).splitlines()[:20_000]
    rows = [{k: v for k, v in zip(names, line.split("\t")) if v and k != "label"} for line in lines]
    rng = random.Random(0)
    return {s: [json.dumps({"rows": rng.sample(rows, s)}).encode() for _ in range(count)] for s in sizes}


async def connection(port: int, bodies: list[bytes], n: int, latencies: list[float], errors: list[int],
                     delay_s: float = 0.0) -> None:
    await asyncio.sleep(delay_s)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for i in range(n):
        body = bodies[i % len(bodies)]
        start = time.perf_counter()
        writer.write(b"POST /score HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - start)
        if status != 200:
            errors.append(status)
    writer.close()


async def load(port: int, bodies: list[bytes], connections: int, n: int) -> dict:
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    # Connections open 20 ms apart, as clients arrive, not in one burst: asyncio accepts every
    # connection already queued in one go, so a burst would all land on whichever worker
    # process of `recsys serve --workers N` woke first.
    await asyncio.gather(*(connection(port, bodies, n, latencies, errors, 0.02 * i) for i in range(connections)))
    wall = time.perf_counter() - start
    latencies.sort()
    rows = json.loads(bodies[0])["rows"]
    return {"requests": len(latencies), "errors": len(errors), "p50_ms": latencies[len(latencies) // 2] * 1e3,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1e3, "requests_per_s": len(latencies) / wall,
            "rows_per_s": len(latencies) * len(rows) / wall}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bundle", type=Path)
    p.add_argument("--rows", type=int, default=200_000, help="synthetic rows to train the bundle on")
    p.add_argument("--requests", type=int, default=2000, help="per connection")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--port", type=int, default=18080)
    p.add_argument("--out", type=Path, default=Path("bench_out/train"))
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="recsys serve --workers, one run each")
    p.add_argument("--serve-args", default="", help="extra recsys serve flags, e.g. '--max-wait-ms 1'")
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    target = a.bundle or bundle(a.out, a.rows)
    raw, _, _ = prepared(a.out, a.rows)
    bodies = request_bodies(raw, (1, 256))
    results = []
    for workers in a.workers:
        results += serve_and_load(target, bodies, workers, a)
    print_table(results, ["workers", "rows_per_request", "connections", "requests", "errors", "p50_ms", "p99_ms",
                          "requests_per_s", "rows_per_s", "server_cpu_us_per_row"])
    print("targets: p99 <= 25 ms at 1 row; >= 30,000 rows/s at 256 rows")


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) used so far by process ``root`` and its descendants, from
    /proc: the service's share of the cores, which unlike rows/s does not depend on how the
    connections happened to fall on the worker processes."""
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after the command name
        except OSError:  # the process ended meanwhile
            continue
        pid = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(pid)
        cpu[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    unvisited, total = [root], 0.0
    while unvisited:
        pid = unvisited.pop()
        total += cpu.get(pid, 0.0)
        unvisited += children.get(pid, [])
    return total


def serve_and_load(target: Path, bodies: dict[int, list[bytes]], workers: int, a: argparse.Namespace) -> list[dict]:
    """Start ``recsys serve --workers W``, load it with each request size, stop it."""
    proc = subprocess.Popen(recsys_cmd("serve", str(target), "--port", str(a.port), "--workers", str(workers),
                                       *a.serve_args.split()), stdout=subprocess.DEVNULL)
    results = []
    try:
        if not wait_ready(a.port, alive=lambda: proc.poll() is None):
            raise RuntimeError(f"recsys serve did not become ready (exit code {proc.poll()})")
        for size in (1, 256):
            asyncio.run(load(a.port, bodies[size], a.connections, 50))  # warm-up (every worker)
            cpu = tree_cpu_seconds(proc.pid)
            r = asyncio.run(load(a.port, bodies[size], a.connections, a.requests))
            r["server_cpu_us_per_row"] = (tree_cpu_seconds(proc.pid) - cpu) / (r["requests"] * size) * 1e6
            results.append({"workers": workers, "rows_per_request": size, "connections": a.connections, **r})
            print(results[-1], flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return results


if __name__ == "__main__":
    main()

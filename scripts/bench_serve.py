"""A bounded load test of `ctxembed serve` over loopback: QPS, latency percentiles, errors, server memory.

python scripts/bench_serve.py STATIC_INDEX CONTEXTUAL_INDEX [--requests 2000] [--concurrency 1,8,32] [--rounds 2]

The server runs as `ctxembed serve` in a child process (defaults: 4 computing slots, a queue of 64).
Each round sends `--requests` POST /search requests per (index, mode, concurrency), from that many
client threads, each with its own keep-alive connection; queries cycle through the index's own
document openings. Errors are non-2xx answers (429 counted apart) and dropped connections. The
server's RSS is read before the first and after each round: it should stay flat. The last column
is the p50 of the same queries run in this process with `VectorIndex.search` (the library without
HTTP), measured in the same run, and the service's p50 as a multiple of it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited: {process.stderr.read()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/ready")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("server not ready")


def load(port: int, index: str, mode: str, queries: list[str], total: int, concurrency: int) -> dict[str, float]:
    """`total` searches from `concurrency` threads; latencies in ms and error counts."""
    latencies: list[float] = []
    counts = {"5xx": 0, "429": 0, "other": 0, "dropped": 0}
    lock = threading.Lock()
    per_thread = [total // concurrency + (i < total % concurrency) for i in range(concurrency)]

    def worker(n: int, offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for i in range(n):
            body = json.dumps({"index": index, "query": queries[(offset + i) % len(queries)], "k": 10, "mode": mode})
            started = time.perf_counter()
            try:
                connection.request("POST", "/search", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = None
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                if status is None:
                    counts["dropped"] += 1
                elif status >= 500:
                    counts["5xx"] += 1
                elif status == 429:
                    counts["429"] += 1
                elif status != 200:
                    counts["other"] += 1
                else:
                    latencies.append(elapsed)
        connection.close()

    threads = [threading.Thread(target=worker, args=(n, 97 * t)) for t, n in enumerate(per_thread)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    return {"qps": len(latencies) / wall, "p50": cuts[49], "p95": cuts[94], "p99": cuts[98], **counts}


def in_process_p50(folder: str, mode: str, queries: list[str], n: int = 300) -> float:
    """The library's own latency for the same searches (no HTTP), one at a time."""
    from ctxembed import VectorIndex, embedder_from_manifest
    from ctxembed.index.files import read_manifest

    index = VectorIndex.load(folder, embedder_from_manifest(read_manifest(folder), folder))
    times = []
    for i in range(n):
        started = time.perf_counter()
        index.search([queries[i % len(queries)]], k=10, mode=mode, unknown="skip")
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    from ctxembed.index.files import read_manifest

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("indexes", nargs="+", help="index folders (a static and a contextual one)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--rounds", type=int, default=2, help="repeat the whole load to see memory stay flat")
    args = parser.parse_args()

    port = free_port()
    command = [sys.executable, "-m", "ctxembed.cli", "serve", *args.indexes, "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(port, server)
        names = [Path(f).resolve().name for f in args.indexes]
        queries = {}
        for folder, name in zip(args.indexes, names):
            with open(Path(folder) / "docs.jsonl", encoding="utf-8") as fh:
                texts = [json.loads(line)["text"] for _, line in zip(range(500), fh)]
            queries[name] = [" ".join(t.split()[:8]) for t in texts if t.split()]
        modes = {
            name: ["dense", "hybrid"] if (Path(f) / "sparse").is_dir() else ["dense"]
            for f, name in zip(args.indexes, names)
        }
        print(f"{os.cpu_count()} CPUs; server pid {server.pid}, RSS {rss_mb(server.pid):,.0f} MB after loading")
        for round_ in range(1, args.rounds + 1):
            print(f"\nround {round_}: {args.requests} requests per line")
            print(f"{'index':<22} {'mode':<7} {'conc':>4} {'QPS':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
                  f"{'5xx':>4} {'429':>4} {'drop':>4}")  # fmt: skip
            for name in names:
                for mode in modes[name]:
                    for concurrency in (int(c) for c in args.concurrency.split(",")):
                        r = load(port, name, mode, queries[name], args.requests, concurrency)
                        print(
                            f"{name:<22} {mode:<7} {concurrency:>4} {r['qps']:>8.1f} {r['p50']:>7.1f} {r['p95']:>7.1f} "
                            f"{r['p99']:>7.1f} {r['5xx']:>4} {r['429']:>4} {r['dropped']:>4}",
                            flush=True,
                        )
            print(f"server RSS after round {round_}: {rss_mb(server.pid):,.0f} MB")
    finally:
        server.terminate()
        server.wait(timeout=30)
    print("\nthe library without HTTP (same queries, one at a time, this process):")
    for folder, name in zip(args.indexes, names):
        backend = read_manifest(folder)["embedder"]["backend"]
        for mode in modes[name]:
            print(f"  {name} ({backend}) {mode}: p50 {in_process_p50(folder, mode, queries[name]):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

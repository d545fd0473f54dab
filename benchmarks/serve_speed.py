"""Benchmark: `kvmsearch serve` as its users meet it.

(a) the CLI as a fresh process with a server running (the fast path over the Unix
    socket) against the same query with ``--no-server``, in the same run, for a prose, a
    path and an identifier query;
(b) warm searches through the server's JSON API (loopback HTTP, one keep-alive
    connection; the time is the client's round trip, so it includes HTTP and JSON):
    every dev query once untimed, then ``--rounds`` timed passes;
(c) the server's resident memory after (b).

Targets (issue "kvmsearch serve"): (a) p50 <= 60 ms and <= 0.12x the local run;
(b) p50 <= 15 ms, p95 <= 40 ms.

    .venv/bin/python benchmarks/serve_speed.py --index DIR [--runs 20] [--local-runs 5]
        [--rounds 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

from build_corpus import load, machine
from query_speed import COLD_QUERIES, DEFAULT_QUERIES, kvmsearch_command, pct, run_cold
from report import emit

TARGETS = {"cli_p50_ms": 60.0, "cli_ratio": 0.12, "api_p50_ms": 15.0, "api_p95_ms": 40.0}


def start(index: str, runtime: str) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "XDG_RUNTIME_DIR": runtime}
    proc = subprocess.Popen(
        [*kvmsearch_command(), "serve", "--index", index, "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not m:
        proc.kill()
        sys.exit(f"the server did not start: {line.strip()}")
    return proc, int(m.group(1))


def rss_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def cli(index: str, runtime: str, runs: int, local_runs: int) -> dict[str, Any]:
    os.environ["XDG_RUNTIME_DIR"] = runtime
    base = kvmsearch_command()
    out: dict[str, Any] = {}
    for kind, query in COLD_QUERIES.items():
        via = [*base, "--index", index, query]
        local = [*via, "--no-server"]
        run_cold(via)
        run_cold(local)  # both with a warm page cache
        served = [run_cold(via)[0] * 1000 for _ in range(runs)]
        alone = [run_cold(local)[0] * 1000 for _ in range(local_runs)]
        p50, p50_local = pct(served, 50), pct(alone, 50)
        out[kind] = {
            "query": query,
            "server_p50_ms": round(p50, 1),
            "server_p95_ms": round(pct(served, 95), 1),
            "server_min_ms": round(min(served), 1),
            "local_p50_ms": round(p50_local, 1),
            "ratio": round(p50 / p50_local, 3),
        }
    return out


def api(port: int, queries: Path, rounds: int) -> dict[str, Any]:
    qs = [json.loads(line) for line in queries.read_text().splitlines() if line.strip()]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def ask(q: str) -> float:
        t = time.perf_counter()
        conn.request("GET", "/api/search?" + urllib.parse.urlencode({"q": q, "limit": 10}))
        r = conn.getresponse()
        body = r.read()
        ms = (time.perf_counter() - t) * 1000
        if r.status != 200:
            sys.exit(f"/api/search {q!r} answered {r.status}: {body[:200]!r}")
        return ms

    for q in qs:
        ask(q["query"])
    times: list[float] = []
    by_kind: dict[str, list[float]] = {}
    for _ in range(rounds):
        for q in qs:
            ms = ask(q["query"])
            times.append(ms)
            by_kind.setdefault(q.get("kind", "?"), []).append(ms)
    return {
        "queries": len(qs),
        "rounds": rounds,
        "p50_ms": round(pct(times, 50), 1),
        "p95_ms": round(pct(times, 95), 1),
        "p99_ms": round(pct(times, 99), 1),
        "by_kind_p50_ms": {k: round(pct(v, 50), 1) for k, v in sorted(by_kind.items())},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--local-runs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    index = str(Path(a.index).resolve())
    with tempfile.TemporaryDirectory(prefix="kvmsearch-run-") as runtime:
        os.chmod(runtime, 0o700)
        load_before = load()
        cpu0 = os.times()
        proc, port = start(index, runtime)
        try:
            result: dict[str, Any] = {
                "machine": machine(),
                "load_before": load_before,
                "index": index,
                "cli": cli(index, runtime, a.runs, a.local_runs),
                "api": api(port, a.queries, a.rounds),
                "server_rss_mb": rss_mb(proc.pid),
            }
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        cpu1 = os.times()
        result["load_after"] = load()
        result["children_cpu_s"] = round(
            (cpu1.children_user - cpu0.children_user)
            + (cpu1.children_system - cpu0.children_system),
            1,
        )
    result["targets"] = TARGETS
    emit(result, a.json)


if __name__ == "__main__":
    main()

"""Query speed and memory of a built index, as users meet them.

(a) cold: `kvmsearch QUERY` as a fresh process (imports, index open, model load, search,
    rendering), for a prose, a path and an identifier query;
(b) warm: the library with the index opened once, every query of the eval set;
(c) memory: peak RSS of each cold query process and of the warm library process.

The page cache is warm in both cases: "cold" means a fresh process, not a cold disk.

    .venv/bin/python benchmarks/query_speed.py --index /path/to/index [--runs 20]
        [--queries ../shared/eval/dev.jsonl] [--rounds 3] > query_speed.json

The human summary goes to stderr, the JSON to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_QUERIES = REPO.parent / "shared" / "eval" / "dev.jsonl"

COLD_QUERIES = {
    "prose": "dirty log DBM",
    "path": "arch/arm64/kvm/pvtime.c",
    "ident": "KVM_CAP_STEAL_TIME",
}
TARGETS = {
    "cold_p50_s": 1.0,
    "warm_p50_ms": 30.0,
    "warm_p95_ms": 80.0,
    "peak_rss_mb": 500.0,
}


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def kvmsearch_command() -> list[str]:
    """The console script of this interpreter's environment, else `python -m`."""
    script = Path(sys.executable).with_name("kvmsearch")
    if script.exists():
        return [str(script)]
    found = shutil.which("kvmsearch")
    return [found] if found else [sys.executable, "-m", "kvmsearch.cli"]


def run_cold(argv: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB and exit status of one fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):  # 1: no match, still a complete query
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err.strip()}")
    if proc.stderr:
        proc.stderr.close()
    return wall, usage.ru_maxrss / 1024, proc.returncode


def cold(index: str, runs: int) -> dict[str, Any]:
    base = kvmsearch_command()
    out: dict[str, Any] = {"command": " ".join(base), "runs": runs}
    for kind, query in COLD_QUERIES.items():
        argv = [*base, "--index", index, query]
        run_cold(argv)  # the first run fills the page cache; not counted
        walls, rss = [], []
        for _ in range(runs):
            w, r, _code = run_cold(argv)
            walls.append(w)
            rss.append(r)
        out[kind] = {
            "query": query,
            "p50_s": round(pct(walls, 50), 3),
            "p95_s": round(pct(walls, 95), 3),
            "min_s": round(min(walls), 3),
            "peak_rss_mb": round(max(rss), 1),
        }
    return out


def warm(index: str, queries_path: Path, rounds: int, mode: str) -> dict[str, Any]:
    from kvmsearch import Index
    from kvmsearch.query.evaluate import load_queries

    qs = load_queries(queries_path)
    t0 = time.perf_counter()
    idx = Index.open(index)
    opened = time.perf_counter() - t0
    t0 = time.perf_counter()
    idx.search(qs[0].query, limit=10, mode=mode)  # loads the lexical index, model, faiss
    first = time.perf_counter() - t0
    for q in qs:  # one untimed pass: every lazily loaded part is in memory afterwards
        idx.search(q.query, limit=10, mode=mode)
    times: list[float] = []
    by_kind: dict[str, list[float]] = {}
    slowest: list[tuple[float, str]] = []
    for _ in range(rounds):
        for q in qs:
            t = time.perf_counter()
            idx.search(q.query, limit=10, mode=mode)
            ms = (time.perf_counter() - t) * 1000
            times.append(ms)
            by_kind.setdefault(q.kind, []).append(ms)
            slowest.append((ms, q.qid))
    slowest.sort(reverse=True)
    seen: set[str] = set()
    top = []
    for ms, qid in slowest:
        if qid not in seen:
            seen.add(qid)
            top.append({"qid": qid, "ms": round(ms, 1)})
        if len(top) == 5:
            break
    return {
        "mode": mode,
        "queries": len(qs),
        "rounds": rounds,
        "open_ms": round(opened * 1000, 1),
        "first_query_ms": round(first * 1000, 1),
        "p50_ms": round(pct(times, 50), 1),
        "p95_ms": round(pct(times, 95), 1),
        "max_ms": round(max(times), 1),
        "by_kind": {
            k: {
                "n": len(v) // rounds,
                "p50_ms": round(pct(v, 50), 1),
                "p95_ms": round(pct(v, 95), 1),
            }
            for k, v in sorted(by_kind.items())
        },
        "slowest": top,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def verdict(res: dict[str, Any]) -> dict[str, bool | None]:
    c, w = res["cold"], res["warm"]
    cold_rss = [c[k]["peak_rss_mb"] for k in COLD_QUERIES] if c else []
    peak = max([*cold_rss, w["peak_rss_mb"]])
    return {
        "cold_p50": (
            all(c[k]["p50_s"] <= TARGETS["cold_p50_s"] for k in COLD_QUERIES) if c else None
        ),
        "warm_p50": w["p50_ms"] <= TARGETS["warm_p50_ms"],
        "warm_p95": w["p95_ms"] <= TARGETS["warm_p95_ms"],
        "peak_rss": peak <= TARGETS["peak_rss_mb"],
    }


def summary(res: dict[str, Any]) -> str:
    c, w, ok = res["cold"], res["warm"], res["meets_targets"]

    def mark(b: bool | None) -> str:
        return "ok" if b else "MISSED"

    lines = [f"index {res['index']}  ({res['counts']}, query model {res['query_model']})"]
    if not c:
        lines.append("cold: skipped")
    else:
        lines.append(
            f"cold, fresh `{c['command']}` process, {c['runs']} runs "
            f"(target p50 <= {TARGETS['cold_p50_s']} s): {mark(ok['cold_p50'])}"
        )
    for kind in COLD_QUERIES if c else ():
        k = c[kind]
        lines.append(
            f"  {kind:<6} {k['query']!r:<28} p50 {k['p50_s']:.3f} s  "
            f"p95 {k['p95_s']:.3f} s  min {k['min_s']:.3f} s  "
            f"peak RSS {k['peak_rss_mb']:.0f} MB"
        )
    lines += [
        f"warm library, {w['mode']}, {w['queries']} queries x {w['rounds']} rounds "
        f"(target p50 <= {TARGETS['warm_p50_ms']:.0f} ms {mark(ok['warm_p50'])}, "
        f"p95 <= {TARGETS['warm_p95_ms']:.0f} ms {mark(ok['warm_p95'])})",
        f"  open {w['open_ms']} ms, first query {w['first_query_ms']} ms (loads the parts)",
        f"  all    p50 {w['p50_ms']} ms  p95 {w['p95_ms']} ms  max {w['max_ms']} ms",
    ]
    for kind, k in w["by_kind"].items():
        lines.append(f"  {kind:<6} p50 {k['p50_ms']} ms  p95 {k['p95_ms']} ms  (n={k['n']})")
    lines.append("  slowest: " + ", ".join(f"{s['qid']} {s['ms']} ms" for s in w["slowest"]))
    lines.append(
        f"peak RSS (target <= {TARGETS['peak_rss_mb']:.0f} MB): "
        f"{mark(ok['peak_rss'])}; warm library process {w['peak_rss_mb']:.0f} MB"
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", required=True, help="a built index directory")
    ap.add_argument("--queries", type=Path, default=DEFAULT_QUERIES, help="eval JSONL")
    ap.add_argument("--runs", type=int, default=20, help="cold runs per query")
    ap.add_argument("--rounds", type=int, default=3, help="warm passes over the queries")
    ap.add_argument("--mode", default="hybrid", choices=["hybrid", "lexical", "semantic"])
    ap.add_argument("--skip-cold", action="store_true", help="only the warm library part")
    args = ap.parse_args()

    from kvmsearch import Index

    st = Index.open(args.index).status()
    res: dict[str, Any] = {
        "index": args.index,
        "counts": {k: st.counts.get(k) for k in ("series_versions", "families", "chunks")},
        "query_model": "onnx" if st.onnx else "sentence-transformers",
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "targets": TARGETS,
    }
    res["cold"] = None if args.skip_cold else cold(args.index, args.runs)
    res["warm"] = warm(args.index, args.queries, args.rounds, args.mode)
    res["meets_targets"] = verdict(res)
    print(summary(res), file=sys.stderr)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()

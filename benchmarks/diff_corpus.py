"""Benchmark: `kvmsearch diff` over every version pair of the corpus.

For each series with two or more version numbers, each pair of consecutive versions is
compared through the library (``Index.diff``). Checks, for every patch matched across
the pair, that it is reported unchanged exactly when its stable patch id is unchanged;
counts statuses and how many changed patches got an interdiff (their diffs stored);
times the comparisons. Then times `kvmsearch diff` as a fresh process (``--cold``
runs) on the series with the most patches.

Target (issue "The review record"): cold `kvmsearch diff` <= 1 s on the full index.

    .venv/bin/python benchmarks/diff_corpus.py --index DIR [--cold 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from build_corpus import load, machine
from query_speed import kvmsearch_command, pct, run_cold
from report import emit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--cold", type=int, default=5)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    from kvmsearch import Index

    idx = Index.open(a.index)
    docs = idx.searcher().docs
    series = [
        s
        for (s,) in docs.db.execute(
            "SELECT series FROM versions GROUP BY series HAVING COUNT(DISTINCT json_extract("
            "json, '$.version')) >= 2"
        )
    ]
    statuses: Counter[str] = Counter()
    pairs = mismatches = with_interdiff = 0
    times: list[float] = []
    biggest = ("", 0)
    t_all = time.perf_counter()
    for s in series:
        versions = docs.series_versions(s)
        nums = sorted({v.version for v in versions})
        by_num = {v.version: v for v in sorted(versions, key=lambda v: v.date or 0)}
        for x, y in zip(nums, nums[1:], strict=False):
            t = time.perf_counter()
            d = idx.diff(s, x, y)
            times.append((time.perf_counter() - t) * 1000)
            pairs += 1
            # the postings the comparison took (the newest of each number in the family)
            old_v, new_v = docs.get(d.old_message_id), docs.get(d.new_message_id)
            old_ids = {p.message_id: p.patch_id for p in (old_v.patches if old_v else ())}
            new_ids = {p.message_id: p.patch_id for p in (new_v.patches if new_v else ())}
            for p in d.patches:
                statuses[p.status] += 1
                if p.status in ("unchanged", "changed"):
                    a_id, b_id = old_ids.get(p.old_message_id), new_ids.get(p.new_message_id)
                    same = a_id is not None and a_id == b_id
                    if same != (p.status == "unchanged"):
                        mismatches += 1
                if p.status == "changed" and p.interdiff is not None:
                    with_interdiff += 1
            n = len(by_num[y].patches)
            if n > biggest[1]:
                biggest = (by_num[y].message_id, n)
    wall = time.perf_counter() - t_all
    cold: dict[str, object] = {}
    if biggest[0] and a.cold:
        argv = [*kvmsearch_command(), "diff", "--index", a.index, "--no-server", biggest[0]]
        run_cold(argv)
        walls = [run_cold(argv)[0] for _ in range(a.cold)]
        cold = {
            "series": biggest[0],
            "patches": biggest[1],
            "runs": a.cold,
            "p50_s": round(pct(walls, 50), 3),
            "max_s": round(max(walls), 3),
        }
    result = {
        "machine": machine(),
        "load": load(),
        "series_with_versions": len(series),
        "version_pairs": pairs,
        "patches": dict(statuses),
        "unchanged_iff_patch_id_unchanged_violations": mismatches,
        "changed_with_interdiff": with_interdiff,
        "library_diff_ms": {
            "p50": round(pct(times, 50), 1),
            "p95": round(pct(times, 95), 1),
            "max": round(max(times), 1) if times else None,
        },
        "all_pairs_wall_s": round(wall, 1),
        "cold_cli": cold,
    }
    emit(result, a.json)


if __name__ == "__main__":
    main()

"""Relevance of the three search modes on a judged query set (../shared/eval/README.md).

    .venv/bin/python benchmarks/relevance.py --index DIR [--queries FILE] [--folds]
        [--per-query] > relevance.json

Prints a per-kind table (MRR@10, R@10, nDCG@10, S@1) for hybrid, lexical and semantic to
stderr and one JSON object to stdout: the scores, the ranking knobs used, the load average.

Crediting follows the README: a hit counts for the family its ids belong to *in the
judgement*. The judges' family id is the root Message-ID of a family's earliest version,
so a hit whose version root is itself a judged family id is credited to that family even
where kvmsearch's family assembly merged it with another lineage; every other id is
mapped to kvmsearch's series (what one hit stands for; a family is a whole lineage and
may hold several series). (`kvmsearch eval` uses kvmsearch's series only, which
is stricter where the two assemblies differ.)

``--folds`` checks that the fusion knobs are not fitted to the dev set: the queries of
each kind are split in two halves (alternating by qid), the prose knobs (w_dense,
dense_floor) are chosen on one half by hybrid nDCG@10 and scored on the other, both
ways round; the neighbours of the shipped values are reported too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_QUERIES = REPO.parent / "shared" / "eval" / "dev.jsonl"
MODES = ("hybrid", "lexical", "semantic")
W_GRID = (0.3, 0.4, 0.5, 0.6, 0.7)
FLOOR_GRID = (0.1, 0.2, 0.3)


def judged_family_of(index: Any, relevant: set[str]) -> Callable[[str], str | None]:
    """Any Message-ID -> the family the judgement credits it to (see module notes)."""
    docs = index.searcher().docs
    memo: dict[str, str | None] = {}

    def family_of(mid: str) -> str | None:
        if mid not in memo:
            root = docs.resolve(mid)
            memo[mid] = root if root in relevant else docs.series_root(mid)
        return memo[mid]

    return family_of


def run_mode(index: Any, queries: Sequence[Any], mode: str) -> tuple[dict, float]:
    """Ranked Message-ID lists per qid, and the seconds it took."""
    t0 = time.perf_counter()
    results = {}
    for q in queries:
        hits = index.search(q.query, limit=10, mode=mode)
        results[q.qid] = [[v.message_id for v in h.versions] for h in hits]
    return results, time.perf_counter() - t0


def score(queries: Sequence[Any], results: dict, family_of: Callable) -> Any:
    from kvmsearch.query.evaluate import evaluate

    return evaluate(queries, results, family_of)


def halves(queries: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """Two halves with every kind split evenly: alternate within each kind by qid."""
    a: list[Any] = []
    b: list[Any] = []
    by_kind: dict[str, list[Any]] = {}
    for q in queries:
        by_kind.setdefault(q.kind, []).append(q)
    for qs in by_kind.values():
        for i, q in enumerate(sorted(qs, key=lambda q: q.qid)):
            (a if i % 2 == 0 else b).append(q)
    return a, b


def fold_check(index: Any, queries: Sequence[Any], family_of: Callable) -> dict[str, Any]:
    """Pick (w_dense, dense_floor) on one half, score on the other, both ways."""
    tuning = index.searcher().tuning
    shipped = (tuning.w_dense, tuning.dense_floor)
    prose = [q for q in queries if q.kind not in ("path", "ident")]
    grid: dict[tuple[float, float], dict[str, float]] = {}
    try:
        for w in W_GRID:
            for floor in FLOOR_GRID:
                tuning.w_dense, tuning.dense_floor = w, floor
                results, _ = run_mode(index, prose, "hybrid")
                rep = score(prose, results, family_of)
                grid[(w, floor)] = {qid: s["ndcg"] for qid, s in rep.per_query.items()}
    finally:
        tuning.w_dense, tuning.dense_floor = shipped

    def mean(knobs: tuple[float, float], part: Sequence[Any]) -> float:
        return sum(grid[knobs][q.qid] for q in part) / len(part)

    a, b = halves(prose)
    folds = []
    for name, tune, test in (("A->B", a, b), ("B->A", b, a)):
        best = max(grid, key=lambda k: (round(mean(k, tune), 6), k == shipped))
        folds.append(
            {
                "fold": name,
                "chosen": best,
                "tune_ndcg": mean(best, tune),
                "test_ndcg": mean(best, test),
                "shipped_test_ndcg": mean(shipped, test),
            }
        )
    return {
        "queries": len(prose),
        "shipped": shipped,
        "folds": folds,
        "grid": {f"w={w} floor={fl}": round(mean((w, fl), prose), 4) for w, fl in grid},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", required=True, help="index home directory")
    ap.add_argument("--queries", default=str(DEFAULT_QUERIES), help="judged JSONL file")
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--folds", action="store_true", help="2-fold check of the fusion knobs")
    ap.add_argument("--per-query", action="store_true", help="per-query scores in the JSON")
    args = ap.parse_args(argv)

    from kvmsearch import Index
    from kvmsearch.query.evaluate import format_report, load_queries

    queries = load_queries(args.queries)
    out: dict[str, Any] = {
        "index": args.index,
        "queries": args.queries,
        "load_avg_start": os.getloadavg(),
        "modes": {},
    }
    with Index.open(args.index) as index:
        family_of = judged_family_of(index, {r for q in queries for r in q.relevant})
        out["tuning"] = dataclasses.asdict(index.searcher().tuning)
        reports = {}
        for mode in args.modes:
            results, secs = run_mode(index, queries, mode)
            rep = reports[mode] = score(queries, results, family_of)
            d = {"by_kind": rep.by_kind, "counts": rep.counts, "seconds": round(secs, 2)}
            if args.per_query:
                d["per_query"] = rep.per_query
            out["modes"][mode] = d
        print(format_report(reports), file=sys.stderr)
        if args.folds:
            out["folds"] = fold_check(index, queries, family_of)
            for f in out["folds"]["folds"]:
                print(
                    f"fold {f['fold']}: chose w_dense={f['chosen'][0]} "
                    f"dense_floor={f['chosen'][1]} (tune {f['tune_ndcg']:.3f}); held-out "
                    f"nDCG@10 {f['test_ndcg']:.3f} (shipped knobs "
                    f"{f['shipped_test_ndcg']:.3f})",
                    file=sys.stderr,
                )
    out["load_avg_end"] = os.getloadavg()
    json.dump(out, sys.stdout, indent=1, default=str)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

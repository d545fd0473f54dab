"""Benchmark: are the *why* lines worth reading?

``dump``: the why lines of the top 3 hits of every dev query and every fresh query in
``judged/speed_fresh_queries.txt``, as JSON lines. ``sample``: a fixed random sample of
a dump (seeded), to judge by hand. ``score``: the share of accepted lines in a judged
file (``benchmarks/judged/why_lines.jsonl``: one line per judged why line with
``set``, ``title``, ``why`` and ``ok`` 0/1), per set.

A line is accepted when a maintainer would take it as saying what the series changes
or why (the problem, its cause, the effect, the fix); greetings, version and base
talk, references, tables, test reports, plans and bare fragments are not.

    .venv/bin/python benchmarks/why_lines.py dump --index DIR > why.jsonl
    .venv/bin/python benchmarks/why_lines.py sample why.jsonl --n 50 --seed 12
    .venv/bin/python benchmarks/why_lines.py score benchmarks/judged/why_lines.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path

from query_speed import DEFAULT_QUERIES

FRESH = Path(__file__).resolve().parent / "judged" / "speed_fresh_queries.txt"


def dump(index: str) -> None:
    from kvmsearch import Index

    idx = Index.open(index)
    qs = [json.loads(x)["query"] for x in DEFAULT_QUERIES.read_text().splitlines() if x.strip()]
    qs += [x.strip() for x in FRESH.read_text().splitlines() if x.strip()]
    for q in qs:
        for h in idx.search(q, limit=3):
            for w in h.why:
                print(json.dumps({"q": q, "title": h.title, "why": w}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--index", required=True)
    s = sub.add_parser("sample")
    s.add_argument("file", type=Path)
    s.add_argument("--n", type=int, default=50)
    s.add_argument("--seed", type=int, default=12)
    c = sub.add_parser("score")
    c.add_argument("file", type=Path)
    a = ap.parse_args()
    if a.cmd == "dump":
        dump(a.index)
    elif a.cmd == "sample":
        rows = [json.loads(x) for x in a.file.read_text().splitlines() if x.strip()]
        random.seed(a.seed)
        for r in random.sample(rows, min(a.n, len(rows))):
            print(json.dumps(r))
    else:
        by: dict[str, list[int]] = defaultdict(list)
        for x in a.file.read_text().splitlines():
            if x.strip():
                r = json.loads(x)
                by[r["set"]].append(int(r["ok"]))
        for name, oks in by.items():
            print(f"{name:24} {sum(oks):3}/{len(oks)} accepted = {sum(oks) / len(oks):.0%}")


if __name__ == "__main__":
    main()

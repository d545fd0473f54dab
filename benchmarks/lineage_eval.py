"""Lineage precision and recall on judged posting pairs.

    .venv/bin/python benchmarks/lineage_eval.py --index DIR [--pairs FILE] [--json]
    .venv/bin/python benchmarks/lineage_eval.py --parsed parse.jsonl   # `kvmsearch parse --json`

A pair is predicted "same series" when both postings are in one family. Precision is
over the pairs predicted same, recall over the pairs judged same. The judged pairs are
in ``benchmarks/judged/lineage_pairs.jsonl`` (how they were judged: ``judged/README.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from judged_source import add_source_args, versions

HERE = Path(__file__).resolve().parent
DEFAULT_PAIRS = HERE / "judged" / "lineage_pairs.jsonl"


def score(pairs: list[dict], fam: dict[str, str]) -> dict:
    tp = fp = fn = tn = missing = 0
    wrong: list[dict] = []
    by_case: dict[str, list[int]] = {}
    for p in pairs:
        a, b = fam.get(p["a"]), fam.get(p["b"])
        if a is None or b is None:
            missing += 1
            continue
        pred = a == b
        c = by_case.setdefault(p["case"], [0, 0])
        c[1] += 1
        if pred == p["same"]:
            c[0] += 1
        if pred and p["same"]:
            tp += 1
        elif pred:
            fp += 1
            wrong.append({"kind": "joined, judged different", **p})
        elif p["same"]:
            fn += 1
            wrong.append({"kind": "split, judged same", **p})
        else:
            tn += 1
    return {
        "pairs": len(pairs),
        "missing": missing,
        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "recall": round(tp / (tp + fn), 3) if tp + fn else None,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "right_by_case": {k: f"{v[0]}/{v[1]}" for k, v in sorted(by_case.items())},
        "wrong": [
            {k: w[k] for k in ("kind", "case", "a_subject", "b_subject", "note")} for w in wrong
        ],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_source_args(ap)
    ap.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    pairs = [json.loads(x) for x in args.pairs.read_text().splitlines() if x.strip()]
    fam = {d["message_id"]: d["family"] for d in versions(args)}
    out = score(pairs, fam)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(
            f"{out['pairs']} pairs ({out['missing']} not found): precision {out['precision']}, "
            f"recall {out['recall']} (tp {out['tp']}, fp {out['fp']}, fn {out['fn']}, "
            f"tn {out['tn']})"
        )
        print("right by case:", out["right_by_case"])
        for w in out["wrong"]:
            print(f"  {w['kind']} [{w['case']}]: {w['a_subject'][:60]} | {w['b_subject'][:60]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

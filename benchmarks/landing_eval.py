"""Landing status accuracy on judged series versions.

    .venv/bin/python benchmarks/landing_eval.py --index DIR [--judged FILE]
    .venv/bin/python benchmarks/landing_eval.py --parsed parse.jsonl   # `kvmsearch parse --json`

Status accuracy over every judged version; for versions judged applied or partial, how
often the maintainer (address) and the tree/branch are right. Judged versions are in
``benchmarks/judged/landing.jsonl`` (how they were judged: ``judged/README.md``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from judged_source import add_source_args, versions

HERE = Path(__file__).resolve().parent
DEFAULT = HERE / "judged" / "landing.jsonl"


def _addr(by: str) -> str:
    m = re.search(r"<([^>]+)>", by)
    return (m.group(1) if m else by).strip().lower()


def score(judged: list[dict], got: dict[str, dict]) -> dict:
    right = n = applied = by_ok = where_ok = 0
    wrong: list[str] = []
    for j in judged:
        g = got.get(j["version"])
        if g is None:
            wrong.append(f"missing: {j['subject'][:70]}")
            continue
        n += 1
        if g["status"] == j["status"]:
            right += 1
        else:
            wrong.append(f"status {g['status']} != {j['status']}: {j['subject'][:70]}")
        if j["status"] != "none":
            applied += 1
            if _addr(g.get("by", "")) == j["by"].lower():
                by_ok += 1
            else:
                wrong.append(f"by {g.get('by')!r} != {j['by']!r}: {j['subject'][:60]}")
            if g.get("where", "") == j["where"]:
                where_ok += 1
            else:
                wrong.append(f"where {g.get('where')!r} != {j['where']!r}: {j['subject'][:60]}")
    return {
        "versions": n,
        "status_accuracy": round(right / n, 3) if n else None,
        "applied_judged": applied,
        "by_right": round(by_ok / applied, 3) if applied else None,
        "where_right": round(where_ok / applied, 3) if applied else None,
        "wrong": wrong,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_source_args(ap)
    ap.add_argument("--judged", type=Path, default=DEFAULT)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    judged = [json.loads(x) for x in args.judged.read_text().splitlines() if x.strip()]
    got = {d["message_id"]: d["landing"] for d in versions(args)}
    out = score(judged, got)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(
            f"{out['versions']} versions: status accuracy {out['status_accuracy']}; of "
            f"{out['applied_judged']} applied: maintainer right {out['by_right']}, "
            f"tree/branch right {out['where_right']}"
        )
        for w in out["wrong"]:
            print("  " + w)
    return 0


if __name__ == "__main__":
    sys.exit(main())

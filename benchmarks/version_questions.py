"""Benchmark: questions that name a version answer with that version's own changes.

For each judged question (``judged/version_questions.jsonl``: query, the series that
answers it, the version asked about and a phrase of that version's own changelog):
is the series among the first three hits, is the asked version shown on its versions
line, and do the hit's changelog lines carry the expected phrase under that version?

    .venv/bin/python benchmarks/version_questions.py --index DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

JUDGED = Path(__file__).resolve().parent / "judged" / "version_questions.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--judged", type=Path, default=JUDGED)
    a = ap.parse_args()
    from kvmsearch import Index

    idx = Index.open(a.index)
    found = shown = answered = 0
    rows = [json.loads(x) for x in a.judged.read_text().splitlines() if x.strip()]
    for r in rows:
        hits = idx.search(r["query"], limit=3)
        want = idx.series_of(r["series"])
        hit = next((h for h in hits if idx.series_of(h.series) == want), None)
        ok_shown = ok_answer = False
        if hit is not None:
            found += 1
            ok_shown = r["version"] in hit.asked_versions
            shown += ok_shown
            ok_answer = any(
                r["expect"].lower() in (" ".join(e.items) or e.text).lower()
                and e.version.lower().startswith(f"v{r['version']}")
                for e in hit.changelog
            )
            answered += ok_answer
        print(
            f"{r['qid']}: series {'top3' if hit else 'MISSING'}, version shown "
            f"{ok_shown}, own change {ok_answer}"
        )
    n = len(rows)
    print(
        f"series in top 3: {found}/{n}; asked version shown: {shown}/{n}; "
        f"that version's own change in the answer: {answered}/{n}"
    )


if __name__ == "__main__":
    main()

"""The review ledger and reply attachment over a corpus (issue 11, parts 1-2).

    .venv/bin/python benchmarks/review_ledger.py [PATH ...]   # default: ../shared/corpus/*.mbox.xz

Parses the archives in this process and reports:
- replies attached to the series version they answer, and the others by reason (a
  reply is attached when any message it names is a cover or patch that was read, so
  the unattached ones name only discussion mail or mail outside the archive);
- for every ``Reviewed-by`` in the body of a patch of a version numbered 2 or more whose
  family holds an earlier version: the share the ledger explains (the same person gave
  it on an earlier version, in a reply or that version's body), the rest "first in the
  patch" (given off the archived lists, or on a version the archive lacks).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="*")
    args = ap.parse_args()
    paths = args.paths or sorted(str(p) for p in (SHARED / "corpus").glob("*.mbox.xz"))

    from kvmsearch.indexer.series.pipeline import parse_paths

    t0 = time.monotonic()
    result = parse_paths(paths)
    seconds = time.monotonic() - t0
    r = result.report
    fam: dict[str, list] = defaultdict(list)
    for v in result.versions:
        fam[v.family].append(v)
    total = carried = no_earlier = 0
    statuses: dict[str, int] = defaultdict(int)
    for v in result.versions:
        for t in v.trailers:
            statuses[t.status] += 1
        if v.version < 2:
            continue
        earlier = [w for w in fam[v.family] if w.date and v.date and w.date < v.date]
        for t in v.trailers:
            if t.kind != "reviewed-by" or t.status not in ("carried", "in-patch"):
                continue
            if not earlier:
                no_earlier += 1
                continue
            total += 1
            carried += t.status == "carried"
    out = {
        "paths": paths,
        "parse_seconds": round(seconds, 1),
        "replies": r.replies,
        "replies_attached": r.replies_attached,
        "replies_unattached": r.replies_unattached,
        "trailer_statuses": dict(statuses),
        "reviewed_by_in_v2plus_bodies": total,
        "explained_by_an_earlier_version": carried,
        "explained_share": round(carried / total, 4) if total else None,
        "without_an_earlier_version_in_the_archive": no_earlier,
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

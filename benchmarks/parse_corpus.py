"""Benchmark: parse the whole shared corpus (three .mbox.xz archives, ~55k messages).

Prints wall time, CPU time, peak RSS (this process and, separately, the largest decode
worker) and the counts. Also checks that versions whose patches are all present list
exactly the files their patch diffs touch.

    .venv/bin/python benchmarks/parse_corpus.py [--json] [PATH ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    paths = args.paths or sorted(str(p) for p in (SHARED / "corpus").glob("*.mbox.xz"))

    import kvmsearch

    t0, c0 = time.monotonic(), time.process_time()
    result = kvmsearch.parse(paths, workers=args.workers)
    wall = time.monotonic() - t0
    cpu_self = time.process_time() - c0
    ru_self = resource.getrusage(resource.RUSAGE_SELF)
    ru_kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = result.report

    complete = [v for v in result.versions if v.complete and v.patches]
    mismatched = []
    for v in complete:
        diff_files = []
        for p in v.patches:
            diff_files.extend(p.files)
        if set(v.cover.files) != set(diff_files):
            mismatched.append(v.message_id)

    out = {
        "paths": paths,
        "machine": f"{platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "wall_s": round(wall, 1),
        "cpu_s_main": round(cpu_self, 1),
        "cpu_s_workers": round(ru_kids.ru_utime + ru_kids.ru_stime, 1),
        "peak_rss_main_mb": round(ru_self.ru_maxrss / 1024),
        "peak_rss_largest_worker_mb": round(ru_kids.ru_maxrss / 1024),
        "messages_read": r.messages_read,
        "duplicates": r.duplicates,
        "replies": r.replies,
        "in_series": r.in_series,
        "other": r.other,
        "skips": r.skip_counts(),
        "series_versions": r.series_versions,
        "kinds": r.kinds,
        "families": r.families,
        "complete_versions_with_patches": len(complete),
        "complete_versions_files_mismatch": len(mismatched),
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            print(f"{k}: {v}")
        if mismatched:
            print("first mismatches:", mismatched[:5], file=sys.stderr)


if __name__ == "__main__":
    main()

"""Draw series at random for a fresh question set.

Fresh questions are written from a drawn series' own text before anything is run, so
the draw has to be reproducible and must not fall on work seen before: every family
named in ``benchmarks/judged/*.jsonl`` (drawn, or shown first) is skipped, as are pull
requests and stable backports (their text is another series' text). Each family is
drawn once, by its latest version.

    python benchmarks/draw_fresh.py --seed 2050 -n 40 > /tmp/draw.jsonl
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CATALOGUE = HERE.parent.parent / "shared" / "eval" / "catalogue.jsonl.gz"
# every field of a judged file that names a family someone has read
_FAMILY_FIELDS = ("drawn_family", "first_family", "family", "families", "relevant_families")


def seen_families(judged: Path) -> set[str]:
    seen: set[str] = set()
    for path in sorted(judged.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            for field in _FAMILY_FIELDS:
                value = row.get(field)
                if isinstance(value, str):
                    seen.add(value)
                elif isinstance(value, list):
                    seen.update(v for v in value if isinstance(v, str))
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("-n", type=int, default=40, help="how many to draw (spares included)")
    parser.add_argument("--catalogue", type=Path, default=CATALOGUE)
    parser.add_argument("--judged", type=Path, default=HERE / "judged")
    args = parser.parse_args()
    latest: dict[str, dict] = {}
    with gzip.open(args.catalogue, "rt") as fh:
        for line in fh:
            row = json.loads(line)
            if row["kind"] != "series":
                continue
            old = latest.get(row["family"])
            if old is None or (row["version"], row["date"]) > (old["version"], old["date"]):
                latest[row["family"]] = row
    seen = seen_families(args.judged)
    pool = sorted(f for f in latest if f not in seen)
    rng = random.Random(args.seed)
    for family in rng.sample(pool, min(args.n, len(pool))):
        row = latest[family]
        out = {k: row[k] for k in ("family", "root", "title", "version", "n_patches", "lists")}
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
    print(f"{len(pool)} families in the pool, {len(seen)} seen skipped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

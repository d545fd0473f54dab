"""What a dense match scores: the cosine a patch subject has with its own cover.

    .venv/bin/python benchmarks/dense_calibration.py --index DIR [--n 1500] [--seed 5]

Draws ``--n`` versions (seeded), keeps those with a cover and at least two patches, and
embeds each one's first patch subject (markers stripped) with the index's own query
model; its best cosine against that version's cover chunks (motivation, changelog,
patch list; not the title-only chunk, which would compare a title with a title) is
"a short description of part of the work against the work's cover", the kind of match
a question is. Prints the percentiles of that and, for contrast, of the 99.9th
percentile of the same subject against every other version's chunks.

The median is ``Tuning.dense_match`` in query/hybrid.py: below it, the best dense
candidate of a query does not look like a match and is not scaled to full credit.
"""

from __future__ import annotations

import argparse
import json
import random
import re

import numpy as np

_MARKERS = re.compile(r"^(?:\[[^\]]*\]\s*)+")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    from kvmsearch import Index

    s = Index.open(a.index).searcher()
    d = s.dense
    d.load()
    vectors, rows = d.vectors()
    versions = list(d.meta["versions"])
    title_field = list(d.meta["fields"]).index("title")
    emb = s.query_embedder()
    random.seed(a.seed)
    own: list[float] = []
    background: list[float] = []
    for i in random.sample(range(len(versions)), min(a.n, len(versions))):
        v = s.docs.get(versions[i])
        if v is None or not v.has_cover or len(v.patches) < 2:
            continue
        subject = _MARKERS.sub("", v.patches[0].subject).strip()
        q = emb.encode([subject])[0]
        q = q / np.linalg.norm(q)
        mine = (rows[:, 0] == i) & (rows[:, 1] != title_field)
        if not subject or not mine.any():
            continue
        sims = vectors @ q
        own.append(float(sims[mine].max()))
        background.append(float(np.percentile(sims[rows[:, 0] != i], 99.9)))
    pct = (10, 25, 50, 75, 90)
    print(
        json.dumps(
            {
                "series": len(own),
                "own_cover": {p: round(float(np.percentile(own, p)), 3) for p in pct},
                "others_p99.9": {p: round(float(np.percentile(background, p)), 3) for p in pct},
            }
        )
    )


if __name__ == "__main__":
    main()

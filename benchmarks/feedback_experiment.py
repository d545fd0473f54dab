"""Experiment (issue 12, topic margin): dense pseudo-relevance feedback (Rocchio), scored.

Not part of the product: measured and not adopted (BENCHMARKS.md, "Dense feedback,
eighth session"). For prose in hybrid mode, after both retrievers ran, the top ``k``
families of the first fused ranking are taken as feedback: each as the normalised mean
of its best version's chunk vectors. The question's unit vector moved towards their
mean, ``(q + beta * mean) / (1 + beta)``, is searched again (inner products, so scores
stay on the cosine scale), and every version keeps the better of its two dense
scores; then the usual fusion. Lexical and semantic modes are untouched.

    # dev: per-kind nDCG@10 by the reference scorer, and a 2-fold split (crc32 of the
    # query id) where the configuration is chosen on one fold and scored on the other
    .venv/bin/python benchmarks/feedback_experiment.py dev --index DIR 0:0 5:0.5 8:1 ...

    # fresh topic questions (benchmarks/judged/fresh_topics8.jsonl and
    # fresh_topics9.jsonl, judged by pooling base, feedback and lexical top 10s): nDCG@10
    # over the judged series, per file and over both
    .venv/bin/python benchmarks/feedback_experiment.py fresh --index DIR 0:0 5:0.5

A configuration is ``k:beta``; ``0:0`` is the shipped ranker.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EVAL = REPO.parent / "shared" / "eval"
FRESH = sorted((REPO / "benchmarks" / "judged").glob("fresh_topics*.jsonl"))
CFG = {"k": 0, "beta": 0.0}


def install() -> None:
    """Wrap HybridSearcher._retrieve with the feedback step (configured by CFG)."""
    from kvmsearch.query import hybrid as H

    orig = H.HybridSearcher._retrieve

    def retrieve(self: Any, plan: Any, mode: str, allowed: Any, depth: int) -> Any:
        cands, exhausted = orig(self, plan, mode, allowed, depth)
        k, beta = CFG["k"], CFG["beta"]
        if k <= 0 or mode != "hybrid" or plan.kind != "prose" or not plan.text:
            return cands, exhausted
        if not any(c.lex is not None for c in cands.values()):
            return cands, exhausted
        ds = self.dense
        top = self._rank(cands, plan, mode, plan.filters.all_versions)[:k]
        pos = {v: i for i, v in enumerate(ds.meta["versions"])}
        means = []
        for g in top:
            p = pos.get(g.lex_best or g.dense_best or g.versions[0])
            rows = np.flatnonzero(ds._rows[:, 0] == p) if p is not None else []
            if len(rows):
                m = np.stack([ds._index.reconstruct(int(r)) for r in rows]).mean(axis=0)
                means.append(m / np.linalg.norm(m))
        if not means:
            return cands, exhausted
        q = np.asarray(self.query_embedder().encode([plan.dense_text])[0], dtype=np.float32)
        moved = (q / np.linalg.norm(q) + beta * np.mean(means, axis=0)) / (1 + beta)
        scale = float(np.linalg.norm(moved))  # search() normalises: undo it
        for rank, d in enumerate(ds.search(moved, k=depth, allowed=allowed)):
            c = cands.setdefault(d.version_id, H._Version())
            if c.dense is None or d.score * scale > c.dense:
                c.dense, c.dense_rank = d.score * scale, rank
                if c.dense_row is None:
                    c.dense_row = d.row
        return cands, exhausted

    H.HybridSearcher._retrieve = retrieve


def configs(args: list[str]) -> list[tuple[int, float]]:
    return [(int(a.split(":")[0]), float(a.split(":")[1])) for a in args]


def dev(index_dir: str, cfgs: list[tuple[int, float]]) -> None:
    from kvmsearch import Index

    queries = [json.loads(line) for line in (EVAL / "dev.jsonl").open()]
    prose = [q["qid"] for q in queries if q["kind"] in ("known", "topic")]
    kind = {q["qid"]: q["kind"] for q in queries}
    fold = {q: zlib.crc32(q.encode()) % 2 for q in prose}
    per: dict[tuple[int, float], dict[str, float]] = {}
    with Index.open(index_dir) as index, tempfile.TemporaryDirectory() as tmp:
        for cfg in cfgs:
            CFG.update(k=cfg[0], beta=cfg[1])
            res, out = Path(tmp) / "res.jsonl", Path(tmp) / "score.json"
            with res.open("w") as f:
                for q in queries:
                    hits = index.search(q["query"], limit=10, mode="hybrid")
                    ids = [{"message_ids": [v.message_id for v in h.versions]} for h in hits]
                    f.write(json.dumps({"qid": q["qid"], "results": ids}) + "\n")
            subprocess.run(
                [sys.executable, str(EVAL / "score.py"), str(EVAL / "dev.jsonl"), str(res)]
                + ["--catalogue", str(EVAL / "catalogue.jsonl.gz"), "--json", str(out)],
                check=True,
                capture_output=True,
            )
            pq = json.loads(out.read_text())["per_query"]
            per[cfg] = {q: pq[q]["nDCG@10"] for q in prose}
            cells = []
            for kd in ("known", "topic"):
                for fo in (None, 0, 1):
                    v = [per[cfg][q] for q in prose if kind[q] == kd and fo in (None, fold[q])]
                    cells.append(f"{kd}{'' if fo is None else fo} {sum(v) / len(v):.3f}")
            print(f"k={cfg[0]} beta={cfg[1]}: " + "  ".join(cells), flush=True)

    def mean(cfg: tuple[int, float], fo: int) -> float:
        v = [per[cfg][q] for q in prose if fold[q] == fo]
        return sum(v) / len(v)

    for fo in (0, 1):
        best = max(per, key=lambda c: mean(c, fo))
        print(
            f"chosen on fold {fo}: k={best[0]} beta={best[1]}; held-out fold {1 - fo}: "
            f"{mean(best, 1 - fo):.3f} (shipped {mean((0, 0.0), 1 - fo):.3f})"
            if (0, 0.0) in per
            else f"chosen on fold {fo}: k={best[0]} beta={best[1]}"
        )


def fresh(index_dir: str, cfgs: list[tuple[int, float]]) -> None:
    from kvmsearch import Index

    sets = {path.stem: [json.loads(line) for line in path.open()] for path in FRESH}
    with Index.open(index_dir) as index:
        for cfg in cfgs:
            CFG.update(k=cfg[0], beta=cfg[1])
            every: list[float] = []
            for name, rows in sets.items():
                scores, unjudged = [], 0
                for r in rows:
                    judged = {j["series"]: j["relevant"] for j in r["judged"]}
                    n_rel = sum(judged.values())
                    ideal = sum(1 / math.log2(i + 2) for i in range(min(10, n_rel)))
                    hits = index.search(r["query"], limit=10, mode="hybrid")
                    unjudged += sum((h.series or h.family) not in judged for h in hits)
                    dcg = sum(
                        1 / math.log2(i + 2)
                        for i, h in enumerate(hits)
                        if judged.get(h.series or h.family)
                    )
                    scores.append(dcg / ideal)
                every += scores
                print(
                    f"k={cfg[0]} beta={cfg[1]}: {name} nDCG@10 {sum(scores) / len(scores):.3f} "
                    f"over {len(rows)} questions ({unjudged} hits unjudged, counted as not "
                    "relevant)"
                )
            print(f"k={cfg[0]} beta={cfg[1]}: all {sum(every) / len(every):.3f} over {len(every)}")


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[0] not in ("dev", "fresh") or argv[1] != "--index":
        print(__doc__, file=sys.stderr)
        return 2
    install()
    (dev if argv[0] == "dev" else fresh)(argv[2], configs(argv[3:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

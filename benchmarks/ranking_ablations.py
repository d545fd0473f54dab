"""Ranking ablations for prose questions (known, topic): what else the fusion could do.

    .venv/bin/python benchmarks/ranking_ablations.py --index DIR [--queries FILE]
        [--reembed] > ablations.json

Each question's evidence is gathered once from the real index: the lexical side's
version hits (as the ranker retrieves them) and the cosine of the query against every
chunk vector in faiss. The variants below then re-rank that evidence offline, family by
family, and are scored with the judged crediting of ``relevance.py``. The first variant
is the shipped ranker and must match ``relevance.py``'s hybrid numbers; it is the
control for all the others.

``--reembed`` also embeds two alternative vector sets with the packaged model (about
5 minutes on 2 cores): 128-token chunk windows instead of 256, and one vector per patch
subject (the cover's shortlog).

Prints a table to stderr and one JSON object (nDCG@10 per kind, per variant) to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relevance import DEFAULT_QUERIES, judged_family_of  # noqa: E402

W_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass
class Evidence:
    """One question and what the two retrievers said about it."""

    qid: str
    kind: str
    relevant: list[str]
    text: str  # what the query model embeds
    lex_text: str  # the question without framing words
    lex: list[tuple[str, float]]  # (version id, BM25F score), best first
    qvec: np.ndarray
    sims: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per chunk row


class Bench:
    """The corpus-wide tables the variants share."""

    def __init__(self, index: Any, queries: Sequence[Any]) -> None:
        from kvmsearch.models.query import Filters
        from kvmsearch.query.understand import understand

        s = index.searcher()
        self.s = s
        dense = s.dense
        dense.load()
        self.X, rows = dense.vectors()
        self.rows = np.asarray(rows)
        self.versions: list[str] = list(dense.meta["versions"])
        self.fields: list[str] = list(dense.meta["fields"])
        # grouped as the product groups hits: per series
        fam = s.docs.series_of(self.versions)
        self.vfam = [fam.get(v) or v for v in self.versions]
        allowed = s.filters.allowed(Filters())
        self.allowed = np.array([allowed is None or v in allowed for v in self.versions])
        self.judged = judged_family_of(index, {r for q in queries for r in q.relevant})
        self.family_versions: dict[str, list[str]] = {}
        for v, f in zip(self.versions, self.vfam, strict=True):
            self.family_versions.setdefault(f, []).append(v)
        self.fam_of = dict(zip(self.versions, self.vfam, strict=True))
        emb = s.query_embedder()
        self.embed = lambda t: _unit(emb.encode([t])[0])
        self.ev: list[Evidence] = []
        for q in queries:
            plan = understand(q.query, Filters())
            lex = [(h.message_id, h.score) for h in s.lexical_hits(plan, allowed, s.depth_for(10))]
            qv = self.embed(plan.dense_text)
            self.ev.append(
                Evidence(
                    q.qid,
                    q.kind,
                    list(q.relevant),
                    plan.dense_text,
                    plan.lex_text,
                    lex,
                    qv,
                    self.X @ qv,
                )
            )

    # ---------------------------------------------------------------- evidence per family

    def lex_families(
        self, e: Evidence, lex: list[tuple[str, float]] | None = None
    ) -> dict[str, float]:
        out: dict[str, float] = {}
        for vid, sc in lex if lex is not None else e.lex:
            f = self.fam_of.get(vid, vid)
            out[f] = max(out.get(f, 0.0), sc)
        return out

    def dense_families(
        self,
        sims: np.ndarray,
        rows: np.ndarray | None = None,
        row_ok: np.ndarray | None = None,
        pool: int = 300,
    ) -> dict[str, float]:
        """Best chunk per version, the ``pool`` best versions, best version per family
        (what the shipped dense side does)."""
        rows = self.rows if rows is None else rows
        ok = self.allowed[rows[:, 0]] if row_ok is None else row_ok & self.allowed[rows[:, 0]]
        best = np.full(len(self.versions), -1.0, dtype=np.float32)
        np.maximum.at(best, rows[:, 0], np.where(ok, sims, -1.0).astype(np.float32))
        out: dict[str, float] = {}
        for i in np.argsort(-best)[:pool]:
            if best[i] <= -1:
                break
            f = self.vfam[i]
            out[f] = max(out.get(f, -1.0), float(best[i]))
        return out

    # ---------------------------------------------------------------- scoring

    def run(self, rank: Callable[[Evidence], list[str]]) -> dict[str, Any]:
        """nDCG@10 per question and per kind; each ranked family is a hit listing its
        versions, credited as `relevance.py` credits the product's hits."""
        from kvmsearch.query.evaluate import score_query

        per = {
            e.qid: score_query(
                [self.family_versions.get(f, [f]) for f in rank(e)], e.relevant, self.judged
            )["ndcg"]
            for e in self.ev
        }
        return {"by_kind": _by_kind(self.ev, per), "per_query": per}


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _by_kind(ev: Sequence[Evidence], per: dict[str, float]) -> dict[str, float]:
    kinds: dict[str, list[float]] = {}
    for e in ev:
        kinds.setdefault(e.kind, []).append(per[e.qid])
    return {k: round(float(np.mean(v)), 4) for k, v in sorted(kinds.items())}


def fused(
    lex: dict[str, float], dense: dict[str, float], w: float = 0.5, floor: float = 0.2
) -> list[str]:
    """The shipped fusion (query/hybrid.py fuse) and its order."""
    from kvmsearch.query.hybrid import Tuning, fuse

    sc = fuse(lex, dense, w, floor, Tuning().dense_match)
    return sorted((f for f in sc if sc[f] > 0), key=lambda f: (-sc[f], f))


def rrf(lex: dict[str, float], dense: dict[str, float], k: int) -> list[str]:
    sc: dict[str, float] = {}
    for side in (lex, dense):
        for r, f in enumerate(sorted(side, key=lambda f: -side[f])):
            sc[f] = sc.get(f, 0.0) + 1 / (k + r)
    return sorted(sc, key=lambda f: (-sc[f], f))


def window_minmax(
    lex: dict[str, float], dense: dict[str, float], w: float, depth: int
) -> list[str]:
    """Each side scaled between its best and its ``depth``-th score."""

    def norm(d: dict[str, float]) -> dict[str, float]:
        v = sorted(d.values(), reverse=True)
        lo = v[min(depth, len(v) - 1)]
        return {f: max(0.0, (x - lo) / (v[0] - lo)) if v[0] > lo else 0.0 for f, x in d.items()}

    ln, dn = norm(lex), norm(dense)
    sc = {f: (1 - w) * ln.get(f, 0.0) + w * dn.get(f, 0.0) for f in ln.keys() | dn.keys()}
    return sorted((f for f in sc if sc[f] > 0), key=lambda f: (-sc[f], f))


def variants(b: Bench, reembed: bool) -> dict[str, Callable[[Evidence], list[str]]]:
    fi = {f: i for i, f in enumerate(b.fields)}
    rows = b.rows
    title_motivation = np.isin(rows[:, 1], [fi["title"], fi["motivation"]])
    first_two = (rows[:, 1] == fi["title"]) | ((rows[:, 1] == fi["motivation"]) & (rows[:, 2] <= 1))
    later = np.where(rows[:, 1] == fi["changelog"], 0.9, 1.0) * np.power(
        0.9, np.where(rows[:, 1] == fi["motivation"], rows[:, 2], 0)
    )

    def shipped(e: Evidence, w: float = 0.5) -> list[str]:
        return fused(b.lex_families(e), b.dense_families(e.sims), w)

    def agg(e: Evidence, how: str) -> list[str]:
        """Family dense evidence from all its chunks, not just the best one."""
        s = np.where(b.allowed[rows[:, 0]], e.sims, -1.0)
        per: dict[str, list[float]] = {}
        for r in np.argsort(-s)[:3000]:
            if s[r] <= 0:
                break
            per.setdefault(b.vfam[rows[r, 0]], []).append(float(s[r]))
        if how == "lse":
            d = {f: 0.02 * math.log(sum(math.exp(x / 0.02) for x in v)) for f, v in per.items()}
        else:  # best + half the mean of the next two
            d = {
                f: v[0] + (0.5 * float(np.mean(v[1:3])) if len(v) > 1 else 0.0)
                for f, v in per.items()
            }
        top = dict(sorted(d.items(), key=lambda kv: -kv[1])[:300])
        return fused(b.lex_families(e), top)

    def requery(e: Evidence, how: str) -> list[str]:
        q2 = b.embed(e.lex_text)
        qv = q2 if how == "unframed" else _unit(e.qvec + q2)
        return fused(b.lex_families(e), b.dense_families(b.X @ qv))

    out: dict[str, Callable[[Evidence], list[str]]] = {
        "shipped (w=0.5, floor=0.2)": shipped,
        "lexical only": lambda e: fused(b.lex_families(e), {}, 0.0),
        "semantic only": lambda e: fused({}, b.dense_families(e.sims), 1.0),
        "RRF k=10": lambda e: rrf(b.lex_families(e), b.dense_families(e.sims), 10),
        "RRF k=60": lambda e: rrf(b.lex_families(e), b.dense_families(e.sims), 60),
        "min-max to 100th, w=0.4": lambda e: window_minmax(
            b.lex_families(e), b.dense_families(e.sims), 0.4, 100
        ),
        "min-max to 300th, w=0.4": lambda e: window_minmax(
            b.lex_families(e), b.dense_families(e.sims), 0.4, 299
        ),
        "dense: log-sum-exp of chunks": lambda e: agg(e, "lse"),
        "dense: best + next two chunks": lambda e: agg(e, "top3"),
        "dense: title + motivation only": lambda e: fused(
            b.lex_families(e), b.dense_families(e.sims, row_ok=title_motivation)
        ),
        "dense: title + first 2 motivation chunks": lambda e: fused(
            b.lex_families(e), b.dense_families(e.sims, row_ok=first_two)
        ),
        "dense: later chunks x0.9 each": lambda e: fused(
            b.lex_families(e), b.dense_families(e.sims * later)
        ),
        "query model: framing removed": lambda e: requery(e, "unframed"),
        "query model: mean of both": lambda e: requery(e, "mean"),
        "lexical: + bigram proximity (slop 3)": _proximity(b),
    }
    if reembed:
        out.update(_reembedded(b))
    return out


def _proximity(b: Bench) -> Callable[[Evidence], list[str]]:
    """Adjacent query words found near each other (slop 3) add half their phrase score
    to the BM25F score of the lexical pool (a sequential-dependence-model feature)."""
    from whoosh import query as wq

    from kvmsearch.indexer.index.lexical import iter_units

    lx = b.s.lex

    def rank(e: Evidence) -> list[str]:
        seq = [
            list(terms) if whole is not None and terms else [whole or terms[0]]
            for _raw, whole, terms, _c in iter_units(e.lex_text, stem=True, stop=True)
            if whole is not None or terms
        ]
        qs = [wq.Phrase("body", a + c, slop=3) for a, c in zip(seq, seq[1:], strict=False)]
        extra: dict[str, float] = {}
        if qs:
            extra = lx.score_documents(wq.Or(qs), [m for m, _ in e.lex])
        lex = [(m, s + 0.5 * extra.get(m, 0.0)) for m, s in e.lex]
        return fused(b.lex_families(e, lex), b.dense_families(e.sims))

    return rank


def _reembedded(b: Bench) -> dict[str, Callable[[Evidence], list[str]]]:
    """128-token windows, and one vector per patch subject, from the packaged model."""
    import re

    from kvmsearch.indexer.index.chunks import chunk_versions
    from kvmsearch.models.embedding import SentenceTransformerEmbedder, TokenCounter

    model = SentenceTransformerEmbedder()
    vs = b.s.docs.get_many(b.versions)
    versions = [vs[v] for v in b.versions if v in vs]
    pos = {v: i for i, v in enumerate(b.versions)}
    fi = {f: i for i, f in enumerate(b.fields)}
    counter = TokenCounter()

    chunks = chunk_versions(versions, counter, count_many=counter.many, max_tokens=128)
    texts = list(dict.fromkeys(c.text for c in chunks))
    vecs = np.asarray(model.encode(texts), dtype=np.float32)
    at = {t: i for i, t in enumerate(texts)}
    x128 = vecs[[at[c.text] for c in chunks]]
    rows128 = np.array([(pos[c.version_id], fi[c.field], c.ordinal) for c in chunks])

    marker = re.compile(r"^\s*(?:\[[^\]]*\]\s*)+")
    subj: list[tuple[int, str]] = []
    for v in versions:
        lines = list(v.cover.shortlog) or [marker.sub("", p.subject) for p in v.patches]
        subj += [(pos[v.message_id], s.strip()) for s in lines if s.strip()]
    stexts = list(dict.fromkeys(s for _, s in subj))
    svecs = np.asarray(model.encode(stexts), dtype=np.float32)
    sat = {t: i for i, t in enumerate(stexts)}
    xs = svecs[[sat[s] for _, s in subj]]
    rows_s = np.array([(i, fi["title"], 0) for i, _ in subj])

    def subjects(e: Evidence, w_subject: float) -> list[str]:
        """The shipped fused score, plus the best patch subject's cosine as a third
        evidence scaled like the dense side."""
        from kvmsearch.query.hybrid import fuse

        base = fuse(b.lex_families(e), b.dense_families(e.sims), 0.5, 0.2)
        sub = fuse({}, b.dense_families(xs @ e.qvec, rows=rows_s), 1.0, 0.2)
        sc = {
            f: (1 - w_subject) * base.get(f, 0.0) + w_subject * sub.get(f, 0.0)
            for f in base.keys() | sub.keys()
        }
        return sorted((f for f in sc if sc[f] > 0), key=lambda f: (-sc[f], f))

    return {
        "dense: 128-token windows": lambda e: fused(
            b.lex_families(e), b.dense_families(x128 @ e.qvec, rows=rows128)
        ),
        "semantic only, 128-token windows": lambda e: fused(
            {}, b.dense_families(x128 @ e.qvec, rows=rows128), 1.0
        ),
        "+ patch-subject vectors (0.1)": lambda e: subjects(e, 0.1),
        "+ patch-subject vectors (0.2)": lambda e: subjects(e, 0.2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", required=True, help="index home directory")
    ap.add_argument("--queries", default=str(DEFAULT_QUERIES), help="judged JSONL file")
    ap.add_argument(
        "--reembed",
        action="store_true",
        help="also try 128-token windows and patch-subject vectors (~5 min)",
    )
    args = ap.parse_args(argv)

    from kvmsearch import Index
    from kvmsearch.query.evaluate import load_queries

    queries = [q for q in load_queries(args.queries) if q.kind in ("known", "topic")]
    with Index.open(args.index) as index:
        b = Bench(index, queries)
        results = {name: b.run(rank) for name, rank in variants(b, args.reembed).items()}
        # The ceiling of weight tuning: the best fusion weight chosen per question.
        per_w = [
            b.run(lambda e, w=w: fused(b.lex_families(e), b.dense_families(e.sims), w))
            for w in W_GRID
        ]
        oracle = {e.qid: max(r["per_query"][e.qid] for r in per_w) for e in b.ev}
        results["oracle: best weight per question"] = {
            "by_kind": _by_kind(b.ev, oracle),
            "per_query": oracle,
        }
    print(f"{'variant':44s} {'known':>7s} {'topic':>7s}", file=sys.stderr)
    for name, r in results.items():
        k = r["by_kind"]
        print(f"{name:44s} {k.get('known', 0):7.3f} {k.get('topic', 0):7.3f}", file=sys.stderr)
    json.dump(
        {
            "index": args.index,
            "queries": args.queries,
            "variants": {n: r["by_kind"] for n, r in results.items()},
        },
        sys.stdout,
        indent=1,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

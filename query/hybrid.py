"""The hybrid ranker: route by query kind, fuse lexical and dense evidence, collapse to
series families, and gather the evidence of *why* each family matches.

Routing matters more than fusion weights. Path and identifier questions are answered
mechanically well by the lexical side (files field, exact identifiers); mixing in dense
similarity there only adds noise. Prose questions get both, fused by weighted
reciprocal rank at the series-version level and then collapsed to families.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from kvmsearch.models.errors import QueryError
from kvmsearch.models.records import Hit, SeriesVersion

MODES = ("hybrid", "lexical", "semantic")


@dataclass
class Tuning:
    """Ranking knobs, in one place so benchmarks can report what was used."""

    pool: int = 200  # candidates taken from each retriever
    rrf_k: float = 60.0
    w_lexical: float = 1.0
    w_dense: float = 1.0
    #: weight of a family's other matching versions, on top of its best version
    w_other_versions: float = 0.1
    tree_hint_boost: float = 1.5
    field_boosts: dict[str, float] = field(default_factory=dict)


@dataclass
class _Cand:
    """Evidence for one series version."""

    lex: float = 0.0
    lex_rank: int | None = None
    dense: float = 0.0
    dense_rank: int | None = None
    dense_row: int | None = None
    score: float = 0.0


class HybridSearcher:
    """Searches one generation. Parts load on first use: a path query never loads the
    embedding model or faiss."""

    def __init__(self, home_path: Path, generation: Any, *,
                 embedder_factory: Callable[[], Any] | None = None,
                 tuning: Tuning | None = None) -> None:
        from kvmsearch.indexer.docs import DocStore

        self.home_path = Path(home_path)
        self.gen = generation
        self.docs = DocStore(generation.dir / "docs.sqlite")
        self.tuning = tuning or Tuning()
        self._embedder_factory = embedder_factory
        self._lex: Any = None
        self._dense: Any = None
        self._qembed: Any = None

    # ----------------------------------------------------------------- parts

    @property
    def lex(self) -> Any:
        if self._lex is None:
            from kvmsearch.query.lexical import LexicalSearcher

            self._lex = LexicalSearcher(self.gen.dir / "lexical")
        return self._lex

    @property
    def dense(self) -> Any:
        if self._dense is None:
            from kvmsearch.query.dense import DenseSearcher

            self._dense = DenseSearcher(self.gen.dir)
        return self._dense

    def query_embedder(self) -> Any:
        """ONNX model exported at build time (no torch); else the build's embedder."""
        if self._qembed is None:
            onnx = self.gen.manifest.onnx
            if self._embedder_factory is not None:
                self._qembed = self._embedder_factory()
            elif onnx is not None:
                from kvmsearch.models.embedding import OnnxEmbedder

                p = self.home_path / onnx.path
                self._qembed = OnnxEmbedder(p, p.parent / "tokenizer.json",
                                            expected_sha256=onnx.sha256)
            else:
                from kvmsearch.models.embedding import SentenceTransformerEmbedder

                self._qembed = SentenceTransformerEmbedder()
        return self._qembed

    def close(self) -> None:
        if self._lex is not None:
            self._lex.close()
            self._lex = None
        self.docs.close()

    # ----------------------------------------------------------------- search

    def search(self, query: str, *, limit: int = 10, mode: str = "hybrid",
               explain: bool = False, all_versions: bool = False,
               author: str | list[str] | None = None, list_: str | list[str] | None = None,
               tree: str | list[str] | None = None, file: str | list[str] | None = None,
               since: str | date | None = None, until: str | date | None = None,
               kind: str | list[str] | None = None, **extra: Any) -> list[Hit]:
        """Rank series families for ``query``.

        Filters (also accepted inside the query text, e.g. ``author:maz``) are applied
        inside retrieval. ``all_versions`` returns one hit per version instead of one per
        family.
        """
        from kvmsearch.query.understand import Filters, parse_date, understand

        if mode not in MODES:
            raise QueryError(f"unknown mode {mode!r}; use one of: {', '.join(MODES)}")
        if "list" in extra:
            list_ = extra.pop("list")
        if extra:
            raise QueryError(f"unknown filter(s): {', '.join(sorted(extra))}; "
                             "use author, list, tree, file, since, until, kind")

        def tup(v: Any) -> tuple[str, ...]:
            if v is None:
                return ()
            return (v,) if isinstance(v, str) else tuple(v)

        def day(v: Any, what: str) -> date | None:
            if v is None or isinstance(v, date):
                return v
            return parse_date(str(v), what)

        base = Filters(authors=tup(author), lists=tup(list_), trees=tup(tree), files=tup(file),
                       since=day(since, "since"), until=day(until, "until"),
                       kinds=tup(kind) or ("series",))
        plan = understand(query, base)
        if not (plan.paths or plan.idents or plan.words or plan.phrases):
            if plan.filters.is_empty():
                return []
        cands = self._retrieve(plan, mode)
        ranked = self._collapse(cands, all_versions)
        return [self._hit(vids, score, cands, plan, explain, all_versions)
                for _key, vids, score in ranked[:limit]]

    # ----------------------------------------------------------------- retrieval

    def _lex_filters(self, plan: Any) -> Any:
        from kvmsearch.query.lexical import LexFilters

        f = plan.filters
        return LexFilters(authors=f.authors, lists=f.lists, trees=f.trees, since=f.since,
                          until=f.until, files=f.files, kinds=f.kinds)

    def _retrieve(self, plan: Any, mode: str) -> dict[str, _Cand]:
        t = self.tuning
        lf = self._lex_filters(plan)
        cands: dict[str, _Cand] = {}
        kind = plan.kind
        use_lex = mode in ("hybrid", "lexical")
        use_dense = mode == "semantic" or (mode == "hybrid" and kind == "prose")

        if use_lex:
            if kind == "path":
                hits = self.lex.search_paths(plan.paths, limit=t.pool, filters=lf)
                if plan.words:
                    # Framing words refine the order among files that all match.
                    extra = {h.message_id: h.score for h in
                             self.lex.search(" ".join(plan.words), limit=t.pool * 5,
                                             filters=lf, mode="or")}
                    hits = sorted(hits,
                                  key=lambda h: -(h.score + 0.05 * extra.get(h.message_id, 0)))
            elif kind == "ident":
                hits = []
                seen: set[str] = set()
                for ident in plan.idents:
                    for h in self.lex.search_identifier(ident, limit=t.pool, filters=lf):
                        if h.message_id not in seen:
                            seen.add(h.message_id)
                            hits.append(h)
                hits.sort(key=lambda h: -h.score)
            else:
                hits = self.lex.search(plan.text, limit=t.pool, filters=lf,
                                       field_boosts=t.field_boosts or None)
            for rank, h in enumerate(hits):
                c = cands.setdefault(h.message_id, _Cand())
                c.lex, c.lex_rank = h.score, rank
            if not hits and kind != "prose" and plan.text:
                # A path or identifier nobody wrote: answer the words instead.
                for rank, h in enumerate(self.lex.search(plan.text, limit=t.pool, filters=lf)):
                    c = cands.setdefault(h.message_id, _Cand())
                    c.lex, c.lex_rank = h.score, rank

        if use_dense and plan.text:
            allowed = None if plan.filters.is_empty() else self.lex.filter_ids(lf)
            qvec = self.query_embedder().encode([plan.text])[0]
            for rank, h in enumerate(self.dense.search(qvec, k=t.pool, allowed=allowed)):
                c = cands.setdefault(h.version_id, _Cand())
                c.dense, c.dense_rank, c.dense_row = h.score, rank, h.row

        for c in cands.values():
            s = 0.0
            if c.lex_rank is not None:
                s += (t.w_lexical if use_dense else 1.0) / (t.rrf_k + c.lex_rank + 1)
            if c.dense_rank is not None:
                s += (t.w_dense if use_lex else 1.0) / (t.rrf_k + c.dense_rank + 1)
            c.score = s
        if plan.tree_hint:
            trees = self._trees(list(cands))
            for vid, c in cands.items():
                if trees.get(vid) == plan.tree_hint:
                    c.score *= t.tree_hint_boost
        return cands

    def _trees(self, vids: list[str]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for i in range(0, len(vids), 500):
            part = vids[i:i + 500]
            q = f"SELECT message_id, json_extract(json, '$.tree') FROM versions " \
                f"WHERE message_id IN ({','.join('?' * len(part))})"
            out.update(dict(self.docs.db.execute(q, part)))
        return out

    def _collapse(self, cands: dict[str, _Cand], all_versions: bool
                  ) -> list[tuple[str, list[str], float]]:
        """Group versions by family: the family scores as its best version plus a little
        for every other version that matched (all versions' evidence counts)."""
        if all_versions:
            ranked = sorted(cands.items(), key=lambda kv: -kv[1].score)
            return [(vid, [vid], c.score) for vid, c in ranked if c.score > 0]
        fams = self._families(list(cands))
        groups: dict[str, list[str]] = {}
        for vid in cands:
            groups.setdefault(fams.get(vid, vid), []).append(vid)
        out = []
        w = self.tuning.w_other_versions
        for fam, vids in groups.items():
            vids.sort(key=lambda v: -cands[v].score)
            best = cands[vids[0]].score
            if best <= 0:
                continue
            out.append((fam, vids, best + w * sum(cands[v].score for v in vids[1:])))
        out.sort(key=lambda t: -t[2])
        return out

    def _families(self, vids: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for i in range(0, len(vids), 500):
            part = vids[i:i + 500]
            q = f"SELECT message_id, family FROM versions " \
                f"WHERE message_id IN ({','.join('?' * len(part))})"
            out.update(dict(self.docs.db.execute(q, part)))
        return out

    # ----------------------------------------------------------------- answers

    def _hit(self, matched: list[str], score: float, cands: dict[str, _Cand], plan: Any,
             explain: bool, single: bool) -> Hit:
        from kvmsearch.query.evidence import build_hit

        best_id = matched[0]
        best: SeriesVersion | None = self.docs.get(best_id)
        if single or best is None:
            versions = [best] if best is not None else []
        else:
            versions = self.docs.family_versions(best.family) or [best]
        c = cands[best_id]
        dense_text = self.dense.text(c.dense_row) if c.dense_row is not None else None
        comp = None
        if explain:
            comp = {
                "kind": plan.kind,
                "fused": round(score, 6),
                "best_version": best_id,
                "lexical": round(c.lex, 4), "lexical_rank": c.lex_rank,
                "dense": round(c.dense, 4), "dense_rank": c.dense_rank,
                "versions_matched": len(matched),
            }
        return build_hit(versions, best, score, plan, dense_text=dense_text, explain=comp)

"""The hybrid ranker: route by query kind, fuse lexical and dense evidence per series
family, and gather the evidence of *why* each family matches.

Routing matters more than fusion weights. Questions that are a path or an identifier
(with filler words only) are answered mechanically well by the lexical side (files
field, exact identifiers), ranked by match class first (exact file > under the
directory > same bare name; exact spelling > other spellings) and by score within a
class; dense similarity there only adds noise, and such queries never load the model.
Prose questions, those naming a path or an identifier among other words too, get both
retrievers.

The unit of ranking is the family: each retriever's evidence is the best of any of the
family's versions (v1's cover may say what v5's does not), and the two are fused by
score, not rank: each side is scaled by its best family so that a clear winner on one
side keeps its lead, and a family the other side never found simply gets nothing from
it (see :func:`fuse`). One retriever alone ranks by its own scores.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from kvmsearch.models.errors import ModelError, NotFoundError, damaged_part
from kvmsearch.models.query import SearchRequest
from kvmsearch.models.records import Hit, SeriesVersion
from kvmsearch.query.filters import FilterResolver
from kvmsearch.query.retrievers import DenseHit, DenseRetriever, LexHit, LexicalRetriever
from kvmsearch.query.understand import QueryPlan

if TYPE_CHECKING:
    from kvmsearch.indexer.index.generations import Generation
    from kvmsearch.models.embedding import Embedder


@dataclass
class Tuning:
    """Ranking knobs, in one place so benchmarks can report what was used."""

    pool: int = 300  # versions taken from each retriever, at least
    #: versions taken per hit asked for beyond ``pool`` (a long ``limit``)
    depth_per_hit: int = 3
    #: prose: share of the dense score in the fused score (lexical gets the rest)
    w_dense: float = 0.5
    #: cosine similarity that counts as no evidence at all (MiniLM gives unrelated
    #: kernel prose 0.1-0.2)
    dense_floor: float = 0.2
    #: cosine that looks like a match: the median a patch subject has with its own
    #: cover under the packaged model (0.61 over 633 sampled series,
    #: benchmarks/dense_calibration.py). The best dense candidate is scaled to full
    #: dense credit only when it reaches this; a query whose nearest chunk is weaker
    #: gets proportionally less from the dense side.
    dense_match: float = 0.61
    #: prose: factor for a family in the tree the query names, e.g. "(qemu)"
    tree_hint_boost: float = 1.5
    field_boosts: dict[str, float] = field(default_factory=dict)


@dataclass
class _Version:
    """One retrieved series version and what each retriever said about it."""

    lex: float | None = None
    lex_rank: int | None = None
    tier: int = 0
    dense: float | None = None
    dense_rank: int | None = None
    dense_row: int | None = None


@dataclass
class _Group:
    """A family (or, with all_versions, one version) and its evidence."""

    key: str
    versions: list[str]
    lex_best: str | None = None  # the version with the best lexical evidence
    dense_best: str | None = None
    lex: float = 0.0
    dense: float | None = None
    tier: int = 0
    in_tree: bool = False
    score: float = 0.0
    #: the lexical side's best rank among the group's versions (its own order breaks a
    #: tie in score)
    lex_rank: int = 1 << 30


class _Warmup(threading.Thread):
    """Runs ``work`` in the background; :meth:`wait` re-raises what it raised."""

    def __init__(self, work: Callable[[], None]) -> None:
        super().__init__(name="kvmsearch-warm", daemon=True)
        self._work = work
        self._error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self._work()
        except BaseException as e:  # handed to the thread that waits
            self._error = e

    def wait(self) -> None:
        self.join()
        if self._error is not None:
            raise self._error


#: how often the thread holding the GIL offers it while the dense thread works beside
#: the lexical search (Python's default is 5 ms)
_HANDOFF_S = 0.0002


@contextmanager
def _handoff(job: _Warmup | None) -> Iterator[None]:
    """Lets the dense thread have the GIL back soon after onnxruntime or faiss returns.

    Whoosh holds the GIL in pure Python; at the default 5 ms switch interval each
    return of the dense thread from C waited up to 5 ms for it, and the query model
    took ~10.6 ms beside a lexical search instead of its 7.5 ms alone (8.0 ms at this
    interval). Process-wide, so only while both run, and restored after.
    """
    if job is None:
        yield
        return
    before = sys.getswitchinterval()
    sys.setswitchinterval(_HANDOFF_S)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def display_scores(ranked: list[float]) -> list[float]:
    """The scores answers carry, for ``ranked`` (the ranker's own scores, best hit
    first): one scale for every kind of query, 0-1, the first hit 1.0, each hit's own
    score relative to the first's, and never above the hit before it.

    The ranker's scores are not comparable across queries (BM25 runs 20-100, fused
    scores 0-1) and, for paths and identifiers, the match class ranks before the score,
    so a hit of a better class can have a lower raw score than the one after it. The
    raw score stays in ``explain`` (``fused``).
    """
    top = ranked[0] if ranked and ranked[0] > 0 else max(ranked, default=0.0)
    out: list[float] = []
    prev = 1.0
    for raw in ranked:
        s = min(prev, raw / top) if top > 0 else 0.0
        out.append(round(s, 6))
        prev = s
    return out


def _identifier_parts(idents: Sequence[str]) -> list[str]:
    """The parts of identifiers in order (KVM_ARM_VCPU_PVTIME_CTRL -> KVM ARM VCPU PVTIME
    CTRL): what an identifier nobody spells is answered and explained by."""
    from kvmsearch.indexer.index.lexical import split_identifier

    return [p for i in idents for p in split_identifier(i)]


def fuse(
    lex: dict[str, float],
    dense: dict[str, float],
    w_dense: float,
    floor: float,
    match: float = 0.0,
) -> dict[str, float]:
    """Score fusion of two retrievers' per-key scores.

    Lexical scores are divided by the best one (BM25 has no fixed scale: its best is
    always a document holding the query's words); cosines are mapped so that ``floor``
    is 0 and the best is 1, or, when the best is below ``match`` (no candidate looks
    like a match), so that ``match`` would be 1: weak dense evidence is not blown up to
    the lexical side's full weight. A key missing on one side gets 0 there. The result
    is ``(1 - w_dense) * lexical + w_dense * dense``.
    """
    top_l = max(lex.values(), default=0.0)
    top_d = max(max(dense.values(), default=0.0), match if dense else 0.0)
    out: dict[str, float] = {}
    for k in lex.keys() | dense.keys():
        ln = lex.get(k, 0.0) / top_l if top_l > 0 else 0.0
        d = dense.get(k)
        dn = max(0.0, (d - floor) / (top_d - floor)) if d is not None and top_d > floor else 0.0
        out[k] = (1.0 - w_dense) * ln + w_dense * dn
    return out


class HybridSearcher:
    """Searches one generation. Parts load on first use: a path query never loads the
    embedding model or faiss."""

    def __init__(
        self,
        home_path: Path,
        generation: Generation,
        *,
        embedder_factory: Callable[[], Embedder] | None = None,
        tuning: Tuning | None = None,
    ) -> None:
        from kvmsearch.indexer.index.docs import DocStore

        self.home_path = Path(home_path)
        self.gen = generation
        self.docs = DocStore(generation.docs_path)
        self.filters = FilterResolver(self.docs, self)
        self.tuning = tuning or Tuning()
        self._embedder_factory = embedder_factory
        self._lex: LexicalRetriever | None = None
        self._dense: DenseRetriever | None = None
        self._qembed: Embedder | None = None
        self._versions: int | None = None

    # ----------------------------------------------------------------- parts

    @property
    def lex(self) -> LexicalRetriever:
        if self._lex is None:
            from kvmsearch.query.lexical import LexicalSearcher

            self._lex = LexicalSearcher(self.gen.lexical_dir)
        return self._lex

    def versions_with(self, where: str, phrases: Sequence[str]) -> set[str]:
        """Versions whose text ``where`` holds any of ``phrases`` (``review:``, ``s:``,
        ``b:``, ``-word``)."""
        return self.lex.versions_with(where, phrases)

    def version_ids(self) -> set[str]:
        """Every version id."""
        return self.lex.version_ids()

    @property
    def dense(self) -> DenseRetriever:
        if self._dense is None:
            from kvmsearch.query.dense import DenseSearcher

            self._dense = DenseSearcher(self.gen.dir)
        return self._dense

    def query_embedder(self) -> Embedder:
        """ONNX model exported at build time (no torch); else the build's embedder.

        Raises ModelError when it is not the model the index was built with.
        """
        if self._qembed is None:
            onnx = self.gen.manifest.onnx
            emb: Embedder
            if self._embedder_factory is not None:
                emb = self._embedder_factory()
            elif onnx is not None:
                from kvmsearch.models.embedding import OnnxEmbedder

                p = self.home_path / onnx.path
                # One query is too small to share between threads: a second thread
                # costs more in handoff than it saves (3.7 vs 7.8 ms per query).
                emb = OnnxEmbedder(
                    p, p.parent / "tokenizer.json", expected_sha256=onnx.sha256, threads=1
                )
            else:
                from kvmsearch.models.embedding import SentenceTransformerEmbedder

                emb = SentenceTransformerEmbedder()
            self._check_model(emb)
            self._qembed = emb
        return self._qembed

    def adopt_query_model(self, earlier: HybridSearcher) -> None:
        """Keep using ``earlier``'s loaded query model when this generation's ONNX
        export is the same file (same sha256): a long-lived reader switching
        generations skips a second model load (~0.5 s, ~90 MB held twice meanwhile)."""
        emb = earlier._qembed
        mine, theirs = self.gen.manifest.onnx, earlier.gen.manifest.onnx
        if emb is None or self._qembed is not None or self._embedder_factory is not None:
            return
        if mine is None or theirs is None or mine.sha256 != theirs.sha256:
            return
        self._check_model(emb)
        self._qembed = emb

    def _check_model(self, emb: Embedder) -> None:
        d = self.dense
        built, have = d.model_checksum, emb.checksum
        if int(emb.dim) != d.dim or (built and have and built != have):
            raise ModelError(
                f"the index was built with {d.model_name} ({d.dim} dimensions), queries "
                f"would use {emb.name} ({emb.dim} dimensions); rebuild the index with "
                "this model: kvmsearch rebuild"
            )

    def _warm_dense(self) -> _Warmup | None:
        """Load the query model and the dense index in a thread while lexical search
        runs (~0.2 s of a cold query); None when both are loaded already."""
        if self._qembed is not None and self.dense.loaded:
            return None

        def work() -> None:
            self.query_embedder().warm()
            self.dense.load()

        return _Warmup(work)

    def close(self) -> None:
        if self._lex is not None:
            self._lex.close()
            self._lex = None
        self.docs.close()

    # ----------------------------------------------------------------- search

    def search(self, request: SearchRequest) -> list[Hit]:
        """Rank series families for ``request``.

        Filters (the request's, merged with those inside the query text, e.g.
        ``author:maz``) are applied inside retrieval. A query of filters alone lists the
        matching series, newest first. ``filters.all_versions`` returns one hit per
        version instead of one per family. Each retriever's depth grows with
        ``limit``, so ``limit`` hits come back whenever that many match.
        """
        from kvmsearch.query.understand import understand

        plan = understand(request.text, request.filters)
        limit, mode = request.limit, request.mode
        all_versions = plan.filters.all_versions
        if limit <= 0:
            return []
        allowed = self.filters.allowed(plan.filters)
        named = plan.filters.messages
        if named and not allowed and not any(self.docs.series_root(m) for m in named):
            # a pasted Message-ID nobody holds: say so rather than list nothing (looked
            # up again only when the filter allowed nothing)
            raise NotFoundError(
                f"no series in the index holds Message-ID {named[0]}; a reply's needs an "
                "index built since replies were mapped (`kvmsearch rebuild`)"
            )
        if not (plan.paths or plan.idents or plan.words or plan.phrases):
            if plan.filters.is_empty():
                return []
            return self._browse(plan, allowed, limit, request.explain)
        if plan.kind == "prose" and plan.lex_text and mode != "semantic":
            # the other spellings the lexical side will also search, for the evidence
            # (semantic mode never opens the lexical index for them)
            with damaged_part("lexical index", self.gen.lexical_dir):
                plan = replace(plan, spellings=tuple(self.lex.spellings_for(plan.lex_text)))
        # A longer list is the shorter one continued: the first hits always come from
        # the first pool of each retriever, as for -n 10. Fused scores depend on which
        # candidates each side found (and the lexical side rescores a pool that grows
        # with the depth), so ranking a deeper pool afresh reordered the top 10 of 12
        # of the 104 dev questions at -n 300 (one fold's nDCG@10 0.903 -> 0.895).
        depth = self.tuning.pool
        cands, exhausted = self._retrieve(plan, mode, allowed, depth)
        groups = self._rank(cands, plan, mode, all_versions)
        while len(groups) < limit and not exhausted and depth < self._max_depth():
            # More matching series may lie beyond: look deeper rather than return fewer
            # hits than asked, and append the families not listed yet.
            depth = max(depth * 4, self.depth_for(limit))
            deeper, exhausted = self._retrieve(plan, mode, allowed, depth)
            listed = {g.key for g in groups}
            groups += [
                g for g in self._rank(deeper, plan, mode, all_versions) if g.key not in listed
            ]
            cands = {**deeper, **cands}  # a listed family keeps the evidence it was ranked on
        from kvmsearch.query.evidence import spelled_by_none

        shown = groups[:limit]
        scores = display_scores([g.score for g in shown])

        def answer(plan: QueryPlan) -> list[Hit]:
            return [
                replace(self._hit(g, cands, plan, request.explain, all_versions), score=s)
                for g, s in zip(shown, scores, strict=True)
            ]

        with damaged_part("document store or chunk texts", self.gen.dir):
            hits = answer(plan)
            if plan.kind == "ident" and spelled_by_none(plan.idents, hits):
                # only its parts found these (an identifier only diffs spell): their
                # evidence is about the parts
                hits = answer(replace(plan, answer_parts=self._distinctive_parts(plan.idents)))
            return hits

    def _distinctive_parts(self, idents: Sequence[str]) -> tuple[str, ...]:
        """The parts of ``idents`` the evidence should look for: those not common in
        the corpus (KVM, ARM, VCPU of KVM_ARM_VCPU_PVTIME_CTRL are in most documents;
        a sentence full of them says nothing about PVTIME), or all when every part is."""
        parts = tuple(dict.fromkeys(_identifier_parts(idents)))
        with damaged_part("lexical index", self.gen.lexical_dir):
            rare = tuple(p for p in parts if not self.lex.is_common(p))
        return rare or parts

    def depth_for(self, limit: int) -> int:
        """Versions taken from each retriever for ``limit`` hits: the tuned pool, or more
        for long lists (a family holds ~2 versions on average, some a dozen)."""
        return max(self.tuning.pool, limit * self.tuning.depth_per_hit)

    def _max_depth(self) -> int:
        if self._versions is None:
            self._versions = self.docs.version_count()
        return self._versions

    # ----------------------------------------------------------------- retrieval

    def _retrieve(
        self, plan: QueryPlan, mode: str, allowed: frozenset[str] | None, depth: int
    ) -> tuple[dict[str, _Version], bool]:
        """Candidates of each retriever used, and whether they are all there are (no
        retriever filled its ``depth``)."""
        cands: dict[str, _Version] = {}
        exhausted = True
        use_lex = mode in ("hybrid", "lexical")
        use_dense = bool(plan.text) and (
            mode == "semantic" or (mode == "hybrid" and plan.kind == "prose")
        )
        warming = self._warm_dense() if use_dense else None
        dense_job: _Warmup | None = None
        dense_hits: list[DenseHit] = []
        if use_dense:
            # The query embedding and faiss run in a thread while whoosh runs here: both
            # release the GIL, so on two cores a prose query costs their maximum, not
            # their sum (~10 ms of ~50).
            def dense_work() -> None:
                if warming is not None:
                    warming.wait()
                qvec = self.query_embedder().encode([plan.dense_text])[0]
                dense_hits.extend(self.dense.search(qvec, k=depth, allowed=allowed))

            dense_job = _Warmup(dense_work)

        if use_lex:
            try:
                with damaged_part("lexical index", self.gen.lexical_dir), _handoff(dense_job):
                    lex_hits = self.lexical_hits(plan, allowed, depth)
            except BaseException:
                # Let the model finish first: a process that exits while the dense
                # thread is inside onnxruntime aborts instead of reporting.
                if dense_job is not None:
                    dense_job.join()
                raise
            exhausted = len(lex_hits) < depth
            for rank, h in enumerate(lex_hits):
                c = cands.setdefault(h.message_id, _Version())
                c.lex, c.lex_rank, c.tier = h.score, rank, h.tier

        if dense_job is not None:
            with damaged_part("dense index or query model", self.gen.dir):
                dense_job.wait()
            # Dense search always finds its depth (every version has a nearest chunk);
            # below the floor it holds no evidence, so it asks for more only while its
            # last hit is still above the floor.
            if mode == "semantic":
                exhausted = len(dense_hits) < depth
            elif len(dense_hits) >= depth and dense_hits[-1].score > self.tuning.dense_floor:
                exhausted = False
            for rank, d in enumerate(dense_hits):
                c = cands.setdefault(d.version_id, _Version())
                c.dense, c.dense_rank, c.dense_row = d.score, rank, d.row
        return cands, exhausted

    def lexical_hits(
        self, plan: QueryPlan, allowed: frozenset[str] | None, depth: int
    ) -> list[LexHit]:
        """The lexical evidence the ranker fuses for ``plan``, best first (public for
        ranking experiments in benchmarks/)."""
        t = self.tuning
        boosts = t.field_boosts or None
        hits: list[LexHit]
        if plan.kind == "path":
            hits = self.lex.search_paths(
                plan.paths, limit=depth, allowed=allowed, field_boosts=boosts
            )
        elif plan.kind == "ident":
            best: dict[str, LexHit] = {}
            for ident in plan.idents:
                for h in self.lex.search_identifier(
                    ident, limit=depth, allowed=allowed, field_boosts=boosts
                ):
                    old = best.get(h.message_id)
                    if old is None or (h.tier, h.score) > (old.tier, old.score):
                        best[h.message_id] = h
            hits = sorted(best.values(), key=lambda h: (-h.tier, -h.score))
        else:
            # A question that spells out what the corpus abbreviates also looks for the
            # abbreviation (learned from "Performance Monitoring Unit (PMU)" at build).
            text = " ".join((plan.lex_text, *self.lex.acronyms_for(plan.lex_text)))
            hits = self.lex.search(
                text, limit=depth, allowed=allowed, mode="or", field_boosts=boosts
            )
        if not hits and plan.kind != "prose" and plan.lex_text:
            # A path or identifier nobody wrote: answer the words instead.
            hits = self.lex.search(
                plan.lex_text, limit=depth, allowed=allowed, mode="or", field_boosts=boosts
            )
        if not hits and plan.idents:
            # An identifier only its diff spells (KVM_ARM_VCPU_PVTIME_CTRL): its parts as
            # words find the series that speaks of them ("pvtime"); common parts such as
            # kvm or arm only add to the score.
            parts = _identifier_parts(plan.idents)
            if parts:
                hits = self.lex.search(
                    " ".join(parts), limit=depth, allowed=allowed, mode="or", field_boosts=boosts
                )
        return hits

    # ----------------------------------------------------------------- ranking

    def _rank(
        self, cands: dict[str, _Version], plan: QueryPlan, mode: str, all_versions: bool
    ) -> list[_Group]:
        """Groups (families, or versions with ``all_versions``) best first."""
        t = self.tuning
        groups = self._group(cands, all_versions)
        lex = {g.key: g.lex for g in groups.values() if g.lex_best is not None}
        dense = {g.key: g.dense for g in groups.values() if g.dense is not None}
        fused = mode == "hybrid" and bool(lex) and bool(dense)
        if fused:
            scores = fuse(lex, dense, t.w_dense, t.dense_floor, t.dense_match)
        else:
            scores = lex or dense  # one retriever: its own scores
        if plan.tree_hint:
            trees = self.docs.trees_of(
                [g.lex_best or g.dense_best or g.versions[0] for g in groups.values()]
            )
            for g in groups.values():
                g.in_tree = trees.get(g.lex_best or g.dense_best or g.versions[0]) == plan.tree_hint
                if g.in_tree and plan.kind == "prose":
                    scores[g.key] = scores.get(g.key, 0.0) * t.tree_hint_boost
        for g in groups.values():
            g.score = scores.get(g.key, 0.0)
        # Fused, a family below the dense floor and unknown to the lexical side has no
        # evidence; one retriever's candidates are its nearest, whatever their score.
        ranked = [g for g in groups.values() if g.score > 0 or g.tier > 0 or not fused]
        if plan.kind == "prose":
            ranked.sort(key=lambda g: (-g.score, g.key))
        else:
            # match class first, then the tree the query named, then the score; one
            # file's patches often score alike, and then the lexical side's order
            # decides, not the family's id
            ranked.sort(key=lambda g: (-g.tier, not g.in_tree, -g.score, g.lex_rank, g.key))
        return ranked

    def _group(self, cands: dict[str, _Version], all_versions: bool) -> dict[str, _Group]:
        # one hit per series: a lineage's postings under another title are hits of
        # their own (marked as the same lineage)
        fams = {v: v for v in cands} if all_versions else self.docs.series_of(list(cands))
        groups: dict[str, _Group] = {}
        for vid, c in cands.items():
            key = fams.get(vid) or vid
            g = groups.get(key)
            if g is None:
                g = groups[key] = _Group(key, [])
            g.versions.append(vid)
            if c.lex is not None:
                best = cands[g.lex_best] if g.lex_best is not None else None
                if best is None or (c.tier, c.lex) > (best.tier, best.lex or 0.0):
                    g.lex_best, g.lex, g.tier = vid, c.lex, c.tier
            if c.lex_rank is not None:
                g.lex_rank = min(g.lex_rank, c.lex_rank)
            if c.dense is not None and (g.dense is None or c.dense > g.dense):
                g.dense_best, g.dense = vid, c.dense
        return groups

    def _browse(
        self, plan: QueryPlan, allowed: frozenset[str] | None, limit: int, explain: bool
    ) -> list[Hit]:
        """Filters without search terms: the matching series, newest first."""
        all_versions = plan.filters.all_versions
        groups: dict[str, _Group] = {}
        for vid, fam in self.docs.newest_first():
            if allowed is not None and vid not in allowed:
                continue
            key = vid if all_versions else (fam or vid)
            if key in groups:
                groups[key].versions.append(vid)
            elif len(groups) < limit:
                groups[key] = _Group(key, [vid])
        return [self._hit(g, {}, plan, explain, all_versions) for g in groups.values()]

    # ----------------------------------------------------------------- answers

    def _hit(
        self, g: _Group, cands: dict[str, _Version], plan: QueryPlan, explain: bool, single: bool
    ) -> Hit:
        from kvmsearch.query.evidence import build_hit

        best_id = g.lex_best or g.dense_best or g.versions[0]
        best: SeriesVersion | None = None
        versions: list[SeriesVersion] = []
        if not single:
            # the series' versions are decoded once per generation and kept: take the
            # best one from them rather than decode it again
            series = self.docs.series_of([best_id]).get(best_id)
            versions = self.docs.series_versions(series) if series else []
            best = next((v for v in versions if v.message_id == best_id), None)
        if best is None:
            best = self.docs.get(best_id)
            versions = [best] if best is not None else []
        dense_c = cands.get(g.dense_best) if g.dense_best else None
        dense_text = (
            self.dense.text(dense_c.dense_row)
            if dense_c is not None and dense_c.dense_row is not None
            else None
        )
        comp = None
        if explain:
            lex_c = cands.get(g.lex_best) if g.lex_best else None
            comp = {
                "kind": plan.kind,
                "fused": round(g.score, 6),
                "best_version": best_id,
                "tier": g.tier,
                "lexical": round(g.lex, 4) if lex_c is not None else None,
                "lexical_rank": lex_c.lex_rank if lex_c is not None else None,
                "dense": round(g.dense, 4) if g.dense is not None else None,
                "dense_rank": dense_c.dense_rank if dense_c is not None else None,
                "versions_matched": len(g.versions),
            }
        hit = build_hit(versions, best, g.score, plan, dense_text=dense_text, explain=comp)
        if best is not None and not single:
            hit = replace(hit, family_versions=self.docs.family_size(best.family))
        return hit

"""Searching the lexical index (BM25F over the fields of one series version).

Queries are built programmatically from the user's text: nothing the user types reaches
whoosh's query-language parser, so quotes, colons, ``*`` and the like can never raise.
Every word is analysed by the same functions the index analyzers use
(:mod:`kvmsearch.indexer.index.lexical`), so a word always meets the terms it was written as.

Filters restrict the candidates during retrieval, so a filtered search returns the
best matching documents *among those allowed*. The caller passes the allowed series
versions as a set of Message-IDs (computed once per query by :mod:`kvmsearch.query.filters`,
the same set the dense side receives); here it becomes a whoosh filter, or, when it
excludes only a few documents, an unfiltered search that over-fetches exactly that
many: the same answer, faster.

By default words are looked up in ``body``, all prose sections in one field with the
section weights applied at index time (BM25F proper, one posting list per word); custom
section weights search the section fields one by one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from math import log
from pathlib import Path
from typing import TYPE_CHECKING

from kvmsearch.indexer.index.acronyms import MIN_DOCS as ACRONYM_MIN_DOCS
from kvmsearch.indexer.index.acronyms import read_acronyms
from kvmsearch.indexer.index.lexical import (
    REVIEW_FIELD,
    iter_units,
    normalize_word,
    open_lexical,
)
from kvmsearch.indexer.text.paths import (
    PATH_BASE,
    PATH_TIERS,
    normalize_path,
    path_query_forms,
)
from kvmsearch.models.errors import QueryError
from kvmsearch.query.lexclauses import (
    DEFAULT_FIELD_BOOSTS,
    PUNCT_EDGE,
    SECTION_FIELDS,
    Clause,
    closed_spellings,
    field_weights,
    path_clause,
    split_query,
    text_clauses,
    text_fields,
    word_clauses,
)
from kvmsearch.query.retrievers import LexHit

if TYPE_CHECKING:
    from array import array

    # whoosh ships no type information: these names document, mypy sees Any
    from whoosh.query import Query

MODES = ("auto", "and", "or")

#: the fields each condition on text looks in (query.filters): the replies
#: (``review:``); lore's ``s:``, the series title and the cover's list of patch
#: subjects; lore's ``b:``, the cover text, changelog and commit messages (with their
#: subjects); ``-word``, everything the ranking reads
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "review": (REVIEW_FIELD,),
    "subject": ("title", "shortlog"),
    "body": ("motivation", "changelog", "patches"),
    "all": ("body",),
}


_FILTER_CACHE_SIZE = 64
# A clause matching more than this share of the documents only scores, never selects
# (see LexicalSearcher._split_common); below _COMMON_MIN_DOCS every clause selects.
_COMMON_FRACTION = 0.1
_COMMON_MIN_DOCS = 500
# Long questions select by their rarest words only; the others still score.
_MAX_SELECTING = 6
# See LexicalSearcher._collect.
_FEW_EXCLUDED = 500
# See LexicalSearcher._tier.
_RESCORE_POOL = 2
# Clauses whose scores on every document a searcher keeps (see _common_scores): one
# array of doubles each, 8 bytes per document (~200 KB on the full corpus).
_CLAUSE_CACHE = 192


def _too_common(doc_frequency: int, docs: int) -> bool:
    """Whether a word in ``doc_frequency`` of ``docs`` documents is too common to select
    documents (it only scores; see LexicalSearcher._split_common)."""
    return docs >= _COMMON_MIN_DOCS and doc_frequency > _COMMON_FRACTION * docs


#: builds the clauses of one search for the given fields
_Build = Callable[[list[str]], list["Clause"]]


class LexicalSearcher:
    """An open lexical index. Open once, then query many times; not thread-safe."""

    def __init__(self, dirpath: Path) -> None:
        from whoosh import scoring

        self._dir = Path(dirpath)
        self._ix = open_lexical(self._dir)
        self._searcher = self._ix.searcher(weighting=scoring.BM25F())
        self._ids: dict[int, tuple[str, str]] = {}
        self._by_id: dict[str, int] | None = None
        self._ids_col: list[str] | None = None
        self._filter_cache: dict[frozenset[str], set[int]] = {}
        self._acronyms: list[tuple[str, frozenset[str]]] | None = None
        self._ambiguous_names: frozenset[str] | None = None  # see _ambiguous
        # see _common_scores
        self._clause_scores: dict[Query, array[float]] = {}

    # ----------------------------------------------------------------- public

    def search(
        self,
        text: str,
        *,
        limit: int = 100,
        allowed: frozenset[str] | None = None,
        field_boosts: dict[str, float] | None = None,
        mode: str = "auto",
        explain: bool = False,
    ) -> list[LexHit]:
        """Series versions matching free text: words, identifiers, paths, "phrases".

        ``mode`` "and" wants every word, "or" any word, "auto" ranks documents with every
        word first and fills up with documents that lack some (their scores are scaled
        below the last complete match, so scores stay descending). In "auto" and "or",
        on an index of 500+ documents, a word found in more than a tenth of them (and any
        word beyond the six rarest) does not select documents: it only adds to the score
        of the best ones the rarer words found.
        """
        if mode not in MODES:
            raise QueryError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
        boosts = field_weights(field_boosts)

        def build(fields: list[str]) -> list[Clause]:
            clauses = text_clauses(text, boosts, fields, vocab=self)
            return [c for c in clauses if c.per_field]

        return self._run(build, boosts, mode, limit, allowed, explain)

    def search_paths(
        self,
        paths: Sequence[str],
        *,
        limit: int = 100,
        allowed: frozenset[str] | None = None,
        field_boosts: dict[str, float] | None = None,
        explain: bool = False,
    ) -> list[LexHit]:
        """Series versions touching any of ``paths``: an exact file scores above a file
        under the path taken as a directory, which scores above a file of the same bare
        name elsewhere."""
        boosts = field_weights(field_boosts)

        def build(fields: list[str]) -> list[Clause]:
            return [c for p in paths if (c := path_clause(p, boosts, fields, prose=False))]

        # BM25 alone lets a short series touching a file of the same name elsewhere beat
        # a long one touching the file itself, so the match class ranks first.
        tiers: dict[int, int] = {}
        for p in paths:
            best: dict[int, int] = {}
            # Of several paths, a bare name the corpus knows as one file ("arm_vgic.h")
            # names that file; one it knows in many places ("kernel.h": seven) is a
            # file of that name somewhere, the bare-name class, and weighs less.
            vague = len(paths) > 1 and self._ambiguous(p)
            for term, w in path_query_forms(p):
                tier = PATH_TIERS[PATH_BASE if vague else w]
                for d in self._postings("files", term):
                    best[d] = max(best.get(d, 0), tier)
            for d, t in best.items():
                tiers[d] = tiers.get(d, 0) + t
        return self._tiered(build, boosts, "or", limit, allowed, explain, tiers)

    def _ambiguous(self, path: str) -> bool:
        """Whether ``path`` is a bare file name that several files of the corpus carry
        (in different directories). The counts are taken once per open index, from the
        ``files`` terms, and only for a question naming several paths."""
        p = normalize_path(path)
        if "/" in p or p.startswith("..."):
            return False
        if self._ambiguous_names is None:
            terms = (
                raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
                for raw in self._searcher.reader().lexicon("files")
            )
            carried = Counter(t.rsplit("/", 1)[-1] for t in terms if "/" in t and t[-1] != "/")
            self._ambiguous_names = frozenset(n for n, files in carried.items() if files > 1)
        return p in self._ambiguous_names

    def search_identifier(
        self,
        ident: str,
        *,
        limit: int = 100,
        allowed: frozenset[str] | None = None,
        field_boosts: dict[str, float] | None = None,
        explain: bool = False,
    ) -> list[LexHit]:
        """Series versions mentioning an identifier (``KVM_CAP_ARM_MTE``, ``foo()``);
        the exact spelling outranks a case-insensitive match, which outranks its parts
        appearing as a phrase."""
        boosts = field_weights(field_boosts)
        raw = (ident or "").strip().strip(PUNCT_EDGE).removesuffix("()")

        def build(fields: list[str]) -> list[Clause]:
            # what reviewers wrote is no place an identifier is defined or changed:
            # someone grepping for it wants the series that touch it
            own = [f for f in fields if f != REVIEW_FIELD]
            clauses = word_clauses(raw, boosts, own, identifier=True)
            return [c for c in clauses if c.per_field]

        # The exact spelling is what a maintainer grepping for it means: those documents
        # first, however long the ones matching the lower-cased name or its parts are.
        tiers = dict.fromkeys(self._postings("ident_exact", raw), 1) if raw else {}
        return self._tiered(build, boosts, "and", limit, allowed, explain, tiers)

    def versions_with(self, where: str, phrases: Sequence[str]) -> set[str]:
        """Version ids whose text ``where`` (:data:`TEXT_FIELDS`: ``review``,
        ``subject``, ``body`` or ``all``) holds any of ``phrases``: every word of one,
        in order where it has several.

        Raises QueryError for a phrase with no word the index keeps (a stop word)."""
        fields = TEXT_FIELDS[where]
        boosts = field_weights(dict.fromkeys(fields, 1.0))
        ids = self._id_column()
        out: set[str] = set()
        for p in phrases:
            text = p.strip().strip('"')
            if not text:
                continue
            # several words are a phrase (review:"use after free"); one is a word
            chunk = f'"{text}"' if " " in text else text
            # only these fields: an identifier's clause also asks ident_exact, which
            # holds every section's text
            qs = [
                c.query(fields)
                for c in text_clauses(chunk, boosts, list(fields))
                if any(f in c.per_field for f in fields)
            ]
            if not qs:
                raise QueryError(
                    f"{text!r} has no word the index keeps (too common or too short); "
                    "give a more specific word"
                )
            from whoosh import query as wq

            q = qs[0] if len(qs) == 1 else wq.And(qs)
            out.update(ids[d] for d in self._searcher.docs_for_query(q))
        return out

    def version_ids(self) -> set[str]:
        """Every version id in the index."""
        return set(self._id_column())

    def acronyms_for(self, text: str) -> list[str]:
        """Acronyms the corpus defines whose expansion ``text`` spells out and that it
        does not name itself: "performance-monitor registers" -> ["PMU"].

        An expansion counts as spelled out when the text holds all its words but at most
        one (by stem: "Performance Monitoring Unit" is met by "performance monitor"),
        and at least two. Acronyms shorter than three letters are too ambiguous to add.
        """
        if self._acronyms is None:
            self._acronyms = []
            for (acro, exp), n in read_acronyms(self._dir).items():
                if n >= ACRONYM_MIN_DOCS and sum(c.isalpha() for c in acro) >= 3:
                    stems = frozenset(
                        t for u in iter_units(exp, stem=True, stop=True) for t in u[2]
                    )
                    if len(stems) >= 2:
                        self._acronyms.append((acro, stems))
        if not self._acronyms:
            return []
        units = list(iter_units(text, stem=True, stop=True))
        query_stems = {t for u in units for t in u[2]}
        named = {u[0].upper() for u in units}
        out: list[str] = []
        for acro, expansion in self._acronyms:
            hit = len(expansion & query_stems)
            if (
                hit >= 2
                and hit >= len(expansion) - 1
                and acro.upper() not in named
                and acro not in out
            ):
                out.append(acro)
        return out

    def is_common(self, word: str) -> bool:
        """Whether ``word`` is one of the words too common to select documents (in more
        than a tenth of them, on an index of 500 or more; see _split_common)."""
        # an identifier's part is indexed as normalize_word analyses it
        term = normalize_word(word, stem=True, stop=True)
        if term is None:
            return False
        return _too_common(self.doc_frequency(term), self._searcher.doc_count_all())

    def spellings_for(self, text: str) -> list[str]:
        """The closed forms of compounds in ``text`` that the corpus writes and that a
        search for ``text`` also looks for: "zero copy" -> ["zerocopy"]."""
        return closed_spellings(text, self)

    # the lexclauses.Vocabulary the compound spellings ask

    def doc_frequency(self, term: str) -> int:
        """Documents whose prose (``body``) holds the analysed ``term``."""
        return int(self._searcher.reader().doc_frequency("body", term))

    def idf(self, doc_frequency: int) -> float:
        """whoosh's idf for a term in that many documents (BM25F scores with it)."""
        return log(self._searcher.doc_count_all() / (doc_frequency + 1)) + 1

    def score_documents(self, q: Query, message_ids: Sequence[str]) -> dict[str, float]:
        """Scores of a whoosh query ``q`` on the given versions only (a seam for ranking
        experiments in benchmarks/; the product builds its own queries)."""
        by_id = self._doc_of_id()
        docs = sorted(d for m in message_ids if (d := by_id.get(m)) is not None)
        return {self._stored(d)[0]: sc for d, sc in self._scores_on(q, docs).items()}

    def doc_count(self) -> int:
        return self._searcher.doc_count()

    def close(self) -> None:
        self._searcher.close()
        self._ix.close()

    def __enter__(self) -> LexicalSearcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- building

    # ----------------------------------------------------------------- filters

    def _docnums(self, allowed: frozenset[str] | None) -> set[int] | None:
        """Document numbers of the ``allowed`` versions (None: all), cached per set,
        since a session repeats its filters (at least the default kind filter)."""
        if allowed is None:
            return None
        if allowed in self._filter_cache:
            return self._filter_cache[allowed]
        by_id = self._doc_of_id()
        docs = {d for mid in allowed if (d := by_id.get(mid)) is not None}
        if len(self._filter_cache) >= _FILTER_CACHE_SIZE:
            self._filter_cache.pop(next(iter(self._filter_cache)))
        self._filter_cache[allowed] = docs
        return docs

    def _id_column(self) -> list[str]:
        """The Message-ID of every document number (deleted ones included), read from
        the ``message_id`` column."""
        if self._ids_col is None:
            reader = self._searcher.reader()
            col = reader.column_reader("message_id")
            self._ids_col = [v if isinstance(v, str) else v.decode("utf-8") for v in col]
        return self._ids_col

    def _doc_of_id(self) -> dict[str, int]:
        """Message-ID -> document number of the live documents (an update deletes a
        version's old document)."""
        if self._by_id is None:
            reader = self._searcher.reader()
            ids = self._id_column()
            self._by_id = {ids[d]: d for d in reader.all_doc_ids()}
        return self._by_id

    # ----------------------------------------------------------------- running

    def _postings(self, field: str, term: str) -> list[int]:
        """Document numbers holding ``term`` in ``field`` (deleted ones included; the
        ranking that uses them only looks up documents it retrieved)."""
        reader = self._searcher.reader()
        if (field, term) not in reader:
            return []
        return list(reader.postings(field, term).all_ids())

    def _tiered(
        self,
        build: _Build,
        boosts: dict[str, float],
        mode: str,
        limit: int,
        allowed: frozenset[str] | None,
        explain: bool,
        tiers: dict[int, int],
    ) -> list[LexHit]:
        """:meth:`_run`, then ranked by tier before score. Every tiered document is
        retrieved, so a high tier never falls outside the pool the scores picked."""
        hits = self._run(build, boosts, mode, max(limit, len(tiers)), allowed, explain, tiers)
        hits.sort(key=lambda h: (-h.tier, -h.score))
        return hits[:limit]

    def _run(
        self,
        build: _Build,
        boosts: dict[str, float],
        mode: str,
        limit: int,
        allowed: frozenset[str] | None,
        explain: bool,
        tiers: dict[int, int] | None = None,
    ) -> list[LexHit]:
        """Build the clauses (``build(fields)``), retrieve, and explain on request."""
        from whoosh import query as wq

        sections = any(boosts[f] != DEFAULT_FIELD_BOOSTS[f] for f in SECTION_FIELDS)
        clauses = build(text_fields(boosts, sections=sections))
        if not clauses or limit <= 0:
            return []
        filt = allowed
        if filt is not None and not filt:
            return []
        qs = [c.query() for c in clauses]
        if len(qs) == 1:
            scored = self._collect(qs[0], limit, filt)
        elif mode == "and":
            scored = self._collect(wq.And(qs), limit, filt)
        else:
            rare, common = self._split_common(clauses, qs)
            if mode == "or" or len(rare) == 1:
                scored = self._tier(_or(rare), common, limit, filt)
            else:
                scored = self._tier(wq.And(rare), common, limit, filt)
                if len(scored) < limit:
                    more = self._tier(wq.Or(rare), common, limit, filt)
                    scored = _append_tier(scored, more, limit)
        breakdown: dict[int, dict[str, float]] = {}
        if explain:
            detail = None if sections else build(text_fields(boosts, sections=True))
            breakdown = self._explain(clauses, scored, detail)
        out = []
        for docnum, score, scale in scored:
            mid, fam = self._stored(docnum)
            fields = None
            if explain:
                fields = {f: s * scale for f, s in breakdown.get(docnum, {}).items()}
            out.append(LexHit(mid, fam, score, fields, tiers.get(docnum, 0) if tiers else 0))
        return out

    def _split_common(
        self, clauses: list[Clause], qs: list[Query]
    ) -> tuple[list[Query], list[Query]]:
        """Clauses that select documents, and those too common to: a word in most
        documents ("kvm" on kvmarm, "which", "series") barely moves BM25 but costs the
        most to match, so it only adds to the score of documents the others found."""
        n = self._searcher.doc_count_all()
        if n < _COMMON_MIN_DOCS:
            return qs, []
        reader = self._searcher.reader()
        by_df = sorted(
            (max(sub.estimate_size(reader) for subs in c.per_field.values() for sub in subs), i)
            for i, c in enumerate(clauses)
        )
        rare = [qs[i] for df, i in by_df if not _too_common(df, n)][:_MAX_SELECTING]
        if not rare:
            return qs, []
        chosen = {id(q) for q in rare}
        return rare, [q for q in qs if id(q) not in chosen]

    def _tier(
        self, required: Query, common: list[Query], limit: int, filt: frozenset[str] | None
    ) -> list[tuple[int, float, float]]:
        """Documents selected by ``required``; the ``common`` clauses add their score to
        the best 2 * ``limit`` of them, which then compete for the ``limit`` places.

        Letting the common words select too, or score every candidate, would cost
        several times the rest of the query for a small change in the order.
        """
        if not common:
            return self._collect(required, limit, filt)
        pool = self._collect(required, limit * _RESCORE_POOL, filt)
        extra = self._common_scores(common, sorted(d for d, _s, _k in pool))
        pool = [(d, s + extra.get(d, 0.0), k) for d, s, k in pool]
        pool.sort(key=lambda h: -h[1])
        return pool[:limit]

    def _common_scores(self, common: list[Query], docs: list[int]) -> dict[int, float]:
        """The summed score of the ``common`` clauses on ``docs`` (sorted), as
        ``_scores_on(Or(common))`` gives it.

        A common word is common across questions too ("kvm", "guest", "memory"): each
        clause is scored once on every document it matches and kept (one array of
        doubles per clause, the least recently used dropped first), so later queries
        add it by lookup instead of skipping through its postings again, about half of
        a prose query in a long-lived reader. The first scan costs ~6 ms a clause, a
        one-shot process pays that once (~2% of a cold query).
        """
        out: dict[int, float] = {}
        for c in common:
            arr = self._clause_scores.pop(c, None)
            if arr is None:
                arr = self._score_everywhere(c)
            self._clause_scores[c] = arr  # most recently used last
            while len(self._clause_scores) > _CLAUSE_CACHE:
                self._clause_scores.pop(next(iter(self._clause_scores)))
            for d in docs:
                v = arr[d]
                if v:
                    out[d] = out.get(d, 0.0) + v
        return out

    def _score_everywhere(self, q: Query) -> array[float]:
        """``q``'s score on every document (0.0 where it does not match)."""
        from array import array

        _lazy(q)
        arr = array("d", bytes(8 * self._searcher.doc_count_all()))
        context = self._searcher.context()
        for sub, offset in self._searcher.leaf_searchers():
            m = q.matcher(sub, context)
            while m.is_active():
                arr[m.id() + offset] = m.score()
                m.next()
        return arr

    def _scores_on(self, q: Query, docs: list[int]) -> dict[int, float]:
        """Scores of ``q`` on the given (sorted) documents only, skipping through its
        postings instead of reading them all."""
        _lazy(q)
        out: dict[int, float] = {}
        context = self._searcher.context()
        for sub, offset in self._searcher.leaf_searchers():
            end = offset + sub.doc_count_all()
            local = [d - offset for d in docs if offset <= d < end]
            if not local:
                continue
            m = q.matcher(sub, context)
            for d in local:
                if not m.is_active():
                    break
                if m.id() < d:
                    m.skip_to(d)
                if m.is_active() and m.id() == d:
                    out[d + offset] = m.score()
        return out

    def _collect(
        self, q: Query, limit: int, filt: frozenset[str] | None
    ) -> list[tuple[int, float, float]]:
        """Top ``limit`` (docnum, score, 1.0) among the versions in ``filt``."""
        if filt is not None:
            excluded = self._searcher.doc_count() - len(filt)
            if excluded <= _FEW_EXCLUDED:
                # whoosh walks filtered searches one document at a time, several times
                # slower; when a filter drops only a few documents (the default kind
                # filter drops the pulls), the best limit+excluded unfiltered documents
                # are sure to hold the best ``limit`` allowed ones: same answer, faster.
                results = self._searcher.search(q, limit=limit + excluded)
                # checked by Message-ID through the id column: no map of the allowed
                # set to document numbers is needed
                ids = self._id_column()
                hits = [(h.docnum, h.score, 1.0) for h in results if ids[h.docnum] in filt]
                return hits[:limit]
        results = self._searcher.search(q, limit=limit, filter=self._docnums(filt))
        return [(hit.docnum, hit.score, 1.0) for hit in results]

    def _stored(self, docnum: int) -> tuple[str, str]:
        got = self._ids.get(docnum)
        if got is None:
            sf = self._searcher.stored_fields(docnum)
            got = (sf["message_id"], sf.get("family") or sf["message_id"])
            self._ids[docnum] = got
        return got

    def _explain(
        self,
        clauses: list[Clause],
        scored: list[tuple[int, float, float]],
        detail: list[Clause] | None,
    ) -> dict[int, dict[str, float]]:
        """Each hit's score split by field. A ``body`` share is split further in the
        proportions the section fields (``detail``) score the same words."""
        docs = {d for d, _s, _k in scored}
        out = self._field_scores(clauses, docs)
        if detail is None:
            return out
        fine = self._field_scores(detail, docs)
        for d, parts in out.items():
            body = parts.pop("body", 0.0)
            sections = {f: v for f, v in fine[d].items() if f in SECTION_FIELDS and v > 0}
            total = sum(sections.values())
            if body and total > 0:
                for f, v in sections.items():
                    parts[f] = parts.get(f, 0.0) + body * v / total
            elif body:
                parts["body"] = body
        return out

    def _field_scores(self, clauses: list[Clause], docs: set[int]) -> dict[int, dict[str, float]]:
        """The clauses restricted to one field at a time, scored on ``docs`` only."""
        out: dict[int, dict[str, float]] = {d: {} for d in docs}
        for f in sorted({f for c in clauses for f in c.per_field}):
            q = _or([c.query([f]) for c in clauses if f in c.per_field])
            for hit in self._searcher.search(q, limit=None, filter=docs):
                out[hit.docnum][f] = hit.score
        return out


def _lazy(q: Query) -> None:
    """Make every Or in ``q`` walk its postings on demand (whoosh preloads them all for
    small indexes, which is wasted when only a few documents get scored)."""
    from whoosh import query as wq

    if isinstance(q, wq.Or):
        q.matcher_type = wq.Or.DEFAULT_MATCHER
    for child in q.children():
        _lazy(child)


def _or(qs: list[Query]) -> Query:
    from whoosh import query as wq

    return qs[0] if len(qs) == 1 else wq.Or(qs)


def _append_tier(
    first: list[tuple[int, float, float]], second: list[tuple[int, float, float]], limit: int
) -> list[tuple[int, float, float]]:
    """``first`` followed by the documents of ``second`` it lacks, their scores scaled
    to stay below the last of ``first``."""
    seen = {d for d, _s, _k in first}
    rest = [(d, s) for d, s, _k in second if d not in seen]
    if not rest:
        return first
    scale = 1.0
    if first:
        floor = first[-1][1] * 0.999
        top = max(s for _d, s in rest)
        if top > floor and top > 0:
            scale = floor / top
    return first + [(d, s * scale, scale) for d, s in rest][: limit - len(first)]


__all__ = [
    "DEFAULT_FIELD_BOOSTS",
    "LexHit",
    "LexicalSearcher",
    "split_query",
]

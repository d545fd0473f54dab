"""Searching the lexical index (BM25F over the fields of one series version).

Queries are built programmatically from the user's text: nothing the user types reaches
whoosh's query-language parser, so quotes, colons, ``*`` and the like can never raise.
Every word is analysed by the same functions the index analyzers use
(:mod:`kvmsearch.indexer.lexical`), so a word always meets the terms it was written as.

Filters are whoosh filter queries: they restrict the candidates during retrieval, so a
filtered search returns the best matching documents *among those allowed*.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from kvmsearch.indexer.lexical import (
    PROSE_FIELDS,
    is_exact_identifier,
    iter_units,
    normalize_path,
    open_lexical,
)
from kvmsearch.models.errors import QueryError

#: default weight of each field; ``files`` only counts for path terms and
#: ``ident_exact`` only for identifiers. A weight of 0 leaves a field out.
DEFAULT_FIELD_BOOSTS: dict[str, float] = {
    "title": 4.0,
    "tags": 1.5,
    "motivation": 1.5,
    "changelog": 1.5,
    "shortlog": 1.0,
    "patches": 0.5,
    "files": 2.0,
    "ident_exact": 2.0,
    "author": 0.0,
}

MODES = ("auto", "and", "or")

_FILTER_CACHE_SIZE = 64

# A split identifier also matches its parts as a phrase (KVM-CAP-ARM-MTE, "kvm cap arm
# mte"), far below the whole-token match.
_PARTS_WEIGHT = 0.25
# A path in free text also matches where prose mentions it.
_PATH_PROSE_WEIGHT = 0.3
# Exact file > the path as a directory prefix > same bare file name elsewhere.
_PATH_FULL, _PATH_DIR, _PATH_BASE = 4.0, 2.0, 1.0

_FILE_EXT_RE = re.compile(
    r"^[\w.+-]+\.(?:c|h|s|rst|txt|rs|py|sh|lds|dts|dtsi|yaml|json|mk|awk|pl|tc|cfg|config)$",
    re.IGNORECASE,
)
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"',
                         "\u00bb": '"'})
_PUNCT_EDGE = "\"'`()[]{}<>,;:!?"


@dataclass(frozen=True)
class LexHit:
    """One document: a series version."""

    message_id: str
    family: str
    score: float
    #: per-field share of the score, only when asked for (``explain=True``)
    fields: dict[str, float] | None = None


@dataclass(frozen=True)
class LexFilters:
    """Restrictions applied during retrieval. Empty tuples mean "no restriction".

    ``authors`` and ``lists`` match any substring of the author's "Name <addr>" and of
    the list id; ``trees`` a substring of the tree name; ``files`` a path, a directory
    prefix or a bare file name; ``kinds`` defaults to ordinary series (pulls and stable
    backports only when asked for; an empty tuple allows every kind). Several values in
    one category are alternatives; categories combine with AND.
    """

    authors: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()
    trees: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    files: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ("series",)

    def __post_init__(self) -> None:
        # accept a lone string or a list where a tuple is meant: filters are cache keys
        for name in ("authors", "lists", "trees", "files", "kinds"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))
            elif not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value or ()))


def is_path_like(token: str) -> bool:
    """Whether a query token names a file or directory rather than a word."""
    if "://" in token or "@" in token:
        return False
    return ("/" in token and any(c.isalnum() for c in token)) or bool(_FILE_EXT_RE.match(token))


def path_query_forms(path: str) -> list[tuple[str, float]]:
    """``files`` terms a path query looks for, with their weight (see module constants).

    A trailing ``/`` says "directory": then only the prefix form is used.
    """
    p = normalize_path(path)
    if p.startswith("..."):
        base = p.rstrip("/").rsplit("/", 1)[-1]
        return [(base, _PATH_BASE)] if base else []
    is_dir = p.endswith("/")
    p = p.rstrip("/")
    if not p:
        return []
    out = [(p + "/", _PATH_DIR)]
    if not is_dir:
        out.insert(0, (p, _PATH_FULL))
        if "/" in p:
            out.append((p.rsplit("/", 1)[-1], _PATH_BASE))
    return out


def split_query(text: str) -> list[tuple[str, bool]]:
    """User text as (chunk, quoted) pairs: balanced "..." are phrases, everything else
    whitespace-separated words. An unbalanced quote is ignored."""
    text = (text or "").translate(_QUOTES)
    out: list[tuple[str, bool]] = []
    parts = text.split('"')
    if len(parts) % 2 == 0:  # odd number of quotes: the last one has no partner
        parts[-2:] = [parts[-2] + " " + parts[-1]]
    for i, part in enumerate(parts):
        if i % 2:
            if part.strip():
                out.append((part.strip(), True))
        else:
            out.extend((w, False) for w in part.split())
    return out


class _Clause:
    """One query word/phrase/path: whoosh queries per field, summed."""

    __slots__ = ("per_field",)

    def __init__(self) -> None:
        self.per_field: dict[str, list[Any]] = {}

    def add(self, field: str, q: Any) -> None:
        self.per_field.setdefault(field, []).append(q)

    def query(self, fields: Sequence[str] | None = None) -> Any:
        from whoosh import query as wq

        subs = [
            q for f, qs in self.per_field.items() if fields is None or f in fields for q in qs
        ]
        return subs[0] if len(subs) == 1 else wq.Or(subs)


class LexicalSearcher:
    """An open lexical index. Open once, then query many times; not thread-safe."""

    def __init__(self, dirpath: Path) -> None:
        from whoosh import scoring

        self._ix = open_lexical(Path(dirpath))
        self._searcher = self._ix.searcher(weighting=scoring.BM25F())
        self._ids: dict[int, tuple[str, str]] = {}
        self._lexicons: dict[str, list[str]] = {}
        self._filter_cache: dict[LexFilters, set[int] | None] = {}

    # ----------------------------------------------------------------- public

    def search(self, text: str, *, limit: int = 100, filters: LexFilters | None = None,
               field_boosts: dict[str, float] | None = None, mode: str = "auto",
               explain: bool = False) -> list[LexHit]:
        """Series versions matching free text: words, identifiers, paths, "phrases".

        ``mode`` "and" wants every word, "or" any word, "auto" ranks documents with every
        word first and fills up with documents that lack some (their scores are scaled
        below the last complete match, so scores stay descending).
        """
        if mode not in MODES:
            raise QueryError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
        boosts = self._boosts(field_boosts)
        clauses = [c for c in self._text_clauses(text, boosts) if c.per_field]
        return self._run(clauses, mode, limit, filters, explain)

    def search_paths(self, paths: Sequence[str], *, limit: int = 100,
                     filters: LexFilters | None = None,
                     field_boosts: dict[str, float] | None = None,
                     explain: bool = False) -> list[LexHit]:
        """Series versions touching any of ``paths``: an exact file scores above a file
        under the path taken as a directory, which scores above a file of the same bare
        name elsewhere."""
        boosts = self._boosts(field_boosts)
        clauses = [c for p in paths if (c := self._path_clause(p, boosts, prose=False))]
        return self._run(clauses, "or", limit, filters, explain)

    def search_identifier(self, ident: str, *, limit: int = 100,
                          filters: LexFilters | None = None,
                          field_boosts: dict[str, float] | None = None,
                          explain: bool = False) -> list[LexHit]:
        """Series versions mentioning an identifier (``KVM_CAP_ARM_MTE``, ``foo()``);
        the exact spelling outranks a case-insensitive match, which outranks its parts
        appearing as a phrase."""
        boosts = self._boosts(field_boosts)
        raw = (ident or "").strip().strip(_PUNCT_EDGE).removesuffix("()")
        clauses = [c for c in (self._word_clauses(raw, boosts, identifier=True)) if c.per_field]
        return self._run(clauses, "and", limit, filters, explain)

    def filter_ids(self, filters: LexFilters) -> set[str]:
        """Message-IDs of every document passing ``filters``, for retrievers that filter
        by id (the dense index)."""
        docs = self._allowed(filters)
        if docs is None:
            docs = set(self._searcher.reader().all_doc_ids())
        return {self._stored(d)[0] for d in docs}

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

    @staticmethod
    def _boosts(field_boosts: dict[str, float] | None) -> dict[str, float]:
        boosts = dict(DEFAULT_FIELD_BOOSTS)
        for f, b in (field_boosts or {}).items():
            if f not in boosts:
                raise QueryError(
                    f"unknown field {f!r} in field boosts; known: {', '.join(boosts)}"
                )
            boosts[f] = float(b)
        return boosts

    def _text_clauses(self, text: str, boosts: dict[str, float]) -> list[_Clause]:
        clauses: list[_Clause] = []
        for chunk, quoted in split_query(text):
            if quoted:
                if " " not in chunk and is_path_like(chunk):
                    c = self._path_clause(chunk, boosts, prose=True)
                    clauses.extend([c] if c else [])
                else:
                    clauses.append(self._phrase_clause(chunk, boosts))
                continue
            word = chunk.strip(_PUNCT_EDGE)
            if word and is_path_like(word):
                c = self._path_clause(word, boosts, prose=True)
                clauses.extend([c] if c else [])
            else:
                call = chunk.rstrip(",.;:!?").endswith("()")
                clauses.extend(self._word_clauses(word, boosts, call=call))
        return clauses

    @staticmethod
    def _text_fields(boosts: dict[str, float]) -> list[str]:
        return [f for f in (*PROSE_FIELDS, "tags", "author") if boosts[f] > 0]

    def _word_clauses(self, chunk: str, boosts: dict[str, float], *,
                      identifier: bool = False, call: bool = False) -> list[_Clause]:
        """One clause for a word or identifier; a chunk that holds several words
        (``vhost-net``, ``v5.10``) becomes a phrase.

        ``identifier`` (search_identifier) also matches the identifier's parts as a
        phrase, so ``vcpu_ioctl`` finds ``kvm_vcpu_ioctl``; free text skips that, as
        phrases of common parts (kvm, vcpu) are the slowest thing whoosh can be asked.
        """
        prose = list(iter_units(chunk, stem=True, stop=True))
        if len(prose) > 1:
            return [self._phrase_clause(chunk, boosts)]
        if not prose:
            return []
        plain = list(iter_units(chunk, stem=False, stop=False))
        raw, whole, terms, _call = prose[0]
        exact = identifier or is_exact_identifier(raw, call)
        if whole is None and not terms:
            return []  # a stop word
        from whoosh import query as wq

        c = _Clause()
        for f in self._text_fields(boosts):
            b = boosts[f]
            if whole is not None:
                c.add(f, wq.Term(f, whole, boost=b))
                if identifier and f in PROSE_FIELDS and terms:
                    c.add(f, _phrase(f, list(terms), b * _PARTS_WEIGHT))
            else:
                term = terms[0] if f in PROSE_FIELDS else plain[0][2][0]
                c.add(f, wq.Term(f, term, boost=b))
        if exact and boosts["ident_exact"] > 0:
            c.add("ident_exact", wq.Term("ident_exact", raw, boost=boosts["ident_exact"]))
        return [c]

    def _phrase_clause(self, chunk: str, boosts: dict[str, float],
                       weight: float = 1.0) -> _Clause:

        seq: list[str] = []
        for _raw, whole, terms, _call in iter_units(chunk, stem=True, stop=True):
            # the sequence the index wrote at consecutive positions (see iter_terms)
            if whole is not None and not terms:
                seq.append(whole)
            else:
                seq.extend(terms)
        c = _Clause()
        if not seq:
            return c
        for f in PROSE_FIELDS:
            b = boosts[f] * weight
            if b <= 0:
                continue
            c.add(f, _phrase(f, seq, b))
        return c

    def _path_clause(self, path: str, boosts: dict[str, float], *,
                     prose: bool) -> _Clause | None:
        from whoosh import query as wq

        forms = path_query_forms(path)
        if not forms:
            return None
        c = _Clause()
        if boosts["files"] > 0:
            for term, w in forms:
                c.add("files", wq.Term("files", term, boost=boosts["files"] * w))
        if prose:
            for f, qs in self._phrase_clause(path, boosts, _PATH_PROSE_WEIGHT).per_field.items():
                for q in qs:
                    c.add(f, q)
        return c if c.per_field else None

    # ----------------------------------------------------------------- filters

    def _lexicon(self, field: str) -> list[str]:
        if field not in self._lexicons:
            self._lexicons[field] = [
                t if isinstance(t, str) else t.decode("utf-8", "replace")
                for t in self._searcher.reader().field_terms(field)
            ]
        return self._lexicons[field]

    def _substring_filter(self, field: str, needles: Sequence[str]) -> Any | None:
        """Terms of ``field`` containing any needle; None when nothing can match."""
        from whoosh import query as wq

        wanted = [n.strip().lower() for n in needles if n and n.strip()]
        if not wanted:
            return wq.Every()
        terms = [t for t in self._lexicon(field) if any(n in t for n in wanted)]
        if not terms:
            return None
        return wq.Or([wq.Term(field, t) for t in terms])

    def _filter_query(self, filters: LexFilters) -> Any | None:
        """The whoosh filter for ``filters``: an Every() for no restriction, None when
        no document can pass."""
        from whoosh import query as wq

        parts: list[Any] = []
        for field, values in (("author_raw", filters.authors), ("lists", filters.lists),
                              ("tree", filters.trees)):
            if values:
                q = self._substring_filter(field, values)
                if q is None:
                    return None
                parts.append(q)
        if filters.kinds:
            parts.append(wq.Or([wq.Term("kind", k.lower()) for k in filters.kinds]))
        if filters.files:
            terms = [wq.Term("files", t) for p in filters.files for t in _filter_path_terms(p)]
            if not terms:
                return None
            parts.append(wq.Or(terms))
        if filters.since or filters.until:
            if filters.since and filters.until and filters.since > filters.until:
                raise QueryError(
                    f"since ({filters.since}) is after until ({filters.until}); swap them"
                )
            start = datetime.combine(filters.since, time.min) if filters.since else None
            end = datetime.combine(filters.until, time.max) if filters.until else None
            parts.append(wq.DateRange("date", start, end))
        if not parts:
            return wq.Every()
        return parts[0] if len(parts) == 1 else wq.And(parts)

    def _allowed(self, filters: LexFilters) -> set[int] | None:
        """Document numbers passing ``filters`` (None: all), cached per filter value,
        since most queries of a session repeat the same filters (at least the default
        kind filter) and building the set costs more than a typical query."""
        from whoosh import query as wq

        if filters in self._filter_cache:
            return self._filter_cache[filters]
        fq = self._filter_query(filters)
        if fq is None:
            docs: set[int] | None = set()
        elif isinstance(fq, wq.Every):
            docs = None
        else:
            docs = set(self._searcher.docs_for_query(fq))
            if len(docs) == self._searcher.doc_count():
                docs = None
        if len(self._filter_cache) >= _FILTER_CACHE_SIZE:
            self._filter_cache.pop(next(iter(self._filter_cache)))
        self._filter_cache[filters] = docs
        return docs

    # ----------------------------------------------------------------- running

    def _run(self, clauses: list[_Clause], mode: str, limit: int,
             filters: LexFilters | None, explain: bool) -> list[LexHit]:
        from whoosh import query as wq

        if not clauses or limit <= 0:
            return []
        filt = self._allowed(filters if filters is not None else LexFilters())
        if filt is not None and not filt:
            return []
        qs = [c.query() for c in clauses]
        if len(qs) == 1:
            scored = self._collect(qs[0], limit, filt)
        elif mode == "and":
            scored = self._collect(wq.And(qs), limit, filt)
        elif mode == "or":
            scored = self._collect(wq.Or(qs), limit, filt)
        else:
            scored = self._collect(wq.And(qs), limit, filt)
            if len(scored) < limit:
                scored = _append_tier(scored, self._collect(wq.Or(qs), limit, filt), limit)
        breakdown = self._explain(clauses, scored) if explain else {}
        out = []
        for docnum, score, scale in scored:
            mid, fam = self._stored(docnum)
            fields = None
            if explain:
                fields = {f: s * scale for f, s in breakdown.get(docnum, {}).items()}
            out.append(LexHit(mid, fam, score, fields))
        return out

    def _collect(self, q: Any, limit: int, filt: Any) -> list[tuple[int, float, float]]:
        results = self._searcher.search(q, limit=limit, filter=filt)
        return [(hit.docnum, hit.score, 1.0) for hit in results]

    def _stored(self, docnum: int) -> tuple[str, str]:
        got = self._ids.get(docnum)
        if got is None:
            sf = self._searcher.stored_fields(docnum)
            got = (sf["message_id"], sf.get("family") or sf["message_id"])
            self._ids[docnum] = got
        return got

    def _explain(self, clauses: list[_Clause], scored: list[tuple[int, float, float]]
                 ) -> dict[int, dict[str, float]]:
        """Each hit's score split by field: the clauses restricted to one field, scored
        on the hits only."""
        from whoosh import query as wq

        docs = {d for d, _s, _k in scored}
        fields = sorted({f for c in clauses for f in c.per_field})
        out: dict[int, dict[str, float]] = {d: {} for d in docs}
        for f in fields:
            subs = [c.query([f]) for c in clauses if f in c.per_field]
            q = subs[0] if len(subs) == 1 else wq.Or(subs)
            for hit in self._searcher.search(q, limit=None, filter=docs):
                out[hit.docnum][f] = hit.score
        return out


def _phrase(field: str, words: list[str], boost: float) -> Any:
    from whoosh import query as wq

    if len(words) == 1:
        return wq.Term(field, words[0], boost=boost)
    return wq.Phrase(field, words, boost=boost)


def _filter_path_terms(path: str) -> list[str]:
    """``files`` terms a file filter accepts: the file itself and the path as a directory
    prefix; a bare name (no ``/``) also matches that file name anywhere."""
    return [t for t, w in path_query_forms(path) if w != _PATH_BASE]


def _append_tier(first: list[tuple[int, float, float]], second: list[tuple[int, float, float]],
                 limit: int) -> list[tuple[int, float, float]]:
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
    "LexFilters",
    "LexHit",
    "LexicalSearcher",
    "is_path_like",
    "path_query_forms",
    "split_query",
]

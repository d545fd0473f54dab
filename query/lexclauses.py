"""Building lexical queries from user text: how words, identifiers, "phrases", paths
and ``prefix*`` become whoosh clauses per field, with the field weights.

Nothing the user types reaches whoosh's query-language parser, so quotes, colons, ``*``
and the like can never raise. Every word is analysed by the same functions the index
analyzers use (:mod:`kvmsearch.indexer.index.lexical`), so a word always meets the terms
it was written as. :mod:`kvmsearch.query.lexical` runs the clauses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from kvmsearch.indexer.index.lexical import BODY_WEIGHTS, PROSE_FIELDS, REVIEW_FIELD, iter_units
from kvmsearch.indexer.text.identifiers import is_exact_identifier
from kvmsearch.indexer.text.paths import is_path_like, path_query_forms
from kvmsearch.models.errors import QueryError

if TYPE_CHECKING:
    # whoosh ships no type information: these names document, mypy sees Any
    from whoosh.query import Query

#: default weight of each field; ``files`` only counts for path terms and
#: ``ident_exact`` only for identifiers. A weight of 0 leaves a field out.
DEFAULT_FIELD_BOOSTS: dict[str, float] = {
    # all prose sections at once, weighted inside the index; used whenever the section
    # weights below are left at their defaults
    "body": 3.0,
    # the sections: the weights body was written with (title, tags, motivation,
    # changelog, shortlog, patches), searched field by field when one is changed
    **BODY_WEIGHTS,
    "author": 0.0,
    "files": 2.0,
    "ident_exact": 2.0,
    # the replies: not part of the default ranking. Weighted at a third of a commit
    # message word (0.5), reviews lifted topic questions but cost known-item ones on
    # both halves of dev (BENCHMARKS.md, "The review field"): other series' reviews
    # use the same words. They are searched by the review: filter instead, and any
    # caller can weight them in through field_boosts.
    REVIEW_FIELD: 0.0,
}

# Fields whose default weights are baked into ``body``; changing one of them searches
# the separate fields instead.
SECTION_FIELDS = (*PROSE_FIELDS, "tags", "author")
PROSE_LIKE = frozenset((*PROSE_FIELDS, "body", REVIEW_FIELD))

# A split identifier also matches its parts as a phrase (KVM-CAP-ARM-MTE, "kvm cap arm
# mte"), far below the whole-token match.
_PARTS_WEIGHT = 0.25
# A path in free text also matches where prose mentions it.
_PATH_PROSE_WEIGHT = 0.3

_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"'})
PUNCT_EDGE = "\"'`()[]{}<>,;:!?"


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


class Clause:
    """One query word/phrase/path: whoosh queries per field, summed."""

    __slots__ = ("per_field",)

    def __init__(self) -> None:
        self.per_field: dict[str, list[Query]] = {}

    def add(self, field: str, q: Query) -> None:
        self.per_field.setdefault(field, []).append(q)

    def query(self, fields: Sequence[str] | None = None) -> Query:
        from whoosh import query as wq

        subs = [q for f, qs in self.per_field.items() if fields is None or f in fields for q in qs]
        return subs[0] if len(subs) == 1 else wq.Or(subs)


def field_weights(field_boosts: dict[str, float] | None) -> dict[str, float]:
    boosts = dict(DEFAULT_FIELD_BOOSTS)
    for f, b in (field_boosts or {}).items():
        if f not in boosts:
            raise QueryError(f"unknown field {f!r} in field boosts; known: {', '.join(boosts)}")
        boosts[f] = float(b)
    return boosts


def text_clauses(
    text: str,
    boosts: dict[str, float],
    fields: list[str],
    vocab: Vocabulary | None = None,
) -> list[Clause]:
    """The clauses of free text. With the corpus's ``vocab``, words written apart or
    together also meet the other spelling of the same compound (see
    :func:`_add_compounds`)."""
    return _parse(text, boosts, fields, vocab)[0]


def closed_spellings(text: str, vocab: Vocabulary) -> list[str]:
    """The closed forms of the compounds in ``text`` that the corpus writes ("zero copy"
    -> ["zerocopy"]), as the search for ``text`` also looks for them: what a hit's
    evidence highlights besides the typed words."""
    return _parse(text, DEFAULT_FIELD_BOOSTS, ["body"], vocab)[1]


def _parse(
    text: str, boosts: dict[str, float], fields: list[str], vocab: Vocabulary | None
) -> tuple[list[Clause], list[str]]:
    clauses: list[Clause] = []
    # (clause index, word) of each plain one-word clause, None where adjacency breaks
    words: list[tuple[int, str] | None] = []
    for chunk, quoted in split_query(text):
        words.append(None)
        if quoted:
            if " " not in chunk and is_path_like(chunk):
                c = path_clause(chunk, boosts, fields, prose=True)
                clauses.extend([c] if c else [])
            else:
                clauses.append(phrase_clause(chunk, boosts, fields))
            continue
        word = chunk.strip(PUNCT_EDGE)
        if word and is_path_like(word):
            c = path_clause(word, boosts, fields, prose=True)
            clauses.extend([c] if c else [])
        elif "/" in word:
            # alternatives written with a slash (GICv4/GICv4.1, PSCI/SMCCC): each
            # word on its own, not a phrase no text contains
            for part in word.split("/"):
                clauses.extend(word_clauses(part.strip(PUNCT_EDGE), boosts, fields))
        else:
            call = chunk.rstrip(",.;:!?").endswith("()")
            got = word_clauses(word, boosts, fields, call=call)
            if len(got) == 1 and not call and not word.endswith("*"):
                halves = word.split("-")
                if len(halves) == 2 and all(halves):
                    # "zero-copy": one phrase clause standing for the pair
                    words[-1:] = [(len(clauses), halves[0]), (len(clauses), halves[1]), None]
                else:
                    words[-1] = (len(clauses), word)
            clauses.extend(got)
    closed = [] if vocab is None else _add_compounds(clauses, words, boosts, fields, vocab)
    return clauses, closed


# A compound's halves: letters only, each at least this long, so "re map" or "a b" never
# join.
_MIN_HALF = 3
_ALPHA = re.compile(r"[A-Za-z]+")
# A spelling counts as the corpus's own when this many documents use it (one may be a
# typo).
_KNOWN_MIN_DOCS = 2


class Vocabulary(Protocol):
    """What compounds need to know of the corpus's prose (``body``): analysed terms."""

    def doc_frequency(self, term: str) -> int: ...

    def idf(self, doc_frequency: int) -> float: ...


def _add_compounds(
    clauses: list[Clause],
    words: list[tuple[int, str] | None],
    boosts: dict[str, float],
    fields: list[str],
    vocab: Vocabulary,
) -> list[str]:
    """Kernel prose writes one compound three ways: "zero copy", "zero-copy" and
    "zerocopy" (hot plug, pass through, write back, user space). The index keeps the
    hyphenated and the spaced forms as two words in a row and the closed form as one, so
    a question in one spelling missed every series written in the other.

    Two adjacent words (or the halves of a hyphenated one) whose closed form the
    corpus uses also match that form. It weighs what the typed words weigh (their idf
    over its own): BM25 would otherwise favour whichever spelling is rarer, and a
    document would outrank another for its spelling alone.

    The other way round, a closed word ("paravirtual") meeting its halves as a phrase,
    was tried and not kept: "para-virtualized" documents then outranked the series
    two dev questions look for (BENCHMARKS.md, "Answers that explain, third session").

    A word whose other national spelling the corpus writes ("initialise" and
    "initialize") meets it the same way, weighted as the typed word.

    Returns the spellings added ("zerocopy", "initialize").
    """
    from whoosh import query as wq

    prose = [f for f in fields if f in PROSE_LIKE]
    added: list[str] = []
    if not prose:
        return added

    def stem(word: str) -> str | None:
        units = list(iter_units(word, stem=True, stop=True))
        if len(units) != 1 or units[0][1] is not None or len(units[0][2]) != 1:
            return None
        return units[0][2][0]

    def alpha(word: str) -> bool:
        return len(word) >= _MIN_HALF and _ALPHA.fullmatch(word) is not None

    def idf(term: str | None) -> float:
        return vocab.idf(vocab.doc_frequency(term)) if term else 0.0

    for left, right in zip(words, words[1:], strict=False):
        if left is None or right is None:
            continue
        (i, a), (j, b) = left, right
        if not (alpha(a) and alpha(b)):
            continue
        closed = stem((a + b).lower())
        if closed is None or vocab.doc_frequency(closed) < _KNOWN_MIN_DOCS:
            continue
        typed = {i: 0.0, j: 0.0}
        typed[i] += idf(stem(a))
        typed[j] += idf(stem(b))
        for k, weight in typed.items():
            for f in prose:
                clauses[k].add(f, wq.Term(f, closed, boost=boosts[f] * weight / idf(closed)))
        added.append(a + b)

    def meet(k: int, own: str, other: str | None) -> bool:
        """Let clause ``k`` (the typed word, stem ``own``) also match the stem ``other``,
        weighted as the typed word, when the corpus writes it."""
        if other is None or other == own or vocab.doc_frequency(other) < _KNOWN_MIN_DOCS:
            return False
        for f in prose:
            clauses[k].add(f, wq.Term(f, other, boost=boosts[f] * idf(own) / idf(other)))
        return True

    for item in words:
        if item is None or len(item[1]) < _MIN_VARIANT or not _ALPHA.fullmatch(item[1]):
            continue
        k, w = item
        own = stem(w.lower())
        if own is None:
            continue
        # British and American spellings of one word ("initialise"/"initialize",
        # "randomisation"/"randomization", "behaviour"/"behavior"): the stemmer keeps
        # them apart, and Arm's engineers write the one, most of the kernel the other
        added.extend(v for v in _variants(w.lower()) if meet(k, own, stem(v)))
        # One word's family that the Porter stemmer splits: "speculating" (speculat)
        # and "speculative" (specul), "preempt" and "preemption" (preemption) or
        # "preemptible" (preemptibl); the highlight finds them by their common start
        # already
        for other in _siblings(own):
            meet(k, own, other)
    return added


# The endings Porter leaves on one member of a word family and not on another
# (speculat/specul, preemptiv/preempt, preemptibl, preemption), and the shortest root
# they may come off: shorter roots are other words' too (gener: general, generating).
_SIBLING_TAILS = ("at", "iv", "ion", "ibl", "abl")
_MIN_ROOT = 6


def _siblings(stem: str) -> list[str]:
    """The other stems of ``stem``'s word family by the endings above: its root (the
    stem without one of them) and the root with each of them."""
    if len(stem) < _MIN_ROOT:
        return []
    roots = {stem}
    for tail in _SIBLING_TAILS:
        if stem.endswith(tail) and len(stem) - len(tail) >= _MIN_ROOT:
            roots.add(stem[: -len(tail)])
    out = {r + t for r in roots for t in _SIBLING_TAILS} | roots
    out.discard(stem)
    return sorted(out)


# A word this long may have another national spelling; shorter ones ("rise", "four")
# only meet unrelated words.
_MIN_VARIANT = 6
# British -> American endings, and back: -isation/-ise/-ised/-ising/-iser(s), -our.
_UK_US = (
    ("isations", "izations"),
    ("isation", "ization"),
    ("ising", "izing"),
    ("ised", "ized"),
    ("ises", "izes"),
    ("isers", "izers"),
    ("iser", "izer"),
    ("ise", "ize"),
    ("ours", "ors"),
    ("our", "or"),
)


def _variants(word: str) -> list[str]:
    """The other national spellings of ``word`` by its ending (at most one each way;
    which the corpus writes decides whether it is used)."""
    out = []
    for uk, us in _UK_US:
        if word.endswith(uk):
            out.append(word[: -len(uk)] + us)
            break
    for uk, us in _UK_US:
        if word.endswith(us) and not word.endswith(uk):
            out.append(word[: -len(us)] + uk)
            break
    return out


def text_fields(boosts: dict[str, float], *, sections: bool) -> list[str]:
    """The fields words are looked up in: ``body`` while the section weights are the
    defaults (``sections`` False), else each section field with its own weight."""
    review = [REVIEW_FIELD] if boosts[REVIEW_FIELD] > 0 else []
    if not sections:
        return (["body"] if boosts["body"] > 0 else []) + review
    return [f for f in SECTION_FIELDS if boosts[f] > 0] + review


def word_clauses(
    chunk: str,
    boosts: dict[str, float],
    fields: list[str],
    *,
    identifier: bool = False,
    call: bool = False,
) -> list[Clause]:
    """One clause for a word or identifier; a chunk that holds several words
    (``vhost-net``, ``v5.10``) becomes a phrase.

    ``identifier`` (search_identifier) also matches the identifier's parts as a
    phrase, so ``vcpu_ioctl`` finds ``kvm_vcpu_ioctl``; free text skips that, as
    phrases of common parts (kvm, vcpu) are the slowest thing whoosh can be asked.
    """
    if chunk.endswith("*"):
        return prefix_clauses(chunk.rstrip("*"), boosts, fields)
    prose = list(iter_units(chunk, stem=True, stop=True))
    if len(prose) > 1:
        return [phrase_clause(chunk, boosts, fields)]
    if not prose:
        return []
    plain = list(iter_units(chunk, stem=False, stop=False))
    raw, whole, terms, _call = prose[0]
    exact = identifier or is_exact_identifier(raw, call)
    from whoosh import query as wq

    c = Clause()
    if whole is None and not terms:
        # A stop word; but in capitals it is an acronym ("speculative AT", "IT
        # state"), which its exact spelling still finds.
        if exact and raw.isupper() and boosts["ident_exact"] > 0:
            c.add("ident_exact", wq.Term("ident_exact", raw, boost=boosts["ident_exact"]))
            return [c]
        return []
    for f in fields:
        b = boosts[f]
        if whole is not None:
            c.add(f, wq.Term(f, whole, boost=b))
            if identifier and f in PROSE_LIKE and terms:
                c.add(f, phrase(f, list(terms), b * _PARTS_WEIGHT))
        else:
            term = terms[0] if f in PROSE_LIKE else plain[0][2][0]
            c.add(f, wq.Term(f, term, boost=b))
    if exact and boosts["ident_exact"] > 0:
        c.add("ident_exact", wq.Term("ident_exact", raw, boost=boosts["ident_exact"]))
    return [c]


def prefix_clauses(stem: str, boosts: dict[str, float], fields: list[str]) -> list[Clause]:
    """``vp_modern_*``: every identifier or word starting with the stem, matched
    unstemmed (the stem of a prefix is meaningless). Short stems match too much to
    mean anything and fall back to the plain word."""
    from whoosh import query as wq

    units = list(iter_units(stem, stem=False, stop=False))
    if len(units) != 1 or len(units[0][0]) < 3:
        return word_clauses(stem, boosts, fields) if stem.strip("*") else []
    raw = units[0][0]
    c = Clause()
    for f in fields:
        if f in PROSE_LIKE or f == "tags":
            c.add(f, wq.Prefix(f, raw.lower(), boost=boosts[f]))
    if boosts["ident_exact"] > 0:
        c.add("ident_exact", wq.Prefix("ident_exact", raw, boost=boosts["ident_exact"]))
    return [c] if c.per_field else []


def phrase_clause(
    chunk: str, boosts: dict[str, float], fields: list[str], weight: float = 1.0
) -> Clause:

    seq: list[str] = []
    for _raw, whole, terms, _call in iter_units(chunk, stem=True, stop=True):
        # the sequence the index wrote at consecutive positions (see iter_terms)
        if whole is not None and not terms:
            seq.append(whole)
        else:
            seq.extend(terms)
    c = Clause()
    if not seq:
        return c
    for f in fields:
        if f in PROSE_LIKE:  # the fields with positions
            c.add(f, phrase(f, seq, boosts[f] * weight))
    return c


def path_clause(
    path: str, boosts: dict[str, float], fields: list[str], *, prose: bool
) -> Clause | None:
    from whoosh import query as wq

    forms = path_query_forms(path)
    if not forms:
        return None
    c = Clause()
    if boosts["files"] > 0:
        for term, w in forms:
            c.add("files", wq.Term("files", term, boost=boosts["files"] * w))
    if prose:
        mention = phrase_clause(path, boosts, fields, _PATH_PROSE_WEIGHT)
        for f, qs in mention.per_field.items():
            for q in qs:
                c.add(f, q)
    return c if c.per_field else None


def phrase(field: str, words: list[str], boost: float) -> Query:
    from whoosh import query as wq

    if len(words) == 1:
        return wq.Term(field, words[0], boost=boost)
    return wq.Phrase(field, words, boost=boost)


__all__ = [
    "DEFAULT_FIELD_BOOSTS",
    "SECTION_FIELDS",
    "Clause",
    "Vocabulary",
    "closed_spellings",
    "field_weights",
    "path_clause",
    "phrase",
    "split_query",
    "text_clauses",
    "text_fields",
    "word_clauses",
]

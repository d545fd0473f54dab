"""The lexical index: one whoosh document per series version.

whoosh stays behind this module and :mod:`kvmsearch.query.lexical`, so another engine can
replace it. The text analysis lives here as plain functions, because the searcher must
turn query words into exactly the terms the analyzers wrote:

* prose (title, motivation, changelog, shortlog, patch commit messages): words are
  lower-cased, English stop words dropped, Porter-stemmed; identifiers are indexed whole
  *and* split (``KVM_CAP_ARM_MTE`` -> ``kvm_cap_arm_mte`` plus ``kvm cap arm mte``);
* ``ident_exact``: identifiers only, case preserved, so an exact spelling can outrank a
  case-insensitive or split match;
* ``files``: each path as the full path, every directory prefix (``arch/``,
  ``arch/arm64/`` ...) and the bare file name, one term per form.

The analyzers are small classes of this module rather than whoosh compositions: whoosh
pickles them into the index, and importing whoosh is deferred until an index is used.
"""

from __future__ import annotations

import io
import pickle
import re
import sys
import types
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING

from kvmsearch.indexer.index.acronyms import (
    ACRONYMS_FILE,
    mine_acronyms,
    read_acronyms,
    write_acronyms,
)
from kvmsearch.indexer.text.identifiers import MAX_TOKEN, exact_identifiers
from kvmsearch.indexer.text.paths import path_forms
from kvmsearch.indexer.text.subjects import strip_markers
from kvmsearch.indexer.text.trailers import REFERENCE_TRAILERS, drop_trailer_lines
from kvmsearch.models.errors import IndexError_, IndexFormatError, IndexNotFoundError
from kvmsearch.models.records import SeriesVersion

if TYPE_CHECKING:
    # whoosh ships no type information: these names document, mypy sees Any
    from whoosh.analysis import Token
    from whoosh.fields import Schema
    from whoosh.index import FileIndex
    from whoosh.writing import IndexWriter

#: bumped whenever the schema or an analyzer changes; the manifest records it
LEXICAL_FORMAT = 3  # 3: the review field

INDEX_NAME = "MAIN"

#: text fields analysed as English prose (stemmed, stop words dropped, positions kept)
PROSE_FIELDS = ("title", "motivation", "changelog", "shortlog", "patches")
#: what the replies in a version's thread say (quotes, trailers left out): searched as
#: a field of its own, below every field the author wrote, and not part of ``body``,
#: whose length normalisation would otherwise punish the series that got reviewed
REVIEW_FIELD = "review"
#: text fields matched word for word (no stemming, no stop words)
PLAIN_FIELDS = ("tags", "author")

#: How much one occurrence of a word in each section counts in the combined ``body``
#: field. Searching ``body`` is BM25F proper (weighted term frequencies, one length)
#: and needs one posting list per word instead of one per field, which is what keeps
#: long questions fast. The separate fields serve custom weights and explanations.
#: Changing a weight changes the index: bump LEXICAL_FORMAT.
BODY_WEIGHTS: dict[str, float] = {
    "title": 4.0,
    "tags": 2.0,
    "motivation": 1.5,
    "changelog": 1.5,
    "shortlog": 1.0,
    "patches": 0.5,
}
_SECTION, _NAME_END = "\x1e", "\x1f"
_SEPARATORS = str.maketrans({_SECTION: " ", _NAME_END: " "})
_BODY_GAP = 100

# English function words only: words like "not", "no", "can", "up", "off" or "before"
# carry meaning in kernel prose ("cannot map", "cpu up", "before exit") and stay.
STOP_WORDS = frozenset(
    """a an and are as at be been being but by do does did for from had has have he her
    his i if in into is it its me my of on or our she so some such than that the their
    them then there these they this those to us was we were what which while who whom
    will with would you your""".split()
)

# Longer runs are base64, hashes of signatures and the like; nobody searches for them.
_MAX_TOKEN = MAX_TOKEN

_WORD_RE = re.compile(r"\w+")
# One part of an identifier chunk: an upper-case run before a capitalised word
# ("KVM" of "KVMClock"), a word with an optional capital ("Pgtable"), or an upper-case
# run ("MTE", "AA64PFR0"). Digits stay with their letters: stage2, arm64, el1.
_PART_RE = re.compile(r"[A-Z0-9]+(?=[A-Z][a-z])|[A-Z0-9]*[a-z0-9]+|[A-Z0-9]+")
_ADDR_RE = re.compile(r"[\w.+=-]+@[\w.-]+")


# --------------------------------------------------------------------------- analysis


@lru_cache(maxsize=100_000)
def _stem(word: str) -> str:
    from whoosh.lang.porter import stem

    return stem(word)


def split_identifier(token: str) -> list[str]:
    """The parts of an identifier (case kept), or [] when ``token`` is one plain word.

    ``KVM_CAP_ARM_MTE`` -> KVM CAP ARM MTE; ``kvmPgtable`` -> kvm Pgtable;
    ``__kvm`` -> kvm; ``arm64`` -> [].
    """
    if not token.isascii() or (token.isalpha() and (token[1:].islower() or token.isupper())):
        return []
    parts: list[str] = []
    for chunk in token.split("_"):
        if chunk:
            parts.extend(_PART_RE.findall(chunk))
    if len(parts) > 1 or (parts and parts[0] != token):
        return parts
    return []


def normalize_word(word: str, *, stem: bool, stop: bool) -> str | None:
    """A word as a field stores it; None when the field drops it (stop word, 1 char)."""
    w = word.lower()
    if stop and (len(w) < 2 or w in STOP_WORDS):
        return None
    if stem and w.isalpha() and w.isascii():
        return _stem(w)
    return w


Unit = tuple[str, str | None, tuple[str, ...], bool]


@lru_cache(maxsize=400_000)
def _analyze_token(raw: str, stem: bool, stop: bool) -> tuple[str | None, tuple[str, ...]]:
    # Kernel prose repeats its vocabulary heavily, so caching per token pays off.
    parts = split_identifier(raw)
    if parts:
        terms = []
        for p in parts:
            t = normalize_word(p, stem=stem, stop=stop)
            if t is not None:
                terms.append(t)
        return raw.lower(), tuple(terms)
    t = normalize_word(raw, stem=stem, stop=stop)
    return None, (t,) if t is not None else ()


def iter_units(text: str, *, stem: bool, stop: bool) -> Iterator[Unit]:
    """Split text into units ``(raw, whole, terms, call)``.

    ``whole`` is the lower-cased identifier when it was split, else None; ``terms`` are
    the normalised words that occupy consecutive positions (the parts of a split
    identifier, or the one word; empty when a stop word); ``call`` marks ``foo()``.
    """
    for m in _WORD_RE.finditer(text):
        raw = m.group()
        if len(raw) > _MAX_TOKEN:
            continue
        whole, terms = _analyze_token(raw, stem, stop)
        yield raw, whole, terms, text.startswith("()", m.end())


def iter_terms(text: str, *, stem: bool, stop: bool) -> Iterator[tuple[str, int]]:
    """(term, position) pairs a text field indexes.

    A split identifier puts its whole form at the position of its first part and its
    parts at consecutive positions, so a phrase spelled with the parts (which is how the
    searcher spells identifiers inside phrases) matches across it. Dropped words take no
    position, so a phrase with its stop words removed still lines up.
    """
    pos = 0
    for m in _WORD_RE.finditer(text):
        raw = m.group()
        if len(raw) > _MAX_TOKEN:
            continue
        whole, terms = _analyze_token(raw, stem, stop)
        if whole is not None:
            yield whole, pos
            for i, t in enumerate(terms):
                yield t, pos + i
            pos += max(1, len(terms))
        elif terms:
            yield terms[0], pos
            pos += 1


def author_terms(author: str) -> list[str]:
    """``Marc Zyngier <maz@kernel.org>`` -> marc, zyngier, maz@kernel.org, maz."""
    text = author.lower()
    out: list[str] = []
    for addr in _ADDR_RE.findall(text):
        out.extend((addr, addr.split("@", 1)[0]))
    out.extend(_WORD_RE.findall(_ADDR_RE.sub(" ", text)))
    return out


class _Analyzer:
    """Base of the analyzers whoosh stores in the schema (duck-typed, picklable)."""

    is_morph = False

    def has_morph(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.__dict__.items()))))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__dict__})"

    def pairs(self, value: str) -> Iterable[tuple[str, int]]:
        raise NotImplementedError

    def triples(self, value: str) -> Iterable[tuple[str, int, float]]:
        """(term, position, weight); the weight is 1 unless a subclass says otherwise."""
        return ((text, pos, 1.0) for text, pos in self.pairs(value))

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        start_pos: int = 0,
        mode: str = "",
        **kwargs: object,
    ) -> Iterator[Token]:
        from whoosh.analysis import Token

        # whoosh convention: one Token object, re-yielded with new attributes
        t = Token(positions=positions, chars=chars, mode=mode, **kwargs)
        for text, pos, weight in self.triples(value):
            t.text = text
            t.stopped = False
            t.boost = weight
            if positions:
                t.pos = start_pos + pos
            if chars:
                t.startchar = t.endchar = 0
            yield t


class TextAnalyzer(_Analyzer):
    """Prose (stem + stop) or plain words; identifiers whole and split."""

    def __init__(self, stem: bool = True, stop: bool = True) -> None:
        self.stem = stem
        self.stop = stop

    def pairs(self, value: str) -> Iterable[tuple[str, int]]:
        return iter_terms(value, stem=self.stem, stop=self.stop)


class BodyAnalyzer(_Analyzer):
    """The ``body`` field: every prose section of a document in one field, each term
    weighted by the section it came from (see :data:`BODY_WEIGHTS`)."""

    def __init__(self, weights: dict[str, float] | None = None) -> None:
        self.weights = dict(weights or BODY_WEIGHTS)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.weights.items())))

    def pairs(self, value: str) -> Iterable[tuple[str, int]]:
        return ((text, pos) for text, pos, _w in self.triples(value))

    def triples(self, value: str) -> Iterable[tuple[str, int, float]]:
        base = 0
        for section in value.split(_SECTION):
            name, _sep, text = section.partition(_NAME_END)
            if not text:
                continue
            weight = self.weights.get(name, 1.0)
            last = -1
            for term, pos in iter_terms(text, stem=True, stop=True):
                yield term, base + pos, weight
                last = pos
            # a gap, so that a phrase never matches across two sections
            base += last + 1 + _BODY_GAP


def body_value(sections: Iterable[tuple[str, str]]) -> str:
    """The ``body`` field value of (section name, text) pairs."""
    return "".join(
        f"{_SECTION}{name}{_NAME_END}{text.translate(_SEPARATORS)}"
        for name, text in sections
        if text
    )


class IdentAnalyzer(_Analyzer):
    """Exact-case identifiers only."""

    def pairs(self, value: str) -> Iterable[tuple[str, int]]:
        return ((t, i) for i, t in enumerate(exact_identifiers(value)))


class PathAnalyzer(_Analyzer):
    """One path per line, each expanded by :func:`path_forms`."""

    def pairs(self, value: str) -> Iterable[tuple[str, int]]:
        pos = 0
        for line in value.splitlines():
            for form in path_forms(line):
                yield form, pos
                pos += 1


class AuthorAnalyzer(_Analyzer):
    def pairs(self, value: str) -> Iterable[tuple[str, int]]:
        return ((t, i) for i, t in enumerate(author_terms(value)))


# --------------------------------------------------------------------------- schema


def make_schema() -> Schema:
    """The whoosh schema of :data:`LEXICAL_FORMAT`."""
    from whoosh import fields

    prose = TextAnalyzer(stem=True, stop=True)
    plain = TextAnalyzer(stem=False, stop=False)
    return fields.Schema(
        # sortable: a column, so a searcher maps document numbers to Message-IDs without
        # unpickling stored fields (the filter of a cold query needs every one)
        message_id=fields.ID(unique=True, stored=True, sortable=True),
        family=fields.ID(stored=True),
        kind=fields.ID,
        tree=fields.ID,
        lists=fields.KEYWORD(commas=True, lowercase=True),
        author=fields.TEXT(analyzer=AuthorAnalyzer(), phrase=False),
        # the lower-cased "Name <addr>" once, so filters can match any substring of it
        author_raw=fields.ID,
        date=fields.DATETIME,
        version=fields.NUMERIC(int),
        title=fields.TEXT(analyzer=prose),
        tags=fields.TEXT(analyzer=plain, phrase=False),
        motivation=fields.TEXT(analyzer=prose),
        changelog=fields.TEXT(analyzer=prose),
        shortlog=fields.TEXT(analyzer=prose),
        patches=fields.TEXT(analyzer=prose),
        files=fields.TEXT(analyzer=PathAnalyzer(), phrase=False),
        ident_exact=fields.TEXT(analyzer=IdentAnalyzer(), phrase=False),
        body=fields.TEXT(analyzer=BodyAnalyzer()),
        review=fields.TEXT(analyzer=prose),
    )


def _utc_naive(d: datetime) -> datetime:
    # whoosh's DATETIME stores naive datetimes; UTC keeps since/until consistent
    if d.tzinfo is not None:
        d = d.astimezone(UTC).replace(tzinfo=None)
    return d


def _clean_body(text: str) -> str:
    # Trailers name people, not the change; Fixes:/Closes: quote the fixed commit's
    # subject, which is worth finding (see indexer.text.trailers).
    return drop_trailer_lines(text, keep=REFERENCE_TRAILERS)


def make_document(sv: SeriesVersion, review: str = "") -> dict[str, str | int | datetime]:
    """The whoosh document (field -> value) of one series version; ``review``: what
    its replies say (``ParseResult.review_text``)."""
    c = sv.cover
    changelog = "\n\n".join(e.text or "\n".join(e.items) for e in c.changelog)
    shortlog = "\n".join(c.shortlog)
    patches = "\n\n".join(
        strip_markers(p.subject) + "\n" + _clean_body(p.commit_message) for p in sv.patches
    )
    motivation = _clean_body(c.motivation)
    doc: dict[str, str | int | datetime] = {
        "message_id": sv.message_id,
        "family": sv.family or sv.message_id,
        "kind": (sv.kind or "series").lower(),
        "lists": ",".join(x.lower() for x in sv.lists),
        "author": sv.author or sv.author_addr or "",
        "author_raw": (sv.author or sv.author_addr or "").lower(),
        "version": int(sv.version or 1),
        "title": sv.title,
        "tags": " ".join(sv.tags),
        "motivation": motivation,
        "changelog": changelog,
        "shortlog": shortlog,
        "patches": patches,
        "files": "\n".join(sv.all_files),
        "ident_exact": "\n".join((sv.title, motivation, changelog, shortlog, patches)),
    }
    doc["body"] = body_value((name, str(doc.get(name, ""))) for name in BODY_WEIGHTS)
    doc[REVIEW_FIELD] = review
    if sv.tree:
        doc["tree"] = sv.tree.lower()
    if sv.date is not None:
        doc["date"] = _utc_naive(sv.date)
    # whoosh rejects empty strings for some field types; absent is the same as empty
    return {k: v for k, v in doc.items() if v != ""}


# --------------------------------------------------------------------------- writing

#: writer settings measured on 2 cores (see benchmarks/bench_lexical.py)
_LIMITMB = 1024


def _writer(ix: FileIndex, procs: int) -> IndexWriter:
    if procs > 1:
        # multisegment: each process keeps its own segment, no final merge pass
        return ix.writer(procs=procs, limitmb=_LIMITMB, multisegment=True)
    return ix.writer(limitmb=_LIMITMB)


def _default_procs() -> int:
    return 1


def _clear_whoosh_files(dirpath: Path) -> None:
    foreign = []
    for entry in dirpath.iterdir():
        if entry.is_file() and (
            entry.name.startswith(f"_{INDEX_NAME}_")
            or entry.name.startswith(f"{INDEX_NAME}_")
            or entry.name == ACRONYMS_FILE
        ):
            entry.unlink()
        else:
            foreign.append(entry.name)
    if foreign:
        raise IndexError_(
            f"{dirpath} holds files that are not a lexical index ({', '.join(sorted(foreign)[:3])}"
            "); build the lexical index into an empty directory"
        )


def build_lexical(
    dirpath: Path,
    versions: Iterable[SeriesVersion],
    *,
    procs: int | None = None,
    review_text: Mapping[str, str] | None = None,
) -> int:
    """Write a fresh lexical index of ``versions`` into ``dirpath``; return the doc count.

    ``dirpath`` is created when missing; an earlier lexical index in it is replaced.
    A version whose Message-ID was already written replaces the earlier one.
    """
    from whoosh import index

    harden_whoosh()
    dirpath = Path(dirpath)
    dirpath.mkdir(parents=True, exist_ok=True)
    _clear_whoosh_files(dirpath)
    ix = index.create_in(str(dirpath), make_schema(), indexname=INDEX_NAME)
    # The last version of a Message-ID wins; whoosh cannot replace a document that is
    # still buffered in the same writer, so duplicates are settled before writing.
    latest: dict[str, SeriesVersion] = {}
    for sv in versions:
        latest[sv.message_id] = sv
    # No optimize on commit: a fresh single-process build is one segment already, and
    # merging the segments of a multi-process build would cost what the processes saved.
    acronyms: Counter[tuple[str, str]] = Counter()
    with _committing(_writer(ix, procs or _default_procs()), dirpath) as writer:
        reviews = review_text or {}
        for sv in latest.values():
            doc = make_document(sv, reviews.get(sv.message_id, ""))
            acronyms.update(mine_acronyms([str(doc.get("ident_exact", ""))]))
            writer.add_document(**doc)
    write_acronyms(dirpath, acronyms)
    return len(latest)


@contextmanager
def _committing(writer: IndexWriter, dirpath: Path) -> Iterator[IndexWriter]:
    """Commit what the block wrote, or cancel it all if the block raises."""
    try:
        yield writer
    except BaseException:
        writer.cancel()
        raise
    writer.commit()
    _drop_lock_file(dirpath)


def _drop_lock_file(dirpath: Path) -> None:
    # whoosh's write lock is an fcntl lock on a file it leaves behind after release;
    # removing the file keeps a finished index directory free of lock leftovers.
    (dirpath / f"{INDEX_NAME}_WRITELOCK").unlink(missing_ok=True)


# --------------------------------------------------------------------------- safe loading

# whoosh keeps its schema, segment list, posting blocks and stored fields as pickles, and
# unpickling runs whatever a crafted file names: an index someone shares must not run
# code when it is opened. Every whoosh module's pickle loaders are replaced by one that
# accepts only the classes a kvmsearch index holds (found by tracing a build, an update
# and every kind of search), so anything else fails to load with a clear error.
_PICKLE_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    [
        (mod, n)
        for mod in ("builtins", "__builtin__")  # the second: names in protocol-2 pickles
        for n in (
            "int",
            "float",
            "str",
            "bytes",
            "bool",
            "list",
            "tuple",
            "dict",
            "set",
            "frozenset",
            "object",
            "complex",
            "bytearray",
        )
    ]
    + [
        ("__builtin__", "long"),
        ("_codecs", "encode"),
        ("collections", "defaultdict"),
        ("collections", "OrderedDict"),
        ("copyreg", "_reconstructor"),
        ("datetime", "datetime"),
        ("re", "_compile"),
        ("array", "array"),
        ("array", "_array_reconstructor"),
    ]
    + [
        (__name__, n)
        for n in ("TextAnalyzer", "AuthorAnalyzer", "PathAnalyzer", "IdentAnalyzer", "BodyAnalyzer")
    ]
    + [
        ("whoosh.analysis.analyzers", "CompositeAnalyzer"),
        ("whoosh.analysis.filters", "LowercaseFilter"),
        ("whoosh.analysis.filters", "StripFilter"),
        ("whoosh.analysis.filters", "StopFilter"),
        ("whoosh.analysis.tokenizers", "IDTokenizer"),
        ("whoosh.analysis.tokenizers", "RegexTokenizer"),
        ("whoosh.analysis.tokenizers", "SpaceSeparatedTokenizer"),
        ("whoosh.analysis.tokenizers", "CommaSeparatedTokenizer"),
        ("whoosh.codec.whoosh3", "W3Codec"),
        ("whoosh.codec.whoosh3", "W3Segment"),
        ("whoosh.codec.whoosh3", "W3LeafMatcher"),
        ("whoosh.codec.base", "FileTermInfo"),
        ("whoosh.columns", "VarBytesColumn"),
        ("whoosh.columns", "NumericColumn"),
        ("whoosh.columns", "PickleColumn"),
        ("whoosh.filedb.compound", "CompoundStorage"),
        ("whoosh.idsets", "BitSet"),
        ("whoosh.idsets", "OnDiskBitSet"),
        ("whoosh.idsets", "SortedIntSet"),
        ("whoosh.idsets", "ReverseIdSet"),
        ("whoosh.fields", "DATETIME"),
        ("whoosh.fields", "ID"),
        ("whoosh.fields", "KEYWORD"),
        ("whoosh.fields", "NUMERIC"),
        ("whoosh.fields", "Schema"),
        ("whoosh.fields", "TEXT"),
        ("whoosh.formats", "Existence"),
        ("whoosh.formats", "Frequency"),
        ("whoosh.formats", "Positions"),
    ]
)


class UnsafeIndexError(IndexFormatError):
    """A lexical index file names something other than what kvmsearch writes."""


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _PICKLE_ALLOWED:
            raise UnsafeIndexError(
                f"a lexical index file asks to load {module}.{name}, which a kvmsearch "
                "index never holds; refusing to open it (rebuild it from its sources "
                "with `kvmsearch rebuild`, or get the index from someone you trust)"
            )
        return super().find_class(module, name)


def safe_loads(data: bytes, *args: object, **kwargs: object) -> object:
    """``pickle.loads`` that only accepts the classes of a kvmsearch lexical index."""
    return _SafeUnpickler(io.BytesIO(data)).load()


def safe_load(file: IO[bytes], *args: object, **kwargs: object) -> object:
    """``pickle.load`` that only accepts the classes of a kvmsearch lexical index."""
    return _SafeUnpickler(file).load()


_PICKLE_SHIM = types.SimpleNamespace(
    **{
        k: getattr(pickle, k)
        for k in (
            "dumps",
            "dump",
            "HIGHEST_PROTOCOL",
            "PicklingError",
            "UnpicklingError",
            "Pickler",
        )
    },
    loads=safe_loads,
    load=safe_load,
    Unpickler=_SafeUnpickler,
)


def harden_whoosh() -> None:
    """Point every loaded whoosh module's pickle loaders at the safe ones. Cheap, and
    run before every open, since whoosh imports some of its modules on first use."""
    import whoosh.index  # noqa: F401 - the modules that read index files
    import whoosh.reading  # noqa: F401
    import whoosh.searching  # noqa: F401

    for name, mod in list(sys.modules.items()):
        if not name.startswith("whoosh") or mod is None:
            continue
        ns = vars(mod)
        for attr in ("loads", "load", "load_pickle"):
            fn = ns.get(attr)
            if fn is pickle.loads:
                ns[attr] = safe_loads
            elif fn is pickle.load:
                ns[attr] = safe_load
        if ns.get("pickle") is pickle:
            ns["pickle"] = _PICKLE_SHIM


def open_lexical(dirpath: Path) -> FileIndex:
    """Open the whoosh index in ``dirpath``, raising kvmsearch errors for a missing or
    incompatible one."""
    from whoosh import index

    from kvmsearch.indexer.index.whoosh_speed import speed_up_whoosh

    harden_whoosh()
    speed_up_whoosh()
    dirpath = Path(dirpath)
    if not dirpath.is_dir() or not index.exists_in(str(dirpath), indexname=INDEX_NAME):
        raise IndexNotFoundError(
            f"no lexical index in {dirpath}; build the index first (kvmsearch index)"
        )
    try:
        return index.open_dir(str(dirpath), indexname=INDEX_NAME)
    except UnsafeIndexError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError) as e:
        raise IndexFormatError(
            f"the lexical index in {dirpath} is damaged ({type(e).__name__}: {e}); "
            "rebuild it with `kvmsearch rebuild`"
        ) from e
    except (index.IndexVersionError, AttributeError, ImportError, ModuleNotFoundError) as e:
        # an analyzer class that moved or a whoosh on-disk format change
        raise IndexFormatError(
            f"the lexical index in {dirpath} was written by an incompatible kvmsearch "
            f"({e}); rebuild the index"
        ) from e


def update_lexical(
    dirpath: Path,
    upserts: Iterable[SeriesVersion],
    delete_ids: Iterable[str],
    review_text: Mapping[str, str] | None = None,
) -> None:
    """Update the index in ``dirpath`` in place: replace or add ``upserts`` (by
    Message-ID) and remove the documents of ``delete_ids``.

    Meant for a copy of an earlier generation's directory: the index holds no absolute
    paths and no lock survives a commit.
    """
    from whoosh.writing import LockError

    ix = open_lexical(dirpath)
    try:
        writer = ix.writer(limitmb=_LIMITMB)
    except LockError as e:
        raise IndexError_(
            f"the lexical index in {dirpath} is being written by another process; "
            "wait for it to finish"
        ) from e
    # whoosh's default commit policy merges small segments, so repeated nightly updates
    # do not pile up segments; a full optimize would rewrite everything each night.
    # The acronym counts only grow on updates (a replaced document is counted again);
    # they rank nothing, they only decide which pairs are common enough to trust.
    acronyms = read_acronyms(dirpath)
    with _committing(writer, Path(dirpath)):
        for mid in delete_ids:
            writer.delete_by_term("message_id", mid)
        reviews = review_text or {}
        for sv in upserts:
            doc = make_document(sv, reviews.get(sv.message_id, ""))
            acronyms.update(mine_acronyms([str(doc.get("ident_exact", ""))]))
            writer.update_document(**doc)
    write_acronyms(dirpath, acronyms)
    ix.close()


__all__ = [
    "LEXICAL_FORMAT",
    "PROSE_FIELDS",
    "REVIEW_FIELD",
    "PLAIN_FIELDS",
    "BODY_WEIGHTS",
    "body_value",
    "build_lexical",
    "update_lexical",
    "open_lexical",
    "make_document",
    "make_schema",
    "iter_units",
    "iter_terms",
    "normalize_word",
    "split_identifier",
    "author_terms",
]

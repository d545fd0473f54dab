"""Cut a series version's prose into chunks the embedding model sees whole.

The model reads at most :data:`~kvmsearch.models.embedding.MAX_TOKENS` tokens and
silently drops the rest, so every chunk is kept within that limit and every word of the
motivation lands in at least one chunk.

How text is cut: paragraphs (blank lines) are the units; a paragraph too long for one
window is split into sentences, a sentence into lines, a line into words, a word at its
punctuation, and only then into characters. Units are packed greedily into windows;
consecutive windows share up to ``overlap`` tokens of whole units so a thought cut at a
window edge is still seen whole once. Paragraph boundaries are natural cuts, so a window
that ends on one carries no overlap when the previous paragraph is longer than the
overlap.

Token counts are taken per unit and summed. That is exact for BERT's WordPiece: its
pre-tokenizer splits on whitespace and punctuation, so a cut at either never changes how
the two sides tokenize. Only cuts inside a word (the last resort) break that, so those
pieces form windows of their own.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from kvmsearch.indexer.text.subjects import strip_markers
from kvmsearch.indexer.text.trailers import strip_trailer_block
from kvmsearch.models.embedding import MAX_TOKENS
from kvmsearch.models.records import SeriesVersion

#: the fields chunks come from, in the order they are emitted per version
FIELDS = ("title", "motivation", "changelog", "patches")

CountTokens = Callable[[str], int]
CountMany = Callable[[Sequence[str]], list[int]]


@dataclass(frozen=True, slots=True)
class Chunk:
    """One piece of text to embed, and where it came from."""

    version_id: str
    field: str  # one of FIELDS
    ordinal: int  # position within (version, field), from 0
    text: str  # exactly what is embedded (title prefix included)
    key: str  # sha256 of text: the embedding-cache key


def make_chunk(version_id: str, field: str, ordinal: int, text: str) -> Chunk:
    """A :class:`Chunk` with its content key filled in."""
    return Chunk(version_id, field, ordinal, text, hashlib.sha256(text.encode("utf-8")).hexdigest())


# --------------------------------------------------------------------------- counting


class _Counter:
    """Content tokens (special tokens excluded) with a memo and batched counting."""

    def __init__(self, count_tokens: CountTokens, count_many: CountMany | None) -> None:
        self._one = count_tokens
        self._many = count_many
        self._memo: dict[str, int] = {}
        # [CLS] and [SEP] for BERT; whatever a counter adds to every text.
        self.overhead = count_tokens("")

    def prime(self, texts: Iterable[str]) -> None:
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if not missing:
            return
        if self._many is not None:
            counts = self._many(missing)
        else:
            counts = [self._one(t) for t in missing]
        self._memo.update(zip(missing, counts, strict=True))

    def content_many(self, texts: Sequence[str]) -> list[int]:
        self.prime(texts)
        return [self._memo[t] - self.overhead for t in texts]

    def content(self, text: str) -> int:
        n = self._memo.get(text)
        if n is None:
            n = self._memo[text] = self._one(text)
        return n - self.overhead


# --------------------------------------------------------------------------- splitting

# Coarse to fine. Every separator is whitespace or zero-width, so the pieces of a span
# cover all of its non-space characters.
_LEVELS = (
    re.compile(r"\n[ \t]*\n\s*"),  # paragraphs
    re.compile(r"(?<=[.!?])\s+"),  # sentences
    re.compile(r"\s*\n\s*"),  # lines: lists, tables, quoted code
    re.compile(r"\s+"),  # words
    re.compile(r"(?<=[^\w\s])|(?=[^\w\s])"),  # punctuation inside a word (a_path/like.this)
)


@dataclass(frozen=True, slots=True)
class _Piece:
    start: int
    end: int
    tokens: int
    solo: bool = False  # cut inside a word: counts are not additive, keep it alone


def _split(text: str, start: int, end: int, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    sub = text[start:end]
    spans = []
    pos = 0
    for m in pattern.finditer(sub):
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, len(sub)))
    out = []
    for s, e in spans:
        piece = sub[s:e]
        stripped = piece.strip()
        if stripped:
            lead = len(piece) - len(piece.lstrip())
            out.append((start + s + lead, start + s + lead + len(stripped)))
    return out


def _pieces(
    text: str, start: int, end: int, level: int, counter: _Counter, budget: int
) -> list[_Piece]:
    spans = _split(text, start, end, _LEVELS[level])
    counts = counter.content_many([text[s:e] for s, e in spans])
    out: list[_Piece] = []
    for (s, e), n in zip(spans, counts, strict=True):
        if n <= budget:
            out.append(_Piece(s, e, n))
        elif level + 1 < len(_LEVELS):
            out.extend(_pieces(text, s, e, level + 1, counter, budget))
        else:
            out.extend(_char_pieces(text, s, e, counter, budget))
    return out


def _char_pieces(text: str, start: int, end: int, counter: _Counter, budget: int) -> list[_Piece]:
    """Longest prefixes within budget, found by bisection; at least one character each."""
    out = []
    while start < end:
        lo, hi = 1, end - start
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if counter.content(text[start : start + mid]) <= budget:
                lo = mid
            else:
                hi = mid - 1
        out.append(_Piece(start, start + lo, counter.content(text[start : start + lo]), True))
        start += lo
    return out


def _windows(pieces: Sequence[_Piece], budget: int, overlap: int) -> list[tuple[int, int]]:
    """Greedy packing into [first, last] piece ranges within budget, with overlap."""
    out: list[tuple[int, int]] = []
    i, n = 0, len(pieces)
    while i < n:
        if pieces[i].solo:
            out.append((i, i))
            i += 1
            continue
        j, total = i, pieces[i].tokens
        while j + 1 < n and not pieces[j + 1].solo and total + pieces[j + 1].tokens <= budget:
            j += 1
            total += pieces[j].tokens
        out.append((i, j))
        if j + 1 >= n:
            break
        # Step back over trailing pieces of this window while they fit the overlap and,
        # with the next new piece, the budget. k > i always, so packing progresses.
        k, carried = j + 1, 0
        nxt = pieces[j + 1].tokens
        while (
            k - 1 > i
            and not pieces[k - 1].solo
            and carried + pieces[k - 1].tokens <= overlap
            and carried + pieces[k - 1].tokens + nxt <= budget
        ):
            k -= 1
            carried += pieces[k].tokens
        i = k
    return out


def _split_text(text: str, counter: _Counter, budget: int, overlap: int) -> list[str]:
    """``text`` as windows of at most ``budget`` content tokens, in order."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        return []
    pieces = _pieces(text, 0, len(text), 0, counter, budget)
    return [text[pieces[a].start : pieces[b].end] for a, b in _windows(pieces, budget, overlap)]


# --------------------------------------------------------------------------- fields


def _title(v: SeriesVersion) -> str:
    title = (v.title or v.subject).strip()
    if v.tags and not title.lower().startswith(v.tags[0].lower()):
        title = ": ".join(v.tags) + ": " + title
    return title


def _entry_text(text: str, items: Sequence[str]) -> str:
    return text.strip() or "\n".join(i.strip() for i in items if i.strip())


class _VersionChunker:
    def __init__(self, counter: _Counter, max_tokens: int, overlap: int) -> None:
        self.counter = counter
        self.room = max_tokens - counter.overhead
        if self.room < 16:
            raise ValueError(f"max_tokens={max_tokens} leaves no room for text")
        self.overlap = max(0, min(overlap, self.room // 2))

    def windows(self, text: str, prefix: str = "") -> list[str]:
        """Windows of ``text``, each preceded by ``prefix`` when the prefix is short."""
        budget, head = self.room, ""
        if prefix:
            p = self.counter.content(prefix)
            # A prefix that would eat more than a quarter of every window costs more
            # than the context it adds.
            if p <= self.room // 4:
                budget, head = self.room - p, prefix + "\n\n"
        return [head + w for w in _split_text(text, self.counter, budget, self.overlap)]

    def chunks(self, v: SeriesVersion, include_patches: bool) -> list[Chunk]:
        vid = v.message_id
        title = _title(v)
        out = [make_chunk(vid, "title", i, w) for i, w in enumerate(self.windows(title))]
        # Motivation and changelog windows start with the series title: a window out of
        # context ("This series fixes that by ...") loses its subject, and MiniLM pools
        # every token, so a dozen title tokens pull each window toward the topic. The
        # cost (a few percent more tokens) is small.
        out += [
            make_chunk(vid, "motivation", i, w)
            for i, w in enumerate(self.windows(v.cover.motivation, title))
        ]
        texts: list[str] = []
        for entry in v.cover.changelog:
            texts += self.windows(_entry_text(entry.text, entry.items), title)
        out += [make_chunk(vid, "changelog", i, w) for i, w in enumerate(texts)]
        if include_patches:
            texts = []
            for p in v.patches:
                subject = strip_markers(p.subject).strip()
                body = strip_trailer_block(p.commit_message)
                # A patch's own subject is the more specific context for its message.
                texts += self.windows(body, subject) if body.strip() else self.windows(subject)
            out += [make_chunk(vid, "patches", i, w) for i, w in enumerate(texts)]
        return out


def _first_pass_texts(v: SeriesVersion, include_patches: bool) -> list[str]:
    """What a version's chunking will count first: titles and paragraphs."""
    title = _title(v)
    texts = [title]
    bodies = [v.cover.motivation] + [_entry_text(e.text, e.items) for e in v.cover.changelog]
    if include_patches:
        for p in v.patches:
            texts.append(strip_markers(p.subject).strip())
            bodies.append(strip_trailer_block(p.commit_message))
    for b in bodies:
        b = b.replace("\r\n", "\n").strip()
        texts += [b[s:e] for s, e in _split(b, 0, len(b), _LEVELS[0])]
    return texts


def chunk_version(
    v: SeriesVersion,
    count_tokens: CountTokens,
    *,
    max_tokens: int = MAX_TOKENS,
    overlap: int = 32,
    include_patches: bool = False,
    count_many: CountMany | None = None,
) -> list[Chunk]:
    """The chunks of one series version: title, motivation windows, changelog entries
    and (with ``include_patches``) the patches' commit messages.

    ``count_tokens`` must count what the model sees, special tokens included (e.g.
    :class:`~kvmsearch.models.embedding.TokenCounter`); ``count_many`` is its batched
    form. Every chunk's text counts at most ``max_tokens``.
    """
    return chunk_versions(
        [v],
        count_tokens,
        max_tokens=max_tokens,
        overlap=overlap,
        include_patches=include_patches,
        count_many=count_many,
    )


def chunk_versions(
    versions: Iterable[SeriesVersion],
    count_tokens: CountTokens,
    *,
    max_tokens: int = MAX_TOKENS,
    overlap: int = 32,
    include_patches: bool = False,
    count_many: CountMany | None = None,
) -> list[Chunk]:
    """:func:`chunk_version` over many versions, counting tokens in one batch.

    Titles and paragraphs of all versions are counted with one ``count_many`` call (the
    tokenizers library encodes a batch on all cores); only paragraphs too long for one
    window are counted again, sentence by sentence.
    """
    versions = list(versions)
    counter = _Counter(count_tokens, count_many)
    counter.prime(t for v in versions for t in _first_pass_texts(v, include_patches))
    chunker = _VersionChunker(counter, max_tokens, overlap)
    out: list[Chunk] = []
    for v in versions:
        out += chunker.chunks(v, include_patches)
    return out


__all__ = ["FIELDS", "Chunk", "chunk_version", "chunk_versions", "make_chunk"]

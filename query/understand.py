"""What a query is: paths, identifiers, prose words, quoted phrases and inline filters.

The ranker routes on this: path terms go to the files field, identifiers favour exact
matches, and prose goes to lexical + dense retrieval. A query never raises here except
for a filter value that cannot mean anything (a bad date), which is a QueryError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from kvmsearch.indexer.text.identifiers import is_routing_identifier
from kvmsearch.indexer.text.links import message_id_from_user
from kvmsearch.indexer.text.paths import is_path
from kvmsearch.models.errors import QueryError
from kvmsearch.models.query import (
    DEFAULT_KINDS,
    Filters,
    TextCondition,
    parse_date,
    period,
    period_end,
)

# kvmsearch's own filter names, then lore/lei's: f: author, s: subject words, b: body
# words, dfn: file, l: list, d: date range, m: Message-ID (what people type into lore
# works here)
_KEYS = (
    "file|path|dfn|author|from|f|list|l|tree|since|until|before|after|date|d|kind|status"
    "|reviewer|review|subject|s|body|b|m"
)
# Both patterns below match a quoted phrase first and keep it (group 1): "fix s:word"
# and "dirty -ring" are phrases, not a filter or an exclusion.
_KEEP_PHRASE = r'("[^"]*")'
_FILTER = re.compile(rf'{_KEEP_PHRASE}|(?<!\S)(-?)({_KEYS}):("([^"]*)"|\S+)', re.IGNORECASE)
_EMPTY_FILTER = re.compile(rf"(?<!\S)-?({_KEYS}):(?=\s|$)", re.IGNORECASE)
#: other names of the filters: lore's f: dfn: l: s: b: d: m:, and from: path: after:
_ALIASES = {
    "f": "author",
    "from": "author",
    "dfn": "file",
    "path": "file",
    "l": "list",
    "s": "subject",
    "b": "body",
    "d": "date",
    "after": "since",
    "m": "message",
}
_FILTER_EXAMPLES = {
    "file": "arch/arm64/kvm/",
    "author": "maz",
    "list": "kvmarm",
    "tree": "qemu",
    "since": "2021-06",
    "until": "2022",
    "before": "2022",
    "date": "20210101..20211231",
    "kind": "pull",
    "status": "applied",
    "reviewer": "maz",
    "review": "mmu_lock",
    "subject": "vgic",
    "body": '"dirty ring"',
    "message": "20210316101312.102925-1-maz@kernel.org",
}
# -word and -"a phrase" exclude, as in lore. An errno (-EINVAL, -EFAULT) is a word:
# kernel questions quote them ("returns -EFAULT"), and nobody excludes by one. Nor by
# one letter, which the index does not keep: that is a command-line option ("lkvm run
# -m 1G@2G", "-M virt"), text of the question.
_EXCLUDED = re.compile(
    rf'{_KEEP_PHRASE}|(?<!\S)-(?:"([^"]*)"|(?!E[A-Z0-9]{{2,}}\b|[A-Za-z]\b)([^\s"\-\d]\S*))'
)
_PHRASE = re.compile(r'"([^"]+)"')
# "v3", "V3", "v10": a version the question asks about (not "v5.10", a kernel release)
_VERSION_NAMED = re.compile(r"(?<![\w.])[vV](\d{1,2})(?![\w.])")
_VERSION_SPAN = re.compile(
    r"(?:between|from)\s+[vV](\d{1,2})\s+(?:and|to)\s+[vV](\d{1,2})\b"
    r"|(?<![\w.])[vV](\d{1,2})\s*(?:\.\.|->|→|to)\s*[vV](\d{1,2})\b"
)
_TREE_HINT = re.compile(r"[\(\[]\s*(qemu|kvm-unit-tests?|kvmtool|kut)\s*[\)\]]", re.IGNORECASE)
# A project named as a word ("kvmtool guest SPE", "PMU tests in kvm-unit-tests") is the
# tree the question is about, as "(kvmtool)" is. Not QEMU: a kernel question names QEMU
# as the VMM a kernel change serves ("QEMU restores a pending-table-zero hint ...").
_TREE_WORD = re.compile(r"(?<![\w/.-])(kvm-unit-tests?|kvmtool)(?![\w/-])", re.IGNORECASE)
_WORD = re.compile(r"[\w./+-]+(?:\(\))?")

#: words that frame a path/identifier question without adding meaning
FILLER = frozenset(
    """
    which what who when where why how series patch patches patchset patchsets that the a an
    of in to and or for did does do change changed changes changing touch touched touches
    touching modify modified modifying modifies mention mentions mentioned mentioning
    introduce introduced add added adds use used uses using handle handled handling
    handles about with by on is are was were it its this these those any all file files
    directory dir code show find list me from into under kvm support there has have
    """.split()
)

#: words that frame a prose question ("which series ... and why?") without naming what it
#: is about; the lexical side drops them (the analyzer already drops which/what/who).
#: "series" and "patch" are in nearly every cover letter, so they only add noise there.
#: The query model keeps the whole question: it reads framing as framing.
FRAMING = frozenset("how why when where series patch patches patchset patchsets".split())


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """A query taken apart."""

    text: str  # the query with inline filters removed
    kind: str  # "path", "ident" or "prose"
    paths: tuple[str, ...] = ()
    idents: tuple[str, ...] = ()
    words: tuple[str, ...] = ()  # remaining meaningful words (not filler)
    phrases: tuple[str, ...] = ()
    tree_hint: str | None = None
    filters: Filters = field(default_factory=Filters)
    #: what the lexical side searches for prose (the question's framing removed)
    lex_text: str = ""
    #: what the query model embeds
    dense_text: str = ""
    #: the corpus's closed spelling of compounds the question writes apart ("zero
    #: copy" -> "zerocopy"), which the lexical side also searches: evidence marks them
    spellings: tuple[str, ...] = ()
    #: an identifier question no hit's text spells (only diffs do) is answered by the
    #: identifier's parts: these (its distinctive ones) are what evidence is drawn from
    #: and marks
    answer_parts: tuple[str, ...] = ()
    #: versions the question names ("v3 of ...", "between v2 and v4"): always shown
    versions: tuple[int, ...] = ()
    #: "between v2 and v4", "from v2 to v4", "v2..v4", "v2 -> v4": the versions after
    #: the first up to the second, whose own changes answer it (else empty)
    changed_between: tuple[int, ...] = ()


# "when does virtio_ring use the DMA API", "how is H_ENTER_NESTED handled": a question
# about behaviour, however few of its words are more than filler
_QUESTION = re.compile(
    r"\b(?:why|how|when|what)\s+(?:does|do|did|is|are|was|were|can|could|should|would"
    r"|must|has|have|will)\b",
    re.IGNORECASE,
)


def _asks_how(text: str) -> bool:
    """Whether a question of identifiers and filler is still prose by its shape: it
    asks how, why or when something behaves ("when does virtio_ring use the DMA API"),
    which the sentences around the identifier answer, not the list of places it occurs.

    Two or more bare acronyms as prose ("POWER10 support in KVM HV") was tried and not
    kept: that question's answer fell from first place (BENCHMARKS.md, "third session").
    """
    return _QUESTION.search(text) is not None


def _norm_tree(t: str) -> str:
    t = t.lower()
    return {"kut": "kvm-unit-tests", "kvm-unit-test": "kvm-unit-tests"}.get(t, t)


def understand(query: str, base: Filters | None = None) -> QueryPlan:
    """Split ``query`` into routing terms and filters; ``base`` holds option filters."""
    authors: list[str] = []
    lists: list[str] = []
    trees: list[str] = []
    files: list[str] = []
    since = until = None
    kinds: tuple[str, ...] = DEFAULT_KINDS
    statuses: tuple[str, ...] = ()
    reviewers: list[str] = []
    reviews: list[str] = []
    messages: list[str] = []

    texts: list[TextCondition] = []

    def take(m: re.Match[str]) -> str:
        nonlocal since, until, kinds, statuses
        if m.group(1) is not None:
            return m.group(1)
        negated, typed = bool(m.group(2)), m.group(3).lower()
        key = _ALIASES.get(typed, typed)
        val = m.group(5) if m.group(5) is not None else m.group(4)
        if negated and key not in ("subject", "body"):
            raise QueryError(
                f'-{typed}: cannot exclude; exclude words instead: -word, -"a phrase", '
                "-s:word (subjects), -b:word (bodies)"
            )
        if key == "file":
            files.append(val)
        elif key == "author":
            authors.append(val)
        elif key == "list":
            lists.append(val)
        elif key == "tree":
            trees.append(_norm_tree(val))
        elif key == "since":
            since = parse_date(val, typed)
        elif key == "until":
            until = period_end(val, typed)
        elif key == "before":
            until = parse_date(val, typed) - timedelta(days=1)
        elif key == "date":
            since, until = _date_range(val, typed)
        elif key == "kind":
            kinds = tuple(k for k in val.lower().split(",") if k)
        elif key == "status":
            statuses = tuple(k for k in val.lower().split(",") if k)
        elif key == "reviewer":
            reviewers.append(val)
        elif key == "review":
            reviews.append(val)
        elif key == "message":
            messages.append(message_id_from_user(val))
        elif val.strip():  # subject, body
            texts.append(TextCondition(key, " ".join(val.split()), negated))
        return " "

    def exclude(m: re.Match[str]) -> str:
        if m.group(1) is not None:  # a phrase: kept as it is
            return m.group(1)
        val = " ".join((m.group(2) if m.group(2) is not None else m.group(3)).split())
        if val:
            texts.append(TextCondition("all", val, negated=True))
        return " "

    if (pasted := _pasted_message_id(query)) is not None:
        messages.append(pasted)
        text = ""
    else:
        text = _FILTER.sub(take, query)
    empty = _EMPTY_FILTER.search(text)
    if empty:
        typed = empty.group(1).lower()
        example = _FILTER_EXAMPLES.get(_ALIASES.get(typed, typed), "x")
        raise QueryError(f"{typed}: needs a value, e.g. {typed}:{example}")
    text = _EXCLUDED.sub(exclude, text)
    tree_hint = None
    th = _TREE_HINT.search(text)
    if th:
        tree_hint = _norm_tree(th.group(1))
        text = text[: th.start()] + " " + text[th.end() :]
    elif tw := _TREE_WORD.search(text):
        tree_hint = _norm_tree(tw.group(1))
    phrases = tuple(p.strip() for p in _PHRASE.findall(text) if p.strip())
    text = " ".join(text.split())

    paths: list[str] = []
    idents: list[str] = []
    words: list[str] = []
    # a build file's bare name ("Kconfig", "Makefile") is a path when the question is
    # that file; in prose it is a word ("virtio-mem should not default to enabled in
    # Kconfig"): sent down the path route, every series touching a Kconfig came first
    build_files: list[str] = []
    for raw in _WORD.findall(text.replace('"', " ")):
        tok = raw.strip(".,;:!?'`()[]") if not raw.endswith("()") else raw
        if not tok:
            continue
        if is_path(tok):
            (paths if "/" in tok or "." in tok else build_files).append(tok)
        elif is_routing_identifier(tok):
            idents.append(tok[:-2] if tok.endswith("()") else tok)
        elif tok.lower() not in FILLER:
            words.append(tok)

    if words or idents or phrases:
        words += build_files
    else:
        paths += build_files
    if not (paths or idents or words or phrases):
        # Only common words ("kvm", "kvm support"): they are the question, so search for
        # them rather than answer nothing.
        words = [
            t
            for raw in _WORD.findall(text.replace('"', " "))
            if (t := raw.strip(".,;:!?'`()[]")) and t.lower() not in FRAMING
        ]
    if paths and not (words or idents or phrases):
        # The question is paths (and filler: "which series touched drivers/vhost/adsp.c",
        # "what changed in include/kvm/arm_psci.h and why"): the path route, by match
        # class. A question that also says something ("bochs driver should include
        # linux/module.h explicitly", "tools/virtio test build broken after vringh gained
        # IOTLB support") is prose naming a path: both retrievers over every series, the
        # path matching the files field and where prose mentions it. The path route
        # answered only series touching the path, and the file a question names is as
        # often one the change uses (an include) or a neighbour of the one it touches.
        kind = "path"
    elif idents and not words and not _asks_how(text):
        # The question is identifiers (and filler: "LPA2 handling", "series that mention
        # user_mem_abort"): the identifier route. Any other word ("PMU tests", "SPE
        # support for guests") makes it prose that names an identifier, which keeps
        # both retrievers; the identifier still matches its exact spelling lexically.
        kind = "ident"
    else:
        kind = "prose"
    if messages and kinds == DEFAULT_KINDS:
        # a series named by its Message-ID is shown whatever its kind (a pull request)
        kinds = ()
    filters = Filters(
        authors=tuple(authors),
        lists=tuple(lists),
        trees=tuple(trees),
        files=tuple(files),
        kinds=kinds,
        since=since,
        until=until,
        statuses=statuses,
        reviewers=tuple(reviewers),
        reviews=tuple(reviews),
        texts=tuple(texts),
        messages=tuple(messages),
    )
    if base is not None:
        filters = base.merged(filters)
    return QueryPlan(
        text=text,
        kind=kind,
        paths=tuple(paths),
        idents=tuple(idents),
        words=tuple(words),
        phrases=phrases,
        tree_hint=tree_hint,
        filters=filters,
        lex_text=_unframed(text),
        dense_text=text,
        versions=tuple(dict.fromkeys(int(n) for n in _VERSION_NAMED.findall(text))),
        changed_between=_span(text),
    )


def _pasted_message_id(query: str) -> str | None:
    """The Message-ID when the whole query is one pasted: ``<id>``, ``id:...``, a lore
    or patchwork link, or a bare ``local@domain`` with a digit before the ``@`` (an
    address such as ``maz@kernel.org`` stays an author's words)."""
    q = query.strip()
    # a query that is a filter ("m:...", "f:maz@kernel.org") is not a pasted id
    if not q or any(c.isspace() for c in q) or "@" not in q or _FILTER.match(q):
        return None
    if q.startswith(("<", "http://", "https://", "id:", "mid:")) or any(
        c.isdigit() for c in q.split("@", 1)[0]
    ):
        mid = message_id_from_user(q)
        return mid if "@" in mid else None
    return None


def _date_range(value: str, typed: str) -> tuple[date | None, date | None]:
    """lore's ``d:`` value: ``A..B``, ``A..``, ``..B`` or one period ``A``; each end
    names its whole period (``d:2021..2022`` is 2021-01-01 to 2022-12-31)."""
    first, dots, last = value.partition("..")
    if not dots:
        return period(value, typed)
    if not (first or last):
        raise QueryError(f"{typed}:{value} names no date; e.g. {typed}:20210101..20211231")
    return (
        period(first, typed)[0] if first else None,
        period(last, typed)[1] if last else None,
    )


def _span(text: str) -> tuple[int, ...]:
    m = _VERSION_SPAN.search(text)
    if not m:
        return ()
    a, b = sorted(int(g) for g in m.groups() if g)
    return tuple(range(a + 1, b + 1))


def _unframed(text: str) -> str:
    """``text`` without FRAMING words outside quotes (all of it if nothing else is left)."""
    parts = text.split('"')
    for i in range(0, len(parts), 2):  # even parts are outside quotes
        parts[i] = " ".join(
            w for w in parts[i].split() if w.strip(".,;:!?()[]'`").lower() not in FRAMING
        )
    out = " ".join('"'.join(parts).split())
    return out if out.strip('" ') else text

"""What a query is: paths, identifiers, prose words, quoted phrases and inline filters.

The ranker routes on this: path terms go to the files field, identifiers favour exact
matches, and prose goes to lexical + dense retrieval. A query never raises here except
for a filter value that cannot mean anything (a bad date), which is a QueryError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date

from kvmsearch.models.errors import QueryError

#: file endings that make a bare word a file name
_EXT = (
    "c|h|S|s|rs|py|sh|inc|json|txt|rst|dts|dtsi|lds|ld|mk|yaml|yml|cfg|conf|go|cpp|cc|hh|"
    "hpp|pl|awk|bpf|md|html|xml|in|am|ac|m4|tbl|asm|cmake|toml|def|decode|y|l|lex"
)
_PATH = re.compile(
    rf"^(?:[\w.+-]+/)+[\w.+-]*$|^[\w.+-]+\.(?:{_EXT})$|^(?:Makefile|Kconfig|Kbuild|MAINTAINERS)"
    r"(?:\.[\w-]+)?$"
)
# An identifier: has an underscore, or is an ALLCAPS/digits acronym of 2+ chars with a
# letter (DBM, SPE, LPA2, GICv4 is prose-ish but TID1 counts), or camelCase, or foo().
_IDENT = re.compile(
    r"^(?:[A-Za-z_][\w]*_[\w]*|[A-Z][A-Z0-9]{1,}|[A-Z0-9]*[A-Z][A-Z0-9]*\d[A-Z0-9]*|"
    r"[a-z]+[A-Z]\w*|\w+\(\))$"
)
# Top-level directories of the trees kvmsearch covers (Linux, QEMU, kvm-unit-tests,
# kvmtool): "arch/arm64" is a path, "KVM/arm64" or "I/O" is not.
_TOP_DIRS = frozenset(
    """
    arch drivers include virt tools documentation lib mm kernel net fs block scripts security
    sound crypto init ipc samples usr certs rust hw target tests accel linux-headers contrib
    migration qapi qom system softmmu ui util docs subprojects x86 arm arm64 powerpc s390x
    riscv lib64 asm-generic uapi selftests
    """.split()
)
_FILTER = re.compile(r'(?<!\S)(file|path|author|from|list|tree|since|until|before|after|kind):'
                     r'("([^"]*)"|\S+)', re.IGNORECASE)
_PHRASE = re.compile(r'"([^"]+)"')
_TREE_HINT = re.compile(r"[\(\[]\s*(qemu|kvm-unit-tests?|kvmtool|kut)\s*[\)\]]", re.IGNORECASE)
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
class Filters:
    """Restrictions applied inside retrieval."""

    authors: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()
    trees: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    kinds: tuple[str, ...] = ("series",)

    def merged(self, other: Filters) -> Filters:
        return Filters(
            authors=self.authors + other.authors,
            lists=self.lists + other.lists,
            trees=self.trees + other.trees,
            files=self.files + other.files,
            since=other.since or self.since,
            until=other.until or self.until,
            kinds=other.kinds if other.kinds != ("series",) else self.kinds,
        )

    def is_empty(self) -> bool:
        return self == Filters()


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


def parse_date(value: str, what: str) -> date:
    v = value.strip()
    for n in (10, 7, 4):  # 2021-03-04, 2021-03, 2021
        if len(v) == n:
            try:
                parts = [int(p) for p in v.split("-")]
                return date(parts[0], parts[1] if len(parts) > 1 else 1,
                            parts[2] if len(parts) > 2 else 1)
            except (ValueError, IndexError):
                break
    raise QueryError(f"{what}:{value} is not a date; use YYYY, YYYY-MM or YYYY-MM-DD")


def is_path(tok: str) -> bool:
    """Whether a query token names a file or directory (see module notes)."""
    if not _PATH.match(tok):
        return False
    if "/" not in tok:
        return "." in tok[1:] or tok.split(".")[0] in ("Makefile", "Kconfig", "Kbuild")
    parts = [p for p in tok.split("/") if p]
    # A trailing slash, a file ending, a known top directory or a deep path make a path;
    # a lone "a/b" is usually prose ("source/target", "TID1/TID2").
    return (tok.endswith("/") or bool(re.search(rf"\.(?:{_EXT})$", parts[-1]))
            or parts[0].lower() in _TOP_DIRS or len(parts) >= 3)


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
    kinds: tuple[str, ...] = ("series",)

    def take(m: re.Match[str]) -> str:
        nonlocal since, until, kinds
        key, val = m.group(1).lower(), (m.group(3) if m.group(3) is not None else m.group(2))
        if key in ("file", "path"):
            files.append(val)
        elif key in ("author", "from"):
            authors.append(val)
        elif key == "list":
            lists.append(val)
        elif key == "tree":
            trees.append(_norm_tree(val))
        elif key in ("since", "after"):
            since = parse_date(val, key)
        elif key in ("until", "before"):
            until = parse_date(val, key)
        elif key == "kind":
            kinds = tuple(k for k in val.lower().split(",") if k)
        return " "
    text = _FILTER.sub(take, query)
    tree_hint = None
    th = _TREE_HINT.search(text)
    if th:
        tree_hint = _norm_tree(th.group(1))
        text = text[: th.start()] + " " + text[th.end():]
    phrases = tuple(p.strip() for p in _PHRASE.findall(text) if p.strip())
    text = " ".join(text.split())

    paths: list[str] = []
    idents: list[str] = []
    words: list[str] = []
    for raw in _WORD.findall(text.replace('"', " ")):
        tok = raw.strip(".,;:!?'`()[]") if not raw.endswith("()") else raw
        if not tok:
            continue
        if is_path(tok):
            paths.append(tok)
        elif _IDENT.match(tok):
            idents.append(tok[:-2] if tok.endswith("()") else tok)
        elif tok.lower() not in FILLER:
            words.append(tok)

    if paths:
        kind = "path"
    elif idents and len(words) <= 1:
        # An identifier with at most one framing word ("LPA2 handling") is an ident query;
        # with more words it is prose that happens to name an identifier.
        kind = "ident"
    else:
        kind = "prose"
    filters = Filters(tuple(authors), tuple(lists), tuple(trees), tuple(files), since, until,
                      kinds)
    if base is not None:
        filters = base.merged(filters)
    return QueryPlan(text=text, kind=kind, paths=tuple(paths), idents=tuple(idents),
                     words=tuple(words), phrases=phrases, tree_hint=tree_hint, filters=filters,
                     lex_text=_unframed(text), dense_text=text)


def _unframed(text: str) -> str:
    """``text`` without FRAMING words outside quotes (all of it if nothing else is left)."""
    parts = text.split('"')
    for i in range(0, len(parts), 2):  # even parts are outside quotes
        parts[i] = " ".join(w for w in parts[i].split()
                            if w.strip(".,;:!?()[]'`").lower() not in FRAMING)
    out = " ".join('"'.join(parts).split())
    return out if out.strip('" ') else text


def with_kind(plan: QueryPlan, kind: str) -> QueryPlan:
    return replace(plan, kind=kind)

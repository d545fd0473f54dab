"""The query contract: what a caller asks for, built once and handed down.

The CLI, the library (and any server) build one :class:`SearchRequest`; inline filters
in the query text (``author:maz since:2021``) are parsed by ``query.understand`` into
the same :class:`Filters` record and merged with the request's. Filters are applied
inside retrieval: ``query.filters`` turns a :class:`Filters` into the set of allowed
series versions, and both retrievers (lexical and dense) receive that one set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from .errors import QueryError

#: how a search ranks: both retrievers fused, or one of them alone
MODES = ("hybrid", "lexical", "semantic")
DEFAULT_MODE = "hybrid"

#: kinds of series version: ordinary series, pull requests, stable backports
KINDS = ("series", "pull", "stable")
#: what a search returns unless asked for other kinds: pulls and backports are rarely
#: the answer to "which series touched X"
DEFAULT_KINDS = ("series",)

#: landing filters: a series whose versions were applied (every patch of one version),
#: partly applied, or never said to be; "landed" is either of the first two. A family's
#: status is its best version's, so "none" means no version of it landed.
STATUSES = ("applied", "partial", "none", "landed")

#: the largest ``limit`` a request may ask for
MAX_LIMIT = 1000
#: the longest query text: the longest judged question is under 200 characters, and a
#: 200 KB query took 7 s
MAX_QUERY_CHARS = 1000


def clean_text(text: str) -> str:
    """User text as valid Unicode: bytes that were not UTF-8 (a shell hands Python
    them as lone surrogates) become U+FFFD instead of failing deep in a tokenizer."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


_RELATIVE = re.compile(r"(\d{1,4})\.(day|week|month|year)s?\.ago")
_RELATIVE_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}


def period(value: str, what: str, *, today: date | None = None) -> tuple[date, date]:
    """The first and last day ``value`` names: ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` or
    ``YYYYMMDD`` (lore's form), or a day relative to today as lei takes it:
    ``today``, ``yesterday``, ``N.days.ago`` (also weeks, months of 30 days, years)."""
    v = value.strip().lower()
    now = today or date.today()
    if v in ("today", "yesterday"):
        d = now - timedelta(days=1 if v == "yesterday" else 0)
        return d, d
    rel = _RELATIVE.fullmatch(v)
    if rel:
        d = now - timedelta(days=int(rel.group(1)) * _RELATIVE_DAYS[rel.group(2)])
        return d, d
    if len(v) == 8 and v.isdigit():
        v = f"{v[:4]}-{v[4:6]}-{v[6:]}"
    parts = v.split("-")
    if len(v) in (4, 7, 10) and all(p.isdigit() for p in parts) and len(parts[0]) == 4:
        try:
            y = int(parts[0])
            if len(parts) == 1:
                return date(y, 1, 1), date(y, 12, 31)
            m = int(parts[1])
            if len(parts) == 2:
                first = date(y, m, 1)
                nxt = date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)
                return first, nxt - timedelta(days=1)
            d = date(y, m, int(parts[2]))
            return d, d
        except ValueError:
            pass
    raise QueryError(
        f"{what}:{value} is not a date; use YYYY, YYYY-MM, YYYY-MM-DD, YYYYMMDD or N.days.ago"
    )


def parse_date(value: str, what: str) -> date:
    """The first day ``value`` names (see :func:`period`)."""
    return period(value, what)[0]


def period_end(value: str, what: str) -> date:
    """The last day ``value`` names: ``until:2021-06`` runs to 30 June (see
    :func:`period`)."""
    return period(value, what)[1]


def _strings(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _day(value: str | date | None, what: str, *, end: bool = False) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return period_end(str(value), what) if end else parse_date(str(value), what)


#: where a text condition looks: the subjects (series title and patch subjects), the
#: bodies (cover text, changelog, commit messages) or both
TEXT_WHERE = ("subject", "body", "all")


@dataclass(frozen=True, slots=True)
class TextCondition:
    """A word or phrase a version must hold (lore's ``s:`` / ``b:``) or must not
    (``-word``, ``-s:word``): a filter, not a ranking term."""

    where: str  # one of TEXT_WHERE
    text: str
    negated: bool = False

    def __post_init__(self) -> None:
        if self.where not in TEXT_WHERE:
            raise QueryError(f"{self.where!r} is not a text field; use {', '.join(TEXT_WHERE)}")


@dataclass(frozen=True, slots=True)
class Filters:
    """Restrictions applied inside retrieval. Empty tuples mean "no restriction".

    ``authors`` and ``lists`` match any substring of the author's "Name <addr>" and of
    a list id, ``trees`` a substring of the tree name (all case-insensitive); ``files``
    a path, a directory prefix or a bare file name; ``kinds`` defaults to ordinary
    series (an empty tuple allows every kind); ``statuses`` are :data:`STATUSES` of the
    series' landing; ``reviewers`` match who gave a Reviewed-by or Acked-by on the
    version; ``reviews`` are words or phrases the reviewers' replies to the version
    contain (their own text: quotes, trailers and the author's answers are not
    searched); ``since``/``until`` are inclusive days; ``texts`` are words or phrases
    of the version's own text, each of which must hold (or, negated, must not);
    ``messages`` are Message-IDs whose series (every version of it) are allowed.
    Several values in one other category are alternatives; categories combine with AND.
    ``all_versions`` asks for one hit per version instead of one per family.
    """

    authors: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()
    trees: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    kinds: tuple[str, ...] = DEFAULT_KINDS
    since: date | None = None
    until: date | None = None
    all_versions: bool = False
    statuses: tuple[str, ...] = ()
    #: someone who gave Reviewed-by or Acked-by (substring of "Name <addr>")
    reviewers: tuple[str, ...] = ()
    #: words or a phrase a reviewer's reply to the version contains
    reviews: tuple[str, ...] = ()
    #: words or phrases the version's own text must hold, or must not (all must hold)
    texts: tuple[TextCondition, ...] = ()
    #: Message-IDs (of a cover, a patch, a reply or a family): the series holding them
    messages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for k in self.kinds:
            if k not in KINDS:
                raise QueryError(f"kind {k!r} is not a kind; use {', '.join(KINDS)}")
        for st in self.statuses:
            if st not in STATUSES:
                raise QueryError(
                    f"status {st!r} is not a landing status; use {', '.join(STATUSES)}"
                )
        if self.since and self.until and self.since > self.until:
            raise QueryError(f"since ({self.since}) is after until ({self.until}); swap them")

    @classmethod
    def from_options(
        cls,
        *,
        author: str | Iterable[str] | None = None,
        list_: str | Iterable[str] | None = None,
        tree: str | Iterable[str] | None = None,
        file: str | Iterable[str] | None = None,
        kind: str | Iterable[str] | None = None,
        since: str | date | None = None,
        until: str | date | None = None,
        all_versions: bool = False,
        status: str | Iterable[str] | None = None,
        reviewer: str | Iterable[str] | None = None,
        review: str | Iterable[str] | None = None,
    ) -> Filters:
        """Filters from option values as users give them (a string or several, dates
        as ``YYYY[-MM[-DD]]``)."""
        kinds = tuple(k.lower() for k in _strings(kind))
        return cls(
            authors=_strings(author),
            lists=_strings(list_),
            trees=_strings(tree),
            files=_strings(file),
            kinds=kinds or DEFAULT_KINDS,
            since=_day(since, "since"),
            until=_day(until, "until", end=True),
            all_versions=all_versions,
            statuses=tuple(x.lower() for x in _strings(status)),
            reviewers=_strings(reviewer),
            reviews=_strings(review),
        )

    def merged(self, other: Filters) -> Filters:
        """These filters and ``other``'s (from the query text): lists add up, a date or
        a kind choice in ``other`` wins."""
        return Filters(
            authors=self.authors + other.authors,
            lists=self.lists + other.lists,
            trees=self.trees + other.trees,
            files=self.files + other.files,
            kinds=other.kinds if other.kinds != DEFAULT_KINDS else self.kinds,
            since=other.since or self.since,
            until=other.until or self.until,
            all_versions=self.all_versions or other.all_versions,
            statuses=other.statuses or self.statuses,
            reviewers=self.reviewers + other.reviewers,
            reviews=self.reviews + other.reviews,
            texts=self.texts + other.texts,
            messages=self.messages + other.messages,
        )

    def restriction(self) -> Filters:
        """The part that decides which versions are allowed (a cache key for the
        allowed set: ``all_versions`` changes grouping, not the set)."""
        return replace(self, all_versions=False) if self.all_versions else self

    def facets(self) -> Filters:
        """The restriction without the conditions on text (``review:``, ``s:``,
        ``b:``, ``-word``), which the lexical index answers, not the document store."""
        return replace(self.restriction(), reviews=(), texts=())

    def is_empty(self) -> bool:
        """No restriction beyond the default kind."""
        return self.restriction() == Filters()


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """One search, as the CLI, the library and any server ask for it.

    ``text`` may hold inline filters; ``filters`` holds those given as options. The
    retrieval depth of each retriever grows with ``limit``.
    """

    text: str = ""
    filters: Filters = field(default_factory=Filters)
    limit: int = 10
    mode: str = DEFAULT_MODE
    explain: bool = False

    @classmethod
    def from_options(
        cls,
        text: str = "",
        *,
        limit: int = 10,
        mode: str = DEFAULT_MODE,
        explain: bool = False,
        author: str | Iterable[str] | None = None,
        list_: str | Iterable[str] | None = None,
        tree: str | Iterable[str] | None = None,
        file: str | Iterable[str] | None = None,
        kind: str | Iterable[str] | None = None,
        since: str | date | None = None,
        until: str | date | None = None,
        all_versions: bool = False,
        status: str | Iterable[str] | None = None,
        reviewer: str | Iterable[str] | None = None,
        review: str | Iterable[str] | None = None,
    ) -> SearchRequest:
        """A request from option values as users give them (see
        :meth:`Filters.from_options`)."""
        filters = Filters.from_options(
            author=author,
            list_=list_,
            tree=tree,
            file=file,
            kind=kind,
            since=since,
            until=until,
            all_versions=all_versions,
            status=status,
            reviewer=reviewer,
            review=review,
        )
        return cls(text=text, filters=filters, limit=limit, mode=mode, explain=explain)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", clean_text(self.text))
        if len(self.text) > MAX_QUERY_CHARS:
            raise QueryError(
                f"the query is {len(self.text)} characters long; the limit is "
                f"{MAX_QUERY_CHARS}: ask with its key words, a path or an identifier"
            )
        if self.mode not in MODES:
            raise QueryError(
                f"--mode {self.mode} is not a mode; use {', '.join(MODES[:-1])} or {MODES[-1]}"
            )
        if not 0 <= self.limit <= MAX_LIMIT:
            raise QueryError(f"--limit {self.limit} is out of range; use 1 to {MAX_LIMIT}")


__all__ = [
    "DEFAULT_KINDS",
    "DEFAULT_MODE",
    "KINDS",
    "STATUSES",
    "MAX_LIMIT",
    "MAX_QUERY_CHARS",
    "clean_text",
    "MODES",
    "Filters",
    "SearchRequest",
    "TEXT_WHERE",
    "TextCondition",
    "parse_date",
    "period",
    "period_end",
]

"""Where a filter is applied: :class:`~kvmsearch.models.query.Filters` -> the set of
series versions it allows, computed once per query from the document store and handed
to both retrievers (the lexical side restricts its whoosh search to it, the dense side
builds a faiss ID selector from it).

Conditions on text (``review:``, lore's ``s:`` and ``b:``, ``-word``) are answered by
the lexical index instead, and intersected with (or, negated, taken out of) the set the
store gives.

The default filter (ordinary series only) is part of nearly every query, and a session
repeats its filters, so the sets are cached per filter value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from kvmsearch.models.query import Filters

_CACHE_SIZE = 32


class FacetSource(Protocol):
    """What the resolver reads: the document store's named filter read."""

    def versions_matching(self, filters: Filters) -> set[str] | None: ...


class TextSource(Protocol):
    """Where conditions on text are looked up: the lexical index."""

    def versions_with(self, where: str, phrases: Sequence[str]) -> set[str]: ...

    def version_ids(self) -> set[str]: ...


class FilterResolver:
    """Allowed versions per filter value; ``None`` means every version."""

    def __init__(self, docs: FacetSource, texts: TextSource | None = None) -> None:
        self._docs = docs
        self._texts = texts
        self._cache: dict[Filters, frozenset[str] | None] = {}

    def allowed(self, filters: Filters) -> frozenset[str] | None:
        """Version ids passing ``filters`` (pulls and stable backports are left out
        unless asked for), or None when nothing is restricted."""
        key = filters.restriction()
        if key in self._cache:
            return self._cache[key]
        got = self._docs.versions_matching(key.facets())
        src = self._texts
        if key.reviews:
            # any of the review phrases
            said = src.versions_with("review", key.reviews) if src else set()
            got = said if got is None else got & said
        for c in key.texts:
            if not c.negated:  # every s:/b: condition
                has = src.versions_with(c.where, (c.text,)) if src else set()
                got = has if got is None else got & has
        excluded = [c for c in key.texts if c.negated]
        if excluded and src is not None:
            if got is None:
                got = src.version_ids()
            for c in excluded:
                got = got - src.versions_with(c.where, (c.text,))
        ids = frozenset(got) if got is not None else None
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = ids
        return ids

    def cached(self) -> list[Filters]:
        """The filter values whose sets are cached, oldest first (for tests)."""
        return list(self._cache)


__all__ = ["FacetSource", "FilterResolver", "TextSource"]

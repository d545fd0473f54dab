"""Where a filter is applied: :class:`~kvmsearch.models.query.Filters` -> the set of
series versions it allows, computed once per query from the document store and handed
to both retrievers (the lexical side restricts its whoosh search to it, the dense side
builds a faiss ID selector from it).

The default filter (ordinary series only) is part of nearly every query, and a session
repeats its filters, so the sets are cached per filter value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from kvmsearch.models.query import Filters

_CACHE_SIZE = 32


class FacetSource(Protocol):
    """What the resolver reads: the document store's named filter read."""

    def versions_matching(self, filters: Filters) -> set[str] | None: ...


class ReviewSource(Protocol):
    """Where ``review:`` is looked up: the lexical index's review field."""

    def reviewed_with(self, phrases: Sequence[str]) -> set[str]: ...


class FilterResolver:
    """Allowed versions per filter value; ``None`` means every version."""

    def __init__(self, docs: FacetSource, reviews: ReviewSource | None = None) -> None:
        self._docs = docs
        self._reviews = reviews
        self._cache: dict[Filters, frozenset[str] | None] = {}

    def allowed(self, filters: Filters) -> frozenset[str] | None:
        """Version ids passing ``filters`` (pulls and stable backports are left out
        unless asked for), or None when nothing is restricted."""
        key = filters.restriction()
        if key in self._cache:
            return self._cache[key]
        got = self._docs.versions_matching(replace(key, reviews=()) if key.reviews else key)
        if key.reviews:
            said = self._reviews.reviewed_with(key.reviews) if self._reviews else set()
            got = said if got is None else got & said
        ids = frozenset(got) if got is not None else None
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = ids
        return ids

    def cached(self) -> list[Filters]:
        """The filter values whose sets are cached, oldest first (for tests)."""
        return list(self._cache)


__all__ = ["FacetSource", "FilterResolver", "ReviewSource"]

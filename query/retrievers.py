"""What the hybrid ranker holds: a lexical retriever, a dense retriever and a query
embedder, as small protocols, with the records each retriever returns.

Both retrievers receive the same ``allowed`` set of series-version ids (see
:mod:`kvmsearch.query.filters`); ``None`` allows every version. Tests substitute fakes
that satisfy these protocols; the product uses :class:`kvmsearch.query.lexical.LexicalSearcher`,
:class:`kvmsearch.query.dense.DenseSearcher` and the embedders of
:mod:`kvmsearch.models.embedding`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, slots=True)
class LexHit:
    """One document: a series version."""

    message_id: str
    family: str
    score: float
    #: per-field share of the score, only when asked for (``explain=True``)
    fields: dict[str, float] | None = None
    #: how the document matched, for rankers that must keep match classes apart:
    #: search_paths: per path 3 exact file, 2 under the directory, 1 same bare name
    #: (summed over the paths); search_identifier: 1 exact spelling, else 0
    tier: int = 0


@dataclass(frozen=True, slots=True)
class DenseHit:
    """A version and its best-matching chunk."""

    version_id: str
    score: float  # cosine similarity of the best chunk
    field: str
    ordinal: int
    row: int  # the chunk's row, for DenseSearcher.text(row)


class LexicalRetriever(Protocol):
    """BM25F over the fields of each series version (whoosh in the product)."""

    def search(
        self,
        text: str,
        *,
        limit: int = 100,
        allowed: frozenset[str] | None = None,
        field_boosts: dict[str, float] | None = None,
        mode: str = "auto",
        explain: bool = False,
    ) -> list[LexHit]: ...

    def search_paths(
        self,
        paths: Sequence[str],
        *,
        limit: int = 100,
        allowed: frozenset[str] | None = None,
        field_boosts: dict[str, float] | None = None,
        explain: bool = False,
    ) -> list[LexHit]: ...

    def search_identifier(
        self,
        ident: str,
        *,
        limit: int = 100,
        allowed: frozenset[str] | None = None,
        field_boosts: dict[str, float] | None = None,
        explain: bool = False,
    ) -> list[LexHit]: ...

    def versions_with(self, where: str, phrases: Sequence[str]) -> set[str]: ...

    def version_ids(self) -> set[str]: ...

    def acronyms_for(self, text: str) -> list[str]: ...

    def spellings_for(self, text: str) -> list[str]: ...

    def is_common(self, word: str) -> bool: ...

    def close(self) -> None: ...


class DenseRetriever(Protocol):
    """Nearest chunk vectors, collapsed to the best chunk per version (faiss)."""

    @property
    def model_checksum(self) -> str: ...

    @property
    def model_name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def loaded(self) -> bool: ...

    def load(self) -> None: ...

    def search(
        self, qvec: np.ndarray, k: int = 200, allowed: frozenset[str] | None = None
    ) -> list[DenseHit]: ...

    def text(self, row: int) -> str: ...


__all__ = ["DenseHit", "DenseRetriever", "LexHit", "LexicalRetriever"]

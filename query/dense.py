"""Dense retrieval: nearest chunks to a query vector, collapsed to the best per version.

Reads what :func:`kvmsearch.indexer.index.dense.build_dense` wrote. faiss and numpy are
imported on first use, so constructing a searcher costs nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from kvmsearch.indexer.index.dense import (
    DENSE_FORMAT,
    INDEX_FILE,
    META_FILE,
    ROWS_FILE,
    TEXT_OFFSETS_FILE,
    TEXTS_FILE,
)
from kvmsearch.models.errors import IndexFormatError, IndexNotFoundError, ModelError
from kvmsearch.models.records import JsonObject
from kvmsearch.query.retrievers import DenseHit

if TYPE_CHECKING:
    import faiss
    import numpy as np


class DenseSearcher:
    """Searches one generation's dense index directory."""

    def __init__(self, dir: Path) -> None:
        self.dir = Path(dir)
        self._meta: JsonObject | None = None
        self._index: faiss.Index | None = None
        self._rows: np.ndarray | None = None
        self._offsets: np.ndarray | None = None
        self._version_pos: dict[str, int] | None = None
        # allowed-version sets repeat across queries (the default kind filter above
        # all): their row bitmaps are kept, keyed by the frozenset itself
        self._masks: dict[frozenset[str], tuple[int, np.ndarray]] = {}

    # ------------------------------------------------------------------ loading

    @property
    def meta(self) -> JsonObject:
        """``dense.json``: model name/checksum, dim, row count, versions, fields."""
        if self._meta is None:
            path = self.dir / META_FILE
            try:
                meta = json.loads(path.read_text())
            except FileNotFoundError as e:
                raise IndexNotFoundError(
                    f"no dense index in {self.dir}; build the index first (kvmsearch index)"
                ) from e
            except (OSError, ValueError) as e:
                raise IndexFormatError(
                    f"dense index metadata {path} is unreadable ({e}); "
                    "rebuild it with `kvmsearch rebuild`"
                ) from e
            if meta.get("format") != DENSE_FORMAT:
                raise IndexFormatError(
                    f"dense index in {self.dir} has format {meta.get('format')}, this "
                    f"kvmsearch reads format {DENSE_FORMAT}; rebuild it with `kvmsearch rebuild`"
                )
            self._meta = meta
        return self._meta

    @property
    def model_checksum(self) -> str:
        """Checksum of the model the vectors came from; a query must use the same."""
        return str(self.meta["model_checksum"])

    @property
    def model_name(self) -> str:
        return str(self.meta.get("model", "another model"))

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    def __len__(self) -> int:
        return int(self.meta["rows"])

    @property
    def loaded(self) -> bool:
        return self._index is not None

    def load(self) -> None:
        """Read the faiss index and row table now (otherwise the first search does)."""
        self._load()

    def _load(self) -> None:
        if self._index is not None:
            return
        import faiss
        import numpy as np

        meta = self.meta
        try:
            index = faiss.read_index(str(self.dir / INDEX_FILE))
            rows = np.load(self.dir / ROWS_FILE)
        except (OSError, RuntimeError, ValueError) as e:  # faiss raises RuntimeError
            raise IndexFormatError(
                f"dense index in {self.dir} is damaged ({e}); rebuild it with `kvmsearch rebuild`"
            ) from e
        if (
            index.ntotal != meta["rows"]
            or rows.shape != (meta["rows"], 3)
            or index.d != meta["dim"]
        ):
            raise IndexFormatError(
                f"dense index files in {self.dir} disagree on their size; "
                "rebuild it with `kvmsearch rebuild`"
            )
        self._rows = rows
        self._index = index

    # ------------------------------------------------------------------ search

    def _allowed_rows(self, allowed: set[str] | frozenset[str]) -> tuple[int, np.ndarray]:
        """(rows allowed, packed little-endian bitmap over rows) of the allowed
        versions; unknown ids are ignored. Cached for frozensets."""
        import numpy as np

        key = allowed if isinstance(allowed, frozenset) else None
        if key is not None and key in self._masks:
            return self._masks[key]
        if self._version_pos is None:
            self._version_pos = {v: i for i, v in enumerate(self.meta["versions"])}
        assert self._rows is not None
        wanted = [self._version_pos[v] for v in allowed if v in self._version_pos]
        mask = np.isin(self._rows[:, 0], np.asarray(wanted, dtype=np.int32))
        got = (int(mask.sum()), np.packbits(mask, bitorder="little"))
        if key is not None:
            if len(self._masks) >= 16:
                self._masks.pop(next(iter(self._masks)))
            self._masks[key] = got
        return got

    def search(
        self,
        qvec: np.ndarray,
        k: int = 200,
        allowed: frozenset[str] | None = None,
    ) -> list[DenseHit]:
        """The ``k`` versions whose best chunk is most similar to ``qvec``, best first.

        ``allowed`` restricts the search to those version ids. Both are exact: the
        filter runs inside faiss (an ID selector over the allowed rows), and chunks are
        fetched in growing rounds until ``k`` distinct versions are found, so a version
        with many good chunks never crowds out the next one.
        """
        import faiss
        import numpy as np

        self._load()
        assert self._rows is not None
        q = np.asarray(qvec, dtype=np.float32).reshape(1, -1)
        if q.shape[1] != self.dim:
            raise ModelError(
                f"the query model gives {q.shape[1]} dimensions, the index was built with "
                f"{self.meta.get('model', 'another model')} ({self.dim}); rebuild the index "
                "with the model you query with: kvmsearch rebuild"
            )
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        n = len(self)
        params = None
        if allowed is not None:
            n, bits = self._allowed_rows(allowed)
            # The selector reads the bitmap through a raw pointer: `bits` stays alive in
            # this frame (and the cache) until the search returns.
            selector = faiss.IDSelectorBitmap(len(self), faiss.swig_ptr(bits))
            # faiss's generated stubs omit the keyword its SWIG constructor takes
            params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
        if k <= 0 or n == 0:
            return []

        fetch = min(n, max(4 * k, 64))
        # One query vector gains nothing from OpenMP threads and pays their start-up
        # (15.5 vs 0.6 ms on 2 cores); restored after, as the setting is process-wide.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self._collect(q, k, n, fetch, params)
        finally:
            faiss.omp_set_num_threads(threads)

    def _collect(
        self, q: np.ndarray, k: int, n: int, fetch: int, params: faiss.SearchParameters | None
    ) -> list[DenseHit]:
        assert self._rows is not None
        assert self._index is not None
        import numpy as np

        versions = self.meta["versions"]
        fields = self.meta["fields"]
        while True:
            scores, labels = self._index.search(q, fetch, params=params)
            lab = labels[0]
            end = int(np.argmax(lab < 0)) if (lab < 0).any() else len(lab)  # -1: no more
            # The first chunk of each version in rank order, in numpy: a Python loop
            # over the 1,200 rows fetched cost ~1 ms of a prose query's critical path.
            _, first = np.unique(self._rows[lab[:end], 0], return_index=True)
            first.sort()
            # Every version not seen has all its chunks at or below the last score
            # fetched, so the first k distinct versions are the answer.
            if len(first) >= k or fetch >= n:
                break
            fetch = min(n, fetch * 4)
        take = first[:k]
        rows = lab[take]
        return [
            DenseHit(versions[v], score, fields[f], ordinal, row)
            for (v, f, ordinal), score, row in zip(
                self._rows[rows].tolist(), scores[0][take].tolist(), rows.tolist(), strict=True
            )
        ]

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """Every chunk vector and its row (version, field, ordinal positions in
        :attr:`meta`), for ranking experiments in benchmarks/ (the whole matrix: memory
        of rows x dim floats)."""
        self._load()
        assert self._rows is not None and self._index is not None
        return self._index.reconstruct_n(0, self._index.ntotal), self._rows

    # ------------------------------------------------------------------ texts

    def text(self, row: int) -> str:
        """The chunk text of ``row`` (as embedded, title prefix included)."""
        return self.texts([row])[0]

    def texts(self, rows: list[int]) -> list[str]:
        """Chunk texts of several rows."""
        import numpy as np

        if self._offsets is None:
            self._offsets = np.load(self.dir / TEXT_OFFSETS_FILE, mmap_mode="r")
        out = []
        with (self.dir / TEXTS_FILE).open("rb") as f:
            for row in rows:
                start, end = int(self._offsets[row]), int(self._offsets[row + 1])
                f.seek(start)
                out.append(f.read(end - start).decode("utf-8"))
        return out


__all__ = ["DenseHit", "DenseSearcher"]

"""The dense index: chunk vectors in faiss, and the cache that spares re-embedding.

Files ``build_dense`` writes into an index generation directory:

- ``dense.faiss``: ``IndexFlatIP`` over L2-normalised float32 vectors, so inner product
  is cosine and search is exact. Row i is chunk i.
- ``dense.json``: format, model name/checksum/dim, counts, the version ids and field
  names the rows refer to.
- ``dense_rows.npy``: int32 (rows, 3): version index, field index, ordinal. Rows are
  grouped by version, in the order versions first appear in the input.
- ``dense_texts.bin`` + ``dense_text_offsets.npy``: each row's chunk text (utf-8), read
  by row for showing *why* a hit matched.

The :class:`EmbeddingCache` lives outside the generations: vectors are keyed by model
checksum and chunk-text hash, so an update embeds only text it has never seen.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kvmsearch.indexer.index.chunks import FIELDS, Chunk
from kvmsearch.models.embedding import Embedder
from kvmsearch.models.errors import IndexError_, ModelError

if TYPE_CHECKING:
    import numpy as np

DENSE_FORMAT = 1
INDEX_FILE = "dense.faiss"
META_FILE = "dense.json"
ROWS_FILE = "dense_rows.npy"
TEXTS_FILE = "dense_texts.bin"
TEXT_OFFSETS_FILE = "dense_text_offsets.npy"

Progress = Callable[[int, int], None]


# --------------------------------------------------------------------------- cache


class EmbeddingCache:
    """sqlite store of chunk vectors keyed by (model checksum, chunk key).

    Every :meth:`put_many` is one transaction in a WAL database, so a killed build
    keeps every batch it finished and never leaves a torn row; the next build resumes
    from there. Shared by all index generations.
    """

    # Stay far below SQLite's bound-parameter limit.
    _BATCH = 500

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable against a killed process in WAL mode (only a power loss
            # can drop the last commits) and much faster than FULL.
            self._db.execute("PRAGMA synchronous=NORMAL")
            # A rowid table: WITHOUT ROWID stores 1.5 KB rows at twice the size.
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, key TEXT NOT NULL,"
                " vec BLOB NOT NULL, PRIMARY KEY (model, key))"
            )
            self._db.commit()
        except sqlite3.DatabaseError as e:
            raise IndexError_(
                f"embedding cache {self.path} is unreadable ({e}); run `kvmsearch rebuild`, "
                "which starts a new one (unchanged text is embedded again)"
            ) from e

    @classmethod
    def open_or_renew(cls, path: Path) -> tuple[EmbeddingCache, bool]:
        """The cache at ``path``, or a new empty one in its place when it is damaged (a
        rebuild's repair: the cache only saves work). Returns (cache, renewed)."""
        damaged = False
        try:
            cache = cls(path)
        except IndexError_:
            damaged = True
        else:
            try:
                rows = cache._db.execute("PRAGMA quick_check").fetchall()
                damaged = any(r and r[0] != "ok" for r in rows)
            except sqlite3.DatabaseError:
                damaged = True
            if not damaged:
                return cache, False
            cache.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return cls(path), damaged

    def get_many(self, model: str, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """Vectors already stored for ``model``, by chunk key (missing keys are absent)."""
        import numpy as np

        keys = list(dict.fromkeys(keys))
        out: dict[str, np.ndarray] = {}
        for s in range(0, len(keys), self._BATCH):
            part = keys[s : s + self._BATCH]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                f"SELECT key, vec FROM vectors WHERE model = ? AND key IN ({marks})",
                [model, *part],
            )
            for key, blob in rows:
                out[key] = np.frombuffer(blob, dtype=np.float32)
        return out

    def put_many(self, model: str, items: Iterable[tuple[str, np.ndarray]]) -> int:
        """Store vectors (float32) for ``model`` in one transaction; returns the count."""
        import numpy as np

        rows = [(model, k, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in items]
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors (model, key, vec) VALUES (?, ?, ?)", rows
            )
        return len(rows)

    def count(self, model: str | None = None) -> int:
        """Stored vectors, for one model or all."""
        if model is None:
            return self._db.execute("SELECT count(*) FROM vectors").fetchone()[0]
        return self._db.execute(
            "SELECT count(*) FROM vectors WHERE model = ?", (model,)
        ).fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- build


@dataclass(frozen=True, slots=True)
class DenseStats:
    """What one :func:`build_dense` did."""

    chunks: int  # rows in the index
    unique: int  # distinct chunk texts
    embedded: int  # texts embedded by this build
    cached: int  # texts found in the cache
    tokens_embedded: int  # tokens the model read for the embedded texts
    seconds_embedding: float  # wall time inside embedder.encode


def _grouped(chunks: Sequence[Chunk]) -> list[Chunk]:
    """Chunks grouped by version (stable), so a version's rows are contiguous."""
    first: dict[str, int] = {}
    for c in chunks:
        first.setdefault(c.version_id, len(first))
    return sorted(chunks, key=lambda c: first[c.version_id])


def _check_vectors(vecs: np.ndarray, n: int, dim: int, who: str) -> np.ndarray:
    import numpy as np

    vecs = np.asarray(vecs, dtype=np.float32)
    if vecs.shape != (n, dim) or not np.isfinite(vecs).all():
        raise ModelError(
            f"{who} returned vectors of shape {vecs.shape} (expected {(n, dim)}) "
            "or non-finite values; check the model installation"
        )
    # Cosine needs unit rows; renormalising is cheap insurance against an embedder
    # that forgets.
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs / np.maximum(norms, 1e-12)


def _embed_missing(
    texts: dict[str, str],
    vectors: dict[str, np.ndarray],
    embedder: Embedder,
    cache: EmbeddingCache,
    batch_size: int,
    progress: Progress | None,
) -> tuple[int, float]:
    """Embed the texts not in ``vectors``, longest-similar together; cache each slab."""
    missing = sorted((k for k in texts if k not in vectors), key=lambda k: len(texts[k]))
    total = len(missing)
    if progress:
        progress(0, total)
    if not missing:
        return 0, 0.0
    tokens = sum(embedder.count_tokens_many([texts[k] for k in missing]))
    # A slab is what one encode call sees and what one cache transaction stores: big
    # enough to keep per-call overhead negligible, small enough that a killed build
    # loses under a minute of work and progress moves.
    slab = batch_size * 8
    seconds = 0.0
    for s in range(0, total, slab):
        keys = missing[s : s + slab]
        t = time.perf_counter()
        vecs = embedder.encode([texts[k] for k in keys], batch_size=batch_size)
        seconds += time.perf_counter() - t
        vecs = _check_vectors(vecs, len(keys), embedder.dim, embedder.name)
        cache.put_many(embedder.checksum, zip(keys, vecs, strict=True))
        vectors.update(zip(keys, vecs, strict=True))
        if progress:
            progress(min(s + slab, total), total)
    return tokens, seconds


def _write_replace(path: Path, write: Callable[[Path], object]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _save_npy(path: Path, array: np.ndarray) -> None:
    import numpy as np

    with path.open("wb") as f:  # a file object: np.save would append ".npy" to a name
        np.save(f, array)


def build_dense(
    out_dir: Path,
    chunks: Sequence[Chunk],
    embedder: Embedder,
    cache: EmbeddingCache,
    *,
    progress: Progress | None = None,
    batch_size: int = 64,
) -> DenseStats:
    """Embed ``chunks`` (only texts the cache lacks) and write the dense index files.

    ``progress(done, total)`` is called as texts are embedded (total = texts missing
    from the cache).
    """
    import faiss
    import numpy as np

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = _grouped(chunks)
    texts = {c.key: c.text for c in rows}
    vectors = {
        k: v
        for k, v in cache.get_many(embedder.checksum, texts).items()
        if v.shape == (embedder.dim,)
    }
    n_cached = len(vectors)
    tokens, seconds = _embed_missing(texts, vectors, embedder, cache, batch_size, progress)

    dim = embedder.dim
    matrix = np.empty((len(rows), dim), dtype=np.float32)
    for i, c in enumerate(rows):
        matrix[i] = vectors[c.key]
    index = faiss.IndexFlatIP(dim)
    index.add(matrix)
    _write_replace(out_dir / INDEX_FILE, lambda p: faiss.write_index(index, str(p)))

    versions: dict[str, int] = {}
    fields = list(FIELDS)
    table = np.empty((len(rows), 3), dtype=np.int32)
    for i, c in enumerate(rows):
        if c.field not in fields:
            fields.append(c.field)
        table[i] = (
            versions.setdefault(c.version_id, len(versions)),
            fields.index(c.field),
            c.ordinal,
        )
    _write_replace(out_dir / ROWS_FILE, lambda p: _save_npy(p, table))

    encoded = [c.text.encode("utf-8") for c in rows]
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    _write_replace(out_dir / TEXTS_FILE, lambda p: p.write_bytes(b"".join(encoded)))
    _write_replace(out_dir / TEXT_OFFSETS_FILE, lambda p: _save_npy(p, offsets))

    meta = {
        "format": DENSE_FORMAT,
        "model": embedder.name,
        "model_checksum": embedder.checksum,
        "dim": dim,
        "metric": "inner_product",
        "rows": len(rows),
        "versions": list(versions),
        "fields": fields,
    }
    # Written last: its presence says the other files are complete.
    _write_replace(out_dir / META_FILE, lambda p: p.write_text(json.dumps(meta)))
    return DenseStats(
        chunks=len(rows),
        unique=len(texts),
        embedded=len(texts) - n_cached,
        cached=n_cached,
        tokens_embedded=tokens,
        seconds_embedding=seconds,
    )


# --------------------------------------------------------------------------- benchmark hook


@dataclass(frozen=True, slots=True)
class OverheadTiming:
    """Bare model encode vs the whole :func:`build_dense` over the same texts."""

    texts: int
    bare_seconds: float
    pipeline_seconds: float
    stats: DenseStats

    @property
    def overhead(self) -> float:
        """Pipeline time over bare time, minus one (0.10 = 10% slower)."""
        return self.pipeline_seconds / self.bare_seconds - 1.0


def embed_overhead(
    chunks: Sequence[Chunk],
    embedder: Embedder,
    work_dir: Path,
    *,
    bare_encode: Callable[[list[str]], object] | None = None,
    batch_size: int = 64,
) -> OverheadTiming:
    """Time ``bare_encode`` (default: ``embedder.encode``) on the unique chunk texts,
    then a cold :func:`build_dense` (empty cache in ``work_dir``) of the same chunks.

    For benchmarks; pass ``bare_encode=lambda t: st.model.encode(t, batch_size=64,
    normalize_embeddings=True)`` to compare with sentence-transformers itself.
    """
    work_dir = Path(work_dir)
    texts = list(dict.fromkeys(c.text for c in chunks))
    bare = bare_encode or (lambda ts: embedder.encode(ts, batch_size=batch_size))
    embedder.encode(["warm up: load the model before timing"], batch_size=batch_size)
    t = time.perf_counter()
    bare(texts)
    bare_s = time.perf_counter() - t
    cache_path = work_dir / "overhead-cache.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(str(cache_path) + suffix).unlink(missing_ok=True)
    with EmbeddingCache(cache_path) as cache:
        t = time.perf_counter()
        stats = build_dense(work_dir / "dense", chunks, embedder, cache, batch_size=batch_size)
        pipe_s = time.perf_counter() - t
    return OverheadTiming(len(texts), bare_s, pipe_s, stats)


__all__ = [
    "DENSE_FORMAT",
    "INDEX_FILE",
    "META_FILE",
    "ROWS_FILE",
    "TEXTS_FILE",
    "TEXT_OFFSETS_FILE",
    "DenseStats",
    "EmbeddingCache",
    "OverheadTiming",
    "build_dense",
    "embed_overhead",
]

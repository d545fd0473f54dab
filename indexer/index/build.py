"""Build and update an index home: read sources, store messages, assemble series, and
write a new generation (docs, lexical, dense) that is switched in atomically.

Incremental by identity and content: sources are read from their recorded positions,
messages are upserted by Message-ID, series are re-assembled from the store and only the
versions whose content changed are re-indexed; embeddings come from a cache keyed by
(model checksum, chunk text hash), so only new text is embedded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from kvmsearch.indexer.series.pipeline import read_sources
from kvmsearch.models.errors import SourceError, SourceGoneError
from kvmsearch.models.records import SourcePosition

#: stage(name) -> context manager yielding a callback(done, total=None, note="")
StageFactory = Callable[[str], AbstractContextManager[Callable[..., None]]]


def _no_stage(name: str) -> AbstractContextManager[Callable[..., None]]:
    return nullcontext(lambda *a, **k: None)


@dataclass
class BuildOutcome:
    """What one build or update did."""

    generation: str | None  # None when there was nothing new
    #: messages read: those new since the last run, or with ``rebuilt`` every one
    new_messages: int = 0
    #: a rebuild: every source was read from the start into a new message store
    rebuilt: bool = False
    versions: int = 0
    families: int = 0
    versions_changed: int = 0
    versions_deleted: int = 0
    chunks: int = 0
    chunks_embedded: int = 0
    tokens_embedded: int = 0
    #: sources that could not be read this time: (path, message)
    source_errors: list[tuple[str, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)


class _Timer:
    def __init__(self) -> None:
        self.t: dict[str, float] = {}

    def __call__(self, name: str) -> Any:
        timer = self

        class _T:
            def __enter__(self) -> None:
                self.t0 = time.monotonic()

            def __exit__(self, *exc: object) -> None:
                timer.t[name] = round(timer.t.get(name, 0.0) + time.monotonic() - self.t0, 3)

        return _T()


def _open_sources(positions: Sequence[SourcePosition], errors: list[tuple[str, str]]) -> list:
    """Open each registered source; a vanished or moved one is reported and left out."""
    from kvmsearch.indexer.mail.sources import open_source

    live = []
    for pos in positions:
        try:
            live.append(open_source(pos.source))
        except SourceError as e:
            # No command unregisters a source yet, so "rebuild without it" would be no
            # advice: a rebuild reads every registered source too.
            gone = SourceGoneError(
                f"registered source {pos.source} can no longer be read ({e}); restore it "
                "at that path and the next update resumes where it stopped (its series "
                "stay in the index meanwhile)"
            )
            errors.append((pos.source, str(gone)))
    return live


def run_build(
    home: Any,  # indexer.generations.IndexHome
    *,
    add_paths: Sequence[str | os.PathLike[str]] = (),
    full: bool = False,
    embedder_factory: Callable[[], Any] | None = None,
    stage: StageFactory | None = None,
    workers: int | None = None,
    command: str = "kvmsearch update",
    export_query_model: bool = True,
) -> BuildOutcome:
    """The one build path behind `index add`, `update` and `rebuild`.

    ``add_paths`` registers new sources (a bad path raises SourceError before anything
    is written). ``full`` re-reads every source from the start into a new message store
    (so mail no longer in a source is dropped) and rebuilds every index part; the
    embedding cache still spares unchanged text.
    A registered source that vanished is reported in ``source_errors`` while the others
    update.
    """
    from kvmsearch.indexer.index.generations import resolve_source
    from kvmsearch.indexer.mail.sources import expand_paths

    stage = stage or _no_stage
    timer = _Timer()
    new_sources = expand_paths(add_paths) if add_paths else []
    with home.lock(command):
        if full:
            # A rebuild is what an index of another format asks for, so it must not
            # load the serving manifest (that raises IndexFormatError); it only needs
            # the registered paths, and reads every source from the start anyway.
            prev = None
            registered = home.registered_sources()
        else:
            prev = home.current()
            registered = list(prev.manifest.sources) if prev is not None else []
        known = {p.source for p in registered}
        added = []
        for src in new_sources:
            key = resolve_source(src.path)
            if key not in known:
                known.add(key)
                added.append(src)
        if not registered and not added:
            raise SourceError(
                "no sources registered; add one with `kvmsearch index add PATH` "
                "(an mbox/.gz/.xz, Maildir, public-inbox git or patchwork export)"
            )
        outcome = BuildOutcome(generation=None, rebuilt=full)
        sources = _open_sources(registered, outcome.source_errors) + added
        since = {} if full else {p.source: p for p in registered if p.state}
        with timer("read"), stage("reading mail") as cb:
            rr = read_sources(sources, since=since, workers=workers,
                              progress=lambda n, b, t: cb(n, None, "messages"))
        outcome.new_messages = len(rr.messages)
        if prev is not None and not full and not added and rr.read == 0:
            # Nothing new: no generation is written, and the positions stay as they are.
            outcome.timings = timer.t
            return outcome
        return _index(home, prev, rr, [s.path for s in added], full, outcome, timer, stage,
                      embedder_factory, export_query_model)


def _index(home, prev, rr, added_paths, full, outcome, timer, stage, embedder_factory,
           export_query_model):
    from kvmsearch.indexer.mail.store import MessageStore, delete_store, replace_store
    from kvmsearch.indexer.series.pipeline import assemble_read

    home.store_path.parent.mkdir(parents=True, exist_ok=True)
    store_path = home.store_path
    if full:
        # A rebuild starts the message store over from the sources: mail gone from a
        # source leaves the index, and a store of another format is replaced. The new
        # store is written beside the old one and takes its place only once the new
        # generation serves, so after an interrupted rebuild updates go on with the
        # old store.
        store_path = home.rebuild_store_path
        delete_store(store_path)
    with MessageStore(store_path) as store:
        with timer("store"):
            store.upsert_many(rr.messages.values())
            if rr.skips:
                store.add_skips(rr.skips)
        # The store now holds them; assembly reads every message back from it, so drop
        # the read's copies rather than hold the corpus twice.
        rr.messages.clear()
        with timer("assemble"), stage("assembling series") as cb:
            n_messages = store.count()
            result = assemble_read(rr, store.iter_all())
            cb(len(result.versions), len(result.versions), "series versions")
        skipped = len(store.skips())
    outcome = _write_generation(home, prev, rr, added_paths, result, n_messages, skipped,
                                full, outcome, timer, stage, embedder_factory,
                                export_query_model)
    if full:
        replace_store(store_path, home.store_path)
    return outcome


def _write_generation(home, prev, rr, added_paths, result, n_messages, skipped, full, outcome,
                      timer, stage, embedder_factory, export_query_model) -> BuildOutcome:
    from kvmsearch.indexer.index.docs import DocStore, version_digest
    from kvmsearch.indexer.index.lexical import build_lexical, update_lexical

    versions = {v.message_id: v for v in result.versions}
    digests = {vid: version_digest(v) for vid, v in versions.items()}
    prev_digests: dict[str, str] = {}
    incremental = prev is not None and not full
    if incremental:
        prev_digests = DocStore(prev.dir / "docs.sqlite").digests()
    changed = [vid for vid, d in digests.items() if prev_digests.get(vid) != d]
    deleted = [vid for vid in prev_digests if vid not in versions]
    outcome.versions_changed, outcome.versions_deleted = len(changed), len(deleted)
    outcome.versions, outcome.families = len(versions), len(result.families)

    with home.new_generation(fresh=full) as gen:
        for path in added_paths:
            gen.manifest.add_source(path, kind="")
        for pos in rr.positions:
            gen.manifest.set_position(pos)
        with timer("docs"):
            DocStore.write(gen.dir / "docs.sqlite", result, digests)
        with timer("lexical"), stage("lexical index") as cb:
            if incremental and gen.copy_from_previous("lexical", hardlink=True,
                                                      exclude=["*LOCK"]) is not None:
                update_lexical(gen.dir / "lexical", [versions[v] for v in changed], deleted)
            else:
                build_lexical(gen.dir / "lexical", result.versions)
            cb(len(versions), len(versions), "documents")
        dense = _write_dense(home, gen, versions, timer, stage, embedder_factory,
                             export_query_model)
        outcome.chunks = dense.chunks
        outcome.chunks_embedded = dense.embedded
        outcome.tokens_embedded = dense.tokens
        counts = {
            "messages": n_messages,
            "series_versions": len(versions),
            "families": len(result.families),
            "chunks": dense.chunks,
            "kinds": dict(result.report.kinds),
            "skipped": skipped,
        }
        outcome.counts = counts
        gen.manifest.counts = counts
        gen.manifest.model = dense.model
        gen.manifest.onnx = dense.onnx
        outcome.timings = timer.t
        gen.manifest.build_seconds = round(sum(timer.t.values()), 2)
    outcome.generation = gen.name
    home.cleanup()
    return outcome


@dataclass
class _DenseResult:
    chunks: int
    embedded: int
    tokens: int
    model: Any  # generations.ModelInfo
    onnx: Any  # generations.OnnxInfo | None


def _write_dense(home, gen, versions, timer, stage, embedder_factory,
                 export_query_model: bool) -> _DenseResult:
    """Chunk every version and write the faiss index; the cache spares unchanged text.

    Chunking everything (rather than only changed versions) keeps one code path for
    builds and updates; it is tokenizer work only, a few seconds for the whole corpus.
    """
    from kvmsearch.indexer.index.chunks import chunk_versions
    from kvmsearch.indexer.index.dense import EmbeddingCache, build_dense
    from kvmsearch.indexer.index.generations import ModelInfo
    from kvmsearch.models.embedding import SentenceTransformerEmbedder, TokenCounter

    embedder = (embedder_factory or SentenceTransformerEmbedder)()
    counter = TokenCounter()
    with timer("chunk"), stage("chunking") as cb:
        chunks = chunk_versions(versions.values(), counter, count_many=counter.many)
        cb(len(chunks), len(chunks), "chunks")
    home.cache_dir.mkdir(parents=True, exist_ok=True)
    with EmbeddingCache(home.cache_dir / "embeddings.sqlite") as cache, timer("embed"), \
            stage("embedding") as cb:
        stats = build_dense(gen.dir, chunks, embedder, cache,
                            progress=lambda done, total: cb(done, total, "new chunks"))
    onnx = None
    if export_query_model:
        with timer("onnx"):
            onnx = _ensure_query_model(home, embedder.checksum)
    elif gen.manifest.model is not None and gen.manifest.model.sha256 == embedder.checksum:
        onnx = gen.manifest.onnx  # still the same model: keep what the last build exported
    return _DenseResult(
        chunks=stats.chunks, embedded=stats.embedded, tokens=stats.tokens_embedded,
        model=ModelInfo(name=embedder.name, sha256=embedder.checksum, dim=embedder.dim),
        onnx=onnx,
    )


QUERY_MODEL_DIR = "model"


def _ensure_query_model(home, model_checksum: str):
    """Export the ONNX query model once per index home (and again if the model changed).

    Queries embed with it through onnxruntime, so the CLI never imports torch.
    """
    import json

    from kvmsearch.indexer.index.generations import OnnxInfo
    from kvmsearch.models.embedding import ONNX_INFO_FILE, export_onnx, file_sha256

    dest = home.model_dir
    info_path = dest / ONNX_INFO_FILE
    onnx_path = dest / "model.onnx"
    if info_path.is_file() and onnx_path.is_file():
        try:
            info = json.loads(info_path.read_text())
        except ValueError:
            info = {}
        if info.get("model_sha256") == model_checksum:
            return OnnxInfo(path=f"{QUERY_MODEL_DIR}/model.onnx", sha256=file_sha256(onnx_path))
    sha = export_onnx(dest)
    return OnnxInfo(path=f"{QUERY_MODEL_DIR}/model.onnx", sha256=sha)


__all__ = ["BuildOutcome", "run_build"]

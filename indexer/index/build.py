"""Build and update an index home: read sources, store messages, assemble series, and
write a new generation (docs, lexical, dense) that is switched in atomically.

Incremental by identity and content: sources are read from their recorded positions,
messages are upserted by Message-ID, series are re-assembled from the store and only the
versions whose content changed are re-indexed; embeddings come from a cache keyed by
(model checksum, chunk text hash), so only new text is embedded.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from kvmsearch.indexer.index.generations import (
    QUERY_MODEL_DIR,
    Generation,
    GenerationWriter,
    IndexHome,
    ModelInfo,
    OnnxInfo,
    file_checksums,
    tree_bytes,
)
from kvmsearch.indexer.series.pipeline import ReadResult, read_sources
from kvmsearch.models.errors import (
    DiskFullError,
    IndexFormatError,
    KvmsearchError,
    SourceError,
    SourceGoneError,
)
from kvmsearch.models.records import (
    BuildOutcome,
    ParseResult,
    SeriesVersion,
    SourceFailure,
    SourcePosition,
)

if TYPE_CHECKING:
    from kvmsearch.indexer.mail.sources import Source
    from kvmsearch.models.embedding import Embedder


class StageCallback(Protocol):
    """Progress of one stage: ``done`` of ``total`` (None: unknown) ``note`` units."""

    def __call__(self, done: int, total: int | None = None, note: str = "") -> None: ...


#: stage(name) -> a context manager around one build stage, yielding its callback
StageFactory = Callable[[str], AbstractContextManager[StageCallback]]


def _ignore(done: int, total: int | None = None, note: str = "") -> None:
    pass


def _no_stage(name: str) -> AbstractContextManager[StageCallback]:
    return nullcontext(_ignore)


class _Timer:
    """Seconds per stage name, summed over repeated stages."""

    def __init__(self) -> None:
        self.t: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.t[name] = round(self.t.get(name, 0.0) + time.monotonic() - t0, 3)


def _open_sources(positions: Sequence[SourcePosition], errors: list[SourceFailure]) -> list[Source]:
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
            errors.append(SourceFailure(pos.source, str(gone)))
    return live


@dataclass
class _Build:
    """One build's state, handed from stage to stage."""

    home: IndexHome
    #: the serving generation an update starts from (None: a first build or a rebuild)
    prev: Generation | None
    full: bool
    stage: StageFactory
    embedder_factory: Callable[[], Embedder] | None
    export_query_model: bool
    outcome: BuildOutcome
    timer: _Timer = field(default_factory=_Timer)
    added_paths: list[str] = field(default_factory=list)
    #: the message store this generation is built from (recorded in its manifest)
    store_id: str = ""
    #: the generation being written (its size tells a full disk how much was needed)
    writer: GenerationWriter | None = None

    @property
    def written_bytes(self) -> int:
        return self.writer.written_bytes if self.writer is not None else 0


def run_build(
    home: IndexHome,
    *,
    add_paths: Sequence[str | os.PathLike[str]] = (),
    full: bool = False,
    embedder_factory: Callable[[], Embedder] | None = None,
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
    from kvmsearch.indexer.mail.sources import expand_paths, plain_folders

    new_sources = expand_paths(add_paths) if add_paths else []
    with home.lock(command):
        # What a killed or failed run left behind (temp dirs can fill a disk) goes
        # first, whatever this run then does.
        if home.exists():
            home.cleanup()
            _finish_interrupted_rebuild(home)
        prev: Generation | None
        if full:
            # A rebuild is what an index of another format asks for, so it must not
            # load the serving manifest (that raises IndexFormatError); it only needs
            # the registered paths, and reads every source from the start anyway.
            prev = None
            registered = home.registered_sources()
        else:
            prev = home.current()
            registered = list(prev.manifest.sources) if prev is not None else []
            if prev is not None:
                # an update builds on the serving generation (its lexical index is
                # copied): a damaged one must be rebuilt, not carried forward
                from kvmsearch.indexer.index.verify import quick_problems

                damaged = quick_problems(home)
                if damaged:
                    more = f" and {len(damaged) - 1} more" if len(damaged) > 1 else ""
                    raise IndexFormatError(
                        f"the serving generation is damaged ({damaged[0].path}: "
                        f"{damaged[0].what}{more}); run `kvmsearch rebuild`"
                    )
        # A plain folder given to `index add` is looked in again on every run: an
        # archive dropped into it since is a new source (a nightly cron that fetches
        # a new month's mbox into the folder needs no `index add`). A folder that
        # vanished adds nothing; its archives report themselves.
        folders = home.registered_folders()
        for folder in folders:
            try:
                new_sources += expand_paths([folder])
            except SourceError:
                pass
        home.register_folders([resolve_source(f) for f in plain_folders(add_paths)])
        known = {p.source for p in registered}
        added: list[Source] = []
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
        b = _Build(
            home=home,
            prev=prev,
            full=full,
            stage=stage or _no_stage,
            embedder_factory=embedder_factory,
            export_query_model=export_query_model,
            outcome=BuildOutcome(generation=None, rebuilt=full),
            added_paths=[s.path for s in added],
        )
        try:
            return _read_and_index(b, registered, added, workers)
        except Exception as e:
            if _is_disk_full(e):
                raise _disk_full_error(b, command) from e
            raise


def _read_and_index(
    b: _Build, registered: list[SourcePosition], added: list[Source], workers: int | None
) -> BuildOutcome:
    """Read the sources (each failing alone) and index what they gave."""
    full, prev = b.full, b.prev
    sources = _open_sources(registered, b.outcome.source_errors) + added
    since = {} if full else {p.source: p for p in registered if p.state}
    with b.timer("read"), b.stage("reading mail") as cb:
        rr = read_sources(
            sources,
            since=since,
            workers=workers,
            progress=lambda n, _b, _t: cb(n, None, "messages"),
        )
    b.outcome.new_messages = len(rr.messages)
    b.outcome.source_errors.extend(rr.failures)
    if prev is not None and not full and not added and rr.read == 0:
        # Nothing new: no generation is written, and the positions stay as they are.
        b.outcome.timings = b.timer.t
        return b.outcome
    return _index(b, rr)


def _is_disk_full(e: BaseException) -> bool:
    """Did ``e`` (or what caused it) come from a full disk or quota?

    Not every writer raises OSError: sqlite says "database or disk is full", faiss and
    torch's exporter raise RuntimeError carrying the C library's message.
    """
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(cur)
        if "No space left on device" in text or "disk is full" in text:
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _mb(n: int) -> str:
    return f"{max(1, round(n / 1e6))} MB"


def _disk_full_error(b: _Build, command: str) -> DiskFullError:
    """One line: where the disk is full, what is free, what the build needs.

    A build writes a whole new generation beside the serving one, so it needs about
    the serving generation's size again (at least what it had written when it failed).
    """
    home = b.home
    try:
        free = shutil.disk_usage(home.path).free
    except OSError:
        free = 0
    serving_gen = b.prev
    if serving_gen is None:
        with contextlib.suppress(KvmsearchError, OSError):
            serving_gen = home.current()  # a rebuild writes one of about its size too
    serving = tree_bytes(serving_gen.dir) if serving_gen is not None else 0
    need = max(serving, b.written_bytes)
    size = f"about {_mb(need)}" if serving else f"more than {_mb(need)}"
    size += " for its new generation"
    from kvmsearch.models.embedding import ONNX_FILE, WEIGHTS_FILE, model_dir

    if b.export_query_model and (b.full or not (home.model_dir / ONNX_FILE).exists()):
        # the query model is exported as fp16: about half the weights' size
        with contextlib.suppress(KvmsearchError, OSError):
            onnx = (model_dir() / WEIGHTS_FILE).stat().st_size // 2
            size += f" and about {_mb(onnx)} for the query model it exports"
    return DiskFullError(
        f"no space left on the device holding {home.path} ({_mb(free)} free); this build "
        f"needs {size}; nothing serving changed; free some space and run `{command}` again"
    )


def _finish_interrupted_rebuild(home: IndexHome) -> None:
    """Settle a rebuild that was killed after it wrote its new message store.

    Killed after its generation began serving but before the store swap, the old store
    (still holding mail gone from the sources) would feed the next update: finish the
    swap. Killed before the switch, the new store serves nothing: drop it. The serving
    generation's recorded ``store_id`` tells the two apart.
    """
    from kvmsearch.indexer.mail.store import MessageStore, delete_store, replace_store

    pending = home.rebuild_store_path
    if not pending.exists():
        return
    try:
        with MessageStore(pending) as st:
            pending_id = st.store_id
    except (KvmsearchError, sqlite3.DatabaseError):
        pending_id = None  # half written: it never served
    try:
        gen = home.current()
    except KvmsearchError:
        gen = None
    serving_id = gen.manifest.extra.get("store_id") if gen is not None else None
    if pending_id is not None and serving_id == pending_id:
        replace_store(pending, home.store_path)
    else:
        delete_store(pending)


def _index(b: _Build, rr: ReadResult) -> BuildOutcome:
    from kvmsearch.indexer.mail.store import delete_store

    home = b.home
    home.store_path.parent.mkdir(parents=True, exist_ok=True)
    store_path = home.store_path
    if b.full:
        # A rebuild starts the message store over from the sources: mail gone from a
        # source leaves the index, and a store of another format is replaced. The new
        # store is written beside the old one and takes its place only once the new
        # generation serves, so after an interrupted rebuild updates go on with the
        # old store.
        store_path = home.rebuild_store_path
        delete_store(store_path)
    try:
        return _index_from(b, rr, store_path)
    except BaseException:
        if b.full and b.outcome.generation is None:
            # the new store never served: drop it now rather than keep a full disk full
            delete_store(store_path)
        raise


def _index_from(b: _Build, rr: ReadResult, store_path: Path) -> BuildOutcome:
    from kvmsearch.indexer.mail.store import MessageStore, replace_store
    from kvmsearch.indexer.series.pipeline import assemble_read

    home = b.home
    with MessageStore(store_path) as store:
        with b.timer("store"):
            store.upsert_many(rr.messages.values())
            if rr.skips:
                store.add_skips(rr.skips)
        # The store now holds them; assembly reads every message back from it, so drop
        # the read's copies rather than hold the corpus twice.
        rr.messages.clear()
        with b.timer("assemble"), b.stage("assembling series") as cb:
            n_messages = store.count()
            result = assemble_read(rr, store.iter_all())
            cb(len(result.versions), len(result.versions), "series versions")
        skipped = len(store.skips())
        b.store_id = store.store_id
    _write_generation(b, rr, result, n_messages, skipped)
    if b.full:
        replace_store(store_path, home.store_path)
    return b.outcome


def _write_generation(
    b: _Build, rr: ReadResult, result: ParseResult, n_messages: int, skipped: int
) -> None:
    from kvmsearch.indexer.index.docs import DocStore, version_digest
    from kvmsearch.indexer.index.lexical import build_lexical, update_lexical

    outcome = b.outcome
    versions = {v.message_id: v for v in result.versions}
    digests = {vid: version_digest(v) for vid, v in versions.items()}
    prev_digests: dict[str, str] = {}
    incremental = b.prev is not None and not b.full
    if b.prev is not None and incremental:
        prev_docs = DocStore(b.prev.docs_path)
        try:
            prev_digests = prev_docs.digests()
        finally:
            prev_docs.close()
    changed = [vid for vid, d in digests.items() if prev_digests.get(vid) != d]
    deleted = [vid for vid in prev_digests if vid not in versions]
    outcome.versions_changed, outcome.versions_deleted = len(changed), len(deleted)
    outcome.versions, outcome.families = len(versions), len(result.families)

    with b.home.new_generation(fresh=b.full) as gen:
        b.writer = gen
        for path in b.added_paths:
            gen.manifest.add_source(path, kind="")
        for pos in rr.positions:
            gen.manifest.set_position(pos)
        with b.timer("docs"):
            DocStore.write(gen.docs_path, result, digests)
        with b.timer("lexical"), b.stage("lexical index") as cb:
            if (
                incremental
                and gen.copy_from_previous(gen.lexical_dir.name, hardlink=True, exclude=["*LOCK"])
                is not None
            ):
                update_lexical(
                    gen.lexical_dir, [versions[v] for v in changed], deleted, result.review_text
                )
            else:
                build_lexical(gen.lexical_dir, result.versions, review_text=result.review_text)
            cb(len(versions), len(versions), "documents")
        dense = _write_dense(b, gen, versions)
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
        gen.manifest.extra["store_id"] = b.store_id
        outcome.timings = b.timer.t
        gen.manifest.build_seconds = round(sum(b.timer.t.values()), 2)
    outcome.generation = gen.name
    b.home.cleanup()


@dataclass
class _DenseResult:
    chunks: int
    embedded: int
    tokens: int
    model: ModelInfo
    onnx: OnnxInfo | None


def _write_dense(
    b: _Build, gen: GenerationWriter, versions: dict[str, SeriesVersion]
) -> _DenseResult:
    """Chunk every version and write the faiss index; the cache spares unchanged text.

    Chunking everything (rather than only changed versions) keeps one code path for
    builds and updates; it is tokenizer work only, a few seconds for the whole corpus.
    """
    from kvmsearch.indexer.index.chunks import chunk_versions
    from kvmsearch.indexer.index.dense import EmbeddingCache, build_dense
    from kvmsearch.models.embedding import SentenceTransformerEmbedder, TokenCounter

    factory: Callable[[], Embedder] = b.embedder_factory or SentenceTransformerEmbedder
    embedder = factory()
    counter = TokenCounter()
    with b.timer("chunk"), b.stage("chunking") as cb:
        chunks = chunk_versions(versions.values(), counter, count_many=counter.many)
        cb(len(chunks), len(chunks), "chunks")
    b.home.cache_dir.mkdir(parents=True, exist_ok=True)
    if b.full:
        # a rebuild is the repair for a damaged cache: it starts a new one
        opened, _renewed = EmbeddingCache.open_or_renew(b.home.embedding_cache_path)
    else:
        opened = EmbeddingCache(b.home.embedding_cache_path)
    with (
        opened as cache,
        b.timer("embed"),
        b.stage("embedding") as ecb,
    ):
        stats = build_dense(
            gen.dir,
            chunks,
            embedder,
            cache,
            progress=lambda done, total: ecb(done, total, "new chunks"),
        )
    onnx = None
    if b.export_query_model:
        with b.timer("onnx"):
            # a rebuild exports again: it is the repair for a damaged query model
            onnx = _ensure_query_model(b.home, embedder.checksum, force=b.full)
        from kvmsearch.models.embedding import model_dir

        # every file of the model package and of the exported query model, for
        # `status --verify` (a changed config.json or tokenizer gives wrong vectors)
        gen.manifest.extra["model_files"] = file_checksums(model_dir())
        gen.manifest.extra["query_model_files"] = file_checksums(b.home.model_dir)
    elif gen.manifest.model is not None and gen.manifest.model.sha256 == embedder.checksum:
        onnx = gen.manifest.onnx  # still the same model: keep what the last build exported
    return _DenseResult(
        chunks=stats.chunks,
        embedded=stats.embedded,
        tokens=stats.tokens_embedded,
        model=ModelInfo(name=embedder.name, sha256=embedder.checksum, dim=embedder.dim),
        onnx=onnx,
    )


def _ensure_query_model(home: IndexHome, model_checksum: str, *, force: bool = False) -> OnnxInfo:
    """Export the ONNX query model once per index home (and again if the model changed).

    Queries embed with it through onnxruntime, so the CLI never imports torch.
    """
    import json

    from kvmsearch.models.embedding import ONNX_FILE, ONNX_INFO_FILE, export_onnx, file_sha256

    dest = home.model_dir
    info_path = dest / ONNX_INFO_FILE
    onnx_path = dest / ONNX_FILE
    rel = f"{QUERY_MODEL_DIR}/{ONNX_FILE}"
    if not force and info_path.is_file() and onnx_path.is_file():
        try:
            info = json.loads(info_path.read_text())
        except ValueError:
            info = {}
        if info.get("model_sha256") == model_checksum:
            return OnnxInfo(path=rel, sha256=file_sha256(onnx_path))
    return OnnxInfo(path=rel, sha256=export_onnx(dest))


__all__ = ["StageCallback", "StageFactory", "run_build"]

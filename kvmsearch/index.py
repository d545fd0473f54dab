"""`kvmsearch.Index`: open, build, update, search and report on an index home.

Never prints. Progress goes through an optional ``stage`` factory the caller supplies.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from kvmsearch.config import index_home
from kvmsearch.models.errors import IndexNotFoundError, IndexPathError, NotFoundError, QueryError
from kvmsearch.models.query import DEFAULT_MODE, SearchRequest
from kvmsearch.models.records import (
    Hit,
    IndexStatus,
    MboxExport,
    SeriesVersion,
    SourceStatus,
    VerifyReport,
    VersionDiff,
)

if TYPE_CHECKING:
    from kvmsearch.indexer.index.build import StageFactory
    from kvmsearch.indexer.index.docs import DocStore
    from kvmsearch.models.embedding import Embedder
    from kvmsearch.models.records import BuildOutcome
    from kvmsearch.query.hybrid import HybridSearcher


def _check_home(path: Path) -> None:
    """A home that exists must be a directory kvmsearch can read."""
    if path.exists() and not path.is_dir():
        raise IndexPathError(
            f"{path} is a file, not an index directory; give --index a directory "
            "(it is created on `kvmsearch index add`)"
        )
    if path.is_dir() and not os.access(path, os.R_OK | os.X_OK):
        raise IndexPathError(
            f"cannot read the index directory {path} (permission denied); run as its "
            "owner or give another --index"
        )


def _version_number(value: int | str | None, have: str) -> int:
    text = str(value).strip().lower().removeprefix("v")
    if not text.isdigit():
        raise QueryError(f"{value!r} is not a version; give a number such as 3 or v3 ({have})")
    return int(text)


def _dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


class Index:
    """An index home: ``Index(path)`` for building, ``Index.open(path)`` for searching.

    ``path`` resolves as the argument, else ``$KVMSEARCH_HOME``, else the XDG data dir.
    ``embedder_factory`` replaces the packaged model (tests use a fake); the same
    embedder then embeds queries.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        embedder_factory: Callable[[], Embedder] | None = None,
    ) -> None:
        from kvmsearch.indexer.index.generations import IndexHome

        self.path = index_home(path)
        _check_home(self.path)
        self.home = IndexHome(self.path)
        self.embedder_factory = embedder_factory
        self._searcher: HybridSearcher | None = None

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        embedder_factory: Callable[[], Embedder] | None = None,
    ) -> Index:
        """Open an existing index for searching; raises IndexNotFoundError if there is none."""
        idx = cls(path, embedder_factory=embedder_factory)
        idx.home.open_current()  # raises IndexNotFoundError / IndexFormatError
        return idx

    def exists(self) -> bool:
        return self.home.current() is not None

    # ----------------------------------------------------------------- building

    def add(
        self,
        sources: Sequence[str | os.PathLike[str]],
        *,
        stage: StageFactory | None = None,
        workers: int | None = None,
    ) -> BuildOutcome:
        """Register ``sources`` and bring the index up to date with every source."""
        return self._run("kvmsearch index add", stage, workers, add_paths=sources)

    def update(
        self, *, stage: StageFactory | None = None, workers: int | None = None
    ) -> BuildOutcome:
        """Read what is new in every registered source and write a new generation.

        Returns a BuildOutcome; ``generation`` is None when nothing was new.
        """
        if not self.exists():
            raise IndexNotFoundError(
                f"no index at {self.path}; create one with `kvmsearch index add SOURCE...`"
            )
        return self._run("kvmsearch update", stage, workers)

    def rebuild(
        self, *, stage: StageFactory | None = None, workers: int | None = None
    ) -> BuildOutcome:
        """Re-read every registered source from the start into a new message store and
        rebuild every index part (mail no longer in a source leaves the index)."""
        if not self.home.registered_sources():
            raise IndexNotFoundError(
                f"no sources registered at {self.path}; "
                "add one with `kvmsearch index add SOURCE...`"
            )
        return self._run("kvmsearch rebuild", stage, workers, full=True)

    def _run(
        self,
        command: str,
        stage: StageFactory | None,
        workers: int | None,
        *,
        add_paths: Sequence[str | os.PathLike[str]] = (),
        full: bool = False,
    ) -> BuildOutcome:
        """The one build path; the packaged model (and its ONNX export) unless a test
        embedder was given."""
        from kvmsearch.indexer.index.build import run_build

        outcome = run_build(
            self.home,
            stage=stage,
            workers=workers,
            embedder_factory=self.embedder_factory,
            export_query_model=self.embedder_factory is None,
            command=command,
            add_paths=add_paths,
            full=full,
        )
        if outcome.generation is not None and self._searcher is not None:
            # a new generation serves: the next search opens it
            self._searcher.close()
            self._searcher = None
        return outcome

    # ----------------------------------------------------------------- reading

    def verify(self) -> VerifyReport:
        """Check every part of the index against what the build recorded (see
        :mod:`kvmsearch.indexer.index.verify`); damage is in ``problems``, not raised."""
        from kvmsearch.indexer.index.verify import verify_home

        return verify_home(self.home)

    def status(self) -> IndexStatus:
        """Generation, counts, sources with positions, model, size on disk, and the
        generation files found missing or resized (``damaged``)."""
        from kvmsearch.indexer.index.verify import quick_problems

        gen = self.home.open_current()
        m = gen.manifest
        d = m.to_dict()
        sources = tuple(
            SourceStatus(s.source, s.kind, s.state, os.path.exists(s.source)) for s in m.sources
        )
        return IndexStatus(
            home=str(self.path),
            generation=gen.name,
            built_at=d.get("built_at"),
            build_seconds=m.build_seconds,
            kvmsearch_version=m.kvmsearch_version,
            format_version=m.format_version,
            model=d.get("model"),
            onnx=d.get("onnx"),
            counts=dict(m.counts),
            sources=sources,
            generations=tuple(self.home.generations()),
            size_bytes=_dir_size(self.path),
            damaged=quick_problems(self.home),
            extra=dict(m.extra),
        )

    def _docs(self) -> DocStore:
        return self.searcher().docs

    def searcher(self) -> HybridSearcher:
        """The hybrid searcher over the serving generation, reused while that generation
        serves; after an update switched ``current`` the next call opens the new one, so
        a long-lived reader follows updates instead of holding a generation that the
        cleanup removes."""
        earlier = None
        if self._searcher is not None:
            now = self.home.current_name()
            if now is not None and now != self._searcher.gen.name:
                earlier, self._searcher = self._searcher, None
        if self._searcher is None:
            from kvmsearch.query.hybrid import HybridSearcher

            gen = self.home.open_current()
            searcher = HybridSearcher(self.home.path, gen, embedder_factory=self.embedder_factory)
            if earlier is not None:
                try:
                    searcher.adopt_query_model(earlier)
                finally:
                    earlier.close()
            self._searcher = searcher
        return self._searcher

    def search(
        self,
        query: str | SearchRequest = "",
        *,
        limit: int = 10,
        mode: str = DEFAULT_MODE,
        explain: bool = False,
        all_versions: bool = False,
        author: str | Sequence[str] | None = None,
        list: str | Sequence[str] | None = None,  # noqa: A002 - the filter's name
        tree: str | Sequence[str] | None = None,
        file: str | Sequence[str] | None = None,
        kind: str | Sequence[str] | None = None,
        since: str | date | None = None,
        until: str | date | None = None,
        status: str | Sequence[str] | None = None,
        reviewer: str | Sequence[str] | None = None,
        review: str | Sequence[str] | None = None,
    ) -> list[Hit]:
        """Rank series families for ``query``: a :class:`SearchRequest`, or its text with
        the request's fields as keywords (filters: author, list, tree, file, kind,
        since, until, status, reviewer, review; also accepted inside the text, e.g.
        ``author:maz``, ``review:"mmu_lock"``)."""
        if isinstance(query, SearchRequest):
            request = query
        else:
            request = SearchRequest.from_options(
                query,
                limit=limit,
                mode=mode,
                explain=explain,
                author=author,
                list_=list,
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
        return self.searcher().search(request)

    def show(self, any_id: str) -> list[SeriesVersion]:
        """Every version of the series that ``any_id`` (any Message-ID of it, or its family
        id) belongs to, newest first."""
        docs = self._docs()
        fam = docs.family_of(any_id)
        if fam is None:
            raise NotFoundError(
                f"no series with Message-ID {any_id.strip('<>')} in the index; "
                "use any Message-ID of a cover, a patch, a reply to them or the family id "
                "(an index built before replies were mapped needs `kvmsearch rebuild` for those)"
            )
        versions = docs.family_versions(fam)
        return sorted(versions, key=lambda v: (v.date is not None, v.date), reverse=True)

    def diff(
        self, any_id: str, old: int | str | None = None, new: int | str | None = None
    ) -> VersionDiff:
        """Two versions of the series ``any_id`` belongs to, patch by patch (default:
        the newest two version numbers; ``old``/``new`` as 3 or "v3", the newest posting
        of that number). Raises QueryError for a version the series does not have."""
        from kvmsearch.indexer.mail.store import read_diffs
        from kvmsearch.indexer.series.compare import compare_versions

        versions = self.show(any_id)  # newest first
        newest: dict[int, SeriesVersion] = {}
        for v in versions:
            newest.setdefault(v.version, v)
        have = ", ".join(f"v{n}" for n in sorted(newest))
        if old is None and new is None:
            if len(newest) < 2:
                raise QueryError(f"the series has only {have}; there is nothing to compare it with")
            b, a = sorted(newest)[-1], sorted(newest)[-2]
        else:
            a = _version_number(old, have)
            b = _version_number(new, have) if new is not None else max(newest)
        for n in (a, b):
            if n not in newest:
                raise QueryError(f"the series has no v{n}; it has {have}")
        if a == b:
            raise QueryError(f"give two different versions (the series has {have})")
        if a > b:
            a, b = b, a
        return compare_versions(
            newest[a], newest[b], lambda ids: read_diffs(self.home.store_path, ids)
        )

    def mbox(self, any_id: str, version: int | str) -> MboxExport:
        """Version ``version`` (3 or "v3"; the newest posting of that number) of the series
        ``any_id`` belongs to, as an mboxrd for ``git am`` / ``b4 am``: the cover, then
        the patches in order, each with its stored diff."""
        from kvmsearch.indexer.mail.export import version_mbox
        from kvmsearch.indexer.mail.messages import MAX_DIFF_CHARS
        from kvmsearch.indexer.mail.store import read_diffs, read_messages

        versions = self.show(any_id)  # newest first
        have = ", ".join(f"v{n}" for n in sorted({v.version for v in versions}))
        n = _version_number(version, have)
        v = next((w for w in versions if w.version == n), None)
        if v is None:
            raise QueryError(f"the series has no v{n}; it has {have}")
        ids = ([v.message_id] if v.has_cover else []) + [p.message_id for p in v.patches]
        mails = read_messages(self.home.store_path, ids)
        diffs = read_diffs(self.home.store_path, [p.message_id for p in v.patches]) or {}
        problems: list[str] = []
        for p in v.patches:
            label = f"patch {p.index or 1}/{v.n_patches or 1}"
            if p.message_id not in mails:
                problems.append(f"{label}: not in the message store")
            elif p.patch_id and p.message_id not in diffs:
                problems.append(f"{label}: no stored diff (run `kvmsearch rebuild`)")
            elif len(diffs.get(p.message_id, "")) >= MAX_DIFF_CHARS:
                problems.append(f"{label}: diff cut at {MAX_DIFF_CHARS} characters")
        ordered = [mails[i] for i in ids if i in mails]
        return MboxExport(
            v.message_id, v.version, len(ordered), version_mbox(ordered, diffs), tuple(problems)
        )

    def family_of(self, any_id: str) -> str | None:
        """The family (the whole lineage) that any Message-ID belongs to."""
        return self._docs().family_of(any_id)

    def series_of(self, any_id: str) -> str | None:
        """The series within its family (what one search hit stands for)."""
        return self._docs().series_root(any_id)

    def close(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
            self._searcher = None

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

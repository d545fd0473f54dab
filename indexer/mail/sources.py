"""Mail archives as streams of raw messages, readable incrementally.

Formats: mbox/mboxrd (plain, gzip, xz, bzip2), Maildir, public-inbox git archives (v1
repository, v2 inbox with ``git/N.git`` epochs) and the patchwork export the seed
documents use (markdown headings around fenced raw messages). Each source remembers how
far it was read (:class:`SourcePosition`), so a nightly update reads only what is new.

Formats are recognised by content and layout, not by file name; the name only supplies
the list id when the mails do not carry one (``kvmarm.lists.cs.columbia.edu.mbox.xz``).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import os
import re
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Protocol, cast, runtime_checkable

from dulwich.diff_tree import tree_changes
from dulwich.errors import NotGitRepository
from dulwich.objects import Commit, Tree
from dulwich.repo import Repo

from kvmsearch.indexer.mail.messages import MAX_MESSAGE_BYTES
from kvmsearch.models.errors import SourceError
from kvmsearch.models.records import JsonObject, RawMail, SourcePosition

__all__ = [
    "Source",
    "MboxSource",
    "MaildirSource",
    "PatchworkSource",
    "PublicInboxSource",
    "open_source",
    "expand_paths",
    "plain_folders",
    "guess_list_id",
    "SUPPORTED_FORMATS",
]

SUPPORTED_FORMATS = (
    "mbox/mboxrd (plain, .gz, .xz, .bz2), a Maildir (cur/ new/), a public-inbox git archive "
    "(v1 repository or v2 inbox with git/N.git), or a patchwork export (.txt)"
)

#: how much of an archive is looked at to recognise it, and hashed to notice rewrites
HEAD_BYTES = 64 * 1024
_BLOCK = 1 << 20

_MAGIC = {b"\x1f\x8b": "gzip", b"\xfd7zXZ\x00": "xz", b"BZh": "bzip2"}
_ARCHIVE_SUFFIXES = (".mbox", ".mboxrd", ".mbx", ".eml", ".txt", ".gz", ".xz", ".bz2")

# A header line as RFC 5322 allows it, and names that show the header is a mail's.
_HEADER_LINE = re.compile(rb"[!-9;-~]+:")
_MAIL_HEADER = re.compile(
    rb"^(?:from|subject|message-id|date|received|return-path|to|delivered-to|x-[\w-]+):",
    re.M | re.I,
)
_FENCE_THEN_MAIL = re.compile(rb"^```[^\n]*\n(?:From |[!-9;-~]+: )", re.M)
_MBOXRD_QUOTED = re.compile(rb"^>(>*From )", re.M)


@runtime_checkable
class Source(Protocol):
    """One archive that yields raw mails and remembers how far it was read."""

    path: str
    kind: str
    default_list: str | None

    def read(self, since: SourcePosition | None = None) -> Iterator[RawMail]:
        """Yield the mails after ``since`` (all of them when None)."""
        ...

    def position(self) -> SourcePosition:
        """Where reading stopped; valid once ``read()`` is exhausted."""
        ...


class _SourceBase:
    """What every source shares: identity, and the position the last read reached."""

    kind = ""

    def __init__(self, path: str, default_list: str | None, initial_state: dict) -> None:
        self.path = path
        self.default_list = default_list
        self._pos = SourcePosition(path, self.kind, initial_state)

    def position(self) -> SourcePosition:
        """Where reading stopped; before any read, a position meaning "nothing read"."""
        return self._pos

    def _previous(self, since: SourcePosition | None) -> JsonObject | None:
        """The state of ``since`` when it comes from this kind of source, else None."""
        if since is None or since.kind != self.kind or not isinstance(since.state, dict):
            return None
        return since.state

    def _finish(self, state: dict) -> None:
        self._pos = SourcePosition(self.path, self.kind, state)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"


# --------------------------------------------------------------------------- entry points


def open_source(path: str | os.PathLike[str]) -> Source:
    """Open one archive (a file, a Maildir or a public-inbox repository/inbox).

    Raises :class:`SourceError` when the path is missing or not a supported archive.
    """
    p = Path(path)
    name = os.fspath(path)
    if not p.exists():
        raise SourceError(
            f"{name}: no such file or directory; give {SUPPORTED_FORMATS} (check the path)"
        )
    if p.is_dir():
        source = _open_dir(p, name)
        if source is None:
            raise SourceError(
                f"{name}: a plain folder, not one archive; pass the archive files in it "
                f"(or give the folder to expand_paths); supported: {SUPPORTED_FORMATS}"
            )
        return source
    return _open_file(p, name)


def expand_paths(paths: Sequence[str | os.PathLike[str]]) -> list[Source]:
    """Open every archive named by ``paths``.

    A plain folder expands to one source per archive file in it (names ending in
    .mbox, .mboxrd, .mbx, .eml, .txt, .gz, .xz, .bz2, sorted) plus any Maildir or
    public-inbox folder directly inside it; other files in it are left alone. A Maildir
    or public-inbox folder is one source.
    """
    out: list[Source] = []
    for path in paths:
        p = Path(path)
        if not p.is_dir():
            out.append(open_source(path))
            continue
        source = _open_dir(p, os.fspath(path))
        if source is not None:
            out.append(source)
            continue
        found = 0
        for child in sorted(p.iterdir()):
            if child.name.startswith("."):
                continue
            if child.is_dir():
                sub = _open_dir(child, os.fspath(child))
                if sub is not None:
                    out.append(sub)
                    found += 1
            elif child.name.lower().endswith(_ARCHIVE_SUFFIXES):
                out.append(_open_file(child, os.fspath(child)))
                found += 1
        if not found:
            raise SourceError(
                f"{os.fspath(path)}: folder holds no mail archive; put {SUPPORTED_FORMATS} "
                "in it, or point at the archive itself"
            )
    return out


def plain_folders(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Those of ``paths`` that are plain folders of archives (not a Maildir or a
    public-inbox, which are one source each): the folders an update looks in again."""
    return [
        os.fspath(p) for p in paths if Path(p).is_dir() and _open_dir(Path(p), os.fspath(p)) is None
    ]


def guess_list_id(name: str) -> str | None:
    """The list id a file or folder name spells, e.g. ``kvmarm.lists.cs.columbia.edu``.

    Only names shaped like a list id (at least three dot-separated labels after the
    archive suffixes are dropped) count; ``000_99fe.txt`` or ``inbox`` give None.
    """
    base = name.rstrip("/").rsplit("/", 1)[-1].lower()
    for suffix in (".gz", ".xz", ".bz2", ".bundle", ".git", ".mboxrd", ".mbox", ".mbx", ".txt"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    if re.fullmatch(r"[a-z0-9][a-z0-9_+-]*(?:\.[a-z0-9_+-]+){2,}", base) and re.search(
        r"\.[a-z]{2,}$", base
    ):
        return base
    return None


def _open_dir(p: Path, name: str) -> Source | None:
    if (p / "cur").is_dir() and (p / "new").is_dir():
        return MaildirSource(name)
    epochs = _inbox_epochs(p)
    if epochs:
        return PublicInboxSource(name, epochs, default_list=guess_list_id(p.resolve().name))
    if _looks_like_git_repo(p):
        return PublicInboxSource(name, [(0, p)], default_list=guess_list_id(p.resolve().name))
    return None


def _open_file(p: Path, name: str) -> Source:
    compression = _compression(p, name)
    try:
        with _open_stream(p, compression) as f:
            head = _read_head(f)
    except (OSError, EOFError, lzma.LZMAError) as e:
        raise SourceError(
            f"{name}: cannot read this {compression or 'file'} ({e}); check that it is "
            f"complete, or give {SUPPORTED_FORMATS}"
        ) from e
    kind = _sniff(head)
    if kind == "mbox":
        return MboxSource(name, compression)
    if kind == "patchwork":
        return PatchworkSource(name, compression)
    if head.startswith(b"# v2 git bundle") or head.startswith(b"# v3 git bundle"):
        raise SourceError(
            f"{name}: a git bundle; unpack it with `git clone --bare {name} <dir>` and "
            "give <dir> (a public-inbox archive)"
        )
    raise SourceError(
        f"{name}: not a mail archive kvmsearch can read (unknown content); give {SUPPORTED_FORMATS}"
    )


def _read_head(f: IO[bytes]) -> bytes:
    """Up to HEAD_BYTES from the start of ``f``, in small reads, so that an archive cut
    off early still shows what it is (its reader then reports where it breaks off and
    keeps the mails before); raises only when not even the first piece can be read."""
    head = b""
    try:
        while len(head) < HEAD_BYTES:
            piece = f.read(min(4096, HEAD_BYTES - len(head)))
            if not piece:
                break
            head += piece
    except (OSError, EOFError, lzma.LZMAError, zlib.error):
        if not head:
            raise
    return head


def _sniff(head: bytes) -> str | None:
    """The kind of archive the first bytes of a (decompressed) file show, or None."""
    text = head.lstrip()
    if not text:
        return "mbox"  # empty archive: zero mails, not an error
    if text.startswith(b"From "):
        return "mbox"
    if text.startswith((b"#", b"```")) and _FENCE_THEN_MAIL.search(text):
        return "patchwork"
    if _HEADER_LINE.match(text) and _MAIL_HEADER.search(text.split(b"\n\n", 1)[0]):
        # A single message without a From_ line (a .eml, or `git format-patch` output
        # with the envelope cut off).
        return "mbox"
    return None


def _compression(p: Path, name: str) -> str | None:
    try:
        with open(p, "rb") as f:
            magic = f.read(6)
    except OSError as e:
        raise SourceError(f"{name}: cannot open ({e.strerror}); check permissions") from e
    for prefix, kind in _MAGIC.items():
        if magic.startswith(prefix):
            return kind
    return None


def _open_stream(p: Path | str, compression: str | None) -> IO[bytes]:
    """A binary stream of the decompressed file; compressed streams are read lazily."""
    if compression == "gzip":
        return cast(IO[bytes], gzip.open(p, "rb"))  # GzipFile is a binary IO
    if compression == "xz":
        return lzma.open(p, "rb")
    if compression == "bzip2":
        return bz2.open(p, "rb")
    return open(p, "rb")


# --------------------------------------------------------------------------- mbox


class MboxSource(_SourceBase):
    """An mbox or mboxrd file, plain or compressed, read as a stream.

    Messages are split at lines starting ``From `` and mboxrd quoting is undone
    (``>From `` -> ``From ``). Position: the decompressed byte offset reached, with the
    file's size, mtime and a hash of its head, so an appended file resumes at the
    offset and a rewritten one is read again from the start.
    """

    kind = "mbox"

    def __init__(self, path: str, compression: str | None = None) -> None:
        super().__init__(path, guess_list_id(path), {"offset": 0})
        self.compression = compression

    def read(self, since: SourcePosition | None = None) -> Iterator[RawMail]:
        st = os.stat(self.path)
        prev = self._previous(since)
        if prev and prev.get("size") == st.st_size and prev.get("mtime") == st.st_mtime:
            # Unchanged: skip even the decompression that seeking a .xz would cost.
            self._finish(
                {**prev, "resumed_from": prev.get("offset", 0), "reread": False, "reason": ""}
            )
            return
        start, why = self._resume_offset(prev, st)
        with _open_stream(self.path, self.compression) as f:
            probe = b""
            if start:
                f.seek(start)
                probe = f.read(5)
                if probe not in (b"From ", b""):
                    start, why = 0, "offset no longer at a message start; read from the start"
                    probe = b""
                    f.seek(0)
            try:
                for offset, block, size in _mbox_blocks(f, start, probe):
                    data = _unwrap_mbox_block(block)
                    if data is not None:
                        yield RawMail(
                            data, self.path, f"byte {offset}", self.default_list, too_large=size
                        )
            except (EOFError, OSError, lzma.LZMAError, zlib.error) as e:
                raise SourceError(
                    f"{self.path}: archive breaks off after byte {f.tell()} ({e}); the mails "
                    "before it were read; fetch a complete copy and update again"
                ) from e
            end = f.tell()
        head_len = min(HEAD_BYTES, end)
        self._finish(
            {
                "offset": end,
                "size": st.st_size,
                "mtime": st.st_mtime,
                "head_len": head_len,
                "head_sha256": self._head_hash(head_len),
                "resumed_from": start,
                "reread": why is not None,
                "reason": why or "",
            },
        )

    def _head_hash(self, length: int) -> str:
        with _open_stream(self.path, self.compression) as f:
            return hashlib.sha256(f.read(length)).hexdigest()

    def _resume_offset(self, prev: dict | None, st: os.stat_result) -> tuple[int, str | None]:
        """(offset to start at, why the file is read again from 0 or None)."""
        if not prev or not prev.get("offset"):
            return 0, None
        offset = int(prev["offset"])
        if st.st_size < int(prev.get("size", 0)):
            return 0, "file shrank; read from the start"
        if self._head_hash(int(prev.get("head_len", 0))) != prev.get("head_sha256"):
            return 0, "file head changed (rewritten, not appended); read from the start"
        return offset, None


def _mbox_blocks(
    f: IO[bytes], offset: int, head: bytes = b""
) -> Iterator[tuple[int, bytes, int | None]]:
    """Split a stream at ``From `` lines: (stream offset, block starting at that line,
    None), or for a block over :data:`MAX_MESSAGE_BYTES` (offset, its first
    :data:`HEAD_BYTES`, its full size).

    ``head`` holds bytes at ``offset`` already taken from ``f``. Reads in 1 MiB blocks
    into one buffer consumed from the front, so time is linear in the stream and memory
    stays at one block plus the largest message under the cap. A block before the first
    ``From `` line (a mail without envelope) is yielded too.
    """
    buf = bytearray(head)
    buf_off = offset  # stream offset of buf[0]
    scan = 0
    big_head: bytes | None = None  # the start of an oversized block being skipped
    big_size = 0
    # read1: one decompression step at a time, so the data decoded before a truncated
    # archive's end is not lost with the EOFError (read() gathers, then raises)
    read = getattr(f, "read1", f.read)
    while True:
        chunk = read(_BLOCK)
        buf += chunk
        while True:
            i = buf.find(b"\nFrom ", scan)
            if i < 0:
                break
            if big_head is not None:
                yield buf_off - big_size, big_head, big_size + i + 1
                big_head = None
            else:
                yield buf_off, bytes(buf[: i + 1]), None
            del buf[: i + 1]  # O(1) for a bytearray's front
            buf_off += i + 1
            big_size = 0
            scan = 0
        if not chunk:
            break
        scan = max(0, len(buf) - 6)
        if big_head is None and len(buf) > MAX_MESSAGE_BYTES:
            big_head = bytes(buf[:HEAD_BYTES])
        if big_head is not None:
            # keep only what a separator split across two reads needs
            keep = len(buf) - scan
            big_size += len(buf) - keep
            buf_off += len(buf) - keep
            del buf[: len(buf) - keep]
            scan = 0
    if buf or big_head is not None:
        if big_head is not None:
            yield buf_off - big_size, big_head, big_size + len(buf)
        else:
            yield buf_off, bytes(buf), None


def _unwrap_mbox_block(block: bytes) -> bytes | None:
    """The raw message in one mbox block: envelope line dropped, mboxrd quoting undone."""
    if block.startswith(b"From "):
        nl = block.find(b"\n")
        data = block[nl + 1 :] if nl >= 0 else b""
    else:
        data = block
    if not data.strip():
        return None
    if b">From " in data:
        data = _MBOXRD_QUOTED.sub(rb"\1", data)
    # mbox writers separate messages with one empty line that is not part of the mail
    if data.endswith(b"\n\n"):
        data = data[:-1]
    elif data.endswith(b"\r\n\r\n"):
        data = data[:-2]
    return data


# --------------------------------------------------------------------------- Maildir


class MaildirSource(_SourceBase):
    """A Maildir: one file per message in ``new/`` and ``cur/``.

    Position: the names read (without the ``:2,flags`` suffix, which changes when a
    mail is marked read or moved from new/ to cur/) with their mtimes.
    """

    kind = "maildir"

    def __init__(self, path: str) -> None:
        super().__init__(path, guess_list_id(path), {"files": {}})

    def read(self, since: SourcePosition | None = None) -> Iterator[RawMail]:
        prev = self._previous(since) or {}
        seen: dict[str, float] = dict(prev.get("files", {}))
        entries: list[tuple[str, str, Path]] = []
        for sub in ("new", "cur"):
            folder = Path(self.path, sub)
            for entry in os.scandir(folder):
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                entries.append((entry.name.split(":", 1)[0], sub, Path(entry.path)))
        entries.sort()
        new = 0
        for key, sub, file in entries:
            if key in seen:
                continue
            try:
                data = file.read_bytes()
                mtime = file.stat().st_mtime
            except FileNotFoundError:
                continue  # moved between new/ and cur/ while we read; next run sees it
            new += 1
            yield RawMail(data, self.path, f"file {sub}/{file.name}", self.default_list)
            seen[key] = mtime
        self._finish({"files": seen, "new": new})


# --------------------------------------------------------------------------- patchwork


class PatchworkSource(_SourceBase):
    """A patchwork export: markdown headings around fenced blocks of raw messages.

    ::

        #### [PATCH v2 0/5] vDPA support
        ##### From: Jason Wang <jasowang@redhat.com>

        ```c
        From patchwork Mon Feb 10 03:56:03 2020
        ...raw message...
        ```

    A fence line inside a message does not end it unless a heading, another fence or
    the end of the file follows. Position: the file's name, size and mtime; a changed
    file is read again in full.
    """

    kind = "patchwork"

    def __init__(self, path: str, compression: str | None = None) -> None:
        super().__init__(path, guess_list_id(path), {})
        self.compression = compression

    def read(self, since: SourcePosition | None = None) -> Iterator[RawMail]:
        st = os.stat(self.path)
        prev = self._previous(since)
        ident = {"name": os.path.basename(self.path), "size": st.st_size, "mtime": st.st_mtime}
        unchanged = prev is not None and all(prev.get(k) == v for k, v in ident.items())
        if not unchanged:
            with _open_stream(self.path, self.compression) as f:
                for n, (line_no, data) in enumerate(_fenced_mails(f), 1):
                    yield RawMail(data, self.path, f"block {n} (line {line_no})", self.default_list)
        self._finish({**ident, "reread": bool(prev) and not unchanged})


def _fenced_mails(f: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number of the fence, raw message) for each fenced mail in a markdown export."""
    block: list[bytes] | None = None
    held: list[bytes] = []  # a closing-fence candidate and the blank lines after it
    fence_line = 0
    for line_no, line in enumerate(f, 1):
        if block is None:
            if line.startswith(b"```"):
                block, fence_line = [], line_no
            continue
        if held:
            if not line.strip():
                held.append(line)
                continue
            if line.startswith((b"#", b"```")):
                yield fence_line, _envelope_dropped(b"".join(block))
                block, held = None, []
                if line.startswith(b"```"):
                    block, fence_line = [], line_no
                continue
            block.extend(held)  # the fence was part of the message after all
            held = []
        if line.rstrip() == b"```":
            held = [line]
        else:
            block.append(line)
    if block:
        yield fence_line, _envelope_dropped(b"".join(block))


def _envelope_dropped(data: bytes) -> bytes:
    if data.startswith(b"From "):  # the "From patchwork <date>" envelope line
        return data.split(b"\n", 1)[1] if b"\n" in data else b""
    return data


# --------------------------------------------------------------------------- public-inbox
#
# v2 inboxes keep one message per commit in the blob `m` at the top of the tree, spread
# over epoch repositories git/0.git, git/1.git ...; a commit whose tree holds `d` instead
# of `m` records a removal. v1 archives are one repository whose commits add blobs named
# after the Message-ID hash (ab/cdef...). Objects are read in-process with dulwich: no
# process per message, and the ~6k-commit kvm-ppc archive streams in about a second.

_EPOCH = re.compile(r"(\d+)\.git")
_V1_PATH = re.compile(rb"[0-9a-f]{2}/[0-9a-f]{38}")


def _inbox_epochs(path: Path) -> list[tuple[int, Path]]:
    """The epoch repositories of a v2 inbox in numeric order; empty if ``path`` is not one."""
    git_dir = path / "git"
    if not git_dir.is_dir():
        return []
    epochs = []
    for child in git_dir.iterdir():
        m = _EPOCH.fullmatch(child.name)
        if m and child.is_dir():
            epochs.append((int(m.group(1)), child))
    return sorted(epochs)


def _looks_like_git_repo(path: Path) -> bool:
    """True for a bare repository or a working tree with ``.git``."""
    if (path / ".git").exists():
        return True
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


class PublicInboxSource(_SourceBase):
    """A public-inbox archive: a v2 inbox (several epochs) or one v1/v2 repository.

    Position: the last commit read per epoch. A later read starts after it; when that
    commit is no longer in the history (the epoch was rewritten), the epoch is read
    again from its first commit and the state says so under ``reread``.
    """

    kind = "public-inbox"

    def __init__(self, path: str, epochs: list[tuple[int, Path]], default_list: str | None):
        super().__init__(path, default_list, {"epochs": {}, "reread": []})
        self.epochs = epochs
        for _, repo_path in epochs:
            _check_archive(repo_path, path)

    def read(self, since: SourcePosition | None = None) -> Iterator[RawMail]:
        prev: dict[str, str] = dict((self._previous(since) or {}).get("epochs", {}))
        done: dict[str, str] = dict(prev)
        reread: list[str] = []
        for n, repo_path in self.epochs:
            key = str(n)
            with Repo(str(repo_path)) as repo:
                head = _head(repo)
                if head is None:
                    continue
                try:
                    shas, found = _commits_after(repo, head, prev.get(key))
                    if prev.get(key) and not found:
                        reread.append(key)
                    for sha in shas:
                        where = f"commit {sha.decode()} (epoch {n})"
                        for data in _commit_mails(repo, sha):
                            yield RawMail(data, self.path, where, self.default_list)
                except (KeyError, OSError, ValueError) as e:
                    raise SourceError(
                        f"{repo_path}: git objects missing or unreadable ({e!r}); the "
                        "repository is incomplete: fetch it again (git fetch) and update"
                    ) from e
                done[key] = head.decode()
        self._finish({"epochs": done, "reread": reread})


def _check_archive(repo_path: Path, shown: str) -> None:
    """Refuse a git repository that is not a public-inbox archive (e.g. a source tree)."""
    try:
        with Repo(str(repo_path)) as repo:
            head = _head(repo)
            if head is None:
                return  # an empty epoch: nothing to read yet
            tree = cast(Tree, repo[cast(Commit, repo[head]).tree])
            names = {entry.path for entry in tree.iteritems()}
    except (NotGitRepository, KeyError, OSError) as e:
        raise SourceError(
            f"{shown}: not a readable git repository ({e}); give a public-inbox archive "
            "(`git clone --bare` of a lore mirror) or an mbox"
        ) from e
    if b"m" in names or b"d" in names:
        return
    if names and all(re.fullmatch(rb"[0-9a-f]{2}", name) for name in names):
        return  # v1 layout
    raise SourceError(
        f"{shown}: a git repository but not a public-inbox archive (no blob 'm' at the top "
        "of HEAD); give a lore/public-inbox clone, an mbox or a Maildir"
    )


def _head(repo: Repo) -> bytes | None:
    """HEAD, or the only branch when HEAD is dangling (some mirrors leave it so)."""
    try:
        return repo.head()
    except KeyError:
        pass
    heads = [sha for ref, sha in repo.get_refs().items() if ref.startswith(b"refs/heads/")]
    return heads[0] if len(heads) == 1 else None


def _commits_after(repo: Repo, head: bytes, last: str | None) -> tuple[list[bytes], bool]:
    """Commits from the one after ``last`` up to ``head``, oldest first.

    public-inbox history is linear, so the first-parent chain is the whole history.
    Returns (commits, whether ``last`` was found); when it was not, all commits.
    """
    stop = last.encode() if last else None
    chain: list[bytes] = []
    sha: bytes | None = head
    while sha is not None:
        if sha == stop:
            chain.reverse()
            return chain, True
        chain.append(sha)
        parents = cast(Commit, repo[sha]).parents
        sha = parents[0] if parents else None
    chain.reverse()
    return chain, stop is None


def _commit_mails(repo: Repo, sha: bytes) -> Iterator[bytes]:
    """The message(s) one commit adds: blob ``m`` (v2) or new ``ab/cdef`` blobs (v1)."""
    commit = cast(Commit, repo[sha])
    tree = cast(Tree, repo[commit.tree])
    try:
        _, blob_sha = tree[b"m"]
    except KeyError:
        pass
    else:
        yield repo[blob_sha].as_raw_string()
        return
    if b"d" in tree:
        return  # v2 removal commit
    parent_tree = cast(Commit, repo[commit.parents[0]]).tree if commit.parents else None
    for change in tree_changes(repo.object_store, parent_tree, commit.tree):
        new = change.new
        if change.type in ("add", "modify") and new is not None and new.path is not None:
            if _V1_PATH.fullmatch(new.path):
                yield repo[new.sha].as_raw_string()

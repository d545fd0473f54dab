"""The message store: every decoded message once, keyed by Message-ID.

One sqlite file (``HOME/store/messages.sqlite``) shared by all index generations, so an
update only decodes what is new. Writes are idempotent upserts in short transactions:
a process killed mid-write loses at most the open transaction, and a re-run inserts
the same messages again without duplicates. Readers (``status``) may read while the
single writer (who holds the index lock) writes, thanks to WAL.

Records are stored as zlib-compressed JSON arrays, one per message. The order of the
array is the field list recorded in the store's ``meta`` table, not the class, so a
field appended to :class:`Message` later (with a default, as the records contract
requires) reads back from old rows as its default instead of shifting every value.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import MISSING, fields
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

from kvmsearch.models.errors import IndexFormatError
from kvmsearch.models.records import JsonObject, JsonValue, Message, Skip

#: bump when the table layout or the blob encoding changes incompatibly
STORE_FORMAT = 2  # 2: replies keep their own text, patches their patch id

#: messages per transaction: big enough to amortise the commit, small enough that a kill
#: loses little work
DEFAULT_BATCH = 2000

# Kept out of the blob: the key, and ``lists`` which merges rewrite without decoding.
_OUTSIDE_BLOB = ("message_id", "lists", "diff_z")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,            -- first-seen order
    message_id TEXT NOT NULL UNIQUE,
    lists TEXT NOT NULL,                -- JSON array, every list the message was seen on
    touched INTEGER NOT NULL,           -- store clock when inserted or lists last changed
    record BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_touched ON messages (touched);
-- a patch's diff, zlib-compressed (Message.diff_z): only `kvmsearch diff` reads it, so
-- it stays out of the record that every build decodes
CREATE TABLE IF NOT EXISTS diffs (
    message_id TEXT PRIMARY KEY,
    diff BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS skips (
    source TEXT NOT NULL,               -- "" when Skip.where names the source itself
    at TEXT NOT NULL,                   -- Skip.where: Message-ID, or "source @ position"
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (source, at)
) WITHOUT ROWID;
"""


class UpsertCounts(NamedTuple):
    """What one :meth:`MessageStore.upsert_many` call did."""

    #: messages whose Message-ID was new
    inserted: int
    #: messages whose Message-ID was already stored (from another list, another source
    #: or an earlier run); their lists were merged into the stored record
    merged: int


def _encode_value(value: object) -> JsonValue:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    raise TypeError(f"cannot store {type(value).__name__} in the message store")


def _decode_object(obj: JsonObject) -> JsonValue:
    # Messages hold no dicts, so every JSON object in a blob is an encoded value.
    if "$dt" in obj:
        return datetime.fromisoformat(obj["$dt"])
    return obj


def _tuples(value: JsonValue) -> JsonValue:
    # JSON has no tuples; Message holds no lists, so every array was a tuple.
    return tuple(value) if isinstance(value, list) else value


def _merge_lists(old: tuple[str, ...], new: Iterable[str]) -> tuple[str, ...]:
    out = list(old)
    out.extend(x for x in new if x not in out)
    return tuple(out)


class MessageStore:
    """sqlite store of decoded :class:`Message` records, keyed by Message-ID.

    Use as a context manager or call :meth:`close`. One writer at a time (the caller
    holds the index lock); any number of readers.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are opened explicitly where they belong.
        self._db = sqlite3.connect(self.path, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process (the WAL is in the page cache);
            # only a power cut can lose the last commits, never consistency.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_SCHEMA)
            self._names = self._check_format()
        except BaseException:
            self._db.close()
            raise
        self._message_fields = _MESSAGE_FIELDS

    # ------------------------------------------------------------------ setup

    def _check_format(self) -> list[str]:
        meta = dict(self._db.execute("SELECT key, value FROM meta"))
        current = [f.name for f in fields(Message) if f.name not in _OUTSIDE_BLOB]
        if not meta:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR IGNORE INTO meta VALUES (?, ?)",
                [("format", str(STORE_FORMAT)), ("fields", json.dumps(current)), ("clock", "0")],
            )
            self._db.execute("COMMIT")
            meta = dict(self._db.execute("SELECT key, value FROM meta"))
        if meta.get("format") != str(STORE_FORMAT):
            raise IndexFormatError(
                f"message store at {self.path} was written by format {meta.get('format')} "
                f"(this kvmsearch reads {STORE_FORMAT}); run `kvmsearch rebuild`"
            )
        names: list[str] = json.loads(meta["fields"])
        added = [n for n in current if n not in names]
        if added:
            # A field appended to Message since the store was created: new rows carry it
            # at the end, old rows are shorter and read back with its default.
            names += added
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'fields'", (json.dumps(names),))
        if "store_id" not in meta:
            # stores made before ids existed get one on first open
            self._db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('store_id', ?)", (uuid.uuid4().hex,)
            )
        return names

    @property
    def store_id(self) -> str:
        """This store's identity, made when it was created. A generation records the id
        of the store it was built from, so an interrupted rebuild can tell whether its
        new store already serves (finish the swap) or never did (throw it away)."""
        row = self._db.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()
        return str(row[0])

    def close(self) -> None:
        """Close the database. The store is consistent whether or not this runs."""
        self._db.close()

    def __enter__(self) -> MessageStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ encoding

    def _encode(self, msg: Message) -> bytes:
        values = [getattr(msg, n) if n in self._message_fields else None for n in self._names]
        raw = json.dumps(values, default=_encode_value, ensure_ascii=False, separators=(",", ":"))
        return zlib.compress(raw.encode(), 6)

    def _decode(self, message_id: str, lists: str, blob: bytes) -> Message:
        return _decode(self.path, self._names, message_id, lists, blob)

    # ------------------------------------------------------------------ writing

    def upsert_many(
        self, messages: Iterable[Message], *, batch: int = DEFAULT_BATCH
    ) -> UpsertCounts:
        """Store messages; a Message-ID already stored gets the new lists merged in.

        The first copy of a message wins for every other field (it is the one whose
        source and position reports name). Runs in transactions of ``batch`` messages,
        consuming the iterable inside each: a kill loses only the open batch, and
        upserting the same messages again is harmless.
        """
        it = iter(messages)
        inserted = merged = 0
        while True:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                clock = self.mark() + 1
                n = 0
                for msg in islice(it, batch):
                    n += 1
                    if self._upsert_one(msg, clock):
                        inserted += 1
                    else:
                        merged += 1
                if n:
                    self._db.execute("UPDATE meta SET value = ? WHERE key = 'clock'", (str(clock),))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            if n < batch:
                return UpsertCounts(inserted, merged)

    def _upsert_one(self, msg: Message, clock: int) -> bool:
        row = self._db.execute(
            "SELECT lists FROM messages WHERE message_id = ?", (msg.message_id,)
        ).fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO messages (message_id, lists, touched, record) VALUES (?, ?, ?, ?)",
                (msg.message_id, json.dumps(list(msg.lists)), clock, self._encode(msg)),
            )
            if msg.diff_z:
                self._db.execute(
                    "INSERT OR REPLACE INTO diffs VALUES (?, ?)", (msg.message_id, msg.diff_z)
                )
            return True
        old = tuple(json.loads(row[0]))
        new = _merge_lists(old, msg.lists)
        if new != old:
            self._db.execute(
                "UPDATE messages SET lists = ?, touched = ? WHERE message_id = ?",
                (json.dumps(list(new)), clock, msg.message_id),
            )
        return False

    # ------------------------------------------------------------------ reading

    def count(self) -> int:
        """Number of distinct messages stored."""
        return int(self._db.execute("SELECT count(*) FROM messages").fetchone()[0])

    def get(self, message_id: str) -> Message | None:
        """One message, or None when the store does not know the Message-ID."""
        return self.get_many([message_id]).get(message_id)

    def get_many(self, message_ids: Iterable[str]) -> dict[str, Message]:
        """The stored messages among ``message_ids``, by Message-ID (unknown ids are absent)."""
        return {
            mid: self._decode(mid, lists, blob)
            for mid, lists, blob in _rows_in(
                self._db, "SELECT message_id, lists, record FROM messages", message_ids
            )
        }

    def iter_all(self) -> Iterator[Message]:
        """Every message, in first-seen order."""
        return self._iter("SELECT message_id, lists, record FROM messages ORDER BY seq", ())

    def mark(self) -> int:
        """The store's clock, bumped by every write that inserts or re-lists mail."""
        row = self._db.execute("SELECT value FROM meta WHERE key='clock'").fetchone()
        return int(row[0])

    def _iter(self, sql: str, params: tuple[object, ...]) -> Iterator[Message]:
        cur = self._db.execute(sql, params)
        while rows := cur.fetchmany(1000):
            for mid, lists, blob in rows:
                yield self._decode(mid, lists, blob)

    # ------------------------------------------------------------------ skips

    def add_skips(self, skips: Iterable[Skip], *, source: str = "") -> int:
        """Record why messages were skipped; returns how many were given.

        Keyed by ``source`` and ``Skip.where`` (a Message-ID, or "source @ position"
        when the mail had none), so reading the same mail again replaces its entry
        instead of piling up duplicates.
        """
        rows = [(source, s.where, s.reason, s.detail) for s in skips]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("INSERT OR REPLACE INTO skips VALUES (?, ?, ?, ?)", rows)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return len(rows)

    def skips(self, source: str | None = None) -> list[Skip]:
        """The recorded skips (of one ``source`` if given), by reason then position."""
        if source is None:
            cur = self._db.execute("SELECT at, reason, detail FROM skips ORDER BY reason, at")
        else:
            cur = self._db.execute(
                "SELECT at, reason, detail FROM skips WHERE source = ? ORDER BY reason, at",
                (source,),
            )
        return [Skip(where=at, reason=reason, detail=detail) for at, reason, detail in cur]

    def skip_counts(self) -> dict[str, int]:
        """How many messages were skipped, by reason."""
        return dict(self._db.execute("SELECT reason, count(*) FROM skips GROUP BY reason"))


def _rows_in(
    db: sqlite3.Connection, select: str, message_ids: Iterable[str]
) -> Iterator[tuple[Any, ...]]:
    """The rows of ``select`` whose ``message_id`` is one of ``message_ids``, asked in
    chunks below sqlite's host-parameter limit (rows are sqlite's untyped tuples: each
    caller unpacks the columns it selected)."""
    ids = list(dict.fromkeys(message_ids))
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        yield from db.execute(f"{select} WHERE message_id IN ({marks})", chunk)


_MESSAGE_FIELDS = {f.name: f for f in fields(Message)}


def _decode(path: Path, names: list[str], message_id: str, lists: str, blob: bytes) -> Message:
    """One stored record, its values in the order ``names`` (the store's meta) gives."""
    values = json.loads(zlib.decompress(blob), object_hook=_decode_object)
    kw: JsonObject = {}
    for name, value in zip(names, values, strict=False):
        if name in _MESSAGE_FIELDS:
            kw[name] = _tuples(value)
    for name, f in _MESSAGE_FIELDS.items():
        if name not in kw and name not in _OUTSIDE_BLOB:
            if f.default is MISSING:
                raise IndexFormatError(
                    f"message store at {path} lacks field {name!r}; run `kvmsearch rebuild`"
                )
            kw[name] = f.default
    return Message(message_id=message_id, lists=tuple(json.loads(lists)), **kw)


def read_messages(path: str | os.PathLike[str], message_ids: Iterable[str]) -> dict[str, Message]:
    """Stored messages by Message-ID, read without writing anything (a query command on
    a read-only index: `show --mbox`); unknown ids are absent, a missing store gives {}."""
    p = Path(path)
    if not p.exists():
        return {}
    db = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
    try:
        meta = dict(db.execute("SELECT key, value FROM meta"))
        if meta.get("format") != str(STORE_FORMAT):
            raise IndexFormatError(
                f"message store at {p} was written by format {meta.get('format')} "
                f"(this kvmsearch reads {STORE_FORMAT}); run `kvmsearch rebuild`"
            )
        names: list[str] = json.loads(meta["fields"])
        return {
            mid: _decode(p, names, mid, lists, blob)
            for mid, lists, blob in _rows_in(
                db, "SELECT message_id, lists, record FROM messages", message_ids
            )
        }
    finally:
        db.close()


def read_diffs(path: str | os.PathLike[str], message_ids: Iterable[str]) -> dict[str, str] | None:
    """The stored diffs of ``message_ids`` read without writing anything (a query
    command on a read-only index); None when the store keeps no diffs (written before
    they were kept) or is missing."""
    p = Path(path)
    if not p.exists():
        return None
    db = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
    try:
        try:
            db.execute("SELECT 1 FROM diffs LIMIT 1").fetchone()
        except sqlite3.OperationalError:
            return None
        out = {
            mid: zlib.decompress(blob).decode("utf-8", "surrogateescape")
            for mid, blob in _rows_in(db, "SELECT message_id, diff FROM diffs", message_ids)
        }
        if not out and not db.execute("SELECT 1 FROM diffs LIMIT 1").fetchone():
            return None
        return out
    finally:
        db.close()


def delete_store(path: str | os.PathLike[str]) -> None:
    """Remove a store file with its WAL and shared-memory files (``rebuild`` starts over)."""
    p = Path(path)
    for suffix in ("", "-wal", "-shm"):
        Path(str(p) + suffix).unlink(missing_ok=True)


def _fold_wal(path: Path) -> None:
    """Checkpoint ``path``'s write-ahead log into the database file and drop the log, so
    the file alone holds everything. A file that is no database (what a rebuild may be
    replacing) is left as it is."""
    if not path.exists():
        return
    try:
        db = sqlite3.connect(path)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
    except sqlite3.DatabaseError:
        pass


def replace_store(new: str | os.PathLike[str], old: str | os.PathLike[str]) -> None:
    """Put the closed store ``new`` in the place of ``old``.

    Both logs are folded into their files first: a log left beside ``old`` would be
    replayed into the new file, and the rename below is then the only step that
    changes which store is in place. Killed at any point, either the whole old store
    or the whole new one is there.
    """
    new_p, old_p = Path(new), Path(old)
    _fold_wal(new_p)
    _fold_wal(old_p)
    for suffix in ("-wal", "-shm"):
        Path(str(old_p) + suffix).unlink(missing_ok=True)
        Path(str(new_p) + suffix).unlink(missing_ok=True)
    os.replace(new_p, old_p)

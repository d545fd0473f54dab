"""The document store of one generation: every series version as JSON, its family, and
a map from every Message-ID (cover, patches) to its version, for `show` and rendering.

sqlite, written once per generation and read-only afterwards.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from kvmsearch.models.errors import IndexFormatError
from kvmsearch.models.records import Family, ParseResult, SeriesVersion
from kvmsearch.models.serialize import version_from_dict, version_to_dict

_SCHEMA = """
CREATE TABLE versions (message_id TEXT PRIMARY KEY, family TEXT NOT NULL, kind TEXT,
                       date TEXT, digest TEXT NOT NULL, json TEXT NOT NULL);
CREATE TABLE families (family_id TEXT PRIMARY KEY, version_ids TEXT NOT NULL,
                       first_date TEXT, last_date TEXT);
CREATE TABLE ids (message_id TEXT PRIMARY KEY, version_id TEXT NOT NULL);
CREATE INDEX versions_family ON versions(family);
"""


def _canonical(v: SeriesVersion) -> str:
    return json.dumps(version_to_dict(v, with_patches=True), sort_keys=True, ensure_ascii=False)


def version_digest(v: SeriesVersion) -> str:
    """Content hash of everything the index holds about a version."""
    return hashlib.sha256(_canonical(v).encode("utf-8")).hexdigest()


class DocStore:
    """Read access to a generation's docs.sqlite."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            # Read-only URI: a reader must never create or lock a generation's files.
            self.db = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, check_same_thread=False
            )
            self.db.execute("SELECT 1 FROM versions LIMIT 1")
        except sqlite3.Error as e:
            raise IndexFormatError(
                f"document store {self.path} is unreadable ({e}); run `kvmsearch rebuild`"
            ) from None

    @staticmethod
    def write(path: Path, result: ParseResult, digests: Mapping[str, str]) -> None:
        """Write every version and family of ``result`` to a new file at ``path``."""
        db = sqlite3.connect(path)
        try:
            db.executescript(_SCHEMA)
            rows = []
            ids = []
            for v in result.versions:
                rows.append(
                    (
                        v.message_id,
                        v.family,
                        v.kind,
                        v.date.isoformat() if v.date else None,
                        digests[v.message_id],
                        _canonical(v),
                    )
                )
                ids.append((v.message_id, v.message_id))
                ids.extend((pid, v.message_id) for pid in v.patch_ids)
            db.executemany("INSERT INTO versions VALUES (?,?,?,?,?,?)", rows)
            # A patch id may appear in two versions (a RESEND reusing mail): first wins.
            db.executemany("INSERT OR IGNORE INTO ids VALUES (?,?)", ids)
            by_id = {v.message_id: v for v in result.versions}
            fams = []
            for f in result.families:
                dates = [by_id[i].date for i in f.version_ids if i in by_id and by_id[i].date]
                fams.append(
                    (
                        f.family_id,
                        json.dumps(list(f.version_ids)),
                        min(dates).isoformat() if dates else None,
                        max(dates).isoformat() if dates else None,
                    )
                )
            db.executemany("INSERT INTO families VALUES (?,?,?,?)", fams)
            db.commit()
        finally:
            db.close()

    def digests(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT message_id, digest FROM versions"))

    def get(self, version_id: str) -> SeriesVersion | None:
        row = self.db.execute(
            "SELECT json FROM versions WHERE message_id=?", (version_id,)
        ).fetchone()
        return version_from_dict(json.loads(row[0])) if row else None

    def column(self, expr: str, version_ids: list[str]) -> dict[str, Any]:
        """``expr`` (a column or SQL expression of ``versions``) for each known version id."""
        out: dict[str, Any] = {}
        for i in range(0, len(version_ids), 500):
            part = version_ids[i : i + 500]
            marks = ",".join("?" * len(part))
            q = f"SELECT message_id, {expr} FROM versions WHERE message_id IN ({marks})"
            out.update(self.db.execute(q, part))
        return out

    def get_many(self, version_ids: list[str]) -> dict[str, SeriesVersion]:
        return {mid: version_from_dict(json.loads(js))
                for mid, js in self.column("json", version_ids).items()}

    def newest_first(self) -> Iterator[tuple[str, str]]:
        """(version id, family) of every version, newest first (undated last)."""
        yield from self.db.execute(
            "SELECT message_id, family FROM versions ORDER BY date IS NULL, date DESC, "
            "message_id")

    def resolve(self, any_id: str) -> str | None:
        """Map a cover, patch or family Message-ID to a version root id."""
        mid = any_id.strip().strip("<>")
        row = self.db.execute("SELECT version_id FROM ids WHERE message_id=?", (mid,)).fetchone()
        if row:
            return row[0]
        row = self.db.execute(
            "SELECT version_ids FROM families WHERE family_id=?", (mid,)
        ).fetchone()
        return json.loads(row[0])[0] if row else None

    def family_of(self, any_id: str) -> str | None:
        vid = self.resolve(any_id)
        if vid is None:
            return None
        row = self.db.execute("SELECT family FROM versions WHERE message_id=?", (vid,)).fetchone()
        return row[0] if row else None

    def family(self, family_id: str) -> Family | None:
        row = self.db.execute(
            "SELECT version_ids FROM families WHERE family_id=?", (family_id,)
        ).fetchone()
        return Family(family_id, tuple(json.loads(row[0]))) if row else None

    def family_versions(self, family_id: str) -> list[SeriesVersion]:
        fam = self.family(family_id)
        if fam is None:
            return []
        got = self.get_many(list(fam.version_ids))
        return [got[i] for i in fam.version_ids if i in got]

    def iter_versions(self) -> Iterator[SeriesVersion]:
        for (js,) in self.db.execute("SELECT json FROM versions"):
            yield version_from_dict(json.loads(js))

    def counts(self) -> dict[str, int]:
        return {
            "series_versions": self.db.execute("SELECT count(*) FROM versions").fetchone()[0],
            "families": self.db.execute("SELECT count(*) FROM families").fetchone()[0],
        }

    def close(self) -> None:
        self.db.close()

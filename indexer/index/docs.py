"""The document store of one generation: every series version as JSON, its family, and
a map from every Message-ID (cover, patches, then the replies) to its version, for
`show`, `m:` and rendering.

sqlite, written once per generation and read-only afterwards.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from kvmsearch.indexer.text.paths import filter_path_terms, path_forms
from kvmsearch.models.errors import IndexFormatError
from kvmsearch.models.query import Filters
from kvmsearch.models.records import Family, ParseResult, SeriesVersion
from kvmsearch.models.serialize import version_from_dict, version_to_dict

_SCHEMA = """
-- series: the version's series within its family (one search hit per series)
CREATE TABLE versions (message_id TEXT PRIMARY KEY, family TEXT NOT NULL, kind TEXT,
                       date TEXT, digest TEXT NOT NULL, json TEXT NOT NULL,
                       series TEXT NOT NULL);
CREATE INDEX versions_series ON versions(series);
CREATE TABLE families (family_id TEXT PRIMARY KEY, version_ids TEXT NOT NULL,
                       first_date TEXT, last_date TEXT);
CREATE TABLE ids (message_id TEXT PRIMARY KEY, version_id TEXT NOT NULL);
-- a version's replies (SeriesVersion.reviews as JSON): only `show` reads them, so they
-- stay out of the version JSON every search hit decodes
CREATE TABLE reviews (message_id TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE INDEX versions_family ON versions(family);
-- What filters select on, lower-cased once (see DocStore.versions_matching): the
-- author's "Name <addr>", the list ids one per line, the tree, the UTC date.
-- status: the family's landing, its best version's (applied > partial > none).
-- reviewers: who gave Reviewed-by/Acked-by on the version, "Name <addr>" per line.
CREATE TABLE facets (message_id TEXT PRIMARY KEY, author TEXT NOT NULL,
                     lists TEXT NOT NULL, tree TEXT NOT NULL, kind TEXT NOT NULL,
                     date_utc TEXT, status TEXT NOT NULL, reviewers TEXT NOT NULL);
-- Every file of a version as the terms a file filter matches (path_forms: the path,
-- each directory prefix, the bare name).
CREATE TABLE file_terms (term TEXT NOT NULL, message_id TEXT NOT NULL);
CREATE INDEX file_terms_term ON file_terms(term);
"""


def _canonical(v: SeriesVersion) -> str:
    return json.dumps(version_to_dict(v, with_patches=True), sort_keys=True, ensure_ascii=False)


def _stored(v: SeriesVersion) -> tuple[str, str | None]:
    """(the version's JSON without its replies, the replies' JSON or None)."""
    d = version_to_dict(v, with_patches=True)
    reviews = d.pop("reviews", None)
    body = json.dumps(d, sort_keys=True, ensure_ascii=False)
    return body, json.dumps(reviews, ensure_ascii=False) if reviews else None


def _utc(v: SeriesVersion) -> str | None:
    # naive UTC ISO text, so that string order is time order across time zones
    if v.date is None:
        return None
    d = v.date.astimezone(UTC).replace(tzinfo=None) if v.date.tzinfo else v.date
    return d.isoformat()


def _facets(v: SeriesVersion, status: str) -> tuple[str, str, str, str, str, str | None, str, str]:
    reviewers = dict.fromkeys(
        t.who.lower()
        for t in v.trailers
        if t.kind in ("reviewed-by", "acked-by") and t.status != "dropped"
    )
    return (
        v.message_id,
        (v.author or v.author_addr or "").lower(),
        "\n".join(x.lower() for x in v.lists),
        (v.tree or "").lower(),
        (v.kind or "series").lower(),
        _utc(v),
        status,
        "\n".join(reviewers),
    )


_RANK = {"applied": 2, "partial": 1, "none": 0}


def family_statuses(versions: Sequence[SeriesVersion]) -> dict[str, str]:
    """Each family's landing status: the best of its versions'."""
    best: dict[str, str] = {}
    for v in versions:
        cur = best.get(v.family, "none")
        if _RANK.get(v.landing.status, 0) > _RANK[cur]:
            cur = v.landing.status
        best[v.family] = cur
    return best


def version_digest(v: SeriesVersion) -> str:
    """Content hash of everything the index holds about a version."""
    return hashlib.sha256(_canonical(v).encode("utf-8")).hexdigest()


#: series whose decoded versions a DocStore keeps (a few MB)
_SERIES_CACHE = 2048


class DocStore:
    """Read access to a generation's docs.sqlite."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._series_cache: dict[str, list[SeriesVersion]] = {}
        self._columns: dict[str, dict[str, str]] = {}
        self._family_sizes: dict[str, int] | None = None
        try:
            # Read-only URI: a reader must never create or lock a generation's files.
            self.db = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, check_same_thread=False
            )
            self.db.execute("SELECT 1 FROM versions LIMIT 1")
            self.db.execute("SELECT 1 FROM facets LIMIT 1")
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
            reply_ids: list[tuple[str, str]] = []
            reviews = []
            for v in result.versions:
                body, replies = _stored(v)
                rows.append(
                    (
                        v.message_id,
                        v.family,
                        v.kind,
                        v.date.isoformat() if v.date else None,
                        digests[v.message_id],
                        body,
                        v.series or v.family,
                    )
                )
                if replies is not None:
                    reviews.append((v.message_id, replies))
                ids.append((v.message_id, v.message_id))
                ids.extend((pid, v.message_id) for pid in v.patch_ids)
                # a reply names its version too ("Applied, thanks" pasted into show)
                reply_ids.extend((n.message_id, v.message_id) for n in v.reviews)
            db.executemany("INSERT INTO versions VALUES (?,?,?,?,?,?,?)", rows)
            db.executemany("INSERT INTO reviews VALUES (?,?)", reviews)
            fam_status = family_statuses(result.versions)
            db.executemany(
                "INSERT INTO facets VALUES (?,?,?,?,?,?,?,?)",
                (_facets(v, fam_status[v.family]) for v in result.versions),
            )
            db.executemany(
                "INSERT INTO file_terms VALUES (?,?)",
                (
                    (t, v.message_id)
                    for v in result.versions
                    for t in {t for f in v.all_files for t in path_forms(f)}
                ),
            )
            # A patch id may appear in two versions (a RESEND reusing mail): first wins;
            # covers and patches before replies, so a reply never takes a posting's id.
            db.executemany("INSERT OR IGNORE INTO ids VALUES (?,?)", ids + reply_ids)
            by_id = {v.message_id: v for v in result.versions}
            fams = []
            for f in result.families:
                dates = [d for i in f.version_ids if i in by_id and (d := by_id[i].date)]
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

    # Any: an sqlite row; each named read below knows its columns' types
    def _in(self, select: str, version_ids: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """Rows of ``select ... WHERE message_id IN (...)`` in batches below sqlite's
        parameter limit. Only this module writes the ``select`` part."""
        for i in range(0, len(version_ids), 500):
            part = list(version_ids[i : i + 500])
            marks = ",".join("?" * len(part))
            yield from self.db.execute(f"{select} WHERE message_id IN ({marks})", part)

    def _column(self, name: str) -> dict[str, str]:
        """Every version's ``series`` or ``tree`` at once, read on first use and kept:
        a generation never changes, a search asks for hundreds of candidates, and the
        whole column is a few hundred KB."""
        got = self._columns.get(name)
        if got is None:
            sql = {
                "series": "SELECT message_id, series FROM versions",
                "tree": "SELECT message_id, tree FROM facets",
            }[name]
            got = dict(self.db.execute(sql))
            self._columns[name] = got
        return got

    def series_of(self, version_ids: Sequence[str]) -> dict[str, str]:
        """The series (within its family) of each known version id: what a search
        collapses into one hit."""
        col = self._column("series")
        return {v: col[v] for v in version_ids if v in col}

    def series_versions(self, series_id: str) -> list[SeriesVersion]:
        """The versions of one series, oldest first.

        Kept for the next queries (a generation never changes): decoding a version's
        JSON is a tenth of a search, and a long-lived reader (`kvmsearch serve`) meets
        the same series again and again. Bounded, least recently used out first.
        """
        hit = self._series_cache.pop(series_id, None)
        if hit is None:
            rows = self.db.execute("SELECT json FROM versions WHERE series = ?", (series_id,))
            got = [version_from_dict(json.loads(js)) for (js,) in rows]
            hit = sorted(got, key=lambda v: (v.date is None, v.date.timestamp() if v.date else 0))
            if len(self._series_cache) >= _SERIES_CACHE:
                self._series_cache.pop(next(iter(self._series_cache)))
        self._series_cache[series_id] = hit
        return list(hit)

    def family_size(self, family_id: str) -> int:
        """How many versions the family (the whole lineage) has; every family's count
        is read at once on first use and kept, as :meth:`_column` does."""
        if self._family_sizes is None:
            self._family_sizes = dict(
                self.db.execute("SELECT family, COUNT(*) FROM versions GROUP BY family")
            )
        return int(self._family_sizes.get(family_id, 0))

    def trees_of(self, version_ids: Sequence[str]) -> dict[str, str | None]:
        """The tree (``qemu``, ``kvm-unit-tests`` ...) of each known version id."""
        col = self._column("tree")
        return {v: col[v] or None for v in version_ids if v in col}

    def get_many(self, version_ids: Sequence[str]) -> dict[str, SeriesVersion]:
        return {
            mid: version_from_dict(json.loads(js))
            for mid, js in self._in("SELECT message_id, json FROM versions", version_ids)
        }

    def newest_first(self) -> Iterator[tuple[str, str]]:
        """(version id, series) of every version, newest first (undated last)."""
        yield from self.db.execute(
            "SELECT message_id, series FROM versions ORDER BY date IS NULL, date DESC, message_id"
        )

    def version_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM versions").fetchone()[0])

    def versions_matching(self, filters: Filters) -> set[str] | None:
        """Version ids passing ``filters`` (see :class:`Filters`), or None when the
        filters restrict nothing."""
        f = filters.restriction()
        where: list[str] = []
        args: list[str] = []

        def any_of(template: str, values: Sequence[str]) -> None:
            where.append("(" + " OR ".join([template] * len(values)) + ")")
            args.extend(values)

        for column, values in (
            ("author", f.authors),
            ("lists", f.lists),
            ("tree", f.trees),
            ("reviewers", f.reviewers),
        ):
            needles = [n.strip().lower() for n in values if n and n.strip()]
            if needles:
                any_of(f"instr({column}, ?) > 0", needles)
        if f.kinds:
            any_of("kind = ?", [k.lower() for k in f.kinds])
        if f.statuses:
            wanted = {
                s
                for st in f.statuses
                for s in (("applied", "partial") if st == "landed" else (st,))
            }
            any_of("status = ?", sorted(wanted))
        if f.since:
            where.append("date_utc >= ?")
            args.append(datetime.combine(f.since, time.min).isoformat())
        if f.until:
            where.append("date_utc <= ?")
            args.append(datetime.combine(f.until, time.max).isoformat())

        def within(select: str, values: Sequence[str]) -> None:
            # ``select`` names a table and column of our own, never user input
            marks = ",".join("?" * len(values))
            where.append(f"message_id IN ({select} IN ({marks}))")
            args.extend(values)

        if f.files:
            terms = [t for p in f.files for t in filter_path_terms(p)]
            if not terms:
                return set()
            within("SELECT message_id FROM file_terms WHERE term", terms)
        if f.messages:
            series = sorted({r for m in f.messages if (r := self.series_root(m))})
            if not series:
                return set()
            within("SELECT message_id FROM versions WHERE series", series)
        if not where:
            return None
        q = "SELECT message_id FROM facets WHERE " + " AND ".join(where)
        return {mid for (mid,) in self.db.execute(q, args)}

    def resolve(self, any_id: str) -> str | None:
        """Map a cover, patch, reply or family Message-ID to a version root id."""
        mid = any_id.strip().strip("<>")
        row = self.db.execute("SELECT version_id FROM ids WHERE message_id=?", (mid,)).fetchone()
        if row:
            return row[0]
        row = self.db.execute(
            "SELECT version_ids FROM families WHERE family_id=?", (mid,)
        ).fetchone()
        return json.loads(row[0])[0] if row else None

    def _group_of(self, any_id: str, column: str) -> str | None:
        vid = self.resolve(any_id)
        if vid is None:
            return None
        # column is one of two names below, never user input
        row = self.db.execute(
            f"SELECT {column} FROM versions WHERE message_id=?", (vid,)
        ).fetchone()
        return row[0] if row else None

    def family_of(self, any_id: str) -> str | None:
        """The family (the whole lineage) that any Message-ID belongs to."""
        return self._group_of(any_id, "family")

    def series_root(self, any_id: str) -> str | None:
        """The series (one search hit) that any Message-ID belongs to."""
        return self._group_of(any_id, "series")

    def family(self, family_id: str) -> Family | None:
        row = self.db.execute(
            "SELECT version_ids FROM families WHERE family_id=?", (family_id,)
        ).fetchone()
        return Family(family_id, tuple(json.loads(row[0]))) if row else None

    def family_versions(self, family_id: str) -> list[SeriesVersion]:
        """Every version of the family with its replies (``reviews``), as `show` wants."""
        fam = self.family(family_id)
        if fam is None:
            return []
        ids = list(fam.version_ids)
        try:
            replies = dict(self._in("SELECT message_id, json FROM reviews", ids))
        except sqlite3.OperationalError:
            replies = {}  # a store written before replies were kept
        got: dict[str, SeriesVersion] = {}
        for mid, js in self._in("SELECT message_id, json FROM versions", ids):
            d = json.loads(js)
            if mid in replies:
                d["reviews"] = json.loads(replies[mid])
            got[mid] = version_from_dict(d)
        return [got[i] for i in fam.version_ids if i in got]

    def iter_versions(self) -> Iterator[SeriesVersion]:
        for (js,) in self.db.execute("SELECT json FROM versions"):
            yield version_from_dict(json.loads(js))

    def close(self) -> None:
        self.db.close()

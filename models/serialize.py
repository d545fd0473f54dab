"""JSON for records: the one way records become JSON, for every ``--json`` output
(search hits, the batch mode, show, parse, status, build outcomes) and the on-disk doc
store.

A series version has its documented flat shape (:func:`version_to_dict`, the
`parse --json` object, read back by :func:`version_from_dict`); every other record is
its fields, recursively, with dates as ISO 8601 strings and tuples as lists.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime

from .records import (
    ChangeLink,
    ChangelogEntry,
    CoverFields,
    JsonObject,
    JsonValue,
    Landing,
    LandingEvidence,
    LineageLink,
    PatchInfo,
    ReviewNote,
    SeriesVersion,
    TrailerEntry,
)


def to_json(obj: object, *, with_patches: bool = False) -> JsonValue:
    """``obj`` (a record, or containers of records and plain values) as JSON-ready
    values. ``with_patches`` adds each patch's commit message to series versions."""
    if isinstance(obj, SeriesVersion):
        return version_to_dict(obj, with_patches=with_patches)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: to_json(getattr(obj, f.name), with_patches=with_patches)
            for f in dataclasses.fields(obj)
        }
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, dict):
        return {str(k): to_json(v, with_patches=with_patches) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_json(v, with_patches=with_patches) for v in obj]
    return obj


def json_line(obj: object, *, with_patches: bool = False) -> str:
    """One JSON line for ``obj``; 7-bit (``ensure_ascii``) whatever bytes the mail held."""
    return json.dumps(to_json(obj, with_patches=with_patches), ensure_ascii=True)


def _date(d: datetime | None) -> str | None:
    return d.isoformat() if d else None


def version_to_dict(v: SeriesVersion, *, with_patches: bool = False) -> JsonObject:
    """One series version as the `kvmsearch parse --json` object."""
    c = v.cover
    out: JsonObject = {
        "message_id": v.message_id,
        "family": v.family,
        "kind": v.kind,
        "version": v.version,
        "rfc": v.rfc,
        "resend": v.resend,
        "tree": v.tree,
        "title": v.title,
        "subject": v.subject,
        "tags": list(v.tags),
        "author": v.author,
        "author_addr": v.author_addr,
        "date": _date(v.date),
        "lists": list(v.lists),
        "has_cover": v.has_cover,
        "patch_ids": list(v.patch_ids),
        "n_patches": v.n_patches,
        "complete": v.complete,
        "motivation": c.motivation,
        "changelog": [
            {
                "version": e.version,
                "text": e.text,
                "items": list(e.items),
                "credits": list(e.credits),
            }
            for e in c.changelog
        ],
        "files": list(c.files),
        "shortlog": list(c.shortlog),
        "shortlog_authors": list(c.shortlog_authors),
        "links": list(c.links),
        "base_commit": c.base_commit,
        "change_id": c.change_id,
        "prior_ids": list(c.prior_ids),
        "landing": landing_to_dict(v.landing),
        "lineage": [to_json(link) for link in v.lineage],
        "series": v.series or v.family,
        "trailers": [to_json(t) for t in v.trailers],
        "reviews": [to_json(n) for n in v.reviews],
        "asked": [to_json(a) for a in v.asked],
    }
    if with_patches:
        out["patches"] = [
            {
                "message_id": p.message_id,
                "subject": p.subject,
                "index": p.index,
                "commit_message": p.commit_message,
                "files": list(p.files),
                "patch_id": p.patch_id,
                "patch_lines": p.patch_lines,
            }
            for p in v.patches
        ]
    return out


def landing_to_dict(landing: Landing) -> JsonObject:
    """A version's landing as `show --json` gives it (dates ISO 8601)."""
    out = to_json(landing)
    assert isinstance(out, dict)
    return out


def _landing_from(d: JsonObject | None) -> Landing:
    if not d:
        return Landing()
    return Landing(
        status=d.get("status", "none"),
        by=d.get("by", ""),
        where=d.get("where", ""),
        date=_parse_date(d.get("date")),
        commits=tuple(d.get("commits", ())),
        patches=tuple(d.get("patches", ())),
        evidence=tuple(
            LandingEvidence(
                message_id=e["message_id"],
                sentence=e["sentence"],
                by=e["by"],
                date=_parse_date(e.get("date")),
                where=e.get("where", ""),
                patches=tuple(e.get("patches", ())),
                commits=tuple(e.get("commits", ())),
            )
            for e in d.get("evidence", ())
        ),
    )


def _parse_date(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None


def version_from_dict(d: JsonObject) -> SeriesVersion:
    """Inverse of :func:`version_to_dict` (``with_patches=True`` to keep patches)."""
    cover = CoverFields(
        motivation=d["motivation"],
        changelog=tuple(
            ChangelogEntry(
                e["version"], e["text"], tuple(e.get("items", ())), tuple(e.get("credits", ()))
            )
            for e in d["changelog"]
        ),
        shortlog=tuple(d["shortlog"]),
        shortlog_authors=tuple(d.get("shortlog_authors", ())),
        files=tuple(d["files"]),
        links=tuple(d["links"]),
        base_commit=d.get("base_commit"),
        change_id=d.get("change_id"),
        prior_ids=tuple(d.get("prior_ids", ())),
    )
    patches = tuple(
        PatchInfo(
            p["message_id"],
            p["subject"],
            p["index"],
            p["commit_message"],
            tuple(p["files"]),
            p.get("patch_id"),
            p.get("patch_lines", 0),
        )
        for p in d.get("patches", ())
    )
    return SeriesVersion(
        message_id=d["message_id"],
        family=d["family"],
        kind=d["kind"],
        version=d["version"],
        rfc=d["rfc"],
        resend=d["resend"],
        tree=d["tree"],
        title=d["title"],
        subject=d["subject"],
        tags=tuple(d["tags"]),
        author=d["author"],
        author_addr=d["author_addr"],
        date=datetime.fromisoformat(d["date"]) if d["date"] else None,
        lists=tuple(d["lists"]),
        has_cover=d["has_cover"],
        patch_ids=tuple(d["patch_ids"]),
        n_patches=d["n_patches"],
        cover=cover,
        patches=patches,
        complete=d.get("complete", True),
        landing=_landing_from(d.get("landing")),
        series=d.get("series", ""),
        trailers=tuple(
            TrailerEntry(
                t["kind"],
                t["who"],
                t["patch"],
                t["source"],
                t["status"],
                t.get("earlier", ""),
                t.get("changed"),
            )
            for t in d.get("trailers", ())
        ),
        lineage=tuple(
            LineageLink(
                link["earlier"], link["later"], link["reason"], link["strength"], link["detail"]
            )
            for link in d.get("lineage", ())
        ),
        reviews=tuple(
            ReviewNote(
                n["message_id"],
                n["patch"],
                n["who"],
                datetime.fromisoformat(n["date"]) if n["date"] else None,
                n["excerpt"],
                tuple(n.get("answers", ())),
                n.get("by_subject", False),
            )
            for n in d.get("reviews", ())
        ),
        asked=tuple(
            ChangeLink(a["item"], a["message_id"], a["who"], a["how"]) for a in d.get("asked", ())
        ),
    )

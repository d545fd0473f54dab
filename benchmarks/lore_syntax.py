"""Benchmark: lore-style queries select exactly the versions a scan of the store says.

Each query in ``judged/lore_queries.jsonl`` (written for this check, after the syntax
was built) is a query of filters only (`s:`, `b:`, `f:`, `l:`, `dfn:`, `d:`, `-word`),
so the search lists every matching version (``all_versions``, newest first). The same
conditions are then checked by scanning every version record in the document store:
its whoosh document's field texts (``make_document``) analysed into stems with the
index's own word rule, its author, lists, files and date. The two sets must be equal;
the report gives both counts, what only one side has, and the search time.

    .venv/bin/python benchmarks/lore_syntax.py --index DIR [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from report import emit

JUDGED = Path(__file__).resolve().parent / "judged" / "lore_queries.jsonl"


def _terms(text: str) -> list[str]:
    from kvmsearch.indexer.index.lexical import iter_units

    out: list[str] = []
    for _raw, whole, terms, _call in iter_units(text, stem=True, stop=True):
        out.extend(terms or ([whole] if whole else []))
    return out


def _holds(field_terms: list[list[str]], phrase: str) -> bool:
    """Whether any field holds the phrase's terms consecutively (one word: anywhere)."""
    want = _terms(phrase)
    if not want:
        return False
    for terms in field_terms:
        n = len(want)
        if any(terms[i : i + n] == want for i in range(len(terms) - n + 1)):
            return True
    return False


def _version_day(d: datetime | None) -> Any:
    if d is None:
        return None
    return (d.astimezone(UTC) if d.tzinfo else d).date()


def scan(idx: Any, query: str) -> set[str]:
    """The versions a scan of the store says match ``query``'s filters."""
    from kvmsearch.indexer.index.lexical import BODY_WEIGHTS, make_document
    from kvmsearch.query.lexical import TEXT_FIELDS
    from kvmsearch.query.understand import understand

    f = understand(query).filters
    out: set[str] = set()
    for sv in idx.searcher().docs.iter_versions():
        if f.kinds and (sv.kind or "series").lower() not in f.kinds:
            continue
        author = (sv.author or sv.author_addr or "").lower()
        if f.authors and not any(a.lower() in author for a in f.authors):
            continue
        if f.lists and not any(x.lower() in lst.lower() for x in f.lists for lst in sv.lists):
            continue
        if f.files and not any(
            fl == want or fl.startswith(want.rstrip("/") + "/") or fl.rsplit("/", 1)[-1] == want
            for want in f.files
            for fl in sv.all_files
        ):
            continue
        day = _version_day(sv.date)
        if f.since and (day is None or day < f.since):
            continue
        if f.until and (day is None or day > f.until):
            continue
        doc = make_document(sv)
        ok = True
        for c in f.texts:
            fields = [
                _terms(str(doc.get(name, "")))
                # "all" is the body field: every section it is written from
                for name in (tuple(BODY_WEIGHTS) if c.where == "all" else TEXT_FIELDS[c.where])
            ]
            if _holds(fields, c.text) == c.negated:
                ok = False
                break
        if ok:
            out.add(sv.message_id)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--judged", type=Path, default=JUDGED)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    from kvmsearch import Index

    idx = Index.open(a.index)
    rows = [json.loads(x) for x in a.judged.read_text().splitlines() if x.strip()]
    report = []
    equal = 0
    for r in rows:
        q = r["query"]
        idx.search(q, limit=1000, all_versions=True)  # warm the filter's first read
        t = time.perf_counter()
        hits = idx.search(q, limit=1000, all_versions=True)
        ms = (time.perf_counter() - t) * 1000
        got = {h.versions[0].message_id for h in hits}
        want = scan(idx, q)
        equal += got == want
        report.append(
            {
                "query": q,
                "search": len(got),
                "scan": len(want),
                "equal": got == want,
                "only_search": sorted(got - want)[:5],
                "only_scan": sorted(want - got)[:5],
                "search_ms": round(ms, 1),
            }
        )
    emit({"queries": len(rows), "equal": equal, "rows": report}, a.json)


if __name__ == "__main__":
    main()

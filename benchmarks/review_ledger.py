"""The review ledger and reply attachment over a corpus (issue 11, parts 1-2).

    .venv/bin/python benchmarks/review_ledger.py [PATH ...]   # default: ../shared/corpus/*.mbox.xz

Parses the archives in this process and reports:
- replies attached to the series version they answer, and the others by reason (a
  reply is attached when any message it names is a cover or patch that was read, so
  the unattached ones name only discussion mail or mail outside the archive);
- for every ``Reviewed-by`` in the body of a patch of a version numbered 2 or more whose
  family holds an earlier version: the share the ledger explains (the same person gave
  it on an earlier version, in a reply or that version's body), the rest "first in the
  patch" (given off the archived lists, or on a version the archive lacks);
- a check of that rest against every reply in the archive, read independently of the
  threading the ledger relies on: a reply sent before the version, whose own (unquoted)
  text has a ``Reviewed-by`` from the same person, on a mail titled like the patch or
  like a cover of its family. Where there is none, "first in the patch" is the right
  answer; where there is one, the ledger missed it (listed);
- replies joined by their subject (broken threading), replies that keep the quoted
  lines they answer, and changelog bullets linked to the reply that asked for them
  (by credit or by words), out of the bullets of versions whose previous version has
  replies. ``--sample FILE`` writes 30 links (fixed seed) for judging: the judged
  file is ``benchmarks/judged/asked_links.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--sample", help="write 30 asked-by links here (JSON lines) for judging")
    args = ap.parse_args()
    paths = args.paths or sorted(str(p) for p in (SHARED / "corpus").glob("*.mbox.xz"))

    from kvmsearch.indexer.mail.sources import expand_paths
    from kvmsearch.indexer.series.pipeline import assemble_read, read_sources
    from kvmsearch.indexer.series.review import person_of
    from kvmsearch.indexer.text.quotes import own_text
    from kvmsearch.indexer.text.subjects import normalise_title, parse_subject
    from kvmsearch.indexer.text.trailers import review_trailers

    t0 = time.monotonic()
    rr = read_sources(expand_paths(paths))
    result = assemble_read(rr)
    seconds = time.monotonic() - t0

    def title(subject: str) -> str:
        return normalise_title(parse_subject(subject).title)

    # (person, title) -> dates of replies giving a Reviewed-by, from the raw mail
    replied: dict[tuple[str, str], list] = defaultdict(list)
    for m in rr.messages.values():
        ps = parse_subject(m.subject)
        if not ps.is_reply or m.date is None:
            continue
        t = normalise_title(ps.title)
        for kind, who in review_trailers(own_text(m.body)):
            if kind == "reviewed-by":
                replied[(person_of(who), t)].append((m.date, m.message_id))
    r = result.report
    fam: dict[str, list] = defaultdict(list)
    for v in result.versions:
        fam[v.family].append(v)
    covers = {f: {title(v.subject) for v in vs} for f, vs in fam.items()}
    total = carried = no_earlier = verified = 0
    missed: list[dict[str, str]] = []
    statuses: dict[str, int] = defaultdict(int)
    for v in result.versions:
        for t in v.trailers:
            statuses[t.status] += 1
        if v.version < 2:
            continue
        earlier = [w for w in fam[v.family] if w.date and v.date and w.date < v.date]
        for t in v.trailers:
            if t.kind != "reviewed-by" or t.status not in ("carried", "in-patch"):
                continue
            if not earlier:
                no_earlier += 1
                continue
            total += 1
            if t.status == "carried":
                carried += 1
                continue
            p = next((q for q in v.patches if (q.index or 1) == t.patch), None)
            titles = covers[v.family] | ({title(p.subject)} if p else set())
            who = person_of(t.who)
            before = [
                mid
                for tt in titles
                for d, mid in replied.get((who, tt), ())
                if v.date is not None and d < v.date
            ]
            if before:
                missed.append({"version": v.message_id, "patch": str(t.patch), "reply": before[0]})
            else:
                verified += 1
    from kvmsearch.indexer.series.changelog import own_entries
    from kvmsearch.models.records import SeriesVersion

    links = [(v, a) for v in result.versions for a in v.asked]
    eligible = 0
    for vs in fam.values():
        vs = sorted(vs, key=lambda w: (w.date is None, w.date))
        last: dict[str, SeriesVersion] = {}
        for w in vs:
            prev = last.get(w.series or w.family)
            last[w.series or w.family] = w
            if prev is not None and prev.reviews:
                own = own_entries(w.cover.changelog, prev.cover.changelog)
                eligible += sum(len(e.items) or 1 for e in own)
    if args.sample:
        import random

        rnd = random.Random(11)
        with open(args.sample, "w") as f:
            for v, a in rnd.sample(links, min(30, len(links))):
                row = {
                    "version": v.message_id,
                    "v": v.version,
                    "title": v.title,
                    "item": a.item,
                    "reply": a.message_id,
                    "who": a.who,
                    "how": a.how,
                    "reply_text": rr.messages[a.message_id].body[:600]
                    if a.message_id in rr.messages
                    else "",
                    "answers": list(rr.messages[a.message_id].answers)
                    if a.message_id in rr.messages
                    else [],
                }
                f.write(json.dumps(row) + "\n")
    out = {
        "paths": paths,
        "parse_seconds": round(seconds, 1),
        "replies": r.replies,
        "replies_attached": r.replies_attached,
        "replies_unattached": r.replies_unattached,
        "replies_by_subject": r.replies_by_subject,
        "replies_keeping_answered_quotes": sum(
            1 for v in result.versions for n in v.reviews if n.answers
        ),
        "bullets_after_a_reviewed_version": eligible,
        "bullets_linked": len(links),
        "bullets_linked_by": {
            how: sum(1 for _v, a in links if a.how == how) for how in ("credited", "words")
        },
        "trailer_statuses": dict(statuses),
        "reviewed_by_in_v2plus_bodies": total,
        "explained_by_an_earlier_version": carried,
        "explained_share": round(carried / total, 4) if total else None,
        "first_in_the_patch_verified": verified,
        "answered_right_share": round((carried + verified) / total, 4) if total else None,
        "missed": missed,
        "without_an_earlier_version_in_the_archive": no_earlier,
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

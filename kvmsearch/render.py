"""Human-readable rendering. Text from mail is hostile: neutralise it before printing."""

from __future__ import annotations

import re
import textwrap

from kvmsearch.indexer.text.people import address_of, display_name
from kvmsearch.models.records import (
    ChangelogEntry,
    Hit,
    IndexStatus,
    ParseReport,
    SeriesVersion,
    VersionDiff,
    VersionRef,
)
from kvmsearch.models.service import LedgerLine, VersionView

# C0 controls except \t and \n, DEL, C1 controls (incl. the 8-bit CSI 0x9b); the bidi
# marks, embeddings, overrides and isolates that can visually reorder a line ("Trojan
# Source"); the Unicode line/paragraph separators; lone surrogates (undecodable bytes
# carried by surrogateescape), which would also make printing raise.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
    "\u2066-\u2069\ud800-\udfff]"
)


def _escape(m: re.Match[str]) -> str:
    n = ord(m.group())
    if 0xDC80 <= n <= 0xDCFF:  # surrogateescape: show the byte the mail held
        n -= 0xDC00
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def clean(text: str, *, oneline: bool = False) -> str:
    """Make mail text safe for a terminal: no byte of it can start an escape sequence,
    reorder the line or break it; what was there shows as ``\\x1b``, ``\\u202e``."""
    if oneline:
        text = " ".join(text.split())
    return _UNSAFE.sub(_escape, text)


def version_label(v: SeriesVersion) -> str:
    bits = []
    if v.rfc:
        bits.append("RFC")
    bits.append(f"v{v.version}")
    if v.resend:
        bits.append("RESEND")
    return " ".join(bits)


def format_version(v: SeriesVersion, *, width: int = 100) -> str:
    """A compact block describing one parsed series version (for `parse`)."""
    c = v.cover
    date = v.date.strftime("%Y-%m-%d") if v.date else "????-??-??"
    head = f"{version_label(v)}  {clean(v.title, oneline=True)}"
    if v.kind != "series":
        head = f"[{v.kind}] {head}"
    lines = [head]
    meta = [clean(v.author, oneline=True), date]
    if v.tree:
        meta.append(f"tree {clean(v.tree, oneline=True)}")
    if v.lists:
        meta.append(clean(", ".join(v.lists), oneline=True))
    lines.append("  " + " | ".join(meta))
    npatch = f"{len(v.patch_ids)}/{v.n_patches}" if v.n_patches else str(len(v.patch_ids))
    lines.append(
        f"  <{clean(v.message_id)}>  family <{clean(v.family)}>  "
        f"{'cover, ' if v.has_cover else ''}{npatch} patches"
    )
    if c.files:
        more = f" (+{len(c.files) - 6} more)" if len(c.files) > 6 else ""
        shown = ", ".join(c.files[:6]) + more
        lines.append(f"  files: {clean(shown)}")
    if c.motivation:
        first = clean(c.motivation, oneline=True)
        lines.append("  " + textwrap.shorten("why: " + first, width=width - 2, placeholder=" …"))
    for e in c.changelog:
        text = clean(" / ".join(e.items) if e.items else e.text, oneline=True)
        lines.append(
            "  "
            + textwrap.shorten(f"{clean(e.version)}: {text}", width=width - 2, placeholder=" …")
        )
    return "\n".join(lines)


def format_report(r: ParseReport) -> str:
    """The stderr summary of a parse run: every message in exactly one bucket."""
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(r.kinds.items())) or "none"
    lines = [
        f"messages read: {r.messages_read}",
        f"  duplicates: {r.duplicates}",
        f"  replies: {r.replies}",
        f"  in series: {r.in_series}",
    ]
    if r.replies_attached or r.replies_unattached:
        rest = ", ".join(f"{n} {why}" for why, n in sorted(r.replies_unattached.items()))
        lines.append(
            f"  replies attached to a series version: {r.replies_attached}"
            + (f" (not attached: {rest})" if rest else "")
        )
    for reason, n in sorted(r.other.items()):
        lines.append(f"  not a series ({reason}): {n}")
    for reason, n in sorted(r.skip_counts().items()):
        lines.append(f"  skipped ({reason}): {n}")
    if r.problems:
        lines.append(f"  decoded with a problem worked around: {len(r.problems)}")
    lines.append(f"series versions: {r.series_versions} ({kinds})")
    lines.append(f"families: {r.families}")
    return "\n".join(lines)


def format_skips(r: ParseReport, *, limit: int = 20) -> str:
    """Skipped mails, then mails decoded with a problem, each with its Message-ID."""
    out = []
    listed = r.skips + r.problems
    for s in listed[:limit]:
        detail = f" ({clean(s.detail, oneline=True)})" if s.detail else ""
        out.append(f"  {clean(s.where, oneline=True)}: {s.reason}{detail}")
    if len(listed) > limit:
        out.append(f"  … and {len(listed) - limit} more")
    return "\n".join(out)


# --------------------------------------------------------------------------- search


_BOLD, _DIM, _CYAN, _YELLOW, _RESET = "\x1b[1m", "\x1b[2m", "\x1b[36m", "\x1b[33m", "\x1b[0m"


def _highlight(text: str, terms: tuple[str, ...], color: bool) -> str:
    """Clean first, then add our own escapes: mail text never reaches the terminal raw.

    Marks the words the evidence was chosen for (same stem), not bare substrings.
    """
    from kvmsearch.query.evidence import term_spans

    text = clean(text, oneline=True)
    start, end = (f"{_BOLD}{_YELLOW}", _RESET) if color else ("*", "*")
    out, pos = [], 0
    for a, b in term_spans(text, terms):
        out += [text[pos:a], start, text[a:b], end]
        pos = b
    out.append(text[pos:])
    return "".join(out)


#: where a Message-ID is looked up; KVMSEARCH_LORE_URL points at a mirror
LORE_URL = "https://lore.kernel.org/r/"


def lore_url(message_id: str) -> str:
    """The lore link of a message (Message-ID percent-encoded, as lore expects)."""
    import os
    from urllib.parse import quote

    base = os.environ.get("KVMSEARCH_LORE_URL") or LORE_URL
    if not base.endswith("/"):
        base += "/"
    return base + quote(message_id.strip("<>"), safe="@!$&'()*+,;=:~")


def _ref(v: VersionRef) -> str:
    label = ("RFC " if v.rfc else "") + f"v{v.version}" + (" RESEND" if v.resend else "")
    date = v.date.strftime("%Y-%m-%d") if v.date else "????-??-??"
    return f"{label} {date} <{clean(v.message_id)}>"


def format_hits(
    hits: list[Hit], *, color: bool = False, explain: bool = False, width: int = 100
) -> str:
    """Human output of a search: one block per series."""
    b, d, c, r = (_BOLD, _DIM, _CYAN, _RESET) if color else ("", "", "", "")
    out = []
    for n, h in enumerate(hits, 1):
        lines = [f"{b}{n:>2}. {clean(h.title, oneline=True)}{r}"]
        meta = [clean(h.author, oneline=True)]
        if h.tree:
            meta.append(f"tree {clean(h.tree, oneline=True)}")
        if h.lists:
            meta.append(", ".join(clean(x, oneline=True) for x in h.lists))
        lines.append(f"    {d}{' | '.join(meta)}{r}")
        # the newest four, and always any version the question named
        shown = [v for i, v in enumerate(h.versions) if i < 4 or v.version in h.asked_versions]
        for v in shown:
            lines.append(f"    {c}{_ref(v)}  {lore_url(v.message_id)}{r}")
        if len(h.versions) > len(shown):
            lines.append(f"    {d}(+{len(h.versions) - len(shown)} older){r}")
        if h.reviewers:
            lines.append(f"    {d}reviewed or acked by {h.reviewers}{r}")
        if h.landing.status != "none":
            label = next(
                (_ref(v).split(" ", 1)[0] for v in h.versions if v.message_id == h.landing_version),
                "",
            )
            lines.append(
                "    landed: "
                + clean(h.landing.summary(h.landing_patches), oneline=True)
                + (f" ({label})" if label else "")
            )
        if h.family_versions > len(h.versions):
            n_other = h.family_versions - len(h.versions)
            lines.append(
                f"    {d}lineage: {n_other} more posting(s) of this work under another title, "
                "address or sender; "
                f"kvmsearch show {clean(h.family)}{r}"
            )
        for vd in h.version_diffs:
            lines.append(f"    {d}diff {clean(vd, oneline=True)}{r}")
        for a in h.asked_by[:4]:
            who = clean(display_name(a.who), oneline=True)
            item = textwrap.shorten(clean(a.item, oneline=True), width=width, placeholder=" …")
            lines.append(f"    asked by {who} <{clean(a.message_id)}>: {item}")
        if h.files:
            lines.append("    files: " + clean(", ".join(h.files)))
        for s in h.why:
            short = textwrap.shorten(s, width=width * 2, placeholder=" …")
            lines.append("    why: " + _highlight(short, h.terms, color))
        for e in h.changelog:
            text = " / ".join(e.items) if e.items else e.text
            lines.append(
                f"    {clean(e.version, oneline=True)}: "
                + _highlight(
                    textwrap.shorten(text, width=width * 2, placeholder=" …"), h.terms, color
                )
            )
        if explain and h.explain:
            parts = ", ".join(f"{k}={v}" for k, v in h.explain.items())
            lines.append(f"    {d}score {h.score}: {clean(parts)}{r}")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def own_changes(versions: list[SeriesVersion], k: int) -> list[ChangelogEntry]:
    """Version ``k``'s own changelog delta (``versions`` newest first): later covers
    repeat every earlier entry."""
    from kvmsearch.indexer.series.changelog import own_entries

    earlier = versions[k + 1].cover.changelog if k + 1 < len(versions) else ()
    return list(own_entries(versions[k].cover.changelog, earlier))


def version_views(versions: list[SeriesVersion]) -> list[VersionView]:
    """The `show` timeline (``versions`` newest first), one view per version."""
    from kvmsearch.indexer.text.subjects import strip_markers

    return [
        VersionView(
            version=v,
            patches=tuple(
                (
                    f"{p.index}/{v.n_patches}" if p.index and v.n_patches else "-",
                    strip_markers(p.subject),
                )
                for p in v.patches
            ),
            changes=tuple(own_changes(versions, k)),
            ledger=tuple(ledger_lines(v)),
            landing=v.landing.summary(v.n_patches),
            previous=next((w.version for w in versions[k + 1 :] if w.version < v.version), None),
            asked={a.item: a for a in v.asked},
            reviews=tuple(
                (_patch_label(n.patch, v.n_patches), n)
                for n in v.reviews
                if address_of(n.who) != v.author_addr.lower()
            ),
        )
        for k, v in enumerate(versions)
    ]


def _patch_label(n: int | None, total: int | None) -> str:
    return "the series" if n is None else f"{n}/{total or '?'}"


#: reviewer replies `show` prints per version (``--json`` and the web page have all)
SHOW_REVIEWS = 6


def format_series(versions: list[SeriesVersion]) -> str:
    """`kvmsearch show`: every version, newest first, with its lore link, patch list,
    its own changelog delta, files, links, where it landed (with the reply that says
    so), the review ledger and the lineage links that joined it."""
    if not versions:
        return ""
    newest = versions[0]
    lines = [
        clean(newest.title, oneline=True),
        f"  family <{clean(newest.family)}>  {clean(newest.author, oneline=True)}",
    ]
    for view in version_views(versions):
        v = view.version
        date = v.date.strftime("%Y-%m-%d") if v.date else "????-??-??"
        lines.append("")
        lines.append(f"{version_label(v)}  {date}  <{clean(v.message_id)}>")
        lines.append(f"  {clean(v.subject, oneline=True)}")
        npatch = f"{len(v.patch_ids)}/{v.n_patches}" if v.n_patches else str(len(v.patch_ids))
        lines.append(
            f"  {'cover, ' if v.has_cover else ''}{npatch} patches; lists: "
            + ", ".join(clean(x) for x in v.lists)
        )
        lines.append(f"  lore: {lore_url(v.message_id)}")
        for num, subject in view.patches:
            lines.append(f"    {num} {clean(subject, oneline=True)}")
        asked = view.asked or {}
        for e in view.changes:
            lines.append(f"  changes {clean(e.version) or '(notes)'}:")
            for item in e.items or (e.text,):
                lines.append("    - " + clean(item, oneline=True))
                if item in asked:
                    a = asked[item]
                    who = clean(display_name(a.who), oneline=True)
                    lines.append(f"      asked by {who} <{clean(a.message_id)}>")
        if v.cover.files:
            lines.append(f"  files ({len(v.cover.files)}):")
            for f in v.cover.files:
                lines.append("    " + clean(f))
        for link in v.cover.links:
            lines.append("  link: " + clean(link))
        lines.append("  landed: " + clean(view.landing, oneline=True))
        if v.landing.commits:
            lines.append("    commits: " + clean(" ".join(v.landing.commits[:8])))
        for ev in v.landing.evidence[:3]:
            lines.append(f"    <{clean(ev.message_id)}>: {clean(ev.sentence, oneline=True)}")
        lines.extend(_ledger_lines(view.ledger))
        lines.extend(_review_lines(view))
        for ln in v.lineage:
            lines.append(
                f"  joined to <{clean(ln.earlier)}>: {ln.reason} ({ln.strength}"
                + (f"; {clean(ln.detail, oneline=True)}" if ln.detail else "")
                + ")"
            )
    return "\n".join(lines)


_LEDGER_LABEL = {
    "given": "given in replies",
    "carried": "carried in the patches",
    "in-patch": "first in the patches",
    "dropped": "DROPPED since",
}


def ledger_lines(v: SeriesVersion) -> list[LedgerLine]:
    """The review ledger grouped: one line per person, kind and status ("on 1,2,3"),
    given first, dropped last. Text and HTML output both print these."""
    groups: dict[tuple[str, str, str, str], list[str]] = {}
    for t in v.trailers:
        key = (t.status, t.kind, t.who, t.earlier if t.status in ("carried", "dropped") else "")
        groups.setdefault(key, []).append("all" if t.patch is None else str(t.patch))
    order = list(_LEDGER_LABEL)
    return [
        LedgerLine(status, _LEDGER_LABEL[status], kind, who, ",".join(dict.fromkeys(p)), earlier)
        for (status, kind, who, earlier), p in sorted(
            groups.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1], kv[0][2])
        )
    ]


def _review_lines(view: VersionView) -> list[str]:
    if not view.reviews:
        return []
    people = len({n.who for _p, n in view.reviews})
    out = [f"  review: {len(view.reviews)} replies from {people} people"]
    for label, n in view.reviews[:SHOW_REVIEWS]:
        day = n.date.strftime("%Y-%m-%d") if n.date else "????-??-??"
        who = clean(display_name(n.who), oneline=True)
        text = clean(n.excerpt, oneline=True) or "(trailers only)"
        out.append(f"    {day} {who} on {label}: {text}")
        if n.answers:
            out.append("      > " + clean(n.answers[0], oneline=True))
    if len(view.reviews) > SHOW_REVIEWS:
        out.append(f"    (+{len(view.reviews) - SHOW_REVIEWS} more: show --json has all)")
    return out


def _ledger_lines(ledger: tuple[LedgerLine, ...]) -> list[str]:
    out: list[str] = []
    for ln in ledger:
        where = f" ({clean(ln.earlier, oneline=True)})" if ln.earlier else ""
        out.append(
            f"  {ln.label}: {ln.kind.capitalize()} {clean(ln.who, oneline=True)} "
            f"on {ln.patches}{where}"
        )
    return out


def format_status(st: IndexStatus) -> str:
    """`kvmsearch status` for humans."""
    counts = st.counts
    lines = [
        f"index: {st.home}",
        f"generation: {st.generation} (built {st.built_at}, {st.build_seconds:.1f}s)",
        f"kvmsearch {st.kvmsearch_version}, index format {st.format_version}",
        f"messages: {counts.get('messages')}, series versions: {counts.get('series_versions')}, "
        f"families: {counts.get('families')}, chunks: {counts.get('chunks')}",
    ]
    if counts.get("kinds"):
        lines.append("kinds: " + ", ".join(f"{n} {k}" for k, n in sorted(counts["kinds"].items())))
    if counts.get("skipped"):
        lines.append(f"skipped messages: {counts['skipped']}")
    if st.model:
        lines.append(f"model: {st.model.get('name')} sha256 {str(st.model.get('sha256'))[:16]}…")
    lines.append(
        f"size on disk: {st.size_bytes / 1e6:.1f} MB ({len(st.generations)} generation(s) kept)"
    )
    lines.append("sources:")
    for s in st.sources:
        pos = ", ".join(
            f"{k}={v}" for k, v in list(s.position.items())[:3] if not isinstance(v, (dict, list))
        )
        gone = "" if s.exists else "  (MISSING)"
        lines.append(f"  {clean(s.path)} [{s.kind}]{gone}" + (f"  {clean(pos)}" if pos else ""))
    return "\n".join(lines)


_MARK = {"unchanged": "=", "changed": "~", "new": "+", "dropped": "-"}


def format_diff(d: VersionDiff, *, interdiff_lines: int = 60) -> str:
    """`kvmsearch diff`: a summary line, then one line per patch (= unchanged, ~
    changed with its interdiff, + new, - dropped)."""
    c = d.counts()
    n_new = sum(1 for p in d.patches if p.status != "dropped")
    lines = [
        f"v{d.old_version} -> v{d.new_version}  {clean(d.title, oneline=True)}: "
        f"{n_new} patches in v{d.new_version}: {c['unchanged']} unchanged, "
        f"{c['changed']} changed, {c['new']} new; {c['dropped']} dropped",
        f"  v{d.old_version} <{clean(d.old_message_id)}>  {lore_url(d.old_message_id)}",
        f"  v{d.new_version} <{clean(d.new_message_id)}>  {lore_url(d.new_message_id)}",
    ]
    if not d.diffs_stored:
        lines.append(
            "  (this index's message store predates stored diffs: changed patches show "
            "no interdiff until `kvmsearch rebuild`)"
        )
    for p in d.patches:
        num = p.new_index if p.status != "dropped" else p.old_index
        where = f"{num}" if num is not None else "-"
        extra = ""
        if p.status == "changed":
            extra = f"  (+{p.added} -{p.removed})" if p.interdiff is not None else ""
            if p.interdiff is not None and not p.interdiff:
                extra = "  (the diffs differ only in whitespace, offsets, index lines or signature)"
        lines.append(f"  {_MARK[p.status]} {where:>3} {clean(p.subject, oneline=True)}{extra}")
        if p.status == "changed" and p.interdiff:
            body = p.interdiff.splitlines()[2:]  # the ---/+++ header names nothing
            for ln in body[:interdiff_lines]:
                lines.append("        " + clean(ln))
            if len(body) > interdiff_lines:
                lines.append(
                    f"        ... {len(body) - interdiff_lines} more lines (--json has all)"
                )
    return "\n".join(lines)

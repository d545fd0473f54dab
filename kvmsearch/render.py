"""Human-readable rendering. Text from mail is hostile: neutralise it before printing."""

from __future__ import annotations

import re
import textwrap

from kvmsearch.models.records import ParseReport, SeriesVersion

# C0 controls except \t and \n, DEL, C1 controls (incl. the 8-bit CSI 0x9b), and the
# bidi overrides/isolates that can visually reorder a line ("Trojan Source").
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str, *, oneline: bool = False) -> str:
    """Make mail text safe for a terminal: an ESC can't start a sequence, etc."""
    if oneline:
        text = " ".join(text.split())
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


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
        meta.append(f"tree {v.tree}")
    if v.lists:
        meta.append(", ".join(v.lists))
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
        lines.append("  " + textwrap.shorten(f"{e.version}: {text}", width=width - 2,
                                             placeholder=" …"))
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
    for reason, n in sorted(r.other.items()):
        lines.append(f"  not a series ({reason}): {n}")
    for reason, n in sorted(r.skip_counts().items()):
        lines.append(f"  skipped ({reason}): {n}")
    lines.append(f"series versions: {r.series_versions} ({kinds})")
    lines.append(f"families: {r.families}")
    return "\n".join(lines)


def format_skips(r: ParseReport, *, limit: int = 20) -> str:
    out = []
    for s in r.skips[:limit]:
        detail = f" ({clean(s.detail, oneline=True)})" if s.detail else ""
        out.append(f"  {clean(s.where, oneline=True)}: {s.reason}{detail}")
    if len(r.skips) > limit:
        out.append(f"  … and {len(r.skips) - limit} more")
    return "\n".join(out)

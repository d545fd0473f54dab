"""`kvmsearch mcp`: the index as Model Context Protocol tools, over stdio.

Built on the official SDK (``mcp``). Each tool returns a compact structured result an
agent can cite: Message-IDs and lore links for every version, never whole mails. A
library error comes back as a tool error (``is_error``) with the CLI's message; the
agent reads it, the server goes on.

Tools: ``search``, ``show_series``, ``diff_versions``, ``index_status``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

# Imported here, not in the tools: the SDK evaluates the tools' annotations
# (``Annotated[str, Field(...)]``) in this module's namespace. This module loads only
# for `kvmsearch mcp`.
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from kvmsearch.models.errors import KvmsearchError
from kvmsearch.models.query import MODES, SearchRequest

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from kvmsearch.index import Index
    from kvmsearch.models.records import Hit, SeriesVersion, VersionRef

# The tools return dict[str, Any]: the SDK turns a tool's return annotation into its
# output schema, and these are JSON objects of mixed values (it reads no recursive alias).
T = TypeVar("T")

#: hits one search tool call may return: an agent's context is the scarce thing
MAX_TOOL_LIMIT = 50

_INSTRUCTIONS = (
    "Search KVM mailing-list patch series (kvm, kvmarm, virtualization, kvm-ppc, QEMU, "
    "kvm-unit-tests, kvmtool): which series touched a file, identifier or topic, why, "
    "its versions, reviews and where it landed. Cite the lore links."
)


def _day(d: datetime | None) -> str | None:
    return d.strftime("%Y-%m-%d") if d else None


def _version_ref(v: VersionRef | SeriesVersion) -> dict[str, Any]:
    """A version as an agent cites it: number, date, Message-ID and lore link."""
    from kvmsearch.render import lore_url

    return {
        "version": v.version,
        "rfc": v.rfc,
        "date": _day(v.date),
        "message_id": v.message_id,
        "lore": lore_url(v.message_id),
    }


def hit_record(h: Hit) -> dict[str, Any]:
    """One hit, compactly: the fields an agent quotes."""

    return {
        "title": h.title,
        "series": h.series or h.family,
        "score": h.score,
        "author": h.author,
        "lists": list(h.lists),
        "tree": h.tree,
        "versions": [{**_version_ref(v), "landing": v.landing} for v in h.versions],
        "files": list(h.files),
        "why": list(h.why),
        "changelog": [
            {"version": e.version, "text": " / ".join(e.items) if e.items else e.text}
            for e in h.changelog
        ],
        "landed": h.landing.summary(h.landing_patches) if h.landing.status != "none" else None,
        "reviewers": h.reviewers,
        "asked_by": [
            {"item": a.item, "by": a.who, "message_id": a.message_id} for a in h.asked_by[:6]
        ],
    }


def series_record(versions: list[SeriesVersion]) -> dict[str, Any]:
    """The `show` timeline as data: newest version first."""
    from kvmsearch.render import lore_url, version_views

    return {
        "title": versions[0].title,
        "family": versions[0].family,
        "versions": [
            {
                **_version_ref(view.version),
                "subject": view.version.subject,
                "author": view.version.author,
                "patches": [
                    {"n": p.index, "subject": subject, "message_id": p.message_id}
                    for p, (_num, subject) in zip(view.version.patches, view.patches, strict=True)
                ],
                "changes": [
                    {"version": e.version, "items": list(e.items) or [e.text]} for e in view.changes
                ],
                "asked": [
                    {"item": a.item, "by": a.who, "message_id": a.message_id, "how": a.how}
                    for a in view.version.asked
                ],
                "reviews": [
                    {
                        "who": n.who,
                        "on": label,
                        "message_id": n.message_id,
                        "lore": lore_url(n.message_id),
                        "excerpt": n.excerpt,
                        "answers": list(n.answers[:1]),
                    }
                    for label, n in view.reviews[:20]
                ],
                "motivation": view.version.cover.motivation[:1500],
                "files": list(view.version.cover.files),
                "landed": view.landing,
                "landing_evidence": [
                    {
                        "message_id": ev.message_id,
                        "lore": lore_url(ev.message_id),
                        "sentence": ev.sentence,
                    }
                    for ev in view.version.landing.evidence[:3]
                ],
                "trailers": [
                    {"kind": ln.kind, "who": ln.who, "status": ln.status, "patches": ln.patches}
                    for ln in view.ledger
                ],
                "lineage": [
                    {"earlier": ln.earlier, "reason": ln.reason, "strength": ln.strength}
                    for ln in view.version.lineage
                ],
            }
            for view in version_views(versions)
        ],
    }


# object: the SDK's parameter is the lifespan context's type; this server has none
def build_server(index: Index) -> MCPServer[object]:
    """The MCP server with its tools over ``index`` (one call at a time)."""
    from kvmsearch import __version__

    server = MCPServer("kvmsearch", version=__version__, instructions=_INSTRUCTIONS)
    lock = threading.Lock()

    def guarded(fn: Callable[[], T]) -> T:
        with lock:
            try:
                return fn()
            except KvmsearchError as e:
                raise ToolError(str(e)) from None

    @server.tool()
    def search(
        query: Annotated[
            str,
            Field(
                description="What to look for: words, a path (arch/arm64/kvm/pvtime.c), an "
                'identifier (KVM_CAP_ARM_MTE), "phrases", and inline filters author:, '
                "list:, tree:, file:, since:YYYY[-MM[-DD]], until:, kind:pull|stable, "
                "status:applied|partial|landed|none, reviewer: (who gave Reviewed-by or "
                'Acked-by), review:word or review:"a phrase" (what reviewers wrote); '
                "and lore's prefixes: f: (author), s: (subject words), b: (body words), "
                "dfn: (file), l: (list), d:YYYYMMDD..YYYYMMDD (either end open), -word or "
                '-"phrase" to exclude, m:MESSAGE-ID (the series holding that cover, patch '
                "or reply; a query that is only a Message-ID or lore link means the same)"
            ),
        ],
        limit: Annotated[int, Field(ge=1, le=MAX_TOOL_LIMIT, description="Series to return.")] = 10,
        mode: Annotated[
            str, Field(description="hybrid (default), lexical or semantic.")
        ] = "hybrid",
    ) -> dict[str, Any]:
        """Find KVM patch series: ranked series with every version's Message-ID and lore
        link, the files, the sentences that say why it matches, changelog entries and
        where it landed."""
        if mode not in MODES:
            raise ToolError(f"mode {mode!r} is not one of {', '.join(MODES)}")
        req = SearchRequest.from_options(query, limit=limit, mode=mode)
        hits = guarded(lambda: index.search(req))
        return {"query": query, "hits": [hit_record(h) for h in hits]}

    @server.tool()
    def show_series(
        message_id: Annotated[
            str,
            Field(
                description="A Message-ID of the series (its cover, a patch or a reply to "
                "them), its family id, or a lore link to one of its messages."
            ),
        ],
    ) -> dict[str, Any]:
        """Every version of a series, newest first: date, lore link, patch list, that
        version's own changelog (with the reply that asked for a change, where known),
        files, review trailers (given, carried, dropped), the reviewers' replies (up to
        20 per version: who, on which patch, their first words, the quoted line they
        answered, lore link), where it landed and why versions were joined."""
        from kvmsearch.indexer.text.links import message_id_from_user

        mid = message_id_from_user(message_id)
        return series_record(guarded(lambda: index.show(mid)))

    @server.tool()
    def diff_versions(
        message_id: Annotated[
            str, Field(description="Any Message-ID of the series, its family id or a lore link.")
        ],
        old: Annotated[
            str | None,
            Field(
                description="The earlier version, e.g. 2 or v2 (default: the one before the "
                "newest)."
            ),
        ] = None,
        new: Annotated[
            str | None, Field(description="The later version (default: the newest).")
        ] = None,
    ) -> dict[str, Any]:
        """Compare two versions of a series patch by patch, without a git tree:
        unchanged (same stable patch id), changed (with the interdiff, offsets and
        index lines masked), new or dropped, with both versions' lore links."""
        from kvmsearch.indexer.text.links import message_id_from_user
        from kvmsearch.render import lore_url

        mid = message_id_from_user(message_id)
        d = guarded(lambda: index.diff(mid, old, new))
        return {
            "title": d.title,
            "old": {
                "version": d.old_version,
                "message_id": d.old_message_id,
                "lore": lore_url(d.old_message_id),
            },
            "new": {
                "version": d.new_version,
                "message_id": d.new_message_id,
                "lore": lore_url(d.new_message_id),
            },
            "counts": d.counts(),
            "diffs_stored": d.diffs_stored,
            "patches": [
                {
                    "status": p.status,
                    "subject": p.subject,
                    "old_index": p.old_index,
                    "new_index": p.new_index,
                    "message_id": p.new_message_id or p.old_message_id,
                    # an agent's context is scarce: the first 80 lines of an interdiff
                    "interdiff": "\n".join((p.interdiff or "").splitlines()[:80]) or None,
                }
                for p in d.patches
            ],
        }

    @server.tool()
    def index_status() -> dict[str, Any]:
        """The index: generation, when it was built, counts of messages, series versions
        and families, and each source with its read position."""
        st = guarded(index.status)
        return {
            "generation": st.generation,
            "built_at": st.built_at,
            "counts": dict(st.counts),
            "sources": [
                {"source": s.path, "kind": s.kind, "present": s.exists} for s in st.sources
            ],
            "damaged": [f"{p.part} {p.path}: {p.what}" for p in st.damaged],
        }

    return server


def run_mcp(index: Index) -> None:
    """Serve MCP over stdin/stdout until the client closes it."""
    build_server(index).run("stdio")

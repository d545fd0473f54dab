"""What `kvmsearch search` and `kvmsearch show` print, as a :class:`CliReply`.

One function per read-only command turns its parsed options into the exact stdout,
stderr and exit code. The CLI runs it in its own process; `kvmsearch serve` runs the
same function for a forwarded call, so the output is identical either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from kvmsearch.models.errors import KvmsearchError, NotFoundError, QueryError
from kvmsearch.models.service import CliReply

if TYPE_CHECKING:
    from kvmsearch.index import Index
    from kvmsearch.models.query import SearchRequest
    from kvmsearch.models.records import Hit


def error_line(msg: str) -> str:
    """Every message the CLI writes to stderr: ``kvmsearch: ...``, one line, cleaned
    (error messages can quote mail: a Message-ID, a source's complaint)."""
    from .render import clean

    return f"kvmsearch: {clean(msg, oneline=True)}\n"


def error_reply(e: KvmsearchError) -> CliReply:
    return CliReply(stderr=error_line(f"error: {e}"), exit_code=e.exit_code)


def _json(obj: object) -> str:
    from kvmsearch.models.serialize import json_line

    return json_line(obj) + "\n"


def run_search(
    open_index: Callable[[], Index],
    *,
    query: Sequence[str] | None,
    limit: int,
    as_json: bool,
    mode: str,
    explain: bool,
    author: Sequence[str] | None,
    list_: Sequence[str] | None,
    tree: Sequence[str] | None,
    file: Sequence[str] | None,
    since: str | None,
    until: str | None,
    all_versions: bool,
    kind: Sequence[str] | None,
    reviewer: Sequence[str] | None,
    status: Sequence[str] | None,
    review: Sequence[str] | None = None,
    queries: str | None = None,
    color: bool = False,
) -> CliReply:
    """`kvmsearch search`: hits as text or JSON lines; exit 1 (as grep) on no match."""
    from kvmsearch.models.query import SearchRequest

    if queries is not None and query:
        raise QueryError("give either a query or --queries FILE, not both")
    request = SearchRequest.from_options(
        " ".join(query or []),
        limit=limit,
        mode=mode,
        explain=explain,
        author=author,
        list_=list_,
        tree=tree,
        file=file,
        since=since,
        until=until,
        all_versions=all_versions,
        kind=kind,
        status=status,
        reviewer=reviewer,
        review=review,
    )
    idx = open_index()
    if queries is not None:
        from kvmsearch.query.evaluate import load_queries

        out = []
        failed: list[str] = []
        for q in load_queries(queries):
            try:
                hits = idx.search(replace(request, text=q.query))
            except (QueryError, NotFoundError) as e:
                # the query's own fault (a bad date, an unknown Message-ID): say so on its
                # line and run the rest; a damaged index still stops the batch
                failed.append(q.qid)
                out.append(_json({"qid": q.qid, "query": q.query, "error": str(e)}))
                continue
            out.append(_json({"qid": q.qid, "query": q.query, "hits": hits}))
        if failed:
            return CliReply(
                stdout="".join(out),
                stderr=error_line(
                    f"error: {len(failed)} of {len(out)} queries failed ({', '.join(failed[:5])}"
                    f'{", ..." if len(failed) > 5 else ""}); their lines carry "error"'
                ),
                exit_code=QueryError.exit_code,
            )
        return CliReply(stdout="".join(out))
    if not request.text.strip() and request.filters.is_empty():
        raise QueryError('nothing to search for; try kvmsearch "dirty log DBM"')
    hits = idx.search(request)
    if not hits:
        # exit 1, as grep does; with --json one line that says so, which no hit line
        # can be mistaken for (hits always carry "family")
        return CliReply(
            stdout=_json({"no_match": True, "query": request.text}) if as_json else "",
            stderr=error_line("no matching series"),
            exit_code=1,
        )
    note = _unspelled_note(request, hits)
    if as_json:
        return CliReply(stdout="".join(_json(h) for h in hits), stderr=note)
    from . import render

    return CliReply(
        stdout=render.format_hits(hits, color=color, explain=explain) + "\n", stderr=note
    )


def _unspelled_note(request: SearchRequest, hits: Sequence[Hit]) -> str:
    """A note when an identifier query was answered by the identifier's parts: no hit
    spells it (in its title or any line shown), so a reader must not take the list for
    the places it occurs."""
    from kvmsearch.query.evidence import spelled_by_none
    from kvmsearch.query.understand import understand

    plan = understand(request.text, request.filters)
    if plan.kind != "ident" or not spelled_by_none(plan.idents, hits):
        return ""
    return error_line(
        f"note: no cover, changelog or commit message here spells {', '.join(plan.idents)} "
        "(a diff may); these are the series that speak of its parts"
    )


def run_show(open_index: Callable[[], Index], *, message_id: str, as_json: bool) -> CliReply:
    """`kvmsearch show`: every version of the series, newest first."""
    from kvmsearch.indexer.text.links import message_id_from_user

    versions = open_index().show(message_id_from_user(message_id))
    if as_json:
        return CliReply(stdout="".join(_json(v) for v in versions))
    from . import render

    return CliReply(stdout=render.format_series(versions) + "\n")


def run_diff(
    open_index: Callable[[], Index],
    *,
    message_id: str,
    old: str | None,
    new: str | None,
    as_json: bool,
) -> CliReply:
    """`kvmsearch diff`: two versions of a series, patch by patch."""
    from kvmsearch.indexer.text.links import message_id_from_user

    d = open_index().diff(message_id_from_user(message_id), old, new)
    if as_json:
        return CliReply(stdout=_json(d))
    from . import render

    return CliReply(stdout=render.format_diff(d) + "\n")

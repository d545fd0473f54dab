"""The kvmsearch command line.

Search is the default command: `kvmsearch "dirty log DBM"` is `kvmsearch search "dirty log DBM"`.
Every library error becomes one line on stderr and an exit code; no tracebacks for user errors.
"""

from __future__ import annotations

import errno
import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from kvmsearch.models.errors import KvmsearchError
from kvmsearch.models.query import MAX_LIMIT, MODES
from kvmsearch.models.service import CliReply

if TYPE_CHECKING:
    from kvmsearch.index import Index
    from kvmsearch.indexer.index.build import StageFactory
    from kvmsearch.models.records import BuildOutcome

# Any: a decorator for commands of every signature
F = TypeVar("F", bound=Callable[..., Any])

_CONTEXT = {"help_option_names": ["-h", "--help"]}

# Group-level words that must not be taken as a search query.
_GROUP_WORDS = {"--help", "-h", "--version", "--install-completion", "--show-completion"}


def route_args(args: list[str], commands: object) -> list[str]:
    """The words as the group parses them: `--index DIR` and `--no-server` before a
    command move after it (`kvmsearch --index X show ID`), and an unknown first word
    means `search <words>`. The server routes a forwarded call the same way."""
    lead = 0
    while lead < len(args):
        word = args[lead]
        if word == "--index" and lead + 1 < len(args):
            lead += 2
        elif word.startswith("--index=") or word == "--no-server":
            lead += 1
        else:
            break
    if lead and len(args) > lead and args[lead] in commands:  # type: ignore[operator]
        args = [args[lead], *args[:lead], *args[lead + 1 :]]
    if args and args[0] not in commands and args[0] not in _GROUP_WORDS:  # type: ignore[operator]
        args = ["search", *args]
    return args


@contextmanager
def one_line_usage_errors() -> Iterator[None]:
    """Make click's usage errors raised inside print one line (:func:`one_line_usage_error`)."""
    try:
        yield
    except Exception as e:
        one_line_usage_error(e)
        raise


def one_line_usage_error(e: BaseException) -> None:
    """Make click's usage error (a bad option or value) print one line, ``kvmsearch:
    error: ...; see 'kvmsearch search -h'``, instead of the usage and a hint over four.

    Recognised by class name: typer vendors click and exports no UsageError. The error
    that shows the help for a bare ``kvmsearch`` is left as it is."""
    names = {c.__name__ for c in type(e).__mro__}
    if "UsageError" not in names or "NoArgsIsHelpError" in names:
        return
    ctx = getattr(e, "ctx", None)
    # the command's path under its own name, whatever the program was called as
    sub = ctx.command_path.partition(" ")[2] if ctx is not None else ""
    where = f"kvmsearch {sub} -h" if sub else "kvmsearch -h"
    msg = e.format_message().rstrip(".")  # type: ignore[attr-defined]  # a click UsageError
    option = getattr(e, "option_name", "") or ""
    if "NoSuchOption" in names and option.startswith("-") and not option.startswith("--"):
        # "-f:maz x" or "-word": lore's exclusion, which the shell hands over as an option
        msg += "; a query that starts with - goes after --: kvmsearch -- '-word ...'"

    def show(file: object = None) -> None:
        err(f"error: {msg}; see '{where}'")

    e.show = show  # type: ignore[attr-defined]  # typer's main calls e.show()


class DefaultSearchGroup(TyperGroup):
    """A group whose unknown first word means `search <words>`; usage errors print one
    line (:func:`one_line_usage_error`)."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]  # typer's stubs name its vendored click Context
        with one_line_usage_errors():
            return super().parse_args(ctx, route_args(args, self.commands))

    def invoke(self, ctx: typer.Context) -> object:  # type: ignore[override]  # as above
        with one_line_usage_errors():  # a subcommand's options are parsed in here
            return super().invoke(ctx)


app = typer.Typer(
    cls=DefaultSearchGroup,
    help=(
        "Which KVM patch series touched X, and why.\n\n"
        'Search is the default command: kvmsearch "dirty log DBM".'
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=_CONTEXT,
)


def _version(value: bool) -> None:
    if value:
        from kvmsearch import __version__

        typer.echo(f"kvmsearch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Which KVM patch series touched X, and why."""


def err(msg: str) -> None:
    from .commands import error_line

    sys.stderr.write(error_line(msg))


def use_color() -> bool:
    """Colour on a terminal, unless NO_COLOR (https://no-color.org) or TERM=dumb says no."""
    from .client import stdout_takes_color

    return stdout_takes_color()


def handle_errors(fn: F) -> F:
    """Turn library errors into one-line messages and exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return fn(*args, **kwargs)
        except KvmsearchError as e:
            err(f"error: {e}")
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            err("interrupted")
            raise typer.Exit(130) from None
        except BrokenPipeError:
            # `kvmsearch ... | head`: the reader left; that's not an error of ours.
            sys.stderr.close()
            raise typer.Exit(0) from None
        except OSError as e:
            # The library names the paths it can check; anything else the file system
            # refuses (a full disk, a permission) is still one line, not a traceback.
            from kvmsearch.models.errors import FileSystemError

            what = f" ({e.filename})" if e.filename else ""
            hint = (
                "free some space and run it again"
                if e.errno == errno.ENOSPC
                else "check the path and its permissions"
            )
            err(f"error: {e.strerror or e}{what}; {hint}")
            raise typer.Exit(FileSystemError.exit_code) from None

    return wrapper  # type: ignore[return-value]


def deliver(reply: CliReply) -> None:
    """Print a command's reply and exit with its code."""
    sys.stdout.write(reply.stdout)
    sys.stdout.flush()
    sys.stderr.write(reply.stderr)
    if reply.exit_code:
        raise typer.Exit(reply.exit_code)


def emit_json(obj: object, *, with_patches: bool = False) -> None:
    """Every --json output: one line per record, written by models.serialize."""
    from kvmsearch.models.serialize import json_line

    sys.stdout.write(json_line(obj, with_patches=with_patches) + "\n")


# --------------------------------------------------------------------------- parse


@app.command()
@handle_errors
def parse(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Archives: mbox/mboxrd (.gz, .xz), Maildir, public-inbox git (v1, v2, bare), "
            "patchwork exports, or a directory of such files.",
            show_default=False,
            metavar="PATH",
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per series version (JSON lines).")
    ] = False,
    patches: Annotated[
        bool, typer.Option("--patches", help="With --json, include each patch's commit message.")
    ] = False,
    show_skips: Annotated[
        bool, typer.Option("--skips", help="List every skipped message with its reason.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary on stderr.")] = False,
) -> None:
    """Show what the parser sees: series versions, families and their cover fields.

    A summary (messages read, duplicates, replies, series versions, families, skips by
    reason) goes to stderr.
    """
    from kvmsearch.indexer.series.pipeline import parse_paths

    from . import render
    from .progress import progress_for

    with progress_for("reading mail", enabled=not quiet) as prog:
        result = parse_paths(paths, progress=prog)
    for v in sorted(result.versions, key=lambda v: (v.date is None, v.date or 0, v.message_id)):
        if as_json:
            emit_json(v, with_patches=patches)
        else:
            typer.echo(render.format_version(v))
            typer.echo()
    if not quiet:
        err_out = render.format_report(result.report)
        typer.echo(err_out, err=True)
        if (result.report.skips or result.report.problems) and show_skips:
            typer.echo(render.format_skips(result.report, limit=10**9), err=True)
        elif result.report.skips or result.report.problems:
            typer.echo(render.format_skips(result.report, limit=5), err=True)
            typer.echo("  (--skips lists them all)", err=True)
    for failure in result.report.source_errors:
        err(f"error: {failure.error}")
    if result.report.source_errors:
        raise typer.Exit(6)


# --------------------------------------------------------------------------- index

IndexOpt = Annotated[
    str | None,
    typer.Option(
        "--index",
        help="Index directory (default: $KVMSEARCH_HOME, else the XDG data dir).",
        show_default=False,
        metavar="DIR",
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary (cron).")]

index_app = typer.Typer(
    help="Create an index and register its sources.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings=_CONTEXT,
)
app.add_typer(index_app, name="index")


def _stage_factory(quiet: bool) -> StageFactory:
    from .progress import stage

    return lambda name: stage(name, enabled=not quiet)


def _report_build(outcome: BuildOutcome, quiet: bool, as_json: bool = False) -> None:
    if as_json:
        emit_json(outcome)
    elif not quiet:
        if outcome.generation is None:
            err("nothing new; the index is up to date")
        else:
            read = "messages read" if outcome.rebuilt else "new messages"
            err(
                f"generation {outcome.generation}: {outcome.new_messages} {read}, "
                f"{outcome.versions_changed} series versions changed, "
                f"{outcome.versions_deleted} removed; {outcome.versions} versions in "
                f"{outcome.families} families, {outcome.chunks} chunks "
                f"({outcome.chunks_embedded} embedded)"
            )
    for failure in outcome.source_errors:
        err(f"error: {failure.error}")
    if outcome.source_errors:
        raise typer.Exit(6)


BuildJsonOpt = Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")]


def _build(
    index: str | None,
    quiet: bool,
    as_json: bool,
    run: Callable[[Index, StageFactory], BuildOutcome],
) -> None:
    """One path for add/update/rebuild: open the home, run with progress, report."""
    from kvmsearch.index import Index

    _report_build(run(Index(index), _stage_factory(quiet or as_json)), quiet, as_json)


@index_app.command("add")
@handle_errors
def index_add(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Archives to register: mbox/.gz/.xz, Maildir, public-inbox git (v1, v2, bare), "
            "patchwork exports, or directories of them.",
            show_default=False,
            metavar="SOURCE",
        ),
    ],
    index: IndexOpt = None,
    quiet: QuietOpt = False,
    as_json: BuildJsonOpt = False,
) -> None:
    """Register sources and build (or extend) the index."""
    _build(index, quiet, as_json, lambda idx, stage: idx.add(sources, stage=stage))


@app.command()
@handle_errors
def update(
    index: IndexOpt = None,
    quiet: QuietOpt = False,
    as_json: BuildJsonOpt = False,
) -> None:
    """Read what is new in every registered source and switch to a new generation.

    Exit 0 when the index is current (whether or not anything was new); 4 when another
    update holds the lock; 6 when a registered source could not be read (the others
    were still updated); 2 for a bad option.
    """
    _build(index, quiet, as_json, lambda idx, stage: idx.update(stage=stage))


@app.command()
@handle_errors
def rebuild(
    index: IndexOpt = None,
    quiet: QuietOpt = False,
    as_json: BuildJsonOpt = False,
) -> None:
    """Re-read every registered source from the start and rebuild the whole index.

    The message store is rebuilt too, so mail no longer in a source leaves the index.
    The current index serves until the new one is complete.
    """
    _build(index, quiet, as_json, lambda idx, stage: idx.rebuild(stage=stage))


@app.command()
@handle_errors
def status(
    index: IndexOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable status.")] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Check every file of the serving generation, the query model and the "
            "model package against the checksums recorded at build time, and the message "
            "store and embedding cache for damage; name what is damaged and the command "
            "that repairs it. Exit 3 when anything is.",
        ),
    ] = False,
) -> None:
    """Generation, counts, sources and their read positions, last update, model."""
    from kvmsearch.index import Index

    if verify:
        rep = Index(index).verify()
        if as_json:
            emit_json(rep)
        else:
            mb = rep.bytes_checked / 1e6
            if rep.ok:
                typer.echo(
                    f"verified generation {rep.generation}: {rep.files_checked} "
                    f"files, {mb:.1f} MB, in {rep.seconds:.1f}s: all intact"
                )
            for p in rep.problems:
                err(f"damaged: {p.part} {p.path}: {p.what}; repair: {p.repair}")
        if not rep.ok:
            raise typer.Exit(3)
        return
    st = Index(index).status()
    if as_json:
        emit_json(st)
    else:
        from . import render

        typer.echo(render.format_status(st))
    for p in st.damaged:
        err(f"damaged: {p.part} {p.path}: {p.what}; repair: {p.repair}")
    if st.damaged:
        raise typer.Exit(3)


# --------------------------------------------------------------------------- search

NoServerOpt = Annotated[
    bool,
    typer.Option(
        "--no-server",
        help="Answer in this process even when `kvmsearch serve` runs for this index.",
    ),
]
ModeOpt = Annotated[
    str, typer.Option("--mode", help="hybrid, lexical or semantic.", metavar="MODE")
]


@app.command()
@handle_errors
def search(
    query: Annotated[
        list[str] | None,
        typer.Argument(
            help="What to look for: words, a path (drivers/vhost/, pvtime.c), an identifier "
            '(KVM_CAP_STEAL_TIME), "quoted phrases" and inline filters (author:maz '
            "list:kvmarm tree:qemu file:arch/arm64/kvm/ since:2021-01 until:2022 kind:pull "
            "status:applied). lore's prefixes work too: f:maz s:word (subjects) b:word "
            "(bodies) dfn:PATH l:LIST d:20210101..20211231 (either end open), -word or "
            '-"a phrase" to exclude (-s:/-b: likewise), m:MESSAGE-ID for the series holding '
            "that cover, patch or reply (a pasted Message-ID or lore link alone means the "
            "same); start with -- if the query does.",
            show_default=False,
            metavar="QUERY",
        ),
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", "-n", min=1, max=MAX_LIMIT, metavar="N", help="How many series to show."
        ),
    ] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per hit.")] = False,
    mode: ModeOpt = "hybrid",
    explain: Annotated[bool, typer.Option("--explain", help="Show each score's parts.")] = False,
    author: Annotated[
        list[str] | None,
        typer.Option(
            "--author",
            help="Author name or address contains this (repeatable).",
            show_default=False,
            metavar="WHO",
        ),
    ] = None,
    list_: Annotated[
        list[str] | None,
        typer.Option(
            "--list",
            help="List id contains this, e.g. kvmarm (repeatable).",
            show_default=False,
            metavar="LIST",
        ),
    ] = None,
    tree: Annotated[
        list[str] | None,
        typer.Option(
            "--tree",
            help="kvm-unit-tests, kvmtool, qemu, ... (repeatable).",
            show_default=False,
            metavar="TREE",
        ),
    ] = None,
    file: Annotated[
        list[str] | None,
        typer.Option(
            "--file",
            help="Touches this path, directory or file name (repeatable).",
            show_default=False,
            metavar="PATH",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Posted on or after YYYY[-MM[-DD]].", show_default=False, metavar="DATE"
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", help="Posted before YYYY[-MM[-DD]].", show_default=False, metavar="DATE"
        ),
    ] = None,
    all_versions: Annotated[
        bool, typer.Option("--all-versions", help="One hit per version instead of per series.")
    ] = False,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="series (the default), pull (pull requests) or stable (backports); "
            "repeatable. Inline: kind:pull.",
            show_default=False,
            metavar="KIND",
        ),
    ] = None,
    reviewer: Annotated[
        list[str] | None,
        typer.Option(
            "--reviewer",
            help="Someone who gave Reviewed-by or Acked-by on it (name or address contains "
            "this; repeatable). Inline: reviewer:maz.",
            show_default=False,
            metavar="WHO",
        ),
    ] = None,
    review: Annotated[
        list[str] | None,
        typer.Option(
            "--review",
            help="Words or a phrase a reviewer wrote in a reply to it (their own text, not "
            "the quotes or the author's answers; the first 4 KB per version; repeatable, "
            "any of them). "
            'Inline: review:mmu_lock, review:"use after free".',
            show_default=False,
            metavar="TEXT",
        ),
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            help="Where it landed, as the archive's replies say: applied (every patch of a "
            "version), partial, landed (either) or none (no reply says so); repeatable. "
            "Inline: status:applied.",
            show_default=False,
            metavar="STATUS",
        ),
    ] = None,
    queries: Annotated[
        str | None,
        typer.Option(
            "--queries",
            help='Batch mode: a JSONL file of {"qid", "query"} lines; writes '
            '{"qid", "query", "hits"} lines.',
            show_default=False,
            metavar="FILE",
        ),
    ] = None,
    index: IndexOpt = None,
    no_server: NoServerOpt = False,
) -> None:
    """Which series touched X, and why. The default command: kvmsearch "dirty log DBM"."""
    from kvmsearch.index import Index

    from .commands import run_search

    deliver(
        run_search(
            lambda: Index.open(index),
            query=query,
            limit=limit,
            as_json=as_json,
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
            reviewer=reviewer,
            review=review,
            status=status,
            queries=queries,
            color=use_color(),
        )
    )


@app.command()
@handle_errors
def show(
    message_id: Annotated[
        str,
        typer.Argument(
            help="A Message-ID of the series (its cover, a patch, a reply) or its family id; "
            "a lore or patchwork link to a message works too.",
            show_default=False,
            metavar="ID",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per version.")] = False,
    mbox: Annotated[
        str | None,
        typer.Option(
            "--mbox",
            metavar="VERSION",
            help="Write that version (3 or v3) as an mboxrd on stdout instead: the cover, "
            "then the patches in order with their diffs, for `git am` or `b4 am` "
            "(kvmsearch show ID --mbox 3 > v3.mbox).",
            show_default=False,
        ),
    ] = None,
    index: IndexOpt = None,
    no_server: NoServerOpt = False,
) -> None:
    """A series with every version, newest first: patches, its own changelog delta and
    the reviews that asked for it, the review ledger, where it landed, lore links."""
    from kvmsearch.index import Index

    from .commands import run_show

    if mbox is not None:
        if sys.stdout.isatty():
            # raw mail to a terminal: its escape sequences would reach the terminal
            raise typer.BadParameter(
                "--mbox writes mail; redirect it to a file (> v3.mbox) or pipe it to git am",
                param_hint="--mbox",
            )
        from kvmsearch.indexer.text.links import message_id_from_user

        export = Index.open(index).mbox(message_id_from_user(message_id), mbox)
        sys.stdout.buffer.write(export.data)
        sys.stdout.flush()
        for problem in export.problems:
            err(f"warning: {problem}")
        err(f"wrote v{export.version}: {export.mails} mails")
        return
    deliver(run_show(lambda: Index.open(index), message_id=message_id, as_json=as_json))


@app.command()
@handle_errors
def diff(
    message_id: Annotated[
        str,
        typer.Argument(
            help="A Message-ID of the series (its cover, a patch, a reply), its family id or "
            "a lore link.",
            show_default=False,
            metavar="ID",
        ),
    ],
    old: Annotated[
        str | None,
        typer.Argument(help="The earlier version (3 or v3).", show_default=False, metavar="A"),
    ] = None,
    new: Annotated[
        str | None,
        typer.Argument(
            help="The later version (default: the newest).", show_default=False, metavar="B"
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="The comparison as one JSON object.")
    ] = False,
    index: IndexOpt = None,
    no_server: NoServerOpt = False,
) -> None:
    """Compare two versions of a series without a git tree (default: the newest two).

    Patches are matched by stable patch id, then by subject: unchanged (=), changed (~,
    with the interdiff of the two diffs, index lines and hunk offsets masked), new (+)
    or dropped (-); a summary line first.
    """
    from kvmsearch.index import Index

    from .commands import run_diff

    deliver(
        run_diff(
            lambda: Index.open(index), message_id=message_id, old=old, new=new, as_json=as_json
        )
    )


@app.command()
@handle_errors
def serve(
    index: IndexOpt = None,
    host: Annotated[
        str,
        typer.Option("--host", help="Address for the web UI and JSON API.", metavar="ADDR"),
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            "--port", "-p", min=0, max=65535, help="TCP port; 0 picks a free one.", metavar="N"
        ),
    ] = 8737,
    no_http: Annotated[
        bool, typer.Option("--no-http", help="Only the Unix socket (for the CLI); no TCP port.")
    ] = False,
    socket_file: Annotated[
        str | None,
        typer.Option(
            "--socket",
            help="Unix socket path (default: one per index under $XDG_RUNTIME_DIR/kvmsearch, "
            "which the CLI finds by itself).",
            show_default=False,
            metavar="PATH",
        ),
    ] = None,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Allow a --host that is not loopback. There is no authentication: anyone "
            "who reaches the port can search the index.",
        ),
    ] = False,
) -> None:
    """Keep the index and the query model loaded and answer the CLI, a JSON API and a
    local web UI (http://127.0.0.1:8737/).

    While it runs, `kvmsearch "..."` and `kvmsearch show` for the same index are answered
    by it (same output, in milliseconds). It never writes the index and follows updates:
    the next request after `kvmsearch update` uses the new generation.
    """
    from kvmsearch.index import Index

    from .client import resolve_index, socket_path
    from .serve import LOOPBACK, check_host, run_server

    check_host(host, allow_remote)
    if allow_remote and host not in LOOPBACK:
        err(f"warning: serving {host} without authentication")
    idx = Index.open(index)
    sock = socket_file or socket_path(resolve_index(str(idx.path)))
    run_server(
        idx,
        host=host,
        port=None if no_http else port,
        socket_file=sock,
        on_ready=lambda where: err(f"serving {idx.path} on {where}"),
    )


@app.command()
@handle_errors
def mcp(index: IndexOpt = None) -> None:
    """A Model Context Protocol server on stdin/stdout for AI agents: tools search,
    show_series and index_status. Register it with a client as the command
    `kvmsearch mcp --index DIR`."""
    from kvmsearch.index import Index

    from .mcp_server import run_mcp

    run_mcp(Index.open(index))


@app.command("eval")
@handle_errors
def eval_(
    queries: Annotated[
        str,
        typer.Argument(
            help="Judged queries (JSONL with qid, kind, query, relevant).",
            show_default=False,
            metavar="FILE",
        ),
    ],
    modes: Annotated[
        list[str] | None,
        typer.Option(
            "--mode",
            help="Modes to score (repeatable; default: all three).",
            show_default=False,
            metavar="MODE",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Scores as JSON.")] = False,
    index: IndexOpt = None,
) -> None:
    """MRR@10, Recall@10, nDCG@10 and Success@1 per query kind, for each mode."""
    from kvmsearch.index import Index
    from kvmsearch.query.evaluate import evaluate, format_report, load_queries

    qs = load_queries(queries)
    idx = Index.open(index)
    reports = {}
    for mode in modes or list(MODES):
        results = {}
        for q in qs:
            hits = idx.search(q.query, limit=10, mode=mode)
            results[q.qid] = [[v.message_id for v in h.versions] for h in hits]
        # credited per series, the unit a hit stands for (families are whole lineages)
        reports[mode] = evaluate(qs, results, idx.series_of)
    if as_json:
        emit_json(reports)
    else:
        typer.echo(format_report(reports))


def main() -> None:
    """The full CLI (the console script is ``kvmsearch.client:main``, which tries a
    running server first)."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

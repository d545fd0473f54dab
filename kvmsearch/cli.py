"""The kvmsearch command line.

Search is the default command: `kvmsearch "dirty log DBM"` is `kvmsearch search "dirty log DBM"`.
Every library error becomes one line on stderr and an exit code; no tracebacks for user errors.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from kvmsearch.models.errors import KvmsearchError

F = TypeVar("F", bound=Callable[..., Any])

# Group-level words that must not be taken as a search query.
_GROUP_WORDS = {"--help", "-h", "--version", "--install-completion", "--show-completion"}


class DefaultSearchGroup(TyperGroup):
    """A group whose unknown first word means `search <words>`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in _GROUP_WORDS:
            args = ["search", *args]
        return super().parse_args(ctx, args)


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
    typer.echo(f"kvmsearch: {msg}", err=True)


def handle_errors(fn: F) -> F:
    """Turn library errors into one-line messages and exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
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

    return wrapper  # type: ignore[return-value]


def emit_json(obj: Any) -> None:
    # ensure_ascii keeps the output valid 7-bit JSON whatever bytes the mail held.
    sys.stdout.write(json.dumps(obj, ensure_ascii=True) + "\n")


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
    from kvmsearch.indexer.pipeline import parse_paths
    from kvmsearch.models.serialize import version_to_dict

    from . import render
    from .progress import progress_for

    with progress_for("reading mail", enabled=not quiet) as prog:
        result = parse_paths(paths, progress=prog)
    for v in sorted(result.versions, key=lambda v: (v.date is None, v.date or 0, v.message_id)):
        if as_json:
            emit_json(version_to_dict(v, with_patches=patches))
        else:
            typer.echo(render.format_version(v))
            typer.echo()
    if not quiet:
        err_out = render.format_report(result.report)
        typer.echo(err_out, err=True)
        if result.report.skips and show_skips:
            typer.echo(render.format_skips(result.report, limit=10**9), err=True)
        elif result.report.skips:
            typer.echo(render.format_skips(result.report, limit=5), err=True)
            typer.echo("  (--skips lists them all)", err=True)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

"""The CLI as users call it (typer's CliRunner)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kvmsearch.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]


def test_help_lists_commands():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    assert "parse" in r.output


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.startswith("kvmsearch ")


def test_parse_missing_path_is_one_line_exit_2(tmp_path):
    r = runner.invoke(app, ["parse", str(tmp_path / "nope.mbox")])
    assert r.exit_code == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "nope.mbox" in lines[0]
    assert "Traceback" not in r.output


def test_parse_unsupported_file_exit_2(tmp_path):
    bad = tmp_path / "photo.bin"
    bad.write_bytes(bytes(range(256)) * 10)
    r = runner.invoke(app, ["parse", str(bad)])
    assert r.exit_code == 2
    assert "photo.bin" in r.stderr


def test_parse_default_data_json():
    import json

    r = runner.invoke(app, ["parse", "--json", str(REPO / "data")])
    assert r.exit_code == 0, r.output
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(objs) >= 20
    titles = {o["title"] for o in objs}
    assert "vDPA support" in titles
    for key in (
        "message_id",
        "family",
        "kind",
        "version",
        "rfc",
        "resend",
        "tree",
        "title",
        "tags",
        "author",
        "date",
        "lists",
        "has_cover",
        "patch_ids",
        "n_patches",
        "motivation",
        "changelog",
        "files",
        "shortlog",
        "links",
    ):
        assert key in objs[0], key
    assert "series versions:" in r.stderr


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["search", "--bogus", "x"], "No such option: --bogus; see 'kvmsearch search -h'"),
        (["-n", "many", "x"], "Invalid value for '--limit'"),
        (["show"], "Missing argument 'ID'; see 'kvmsearch show -h'"),
        # lore's exclusion first on the line: the shell hands it over as an option
        (["-f:maz x"], "a query that starts with - goes after --"),
    ],
)
def test_a_bad_option_is_one_line_exit_2(argv: list[str], words: str) -> None:
    r = runner.invoke(app, argv)
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("kvmsearch: error: ") and words in lines[0]
    assert "Usage:" not in r.output and "Traceback" not in r.output


def test_no_arguments_still_show_the_help() -> None:
    r = runner.invoke(app, [])
    assert "Usage:" in r.output and "search" in r.output

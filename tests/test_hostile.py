"""Hostile mail: inputs crafted to make a parser slow or big are parsed in linear time
and memory, or skipped with a report. (Their timings are in benchmarks/hostile.py and
BENCHMARKS.md; a quadratic regression here makes this file take minutes.)"""

from __future__ import annotations

import lzma
from pathlib import Path

import pytest

from kvmsearch.indexer.mail import sources
from kvmsearch.indexer.series.cover import parse_cover
from kvmsearch.indexer.series.pipeline import parse_paths
from kvmsearch.indexer.text.boilerplate import explains
from kvmsearch.indexer.text.diffstat import match_stat_line
from kvmsearch.indexer.text.links import is_link_line
from kvmsearch.indexer.text.quotes import reads_as_reply
from kvmsearch.query.evidence import sentences

N = 100_000

HOSTILE_LINES = {
    "url-then-commas": "http://a" + "," * N + " (",
    "spaces": "a" + " " * N + "x",
    "spaces-around-bar": "a" + " " * N + "| " + " " * N + "x",
    "mode-then-spaces": "create mode 100644 " + " " * N + "x",
    "rename-unclosed": "rename " + "a" * N + " (",
    "label-then-links": "v1" + " -" * N + " https://lore.kernel.org/r/x@y",
    # one token with no space in it: a link check of \S+://\S+ took 20 s on this
    "one-token": "x+0x1/" * (N // 6) + "://",
    "word-run": "with" * (N // 4) + "x",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_LINES))
def test_hostile_lines_parse(name: str) -> None:
    line = HOSTILE_LINES[name]
    parse_cover("Intro.\n\n" + line + "\n\nMore prose.\n")
    match_stat_line(line)
    is_link_line(line)


@pytest.mark.parametrize("name", sorted(HOSTILE_LINES))
def test_hostile_lines_as_why_lines_and_replies(name: str) -> None:
    line = HOSTILE_LINES[name]
    for sentence in sentences("Intro. " + line + " More prose."):
        explains(sentence, "KVM: arm64: a title")
    reads_as_reply("On Mon, X wrote:\n> " + line + "\n" + line)


def test_link_lines_still_recognised() -> None:
    for line in (
        "[1] https://lore.kernel.org/r/20200101.1-1-a@b.org",
        "v2: <20200101.1-1-a@b.org>",
        "Link to v1 - https://lore.kernel.org/r/x@y",
        "(git://git.kernel.org/pub/scm/linux/kernel/git/x/y.git tags/z)",
        "- https://a.org/x, https://b.org/y.",
    ):
        assert is_link_line(line), line
    for line in ("See https://a.org/x for details.", "Thanks, Marc", ""):
        assert not is_link_line(line), line


def _mbox(f, mid: str, body: bytes) -> None:
    f.write(b"From x@y Thu Jan  1 00:00:00 2020\n")
    f.write(
        f"From: A <a@x.org>\nSubject: [PATCH] KVM: {mid}\nMessage-ID: <{mid}>\n"
        "Date: Thu, 1 Jan 2020 00:00:00 +0000\n\n".encode()
    )
    f.write(body + b"\n")


def test_a_mail_over_the_cap_is_skipped_and_reported(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sources, "MAX_MESSAGE_BYTES", 1 << 20)
    monkeypatch.setattr(sources, "_BLOCK", 1 << 16)
    from kvmsearch.indexer.mail import messages

    monkeypatch.setattr(messages, "MAX_MESSAGE_BYTES", 1 << 20)
    path = tmp_path / "big.mbox.xz"
    with lzma.open(path, "wb", preset=0) as f:
        _mbox(f, "before@x", b"Fix it.")
        _mbox(f, "huge@x", b"a" * 1023 + (b"\n" + b"b" * 1023) * 3000)
        _mbox(f, "after@x", b"Fix that.")
    result = parse_paths([path], workers=1)
    assert sorted(v.message_id for v in result.versions) == ["after@x", "before@x"]
    (skip,) = result.report.skips
    assert (skip.where, skip.reason) == ("huge@x", "too-large")
    assert "over the 1 MiB cap" in skip.detail and int(skip.detail.split()[0]) > 3_000_000


@pytest.mark.parametrize("block", [7, 64, 1 << 20])
def test_mbox_split_is_the_same_whatever_the_read_size(
    tmp_path: Path, monkeypatch, block: int
) -> None:
    path = tmp_path / "a.mbox"
    with path.open("wb") as f:
        for i in range(30):
            _mbox(f, f"m{i}@x", b"line\n>From quoted\n>>From twice\n" * (i % 4))
    monkeypatch.setattr(sources, "_BLOCK", block)
    got = [(r.position, r.data) for r in sources.open_source(path).read()]
    monkeypatch.setattr(sources, "_BLOCK", 1 << 20)
    want = [(r.position, r.data) for r in sources.open_source(path).read()]
    assert got == want and len(got) == 30

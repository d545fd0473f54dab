"""Time and peak memory of `kvmsearch parse` on generated hostile archives, one case each.

    .venv/bin/python benchmarks/hostile.py [--chars 100000] [--huge-mb 400]

Each case is an mbox with a normal mail before and after the hostile one, compressed
with xz and parsed by a fresh `kvmsearch parse --json` process (so the numbers include
process start). Cases: cover lines built to make backtracking regexes quadratic (a URL
followed by commas, runs of spaces around a diffstat bar, an unclosed rename, a label
of dashes before a link), a body of one line of ``--chars`` characters, and one mail of
``--huge-mb`` MB (over the per-mail cap: it must be skipped and reported). The review
record's cases (issue 11): a reply quoting 10 MB, two replies whose References name
each other (a loop), a reply to a message the archive lacks, and review trailers in
broken encodings (Latin-1 bytes in a UTF-8 mail, a bad encoded word). Prints one
JSON object: per case wall seconds, peak RSS, exit code, and the counts parse reported.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KVMSEARCH = REPO / ".venv" / "bin" / "kvmsearch"


def _mail(mid: str, subject: str, body: bytes) -> bytes:
    head = (
        f"From x@y Thu Jan  1 00:00:00 2020\nFrom: A <a@x.org>\nSubject: {subject}\n"
        f"Message-ID: <{mid}>\nDate: Thu, 1 Jan 2020 00:00:00 +0000\n\n"
    )
    return head.encode() + body + b"\n\n"


def _cover(line: str) -> bytes:
    return (
        "This series fixes things.\n\n" + line + "\n\nMore prose.\n\n"
        " arch/arm64/kvm/arm.c | 2 +-\n 1 file changed\n"
    ).encode()


def _reply(mid: str, refs: str, body: bytes, frm: str = "R <r@x.org>") -> bytes:
    head = (
        f"From x@y Thu Jan  1 00:00:00 2020\nFrom: {frm}\nSubject: Re: [PATCH] KVM: thing\n"
        f"Message-ID: <{mid}>\nIn-Reply-To: <{refs.split()[-1]}>\n"
        f"References: {' '.join(f'<{r}>' for r in refs.split())}\n"
        "Date: Fri, 2 Jan 2020 00:00:00 +0000\nContent-Type: text/plain; charset=utf-8\n\n"
    )
    return head.encode() + body + b"\n\n"


def _patch() -> bytes:
    return _mail(
        "patch@x",
        "[PATCH] KVM: thing",
        b"Fix the thing.\n\nSigned-off-by: A <a@x.org>\n---\n"
        b"diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n",
    )


def review_cases() -> dict[str, Callable[[lzma.LZMAFile], None]]:
    def quoted(mb: int) -> Callable[[lzma.LZMAFile], None]:
        def write(f: lzma.LZMAFile) -> None:
            f.write(_patch())
            f.write(_reply("q@x", "patch@x", b"")[:-2])
            line = b"> " + b"q" * 1021 + b"\n"
            for _ in range(mb * 1024):
                f.write(line)
            f.write(b"\nNAK.\nReviewed-by: R <r@x.org>\n\n")

        return write

    def loop(f: lzma.LZMAFile) -> None:
        f.write(_patch())
        f.write(_reply("l1@x", "l2@x", b"Loop one.\n"))
        f.write(_reply("l2@x", "l1@x", b"Loop two.\n"))
        f.write(_reply("l3@x", "patch@x l1@x l2@x l1@x", b"Reviewed-by: L <l@x.org>\n"))

    def missing(f: lzma.LZMAFile) -> None:
        f.write(_patch())
        f.write(_reply("m@x", "nowhere@x", b"Reviewed-by: M <m@x.org>\n"))

    def encodings(f: lzma.LZMAFile) -> None:
        f.write(_patch())
        f.write(_reply("e1@x", "patch@x", b"Reviewed-by: J\xf6rg R\xf6del <j@x.org>\n"))
        f.write(
            _reply(
                "e2@x",
                "patch@x",
                b"Tested-by: =?utf-8?b?!!notbase64?= <t@x.org>\n",
                frm="=?x-unknown?q?Bad?= <b@x.org>",
            )
        )

    return {
        "review-quoting-10mb": quoted(10),
        "review-references-loop": loop,
        "review-to-missing-mail": missing,
        "review-broken-encodings": encodings,
    }


def cases(n: int) -> dict[str, Callable[[lzma.LZMAFile], None]]:
    def one(body: bytes) -> Callable[[lzma.LZMAFile], None]:
        return lambda f: f.write(_mail("hostile@x", "[PATCH 0/1] KVM: hostile", body))

    def huge(mb: int) -> Callable[[lzma.LZMAFile], None]:
        def write(f: lzma.LZMAFile) -> None:
            f.write(_mail("huge@x", "[PATCH] KVM: huge", b"")[:-2])
            line = b"a" * 1023 + b"\n"
            for _ in range(mb * 1024):
                f.write(line)
            f.write(b"\n")

        return write

    return {
        "url-then-commas": one(_cover("http://a" + "," * n + " (")),
        "spaces-around-bar": one(_cover("a" + " " * n + "| " + " " * n + "x")),
        "mode-then-spaces": one(_cover("create mode 100644 " + " " * n + "x")),
        "rename-unclosed": one(_cover("rename " + "a" * n + " (")),
        "label-dashes-link": one(_cover("v1" + " -" * (n // 2) + " https://lore.kernel.org/r/x@y")),
        "one-long-line": one(b"x" * n),
        "huge-mail": huge(ARGS.huge_mb),
        **review_cases(),
    }


def run_case(name: str, write: Callable[[lzma.LZMAFile], None], tmp: Path) -> dict[str, object]:
    path = tmp / f"{name}.mbox.xz"
    with lzma.open(path, "wb", preset=0) as f:
        f.write(_mail("before@x", "[PATCH] KVM: before", b"Fix it."))
        write(f)
        f.write(_mail("after@x", "[PATCH] KVM: after", b"Fix that."))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(KVMSEARCH), "parse", "--json", "--skips", str(path)], capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = [
        ln.strip()
        for ln in proc.stderr.splitlines()
        if ln.strip().startswith(
            ("messages read", "series versions", "skipped", "hostile@x", "huge@x")
        )
    ]
    return {
        "case": name,
        "archive_bytes": path.stat().st_size,
        "wall_s": round(wall, 3),
        "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 3),
        # ru_maxrss of children is the largest child so far: cases run in order of
        # size, so each reading is that case's own peak or an earlier larger one
        "peak_rss_mb": round(after.ru_maxrss / 1024, 1),
        "exit": proc.returncode,
        "versions": proc.stdout.count("\n"),
        "summary": summary,
    }


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        out = [run_case(name, write, Path(d)) for name, write in cases(ARGS.chars).items()]
    print(
        json.dumps(
            {
                "chars": ARGS.chars,
                "huge_mb": ARGS.huge_mb,
                "load": os.getloadavg()[0],
                "cases": out,
            },
            indent=1,
        )
    )
    return 0 if all(c["exit"] == 0 for c in out) else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chars", type=int, default=100_000)
    ap.add_argument("--huge-mb", type=int, default=400)
    ARGS = ap.parse_args()
    sys.exit(main())

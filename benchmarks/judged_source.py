"""Where the judged-set scorers read versions from: an index, or `parse --json` output.

Both give each version as its `kvmsearch parse --json` object (models.serialize)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path


def add_source_args(ap: argparse.ArgumentParser) -> None:
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--index", type=Path, help="a kvmsearch index home")
    src.add_argument("--parsed", type=Path, help="`kvmsearch parse --json` output")


def versions(args: argparse.Namespace) -> Iterator[dict]:
    if args.parsed is not None:
        with args.parsed.open() as f:
            for line in f:
                yield json.loads(line)
        return
    from kvmsearch.indexer.index.docs import DocStore
    from kvmsearch.indexer.index.generations import IndexHome
    from kvmsearch.models.serialize import version_to_dict

    gen = IndexHome(args.index).open_current()
    docs = DocStore(gen.docs_path)
    try:
        for v in docs.iter_versions():
            yield version_to_dict(v)
    finally:
        docs.close()

"""Relevance as the reference scorer (../shared/eval/score.py) computes it.

    .venv/bin/python benchmarks/reference_eval.py --index DIR [--queries FILE]
        [--modes hybrid lexical semantic] [--kvmsearch .venv/bin/kvmsearch] [--json OUT]

Runs `kvmsearch search --queries FILE --json --mode M` (the CLI's batch mode, as a user
would) for each mode, writes the results in the reference format (each hit: the
Message-IDs of every version it lists) and scores them with `score.py`, which maps any
Message-ID to the judges' families through `catalogue.jsonl.gz`. Prints one table of
nDCG@10 per kind and mode; ``--json`` keeps every metric.

``--kvmsearch`` names the command to run (words split as a shell would), so an older
checkout can be scored the same way (the before/after rows of BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EVAL = REPO.parent / "shared" / "eval"
MODES = ("hybrid", "lexical", "semantic")
KINDS = ("path", "ident", "known", "topic", "overall")


def run_mode(cmd: str, index: str, queries: Path, mode: str, out: Path) -> None:
    proc = subprocess.run(
        [*shlex.split(cmd), "search", "--index", index, "--queries", str(queries), "--json"]
        + ["--mode", mode],
        check=True,
        capture_output=True,
        text=True,
    )
    with out.open("w") as f:
        for line in proc.stdout.splitlines():
            row = json.loads(line)
            # a query the CLI could not answer has an "error" line: scored as no hits
            found = row.get("hits", [])
            hits = [{"message_ids": [v["message_id"] for v in h["versions"]]} for h in found]
            f.write(json.dumps({"qid": row["qid"], "results": hits}) + "\n")


def score(queries: Path, results: Path) -> dict[str, dict[str, float]]:
    with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
        subprocess.run(
            [
                sys.executable,
                str(EVAL / "score.py"),
                str(queries),
                str(results),
                "--catalogue",
                str(EVAL / "catalogue.jsonl.gz"),
                "--json",
                tmp.name,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        data = json.loads(Path(tmp.name).read_text())
    return data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--queries", type=Path, default=EVAL / "dev.jsonl")
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--kvmsearch", default=str(REPO / ".venv" / "bin" / "kvmsearch"))
    ap.add_argument("--json", type=Path, help="write every metric here")
    args = ap.parse_args()
    report = {}
    with tempfile.TemporaryDirectory() as d:
        for mode in args.modes:
            res = Path(d) / f"{mode}.jsonl"
            run_mode(args.kvmsearch, args.index, args.queries, mode, res)
            report[mode] = score(args.queries, res)
    print("nDCG@10  " + " ".join(f"{k:>8}" for k in KINDS))
    for mode, data in report.items():
        by_kind = data["summary"]
        cells = []
        for k in KINDS:
            m = by_kind.get("ALL" if k == "overall" else k, {})
            v = next((val for name, val in m.items() if name.lower().startswith("ndcg")), None)
            cells.append(f"{v:8.3f}" if isinstance(v, (int, float)) else f"{'-':>8}")
        print(f"{mode:<8} " + " ".join(cells))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

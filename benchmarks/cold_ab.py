"""Cold CLI query time of this checkout against a base, run by run alternately, so
both meet the same machine noise (the bar: a cold prose query no slower than before).

    .venv/bin/python benchmarks/cold_ab.py --index NEW_INDEX --base-index BASE_INDEX \
        --base-path /tmp/basepkg [--query "dirty log DBM"] [--runs 12]

``--base-path`` is put first on ``PYTHONPATH`` for the base runs: a directory holding
the base commit's ``kvmsearch`` package (for example a worktree's files copied under
``kvmsearch/``). Prints p50 and min per side, and JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _once(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main(args: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--base-index", required=True)
    ap.add_argument("--base-path", required=True, help="PYTHONPATH entry of the base")
    ap.add_argument("--query", default="dirty log DBM")
    ap.add_argument("--runs", type=int, default=12)
    a = ap.parse_args(args)
    exe = str(Path(sys.executable).with_name("kvmsearch"))
    new_env = dict(os.environ)
    base_env = dict(os.environ, PYTHONPATH=a.base_path)
    times: dict[str, list[float]] = {"new": [], "base": []}
    for _ in range(a.runs):
        times["new"].append(_once([exe, a.query, "--index", a.index, "--no-server"], new_env))
        argv = [exe, a.query, "--index", a.base_index, "--no-server"]
        times["base"].append(_once(argv, base_env))
    out = {
        side: {"p50_s": round(statistics.median(t), 3), "min_s": round(min(t), 3)}
        for side, t in times.items()
    }
    out["load_avg"] = list(os.getloadavg())
    for side in ("new", "base"):
        print(
            f"{side:5s} p50 {out[side]['p50_s']:.3f} s  min {out[side]['min_s']:.3f} s",
            file=sys.stderr,
        )
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

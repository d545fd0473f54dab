"""Benchmark: the nightly `kvmsearch update`, on a real public-inbox archive.

Clones the kvm-ppc git bundle (bare) into a work directory, cuts its branch ``--cut``
commits short and builds an index of it with the real model. Then moves the branch to
the real head and times `kvmsearch update` as a fresh process (interpreter start and
imports included), and once more with nothing new.

Targets (issue "Build the hybrid index"): update after 60 new commits <= 30 s; update
with nothing new <= 3 s.

    .venv/bin/python benchmarks/update_bundle.py [--cut 60] [--work DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from build_corpus import KVMSEARCH, SHARED, load, machine, run_measured

BUNDLE = SHARED / "corpus" / "kvm-ppc.vger.kernel.org.git.bundle"
TARGETS = {"update_s": 30, "nothing_new_s": 3}


def git(*args: str | Path) -> str:
    return subprocess.run(
        ["git", *map(str, args)], check=True, capture_output=True, text=True
    ).stdout.strip()


def kvmsearch(*args: str) -> dict[str, Any]:
    run = run_measured([str(KVMSEARCH), *args])
    if run["exit_code"] != 0:
        sys.exit(f"`kvmsearch {' '.join(args)}` failed (exit {run['exit_code']}):\n{run['stderr']}")
    outcome = json.loads(run["stdout"])
    keep = (
        "generation",
        "new_messages",
        "versions_changed",
        "versions_deleted",
        "chunks",
        "chunks_embedded",
        "timings",
    )
    return {
        **{k: run[k] for k in ("wall_s", "cpu_s", "peak_rss_mb", "peak_pss_mb")},
        **{k: outcome[k] for k in keep},
    }


def measure(work: Path, cut: int) -> dict[str, Any]:
    # The directory name is what the list id is guessed from: keep the archive's.
    repo = work / "kvm-ppc.vger.kernel.org.git"
    home = work / "home"
    git("clone", "--quiet", "--bare", BUNDLE, repo)
    branch = git("-C", repo, "symbolic-ref", "HEAD")
    head = git("-C", repo, "rev-parse", "HEAD")
    git("-C", repo, "update-ref", branch, f"{head}~{cut}")

    res: dict[str, Any] = {"machine": machine(), "load_avg_before": load(), "cut": cut}
    res["initial_build"] = kvmsearch("index", "add", "--index", str(home), "--json", str(repo))
    git("-C", repo, "update-ref", branch, head)
    res["load_avg_before_update"] = load()
    res["update"] = kvmsearch("update", "--index", str(home), "--json")
    res["nothing_new"] = kvmsearch("update", "--index", str(home), "--json")
    res["load_avg_after"] = load()
    res["targets"] = TARGETS
    res["met"] = {
        "update_s": res["update"]["wall_s"] <= TARGETS["update_s"],
        "nothing_new_s": res["nothing_new"]["wall_s"] <= TARGETS["nothing_new_s"],
    }
    return res


def summary(r: dict[str, Any]) -> str:
    ok = {True: "ok", False: "MISSED"}
    b, u, n = r["initial_build"], r["update"], r["nothing_new"]

    def stages(x: dict[str, Any]) -> str:
        return ", ".join(f"{k} {v:.1f}s" for k, v in x["timings"].items())

    return "\n".join(
        [
            f"kvm-ppc archive, {r['cut']} commits behind, on {r['machine']} "
            f"(load {r['load_avg_before_update']} before the update)",
            f"  initial build: {b['wall_s']:.0f} s, {b['new_messages']} messages, "
            f"{b['chunks']} chunks",
            f"  update: {u['wall_s']:.1f} s wall [{ok[r['met']['update_s']]}, target <= 30], "
            f"CPU {u['cpu_s']} s, peak RSS {u['peak_rss_mb']} MB; {u['new_messages']} new "
            f"messages, {u['versions_changed']} versions changed, "
            f"{u['chunks_embedded']} of {u['chunks']} chunks embedded",
            f"    stages: {stages(u)}",
            f"  nothing new: {n['wall_s']:.2f} s wall [{ok[r['met']['nothing_new_s']]}, "
            f"target <= 3], CPU {n['cpu_s']} s",
            f"    stages: {stages(n)}",
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cut", type=int, default=60, help="commits to leave for the update")
    ap.add_argument("--work", help="work directory to keep (missing or empty)")
    ap.add_argument("--json", action="store_true", help="JSON only (no summary on stderr)")
    args = ap.parse_args()
    if args.work:
        work = Path(args.work)
        if work.exists() and any(work.iterdir()):
            sys.exit(f"{work} is not empty")
        work.mkdir(parents=True, exist_ok=True)
        result = measure(work, args.cut)
    else:
        tmp = tempfile.mkdtemp(prefix="kvmsearch-bench-")
        try:
            result = measure(Path(tmp), args.cut)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result, indent=2))
    if not args.json:
        print(summary(result), file=sys.stderr)


if __name__ == "__main__":
    main()

"""Benchmark: `kvmsearch serve` under load while an update switches the generation.

Copies the index to a work directory (the given one is never written), starts a
server on the copy, and runs ``--clients`` concurrent clients (threads, one keep-alive
loopback connection each) for ``--seconds``, each sending the dev queries in turn to
``/api/search`` (limit 10). After ``--update-after`` seconds it registers a small new
archive with `kvmsearch index add`, which writes and switches to a new generation
while the clients go on. It stops by itself.

Reports requests/s, latency p50/p95/p99, errors (must be 0: any non-200 answer or a
failed connection), the generations the answers came from (with when each was first
seen), the update's own wall time, and the server's peak resident memory.

Targets (issue "kvmsearch serve"): 8 clients for 60 s during an update: 0 errors,
p95 <= 150 ms, server RSS <= 500 MB.

    .venv/bin/python benchmarks/serve_load.py --index DIR [--clients 8] [--seconds 60]
        [--work DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from build_corpus import load, machine
from query_speed import DEFAULT_QUERIES, kvmsearch_command, pct
from report import emit
from serve_speed import start

TARGETS = {"errors": 0, "p95_ms": 150.0, "server_rss_mb": 500.0}

NEW_SERIES = """From mboxrd@z Thu Jan  1 00:00:00 1970
From: Load Tester <load@example.org>
To: kvm@vger.kernel.org
Subject: [PATCH 0/2] KVM: x86: frobnicate the plughwidget on every vmexit
Date: Mon, 30 Nov 2026 10:00:00 +0000
Message-Id: <serve-load-0@example.org>
List-Id: <kvm.vger.kernel.org>

The plughwidget must be frobnicated on every vmexit, or the guest loses its
widget state across a migration. This series adds the frobnication and a selftest.

Load Tester (2):
  KVM: x86: frobnicate the plughwidget on vmexit
  KVM: selftests: test plughwidget frobnication

 arch/x86/kvm/x86.c                          | 4 ++++
 tools/testing/selftests/kvm/x86/plugh.c     | 40 ++++++++++++
 2 files changed, 44 insertions(+)

"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--update-after", type=float, default=5.0)
    ap.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    ap.add_argument("--work", type=Path)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    qs = [json.loads(x)["query"] for x in a.queries.read_text().splitlines() if x.strip()]
    work = Path(a.work or tempfile.mkdtemp(prefix="kvmsearch-load-"))
    home = work / "index"
    if home.exists():
        shutil.rmtree(home)
    shutil.copytree(a.index, home, symlinks=True)
    extra = work / "new-series.mbox"
    extra.write_text(NEW_SERIES)
    runtime = work / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)

    load_before = load()
    proc, port = start(str(home), str(runtime))
    samples: list[tuple[float, float, int, str]] = []  # start, ms, status, generation
    failures: list[str] = []
    rss_peak = [0.0]
    lock = threading.Lock()
    t0 = time.monotonic()
    stop_at = t0 + a.seconds
    done = threading.Event()

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = n * 13
        while time.monotonic() < stop_at:
            q = qs[i % len(qs)]
            i += 1
            path = "/api/search?" + urllib.parse.urlencode({"q": q, "limit": 10})
            t = time.monotonic()
            try:
                conn.request("GET", path)
                r = conn.getresponse()
                body = r.read()
                ms = (time.monotonic() - t) * 1000
                gen = json.loads(body).get("generation", "") if r.status == 200 else ""
                with lock:
                    samples.append((t - t0, ms, r.status, gen))
                    if r.status != 200:
                        failures.append(f"{r.status} {q[:60]!r}: {body[:120]!r}")
            except (OSError, http.client.HTTPException, ValueError) as e:
                with lock:
                    failures.append(f"{type(e).__name__}: {e} ({q[:60]!r})")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.close()

    def watch_rss() -> None:
        while not done.is_set():
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        rss_peak[0] = max(rss_peak[0], int(line.split()[1]) / 1024)
            except OSError:
                pass
            time.sleep(0.25)

    update: dict[str, Any] = {}

    def run_update() -> None:
        time.sleep(a.update_after)
        u0 = time.monotonic()
        r = subprocess.run(
            [*kvmsearch_command(), "index", "add", "--index", str(home), "--json", str(extra)],
            capture_output=True,
            text=True,
        )
        update.update(
            {
                "command": "kvmsearch index add --index COPY new-series.mbox",
                "started_s": round(u0 - t0, 1),
                "wall_s": round(time.monotonic() - u0, 1),
                "exit_code": r.returncode,
                "generation": json.loads(r.stdout).get("generation") if r.stdout else None,
            }
        )
        if r.returncode != 0:
            update["stderr"] = r.stderr[-500:]

    threads = [threading.Thread(target=client, args=(n,)) for n in range(a.clients)]
    side = [threading.Thread(target=watch_rss), threading.Thread(target=run_update)]
    cpu0 = os.times()
    for t in threads + side:
        t.start()
    for t in threads:
        t.join()
    side[1].join()
    done.set()
    side[0].join()
    cpu1 = os.times()
    proc.terminate()
    proc.wait(timeout=30)

    lat = [ms for _s, ms, st, _g in samples if st == 200]
    first_seen: dict[str, float] = {}
    for s, _ms, _st, g in sorted(samples):
        if g and g not in first_seen:
            first_seen[g] = round(s, 2)
    during = [ms for s, ms, st, _g in samples if st == 200 and update.get("started_s", 1e9) <= s]
    result = {
        "machine": machine(),
        "load_before": load_before,
        "load_after": load(),
        "clients": a.clients,
        "seconds": a.seconds,
        "requests": len(samples),
        "requests_per_s": round(len(samples) / a.seconds, 1),
        "errors": len(failures),
        "error_samples": failures[:5],
        "p50_ms": round(pct(lat, 50), 1),
        "p95_ms": round(pct(lat, 95), 1),
        "p99_ms": round(pct(lat, 99), 1),
        "max_ms": round(max(lat), 1) if lat else None,
        "after_update_start_p95_ms": round(pct(during, 95), 1),
        "generations_first_seen_s": first_seen,
        "generation_switch_seen": len(first_seen) >= 2,
        "update": update,
        "server_rss_peak_mb": round(rss_peak[0], 1),
        "children_cpu_s": round(
            (cpu1.children_user - cpu0.children_user)
            + (cpu1.children_system - cpu0.children_system),
            1,
        ),
        "targets": TARGETS,
    }
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    emit(result, a.json)


if __name__ == "__main__":
    main()

"""A real `kvmsearch serve` over a real index (the packaged model), for the server,
client and browser tests: built once per session, started as its own process, found
by the CLI through the socket under a private $XDG_RUNTIME_DIR."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sample_index import SOURCES, hostile_mbox, xss_mbox

KVMSEARCH = str(Path(sys.executable).parent / "kvmsearch")


@dataclass
class Served:
    home: Path
    src: Path
    url: str
    env: dict[str, str]
    proc: subprocess.Popen[str]

    def cli(self, *args: str, server: bool = True) -> subprocess.CompletedProcess[str]:
        """`kvmsearch --index HOME ARGS` as a fresh process (``server=False``: --no-server)."""
        extra = [] if server else ["--no-server"]
        return subprocess.run(
            [KVMSEARCH, "--index", str(self.home), *args, *extra],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """GET ``path``: (status, headers, body); HTTP errors are answers too."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=60) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def get_json(self, path: str) -> tuple[int, dict]:
        status, _h, body = self.get(path)
        return status, json.loads(body)

    def requests(self) -> int:
        return int(self.get_json("/api/status")[1]["server"]["requests"])


def build_real_index(tmp: Path) -> tuple[Path, Path]:
    """The sample sources plus hostile mail, indexed with the packaged model."""
    src = tmp / "src"
    src.mkdir()
    for p in SOURCES:
        shutil.copy(p, src / p.name)
    (src / "xss.mbox").write_bytes(xss_mbox())
    (src / "hostile.mbox").write_bytes(hostile_mbox())
    home = tmp / "home"
    r = subprocess.run(
        [KVMSEARCH, "index", "add", "--index", str(home), "-q", str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    return home, src


def start_server(home: Path, src: Path, runtime: Path) -> Served:
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "NO_COLOR": "1"}
    env.pop("KVMSEARCH_SERVER", None)
    env.pop("KVMSEARCH_LORE_URL", None)
    proc = subprocess.Popen(
        [KVMSEARCH, "serve", "--index", str(home), "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    line = ""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "serving" in line or not line:
            break
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    assert m, f"server did not start: {line!r}"
    return Served(home, src, f"http://127.0.0.1:{m.group(1)}", env, proc)


def stop_server(s: Served) -> None:
    s.proc.terminate()
    try:
        s.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        s.proc.kill()

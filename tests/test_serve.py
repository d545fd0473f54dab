"""`kvmsearch serve` for real: a server process over a real index (packaged model),
the CLI finding it through the runtime-dir socket, the JSON API, the safety rules,
the MCP endpoint over stdio, and an update picked up without a restart."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import urllib.parse
from pathlib import Path

import pytest
from sample_index import DBM, PTP_V13, VIRTIO_BT_V2, XSS_COVER
from served import KVMSEARCH, Served

from kvmsearch.client import forwardable, resolve_index, socket_path

pytestmark = pytest.mark.integration

#: calls the server answers: the output must be byte-identical to the local one
FORWARDED = [
    ["dirty log DBM"],
    ["KVM_CAP_STEAL_TIME"],
    ["file:arch/arm64/kvm/", "-n", "3"],
    ["--json", "zorkmid"],
    ["--explain", "vhost ring layout"],
    ["search", "--mode", "lexical", "virtio bluetooth"],
    ["xyzzyplughnomatch"],  # exit 1
    ["--json", "xyzzyplughnomatch"],
    ["--since", "20x1", "kvm"],  # the library's QueryError: exit 2, one line
    ["show", DBM],
    ["show", "--json", PTP_V13],
    ["show", "nosuchmessage@example.org"],  # exit 1
    ["diff", VIRTIO_BT_V2],
    ["diff", "--json", VIRTIO_BT_V2, "v3"],
    ["diff", VIRTIO_BT_V2, "v9"],  # exit 2
]

#: calls it must leave to the CLI (click's usage errors, help, local files)
LOCAL = [
    ["--limit", "0", "kvm"],
    ["--bogus-option", "kvm"],
    ["search", "--help"],
    ["status"],
    ["show", VIRTIO_BT_V2, "--mbox", "v4"],  # mail bytes, written here
]


@pytest.mark.parametrize("args", FORWARDED, ids=lambda a: " ".join(a))
def test_the_server_answers_with_the_same_output(served: Served, args: list[str]) -> None:
    before = served.requests()
    via = served.cli(*args)
    after = served.requests()
    local = served.cli(*args, server=False)
    # /api/status itself is one request; the forwarded call is the other
    assert after - before == 2, "the call was not answered by the server"
    assert (via.returncode, via.stdout, via.stderr) == (
        local.returncode,
        local.stdout,
        local.stderr,
    )
    assert via.stdout or via.stderr


@pytest.mark.parametrize("args", LOCAL, ids=lambda a: " ".join(a))
def test_calls_the_server_does_not_answer_run_locally(served: Served, args: list[str]) -> None:
    before = served.requests()
    via = served.cli(*args)
    assert served.requests() - before == 1  # only our own /api/status
    local = served.cli(*args, server=False) if args[0] != "status" else via
    assert via.returncode == local.returncode
    assert "Traceback" not in via.stderr


def test_client_finds_the_socket_of_its_own_index(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", served.env["XDG_RUNTIME_DIR"])
    path = socket_path(resolve_index(str(served.home)))
    assert path.startswith(served.env["XDG_RUNTIME_DIR"]) and os.path.exists(path)
    # another index: no server for it, so the CLI answers (here: there is no index)
    r = served.cli("--index", str(tmp_path / "none"), "kvm")
    assert r.returncode == 3 and "no index" in r.stderr


def test_a_dead_servers_socket_falls_back_to_local(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = {**served.env, "XDG_RUNTIME_DIR": str(runtime)}
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    stale = socket_path(resolve_index(str(served.home)))
    os.makedirs(os.path.dirname(stale), exist_ok=True)
    s = socket.socket(socket.AF_UNIX)
    s.bind(stale)
    s.close()  # the file stays; nobody listens
    r = subprocess.run(
        [KVMSEARCH, "--index", str(served.home), "dirty log DBM", "-n", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and "dirty log" in r.stdout


def test_kvmsearch_server_names_a_server_over_tcp(served: Served, tmp_path: Path) -> None:
    runtime = tmp_path / "empty-run"
    runtime.mkdir(mode=0o700)
    env = {**served.env, "XDG_RUNTIME_DIR": str(runtime), "KVMSEARCH_SERVER": served.url}
    before = served.requests()
    r = subprocess.run(
        [KVMSEARCH, "--index", str(served.home), "KVM_CAP_STEAL_TIME", "-n", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and "STEAL_TIME" in r.stdout
    assert served.requests() - before == 2


def test_forwardable_words() -> None:
    assert forwardable(["dirty", "log"]) and forwardable(["show", "x@y"])
    assert forwardable(["--index", "/x", "show", "x@y"])
    assert not forwardable(["update"]) and not forwardable(["--index", "/x", "rebuild"])
    assert not forwardable(["kvm", "--no-server"]) and not forwardable(["--queries", "f"])
    assert not forwardable(["--help"]) and not forwardable([])


# --------------------------------------------------------------------------- JSON API


def test_api_search_returns_the_cli_json_records(served: Served) -> None:
    status, body = served.get_json("/api/search?q=dirty+log+DBM&limit=3")
    assert status == 200 and body["format"] == 1 and body["generation"]
    cli = served.cli("--json", "-n", "3", "dirty log DBM", server=False)
    assert body["hits"] == [json.loads(line) for line in cli.stdout.splitlines()]
    assert body["hits"][0]["versions"][0]["message_id"] == DBM


def test_lore_syntax_over_the_api_is_the_cli_answer(served: Served) -> None:
    q = 's:dirty -"ring" d:2019..2021'
    status, body = served.get_json("/api/search?" + urllib.parse.urlencode({"q": q}))
    cli = served.cli("--json", q, server=False)
    assert status == 200 and body["hits"]
    assert body["hits"] == [json.loads(line) for line in cli.stdout.splitlines()]
    # a filter-only query lists its matches newest first; the DBM series is one
    assert DBM in {v["message_id"] for h in body["hits"] for v in h["versions"]}
    for h in body["hits"]:  # a hit lists its family's versions; one of them matched
        assert any("2019" <= v["date"][:10] <= "2021-12-31" for v in h["versions"]), h


def test_api_series_and_status(served: Served) -> None:
    status, body = served.get_json(f"/api/series/{PTP_V13}")
    assert status == 200 and body["format"] == 1
    cli = served.cli("show", "--json", PTP_V13, server=False)
    assert body["versions"] == [json.loads(line) for line in cli.stdout.splitlines()]
    status, st = served.get_json("/api/status")
    assert status == 200 and st["status"]["generation"] == st["server"]["generation"]


@pytest.mark.parametrize(
    ("path", "code", "words"),
    [
        ("/api/search?q=kvm&limit=0", 400, "out of range"),
        ("/api/search?q=kvm&limit=many", 400, "not a number"),
        ("/api/search?q=kvm&mode=psychic", 400, "is not one of"),
        ("/api/search?q=" + "a" * 1200, 400, "more than 1000"),
        ("/api/search?q=", 400, "nothing to search for"),
        ("/api/search?q=kvm+since:20x1", 400, "since"),
        ("/api/search?q=kvm+-f:maz", 400, "cannot exclude"),
        ("/api/search?q=kvm+d:..", 400, "names no date"),
        ("/api/series/nosuch@example.org", 404, "no series"),
    ],
)
def test_api_errors_are_json_with_the_cli_message(
    served: Served, path: str, code: int, words: str
) -> None:
    status, headers, raw = served.get(path)
    body = json.loads(raw)
    assert status == code and headers["content-type"].startswith("application/json")
    assert words in body["error"]["message"] and body["error"]["code"] in (1, 2)
    assert "Traceback" not in raw.decode()


def test_oversized_and_malformed_cli_calls_are_refused(served: Served) -> None:
    import urllib.error
    import urllib.request

    def post(body: bytes) -> int:
        req = urllib.request.Request(served.url + "/api/cli", data=body, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status
        except urllib.error.HTTPError as e:
            assert "Traceback" not in e.read().decode()
            return e.code

    assert post(b"x" * (70 * 1024)) == 413
    assert post(b"{not json") == 400
    assert post(b'{"argv": 5}') == 400


# --------------------------------------------------------------------------- safety


def test_pages_send_a_strict_csp_and_escape_mail(served: Served) -> None:
    status, headers, raw = served.get("/?q=zorkmid")
    html = raw.decode()
    assert status == 200
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert "<script" not in html and "onerror=" not in html.replace("onerror=alert", "")
    assert "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "\x1b" not in html and "\\x1b[2J" in html
    status, _h, raw = served.get(f"/series/{XSS_COVER}")
    html = raw.decode()
    assert status == 200 and "<script" not in html and "\x1b" not in html
    assert "&lt;iframe src=javascript:alert(5)&gt;" in html


def test_json_escapes_mail_too(served: Served) -> None:
    _s, _h, raw = served.get("/api/search?q=zorkmid")
    assert raw.isascii() and b"\x1b" not in raw and b"<script>" in raw.replace(b"\\", b"")


def test_a_host_beyond_loopback_needs_a_flag(tmp_path: Path, served: Served) -> None:
    r = subprocess.run(
        [KVMSEARCH, "serve", "--index", str(served.home), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=served.env,
    )
    assert r.returncode == 2 and "--allow-remote" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- MCP


def _rpc(proc: subprocess.Popen[str], msg: dict) -> dict | None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(msg) + "\n")
    proc.stdin.flush()
    if "id" not in msg:
        return None
    while True:
        line = proc.stdout.readline()
        assert line, "the MCP server closed its output"
        reply = json.loads(line)
        if reply.get("id") == msg["id"]:
            return reply


def test_mcp_lists_its_tools_and_answers_a_search(served: Served) -> None:
    proc = subprocess.Popen(
        [KVMSEARCH, "mcp", "--index", str(served.home)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=served.env,
    )
    try:
        init = _rpc(
            proc,
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "kvmsearch-test", "version": "0"},
                },
            },
        )
        assert init and init["result"]["serverInfo"]["name"] == "kvmsearch"
        _rpc(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        tools = _rpc(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        assert tools
        by_name = {t["name"]: t for t in tools["result"]["tools"]}
        assert {"search", "show_series", "diff_versions", "index_status"} <= set(by_name)
        assert "query" in by_name["search"]["inputSchema"]["properties"]
        assert by_name["search"]["description"]
        call = _rpc(
            proc,
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {"name": "search", "arguments": {"query": "dirty log DBM", "limit": 2}},
            },
        )
        assert call and not call["result"].get("isError")
        hits = call["result"]["structuredContent"]["hits"]
        first = hits[0]["versions"][0]
        assert first["message_id"] == DBM and first["lore"].endswith(DBM)
        bad = _rpc(
            proc,
            {
                "jsonrpc": "2.0",
                "id": 4,
                "method": "tools/call",
                "params": {"name": "show_series", "arguments": {"message_id": "no@such"}},
            },
        )
        assert bad and bad["result"]["isError"]
        assert "no series" in json.dumps(bad["result"]["content"])
    finally:
        proc.kill()
        proc.wait(timeout=10)


# --------------------------------------------------------------------------- updates


def test_the_server_follows_an_update_without_a_restart(served: Served) -> None:
    # last in this module: it adds a series to the shared index
    _s, st = served.get_json("/api/status")
    gen0 = st["server"]["generation"]
    with open(served.src / "xss.mbox", "ab") as f:
        f.write(
            b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"
            b"From: Quux <quux@example.org>\nTo: kvm@vger.kernel.org\n"
            b"Subject: [PATCH 0/1] KVM: x86: frobnicate the plughwidget on vmexit\n"
            b"Date: Thu, 13 Aug 2020 10:57:09 +0800\nMessage-Id: <plugh-0@example.org>\n"
            b"List-Id: <kvm.vger.kernel.org>\n\n"
            b"The plughwidget must be frobnicated on every vmexit.\n\n"
        )
    r = subprocess.run(
        [KVMSEARCH, "update", "--index", str(served.home), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
        env=served.env,
    )
    assert r.returncode == 0, r.stderr
    status, body = served.get_json("/api/search?q=plughwidget&limit=1")
    assert status == 200 and body["hits"][0]["versions"][0]["message_id"] == "plugh-0@example.org"
    assert body["generation"] != gen0
    _s, st = served.get_json("/api/status")
    assert st["server"]["generation_switches"] >= 1

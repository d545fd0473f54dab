"""The CLI's fast path: hand a search or show to a running `kvmsearch serve`.

A fresh `kvmsearch "dirty log DBM"` would spend 0.6-1 s loading the index and the ONNX
model; a server holding them answers in milliseconds, but only if this side starts in
milliseconds too. So this module imports the standard library's cheapest parts only
(no typer, no kvmsearch records, not even ``http.client``, which costs 30 ms of
``email`` imports): one HTTP/1.1 request, written by hand, to the server's Unix socket or
loopback port. The wire shapes are those of :mod:`kvmsearch.models.service` (``CliCall``
out, ``CliReply`` back).

Anything it cannot forward (a command that writes, ``--queries FILE``, ``show --mbox``
(mail bytes, not a reply to print), ``--help``, a server for another index or another
lore base, no server at all) runs locally, so the output is the same either way.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import zlib

#: where a forwarded call goes: a socket path or http://127.0.0.1:PORT (overrides the
#: socket `serve` makes under the runtime dir)
ENV_SERVER = "KVMSEARCH_SERVER"

#: commands a server answers; every other one (and an unknown word, which is a query)
_FORWARDED = {"search", "show", "diff"}
_LOCAL = {"parse", "index", "update", "rebuild", "status", "eval", "serve", "mcp"}
_HELP = {"--help", "-h", "--version", "--install-completion", "--show-completion"}

#: a server that takes longer than this to answer has gone wrong; run locally
_TIMEOUT_S = 30.0
_CONNECT_TIMEOUT_S = 0.5


def runtime_dir() -> str:
    """Where `serve` puts its socket: ``$XDG_RUNTIME_DIR/kvmsearch``, else a private
    directory in /tmp (mode 0700, per user)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base):
        return os.path.join(base, "kvmsearch")
    return os.path.join("/tmp", f"kvmsearch-{os.getuid()}")


def resolve_index(explicit: str | None) -> str:
    """The index directory as ``kvmsearch.config.index_home`` resolves it (``--index``,
    ``$KVMSEARCH_HOME``, the XDG data dir), made absolute with links resolved so that
    the client and the server name one index the same way."""
    path = explicit or os.environ.get("KVMSEARCH_HOME")
    if not path:
        # platformdirs' user_data_dir on Linux, without its import
        data = os.environ.get("XDG_DATA_HOME", "").strip() or os.path.expanduser("~/.local/share")
        path = os.path.join(data, "kvmsearch")
    return os.path.realpath(os.path.expanduser(path))


def socket_path(index: str) -> str:
    """The socket of the server for ``index`` (one per index directory). The name
    only has to be stable: the server checks the index a call names, so a clash of
    two names means a local answer, never a wrong one (zlib: hashlib costs 3 ms)."""
    raw = index.encode("utf-8", "surrogateescape")
    key = f"{zlib.crc32(raw):08x}{zlib.adler32(raw):08x}"
    return os.path.join(runtime_dir(), f"{key}.sock")


def _index_option(args: list[str]) -> str | None:
    """The last ``--index`` value, as click takes it (a later option wins)."""
    found = None
    for i, a in enumerate(args):
        if a == "--":
            break
        if a == "--index" and i + 1 < len(args):
            found = args[i + 1]
        elif a.startswith("--index="):
            found = a.split("=", 1)[1]
    return found


def forwardable(args: list[str]) -> bool:
    """Whether a server may answer these words (``kvmsearch`` stripped)."""
    if not args:
        return False
    words = [a for a in args if a != "--"]
    if any(
        a in _HELP
        or a in ("--no-server", "--queries", "--mbox")
        or a.startswith(("--queries=", "--mbox="))
        for a in words
    ):
        return False
    first = args[0]
    if first == "--index" or first.startswith("--index="):
        rest = args[2:] if first == "--index" else args[1:]
        first = rest[0] if rest else ""
    return first in _FORWARDED or (first not in _LOCAL and bool(first))


def _endpoint(index: str) -> tuple[str, str | tuple[str, int]] | None:
    env = os.environ.get(ENV_SERVER, "").strip()
    if env.startswith("http://"):
        hostport = env[len("http://") :].split("/", 1)[0]
        host, _, port = hostport.rpartition(":")
        try:
            return ("tcp", (host.strip("[]") or "127.0.0.1", int(port)))
        except ValueError:
            return None
    path = env or socket_path(index)
    return ("unix", path) if os.path.exists(path) else None


def _post(endpoint: tuple[str, str | tuple[str, int]], path: str, body: bytes) -> dict[str, object]:
    kind, addr = endpoint
    family = (
        socket.AF_UNIX if kind == "unix" else socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    )
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(_CONNECT_TIMEOUT_S)
        s.connect(addr)
        s.settimeout(_TIMEOUT_S)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: kvmsearch\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        s.sendall(head.encode("ascii") + body)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    raw = b"".join(chunks)
    header, sep, payload = raw.partition(b"\r\n\r\n")
    status = header.split(b"\r\n", 1)[0].split()
    if not sep or len(status) < 2 or status[1] != b"200":
        raise OSError(f"server answered {status[1:2]!r}")
    for line in header.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
            payload = _unchunk(payload)
    reply = json.loads(payload)
    if not isinstance(reply, dict):
        raise ValueError("server reply is not an object")
    return reply


def _unchunk(data: bytes) -> bytes:
    out: list[bytes] = []
    pos = 0
    while True:
        end = data.index(b"\r\n", pos)
        size = int(data[pos:end].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(data[end + 2 : end + 2 + size])
        pos = end + 2 + size + 2


def stdout_takes_color() -> bool:
    """Colour on a terminal, unless NO_COLOR (https://no-color.org) or TERM=dumb says
    no (the CLI's rule; a forwarded call carries the caller's answer)."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def try_server(args: list[str]) -> int | None:
    """Run ``kvmsearch ARGS`` on a running server: print its reply and return the exit
    code, or None when it must run here (nothing forwarded, no server, any failure)."""
    if not forwardable(args):
        return None
    index = resolve_index(_index_option(args))
    endpoint = _endpoint(index)
    if endpoint is None:
        return None
    call = {
        "argv": args,
        "index": index,
        "color": stdout_takes_color(),
        "lore_url": os.environ.get("KVMSEARCH_LORE_URL", ""),
    }
    try:
        body = json.dumps(call, ensure_ascii=True).encode("ascii")
    except (UnicodeEncodeError, ValueError):
        return None
    try:
        reply = _post(endpoint, "/api/cli", body)
    except (OSError, ValueError):
        # refused (a stale socket), timed out, or not our server: answer locally
        return None
    if reply.get("fallback"):
        return None
    out, err, code = reply.get("stdout"), reply.get("stderr"), reply.get("exit_code")
    if not isinstance(out, str) or not isinstance(err, str) or not isinstance(code, int):
        return None
    try:
        sys.stdout.write(out)
        sys.stdout.flush()
    except BrokenPipeError:
        # `kvmsearch ... | head`: the reader left; not an error
        sys.stderr.close()
        return 0
    sys.stderr.write(err)
    return code


def main() -> None:
    """The console script: a running server if there is one, else the full CLI."""
    code = try_server(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from kvmsearch.cli import main as cli_main

    cli_main()

"""`kvmsearch serve`: one process that holds the index and the query model open and
answers the CLI, a JSON API and a local web UI.

- ``POST /api/cli``: a forwarded CLI call (:class:`CliCall`), answered with the exact
  output the CLI would print (:class:`CliReply`), by the same functions
  (:mod:`kvmsearch.commands`).
- ``GET /api/search``, ``/api/series/ID``, ``/api/status``: the records ``--json``
  writes, in an envelope ``{"format": API_FORMAT, ...}``; errors are
  ``{"format", "error": {"message", "code", "kind"}}`` with the CLI's message and exit code.
- ``GET /?q=...`` and ``/series/ID``: server-rendered HTML (Jinja2, autoescape on, mail
  text also cleaned of control characters), no JavaScript, a strict CSP.

Read-only: the server never writes the index. It follows it: every request looks at
``current`` once and uses that generation throughout (``Index.searcher``), so an update
is picked up by the next request and a request never sees a half-switched index.
Searches run one at a time: the whoosh searcher and the SQLite doc store are not
shared between threads, and on two cores a second search thread gains little.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kvmsearch.models.errors import KvmsearchError, QueryError
from kvmsearch.models.query import MAX_QUERY_CHARS, MODES, SearchRequest
from kvmsearch.models.records import Hit, JsonObject, SeriesVersion, VersionDiff
from kvmsearch.models.service import API_FORMAT, MAX_BODY_BYTES, CliCall, CliReply

if TYPE_CHECKING:
    import socket

    import jinja2
    from starlette.applications import Starlette
    from starlette.datastructures import QueryParams
    from starlette.requests import Request
    from typer.core import TyperGroup

    from kvmsearch.index import Index

#: the most hits one API or page request may ask for (the CLI allows more; a server
#: answering many clients should not render a thousand hits for one)
MAX_SERVER_LIMIT = 200

#: the web UI's default
PAGE_LIMIT = 20

_WEB = Path(__file__).resolve().parent / "web"

# No script at all; styles from our own file only; no framing, no foreign form targets.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

_STATUS_HTTP = {1: 404, 2: 400, 3: 503, 4: 503, 5: 503, 7: 503}

T = TypeVar("T")


@dataclass
class ServerStats:
    """What `/api/status` reports about the server itself."""

    started: float
    requests: int = 0
    errors: int = 0
    switches: int = 0
    generation: str = ""


class ServingIndex:
    """The one index a server answers from, and the lock searches take turns on."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.lock = threading.Lock()
        self.stats = ServerStats(started=time.time())

    @property
    def path(self) -> str:
        return str(self.index.path.resolve())

    def run(self, fn: Callable[[Index], T]) -> T:
        """Call ``fn`` with the index, one request at a time; counts generation switches."""
        with self.lock:
            self.stats.requests += 1
            result = fn(self.index)
            now = self.index.searcher().gen.name
            if now != self.stats.generation:
                if self.stats.generation:
                    self.stats.switches += 1
                self.stats.generation = now
            return result

    def warm(self) -> None:
        """Load every part (lexical, dense, the query model) before the first request."""
        self.run(lambda idx: idx.search("kvm dirty page tracking", limit=1))

    # ----------------------------------------------------------------- CLI calls

    def cli(self, call: CliCall) -> CliReply:
        """Answer a forwarded CLI call, or ask the caller to run it (``fallback``)."""
        import os

        from kvmsearch import commands

        if call.index != self.path:
            return CliReply(fallback=f"this server serves {self.path}, not {call.index}")
        if call.lore_url != os.environ.get("KVMSEARCH_LORE_URL", ""):
            return CliReply(fallback="another KVMSEARCH_LORE_URL than the server's")
        parsed = parse_cli(list(call.argv))
        if parsed is None:
            return CliReply(fallback="not a call the server answers")
        name, params = parsed

        def answer(idx: Index) -> CliReply:
            try:
                params.pop("index", None)
                params.pop("no_server", None)
                if name == "search":
                    return commands.run_search(lambda: idx, color=call.color, **params)
                if name == "diff":
                    return commands.run_diff(lambda: idx, **params)
                return commands.run_show(
                    lambda: idx, message_id=params["message_id"], as_json=params["as_json"]
                )
            except KvmsearchError as e:
                return commands.error_reply(e)

        reply: CliReply = self.run(answer)
        return reply


@functools.cache
def _cli_group() -> TyperGroup | None:
    """The CLI's click group, built once (typer builds it anew on every call: ~10 ms)."""
    import typer.core
    import typer.main

    from kvmsearch.cli import app

    group = typer.main.get_command(app)
    return group if isinstance(group, typer.core.TyperGroup) else None


def parse_cli(argv: list[str]) -> tuple[str, dict[str, Any]] | None:
    # Any: click's parameters of one command, of as many types as it has options; they
    # go straight back into that command's own typed function (kvmsearch.commands)
    """The CLI's own parser on ``argv``: (command, its parameters), or None when it is
    not a search or show or does not parse (the caller then runs it, and prints the
    usage error itself)."""
    import typer
    import typer.exceptions

    from kvmsearch.cli import route_args

    group = _cli_group()
    if group is None:
        return None
    args = route_args(argv, group.commands)
    if not args or args[0] not in ("search", "show", "diff"):
        return None
    cmd = group.commands[args[0]]
    try:
        ctx = cmd.make_context(args[0], args[1:])
    except (typer.exceptions.TyperException, typer.Exit, typer.Abort):
        return None
    if ctx.params.get("queries") is not None or ctx.params.get("no_server"):
        return None
    if ctx.params.get("mbox") is not None:
        return None  # bytes to a local file or pipe, not a reply to print
    return args[0], dict(ctx.params)


# --------------------------------------------------------------------------- HTML helpers


def _segments(text: str, terms: tuple[str, ...]) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, matched) for highlighting in a template; the template
    escapes every piece."""
    from kvmsearch.query.evidence import term_spans
    from kvmsearch.render import clean

    text = clean(text, oneline=True)
    out, pos = [], 0
    for a, b in term_spans(text, terms):
        out += [(text[pos:a], False), (text[a:b], True)]
        pos = b
    out.append((text[pos:], False))
    return [s for s in out if s[0]]


@dataclass(frozen=True)
class Facet:
    """One value of a facet over a page of hits: label, the inline filter that selects
    it, and how many of the hits have it."""

    label: str
    token: str
    count: int


def _quote(value: str) -> str:
    return f'"{value}"' if any(c.isspace() for c in value) else value


def facets(hits: list[Hit]) -> dict[str, list[Facet]]:
    """List, tree, author, year and landing status over the hits, most common first."""
    from email.utils import parseaddr

    groups: dict[str, Counter[tuple[str, str]]] = {
        k: Counter() for k in ("list", "tree", "author", "year", "status")
    }
    for h in hits:
        for li in h.lists:
            groups["list"][(li.split(".", 1)[0], f"list:{_quote(li)}")] += 1
        if h.tree:
            groups["tree"][(h.tree, f"tree:{_quote(h.tree)}")] += 1
        name, addr = parseaddr(h.author)
        if addr or name:
            groups["author"][(name or addr, f"author:{_quote(addr or name)}")] += 1
        dates = [v.date for v in h.versions if v.date is not None]
        if dates:
            y = str(max(dates).year)
            groups["year"][(y, f"since:{y} until:{int(y) + 1}")] += 1
        groups["status"][(h.landing.status, f"status:{h.landing.status}")] += 1
    return {
        k: [Facet(label, token, n) for (label, token), n in c.most_common(8)]
        for k, c in groups.items()
        if c
    }


def _env() -> jinja2.Environment:
    import jinja2

    from kvmsearch.render import clean, lore_url, version_label

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_WEB / "templates")),
        # every template is HTML: escape everything, mail text above all
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["mail"] = lambda s: clean(str(s), oneline=True)
    env.filters["mailtext"] = lambda s: clean(str(s))
    env.filters["lore"] = lore_url
    env.filters["label"] = version_label
    env.filters["day"] = lambda d: d.strftime("%Y-%m-%d") if d else "????-??-??"
    env.globals["segments"] = _segments
    return env


# --------------------------------------------------------------------------- the app


def _request_from_query(params: QueryParams) -> SearchRequest:
    """A search request from URL parameters: ``q`` (with inline filters), ``limit``,
    ``mode``, ``explain``, ``all_versions``."""
    q = params.get("q", "")
    if len(q) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is {len(q)} characters, more than {MAX_QUERY_CHARS}: ask with its "
            "key words, a path or an identifier"
        )
    raw_limit = params.get("limit", "") or str(PAGE_LIMIT)
    try:
        limit = int(raw_limit)
    except ValueError:
        raise QueryError(
            f"limit={raw_limit[:20]!r} is not a number; use 1 to {MAX_SERVER_LIMIT}"
        ) from None
    if not 1 <= limit <= MAX_SERVER_LIMIT:
        raise QueryError(f"limit={limit} is out of range; use 1 to {MAX_SERVER_LIMIT}")
    mode = params.get("mode", "") or "hybrid"
    if mode not in MODES:
        raise QueryError(f"mode={mode[:20]!r} is not one of {', '.join(MODES)}")
    flag = ("1", "true", "yes", "on")
    return SearchRequest.from_options(
        q,
        limit=limit,
        mode=mode,
        explain=params.get("explain", "") in flag,
        all_versions=params.get("all_versions", "") in flag,
    )


def create_app(serving: ServingIndex) -> Starlette:
    """The ASGI app over one serving index."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import FileResponse, HTMLResponse, Response
    from starlette.routing import Route
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from kvmsearch.models.serialize import to_json

    env = _env()

    def api_json(payload: JsonObject, status: int = 200) -> Response:
        # 7-bit, as the CLI's --json: no byte of mail reaches a client raw
        body = json.dumps({"format": API_FORMAT, **payload}, ensure_ascii=True)
        return Response(body, status_code=status, media_type="application/json")

    def api_error(e: KvmsearchError) -> Response:
        serving.stats.errors += 1
        return api_json(
            {"error": {"message": str(e), "code": e.exit_code, "kind": type(e).__name__}},
            _STATUS_HTTP.get(e.exit_code, 500),
        )

    def page(name: str, status: int = 200, **ctx: object) -> Response:
        html = env.get_template(name).render(index_path=serving.path, **ctx)
        return HTMLResponse(html, status_code=status)

    def page_error(e: KvmsearchError, q: str = "") -> Response:
        serving.stats.errors += 1
        return page("error.html", _STATUS_HTTP.get(e.exit_code, 500), message=str(e), q=q)

    # ---------------------------------------------------------- JSON API
    def api_search(request: Request) -> Response:
        try:
            sreq = _request_from_query(request.query_params)
            if not sreq.text.strip() and sreq.filters.is_empty():
                raise QueryError("nothing to search for; give q=, e.g. q=dirty+log+DBM")
            hits = serving.run(lambda idx: idx.search(sreq))
        except KvmsearchError as e:
            return api_error(e)
        return api_json(
            {
                "query": sreq.text,
                "generation": serving.stats.generation,
                "hits": [to_json(h) for h in hits],
            }
        )

    def path_id(request: Request) -> str:
        """The Message-ID the path names (a bare id or a lore link)."""
        from kvmsearch.indexer.text.links import message_id_from_user

        return message_id_from_user(request.path_params["mid"])

    def show(request: Request) -> list[SeriesVersion]:
        """The series the path's ID belongs to."""
        mid = path_id(request)
        versions: list[SeriesVersion] = serving.run(lambda idx: idx.show(mid))
        return versions

    def api_series(request: Request) -> Response:
        try:
            versions = show(request)
        except KvmsearchError as e:
            return api_error(e)
        return api_json({"versions": [to_json(v) for v in versions]})

    def compare(request: Request) -> VersionDiff:
        """The path's series, versions ``a`` and ``b`` of the query (default: newest two)."""
        q = request.query_params
        mid = path_id(request)
        d: VersionDiff = serving.run(
            lambda idx: idx.diff(mid, q.get("a") or None, q.get("b") or None)
        )
        return d

    def api_diff(request: Request) -> Response:
        try:
            d = compare(request)
        except KvmsearchError as e:
            return api_error(e)
        return api_json({"diff": to_json(d)})

    def api_status(request: Request) -> Response:
        try:
            st = serving.run(lambda idx: idx.status())
        except KvmsearchError as e:
            return api_error(e)
        s = serving.stats
        return api_json(
            {
                "status": to_json(st),
                "server": {
                    "uptime_s": round(time.time() - s.started, 1),
                    "requests": s.requests,
                    "errors": s.errors,
                    "generation_switches": s.switches,
                    "generation": s.generation,
                },
            }
        )

    async def api_cli(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        try:
            raw = json.loads(await request.body())
            call = CliCall(
                argv=tuple(str(a) for a in raw["argv"]),
                index=str(raw["index"]),
                color=bool(raw.get("color", False)),
                lore_url=str(raw.get("lore_url", "")),
            )
        except (ValueError, KeyError, TypeError):
            return api_error(QueryError("a CLI call is {argv, index, color, lore_url}"))
        reply = await run_in_threadpool(serving.cli, call)
        out = json.dumps(
            {
                "stdout": reply.stdout,
                "stderr": reply.stderr,
                "exit_code": reply.exit_code,
                "fallback": reply.fallback,
            },
            ensure_ascii=True,
        )
        return Response(out, media_type="application/json")

    # ---------------------------------------------------------- HTML
    def home(request: Request) -> Response:
        q = request.query_params.get("q", "")
        if not q.strip():
            return page("search.html", q="", hits=None, facets={}, mode="hybrid")
        try:
            sreq = _request_from_query(request.query_params)
            hits = serving.run(lambda idx: idx.search(sreq))
        except KvmsearchError as e:
            return page_error(e, q)
        return page(
            "search.html", q=q, hits=hits, facets=facets(hits), mode=sreq.mode, limit=sreq.limit
        )

    def series(request: Request) -> Response:
        from kvmsearch.render import version_views

        try:
            versions = show(request)
        except KvmsearchError as e:
            return page_error(e)
        return page(
            "series.html",
            q="",
            title=versions[0].title,
            view=version_views(versions),
            family=versions[0].family,
        )

    def diff_page(request: Request) -> Response:
        try:
            d = compare(request)
        except KvmsearchError as e:
            return page_error(e)
        return page("diff.html", q="", d=d)

    def style(request: Request) -> Response:
        return FileResponse(_WEB / "static" / "style.css", media_type="text/css")

    class Guard:
        """Security headers on every answer; a body cap; JSON, not a traceback, when
        a handler fails."""

        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await self.app(scope, receive, send)
                return
            headers = dict(scope.get("headers") or [])
            size = headers.get(b"content-length", b"0")
            if not size.isdigit() or int(size) > MAX_BODY_BYTES:
                await api_json(
                    {
                        "error": {
                            "message": f"request body over {MAX_BODY_BYTES} bytes",
                            "code": 2,
                            "kind": "QueryError",
                        }
                    },
                    413,
                )(scope, receive, send)
                return

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    hs = list(message.get("headers", []))
                    hs += [(k.lower().encode(), v.encode()) for k, v in _SECURITY_HEADERS.items()]
                    message["headers"] = hs
                await send(message)

            try:
                await self.app(scope, receive, send_with_headers)
            except Exception as e:  # noqa: BLE001 - a bug must not show the client a traceback
                import traceback

                traceback.print_exc()  # the server's log keeps it
                serving.stats.errors += 1
                await api_json(
                    {
                        "error": {
                            "message": f"internal error: {type(e).__name__}; see the server's log",
                            "code": 1,
                            "kind": "InternalError",
                        }
                    },
                    500,
                )(scope, receive, send_with_headers)

    routes = [
        Route("/", home),
        Route("/series/{mid:path}", series),
        Route("/diff/{mid:path}", diff_page),
        Route("/static/style.css", style),
        Route("/api/search", api_search),
        Route("/api/series/{mid:path}", api_series),
        Route("/api/diff/{mid:path}", api_diff),
        Route("/api/status", api_status),
        Route("/api/cli", api_cli, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(Guard)])


# --------------------------------------------------------------------------- running

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def check_host(host: str, allow_remote: bool) -> None:
    if host not in LOOPBACK and not allow_remote:
        raise QueryError(
            f"--host {host} would serve the index beyond this machine; add --allow-remote "
            "if that is meant (there is no authentication)"
        )


def bind_socket(path: str) -> socket.socket:
    """A Unix socket at ``path`` (its directory private), replacing a stale one; raises
    QueryError when a live server already holds it."""
    import os
    import socket

    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    if os.path.exists(path):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # nobody answers: a server that died
        else:
            raise QueryError(f"a server already answers on {path}; stop it first or give --socket")
        finally:
            probe.close()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        s.bind(path)
    finally:
        os.umask(old)
    # listen now: a client that finds the socket queues until uvicorn accepts
    s.listen(128)
    return s


def bind_tcp(host: str, port: int) -> socket.socket:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Linux hands TCP_NODELAY on to accepted connections: without it a keep-alive
    # client waits ~40 ms (Nagle against delayed ACK) on every answer sent in two writes
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        s.bind((host, port))
    except OSError as e:
        s.close()
        raise QueryError(
            f"cannot listen on {host}:{port} ({e.strerror}); give another --port"
        ) from None
    s.listen(128)
    return s


def run_server(
    index: Index,
    *,
    host: str,
    port: int | None,
    socket_file: str,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until interrupted; removes its socket on the way out."""
    import os

    import uvicorn

    serving = ServingIndex(index)
    serving.warm()
    sockets = [bind_socket(socket_file)]
    if port is not None:
        sockets.append(bind_tcp(host, port))
    app = create_app(serving)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    where = [f"unix:{socket_file}"]
    if port is not None:
        bound = sockets[-1].getsockname()
        where.append(f"http://{host if ':' not in host else f'[{host}]'}:{bound[1]}/")
    if on_ready is not None:
        on_ready(", ".join(where))
    try:
        server.run(sockets=sockets)
    finally:
        for s in sockets:
            s.close()
        try:
            os.unlink(socket_file)
        except FileNotFoundError:
            pass

"""`kvmsearch search` and `kvmsearch show` as users call them (typer's CliRunner).

The index is built once per session with the FakeEmbedder; the CLI is pointed at it
through the same ``embedder_factory`` seam the library offers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from fakes import FakeEmbedder
from sample_index import (
    DBM,
    HEAVY,
    HOSTILE_COVER,
    HOSTILE_PATCH,
    HOSTILE_TITLE,
    PTP_FAMILY,
    PTP_V13,
    REPO,
    STEAL_TIME,
    VIRTIO_BT_FAMILY,
    VIRTIO_BT_V2,
    VIRTIO_BT_V2_PATCH,
    build_hostile_index,
    build_index,
)
from typer.testing import CliRunner, Result

from kvmsearch.cli import app, use_color
from kvmsearch.index import Index
from kvmsearch.indexer.text.links import message_id_from_user as message_id_of

runner = CliRunner()


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_index(tmp_path_factory.mktemp("search") / "index")


@pytest.fixture(scope="session")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hostile_index(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(autouse=True)
def fake_query_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI opens indexes with the packaged model; these were built with the fake."""
    real_open = Index.open.__func__  # type: ignore[attr-defined]

    def open_with_fake(cls, path=None, *, embedder_factory=None):  # noqa: ANN001, ANN202
        return real_open(cls, path, embedder_factory=FakeEmbedder)

    monkeypatch.setattr(Index, "open", classmethod(open_with_fake))


def run(*args: str, index: Path | None = None) -> Result:
    argv = list(args) + (["--index", str(index)] if index is not None else [])
    return runner.invoke(app, argv)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def one_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    return lines[0]


# --------------------------------------------------------------------------- default command


def test_search_is_the_default_command(index_dir: Path) -> None:
    bare = run("dirty log DBM", index=index_dir)
    explicit = run("search", "dirty log DBM", index=index_dir)
    assert bare.exit_code == 0, bare.output
    assert bare.stdout == explicit.stdout
    assert "Support HW dirty log based on DBM" in bare.stdout


def test_words_need_no_quotes(index_dir: Path) -> None:
    assert (
        run("dirty", "log", "DBM", index=index_dir).stdout
        == run("dirty log DBM", index=index_dir).stdout
    )


@pytest.mark.parametrize("word", ["status", "show", "update", "eval", "index", "parse"])
def test_query_that_names_a_command_searches(index_dir: Path, word: str) -> None:
    r = run("search", word, "--json", "--mode", "lexical", index=index_dir)
    assert r.exit_code in (0, 1), r.output
    assert "Usage:" not in r.output
    for hit in json_lines(r.stdout):
        assert "family" in hit or hit == {"no_match": True, "query": word}


def test_subcommand_word_searches_with_status_in_the_text(index_dir: Path) -> None:
    r = run("search", "status", "--mode", "lexical", "--json", index=index_dir)
    hits = json_lines(r.stdout)
    assert DBM in [h["family"] for h in hits[:3]]  # "dirty status" is all over its cover


def test_options_before_the_query(index_dir: Path) -> None:
    r = runner.invoke(app, ["-n", "3", "--index", str(index_dir), "--json", "vhost"])
    assert r.exit_code == 0, r.output
    assert len(json_lines(r.stdout)) == 3


def test_help_lists_every_command_with_help_text() -> None:
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    group = typer.main.get_command(app)
    assert _is_group(group) and len(group.commands) >= 8
    for name, cmd in group.commands.items():
        assert re.search(rf"^\s+{name}\s+\S", r.stdout, re.M), name
        for sub in _walk(cmd):
            assert (sub.help or "").strip(), f"{sub.name} has no help"
            for p in sub.params:
                if p.param_type_name == "option" and "--help" not in p.opts:
                    assert (p.help or "").strip(), f"{sub.name} {p.opts} has no help"
                if p.param_type_name == "argument":
                    assert (getattr(p, "help", "") or "").strip(), f"{sub.name} {p.name}"


# typer vendors its own click: duck typing instead of isinstance(click.Group).
def _is_group(cmd: Any) -> bool:
    return hasattr(cmd, "commands")


def _walk(cmd: Any) -> list[Any]:
    if _is_group(cmd):
        return [cmd] + [c for sub in cmd.commands.values() for c in _walk(sub)]
    return [cmd]


def test_every_command_help_runs() -> None:
    group = typer.main.get_command(app)
    for name, cmd in group.commands.items():
        for sub in _walk(cmd):
            path = [name] if sub is cmd else [name, sub.name]
            r = runner.invoke(app, [*path, "--help"])
            assert r.exit_code == 0, (path, r.output)
            assert "Usage:" in r.stdout


# --------------------------------------------------------------------------- docs


def _documented() -> list[tuple[str, str]]:
    """(command, option) pairs a user can type; option "" stands for the command."""
    group = typer.main.get_command(app)
    out = []
    for name, cmd in group.commands.items():
        for sub in _walk(cmd):
            if _is_group(sub):
                continue
            cname = name if sub is cmd else f"{name} {sub.name}"
            out.append((cname, ""))
            for p in sub.params:
                if p.param_type_name == "option":
                    out.extend((cname, o) for o in p.opts if o.startswith("--") and o != "--help")
    return out


README = (REPO / "README.md").read_text(encoding="utf-8")


def _sections(command: str) -> list[str]:
    """README sections (split at headings) that show `kvmsearch <command>`."""
    parts = re.split(r"^#+ ", README, flags=re.M)
    return [p for p in parts if re.search(rf"kvmsearch {re.escape(command)}(?![\w-])", p)]


# Commands/options allowed to be missing from the README (none): strict xfail, so an
# entry here fails as soon as it gets documented and the list can only shrink.
UNDOCUMENTED: set[tuple[str, str]] = set()


@pytest.mark.parametrize(
    "command,option",
    [
        pytest.param(c, o, marks=pytest.mark.xfail(strict=True, reason="README pending"))
        if (c, o) in UNDOCUMENTED
        else (c, o)
        for c, o in _documented()
    ],
)
def test_readme_documents_every_command_and_option(command: str, option: str) -> None:
    sections = _sections(command)
    assert sections, f"README never shows `kvmsearch {command}`"
    if option:
        # An option is documented next to its command: in a section that shows it.
        pat = re.compile(rf"(?<![\w-]){re.escape(option)}(?![\w-])")
        assert any(pat.search(s) for s in sections), option


# --------------------------------------------------------------------------- JSON output


def test_json_hit_fields(index_dir: Path) -> None:
    r = run("dirty log DBM", "--json", index=index_dir)
    assert r.exit_code == 0
    hits = json_lines(r.stdout)
    assert DBM in [h["family"] for h in hits[:3]]
    for h in hits:
        for key in (
            "family",
            "title",
            "score",
            "versions",
            "author",
            "lists",
            "tree",
            "files",
            "why",
            "changelog",
        ):
            assert key in h, key
        assert h["explain"] is None  # filled only with --explain
        assert isinstance(h["score"], float)
        for v in h["versions"]:
            for key in ("version", "message_id", "date", "subject"):
                assert key in v
            datetime.fromisoformat(v["date"])
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_json_lists_every_version_of_a_family_newest_first(index_dir: Path) -> None:
    hits = json_lines(run("ptp_kvm arm64", "--json", index=index_dir).stdout)
    ptp = [h for h in hits if h["series"] == PTP_FAMILY]
    assert len(ptp) == 1
    vs = ptp[0]["versions"]
    assert vs[0]["message_id"] == PTP_V13
    assert len(vs) == 3
    # v10 renamed it "for arm/arm64": its own hit, the same family (lineage)
    assert ptp[0]["family_versions"] == 4
    assert "lineage: 1 more posting(s) of this work" in run("ptp_kvm arm64", index=index_dir).stdout
    assert [v["date"] for v in vs] == sorted((v["date"] for v in vs), reverse=True)


def test_explain_adds_component_scores(index_dir: Path) -> None:
    r = run("dirty log DBM", "--json", "--explain", "-n", "2", index=index_dir)
    for h in json_lines(r.stdout):
        ex = h["explain"]
        for key in ("kind", "fused", "lexical", "lexical_rank", "dense", "dense_rank"):
            assert key in ex
        assert ex["kind"] == "prose"
    human = run("dirty log DBM", "--explain", "-n", "1", index=index_dir)
    assert re.search(r"score [\d.]+: .*lexical=", human.stdout)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_limit(index_dir: Path, n: int) -> None:
    hits = json_lines(run("virtio", "--json", "--limit", str(n), index=index_dir).stdout)
    assert len(hits) == n
    human = run("virtio", "-n", str(n), index=index_dir).stdout
    assert len(re.findall(r"^ ?\d+\. ", human, re.M)) == n


def test_limit_must_be_positive(index_dir: Path) -> None:
    r = run("virtio", "-n", "0", index=index_dir)
    assert r.exit_code == 2


# --------------------------------------------------------------------------- filters


def _dates(hit: dict) -> list[datetime]:
    return [datetime.fromisoformat(v["date"]) for v in hit["versions"]]


FILTERS = [
    # (option form, inline form, check on each hit)
    (["--author", "jasowang"], "author:jasowang", lambda h: "jasowang@" in h["author"]),
    (
        ["--list", "virtualization"],
        "list:virtualization",
        lambda h: any("virtualization" in x for x in h["lists"]),
    ),
    (["--tree", "kvm-unit-tests"], "tree:kvm-unit-tests", lambda h: h["tree"] == "kvm-unit-tests"),
    (
        ["--file", "drivers/vhost/"],
        "file:drivers/vhost/",
        lambda h: any(f.startswith("drivers/vhost/") for f in h["files"]),
    ),
    (["--since", "2022-01"], "since:2022-01", lambda h: any(d.year >= 2022 for d in _dates(h))),
    (
        ["--until", "2019-10"],
        "until:2019-10",
        # until: a month runs to its last day
        lambda h: any(d < datetime(2019, 11, 1, tzinfo=d.tzinfo) for d in _dates(h)),
    ),
]


@pytest.mark.parametrize("inline", [False, True], ids=["option", "inline"])
@pytest.mark.parametrize("opt,text,ok", FILTERS, ids=[f[1].split(":")[0] for f in FILTERS])
def test_filters_apply_inside_retrieval(index_dir: Path, opt, text, ok, inline) -> None:
    # The best answers without the filter don't pass it ...
    unfiltered = json_lines(run("dirty log DBM", "--json", "-n", "2", index=index_dir).stdout)
    assert not any(ok(h) for h in unfiltered)
    args = ["dirty log DBM " + text] if inline else ["dirty log DBM", *opt]
    # --limit 1: a filter applied after retrieval would leave nothing to show.
    hits = json_lines(run(*args, "--json", "-n", "1", index=index_dir).stdout)
    assert len(hits) == 1 and ok(hits[0]), hits
    every = json_lines(run(*args, "--json", "-n", "100", index=index_dir).stdout)
    assert every and all(ok(h) for h in every)


def test_filters_alone_list_matching_series(index_dir: Path) -> None:
    hits = json_lines(run("--author", "jasowang", "--json", index=index_dir).stdout)
    assert hits and all("jasowang" in h["author"] for h in hits)


def test_bad_date_is_one_line_exit_2(index_dir: Path) -> None:
    r = run("vhost", "--since", "last tuesday", index=index_dir)
    assert r.exit_code == 2
    assert "since" in one_line(r.stderr) and "YYYY" in r.stderr


def test_all_versions_gives_one_hit_per_version(index_dir: Path) -> None:
    collapsed = json_lines(run("ptp_kvm arm64", "--json", "-n", "50", index=index_dir).stdout)
    split = json_lines(
        run("ptp_kvm arm64", "--json", "-n", "50", "--all-versions", index=index_dir).stdout
    )
    assert sum(h["series"] == PTP_FAMILY for h in collapsed) == 1
    assert all(len(h["versions"]) == 1 for h in split)
    ptp = {h["versions"][0]["message_id"] for h in split if h["family"] == PTP_FAMILY}
    assert len(ptp) == 4 and PTP_V13 in ptp


# --------------------------------------------------------------------------- modes


@pytest.mark.parametrize("mode", ["lexical", "semantic", "hybrid"])
def test_modes(index_dir: Path, mode: str) -> None:
    r = run("dirty log DBM", "--mode", mode, "--json", "--explain", index=index_dir)
    assert r.exit_code == 0, r.output
    hits = json_lines(r.stdout)
    assert hits
    if mode == "lexical":
        assert all(h["explain"]["dense_rank"] is None for h in hits)
    if mode == "semantic":
        assert all(h["explain"]["lexical_rank"] is None for h in hits)


def test_bad_mode_is_one_line_exit_2(index_dir: Path) -> None:
    r = run("vhost", "--mode", "fuzzy", index=index_dir)
    assert r.exit_code == 2
    assert "fuzzy" in one_line(r.stderr) and "hybrid" in r.stderr
    assert "Traceback" not in r.output


def test_path_and_identifier_queries(index_dir: Path) -> None:
    path = json_lines(run("drivers/vhost/", "--json", "-n", "3", index=index_dir).stdout)
    assert path and all(any(f.startswith("drivers/vhost/") for f in h["files"]) for h in path)
    ident = json_lines(run("KVM_CAP_STEAL_TIME", "--json", index=index_dir).stdout)
    assert ident[0]["family"] == STEAL_TIME


def test_an_identifier_nobody_spells_says_so(index_dir: Path) -> None:
    # only the stolen-time diffs name this attribute; the answer is its parts' series
    r = run("KVM_ARM_VCPU_PVTIME_CTRL", "-n", "3", index=index_dir)
    assert r.exit_code == 0 and r.stdout.strip()
    note = one_line(r.stderr)
    assert "no cover, changelog or commit message here spells KVM_ARM_VCPU_PVTIME_CTRL" in note
    # a spelled identifier, or prose, gets no note
    assert run("KVM_CAP_STEAL_TIME", index=index_dir).stderr == ""
    assert run("steal time", "--mode", "lexical", index=index_dir).stderr == ""


def test_no_match_human_exit_1(index_dir: Path) -> None:
    r = run("qwzxv", "--mode", "lexical", index=index_dir)
    assert r.exit_code == 1
    assert "no matching series" in one_line(r.stderr)
    j = run("qwzxv", "--mode", "lexical", "--json", index=index_dir)
    assert j.exit_code == 1
    assert json_lines(j.stdout) == [{"no_match": True, "query": "qwzxv"}]
    assert "no matching series" in one_line(j.stderr)


def test_bad_index_paths_and_queries_are_one_line(index_dir: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    for args, code, says in (
        (["vgic", "--index", str(a_file)], 2, "is a file, not an index directory"),
        (["status", "--index", str(a_file)], 2, "is a file"),
        (["file:", "--index", str(index_dir)], 2, "file: needs a value"),
        (["x" * 2000, "--index", str(index_dir)], 2, "limit is 1000"),
        (["show", "\udcff@x", "--index", str(index_dir)], 1, "no series"),
        (["caf\udce9 vgic", "--mode", "lexical", "--index", str(index_dir)], 0, ""),
    ):
        r = CliRunner().invoke(app, args)
        assert r.exit_code == code, (args, r.output)
        assert "Traceback" not in r.output and says in r.stderr, (args, r.stderr)
        if code:
            assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_empty_query_is_one_line_exit_2(index_dir: Path) -> None:
    r = run("search", "  ", index=index_dir)
    assert r.exit_code == 2
    assert "dirty log DBM" in one_line(r.stderr)


# --------------------------------------------------------------------------- batch mode


def test_batch_queries_file(index_dir: Path, tmp_path: Path) -> None:
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(
        json.dumps({"qid": "a", "query": "dirty log DBM", "relevant": [DBM]})
        + "\n\n"
        + json.dumps({"qid": "b", "query": "drivers/vhost/"})
        + "\n"
        + json.dumps({"qid": "c", "query": "qwzxv"})
        + "\n"
    )
    r = run("--queries", str(qfile), "--json", "-n", "2", index=index_dir)
    assert r.exit_code == 0, r.output
    out = json_lines(r.stdout)
    assert [(o["qid"], o["query"]) for o in out] == [
        ("a", "dirty log DBM"),
        ("b", "drivers/vhost/"),
        ("c", "qwzxv"),
    ]
    assert DBM in [h["family"] for h in out[0]["hits"]]
    assert 0 < len(out[1]["hits"]) <= 2
    assert set(out[0]["hits"][0]) >= {"family", "title", "versions", "why"}


def test_a_bad_query_in_a_batch_is_its_own_error_line(index_dir: Path, tmp_path: Path) -> None:
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(
        "\n".join(
            json.dumps(q)
            for q in (
                {"qid": "a", "query": "d:2021..2020"},
                {"qid": "b", "query": "dirty log DBM"},
                {"qid": "c", "query": "m:nobody-1@example.org"},
            )
        )
        + "\n"
    )
    r = run("--queries", str(qfile), "--json", "-n", "2", index=index_dir)
    assert r.exit_code == 2
    out = json_lines(r.stdout)
    assert [o["qid"] for o in out] == ["a", "b", "c"]
    assert "swap them" in out[0]["error"] and "hits" not in out[0]
    assert DBM in [h["family"] for h in out[1]["hits"]]
    assert "no series in the index holds Message-ID nobody-1@example.org" in out[2]["error"]
    assert "2 of 3 queries failed (a, c)" in one_line(r.stderr)


def test_batch_bad_file_is_one_line(index_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"qid": "a"}\n')
    r = run("--queries", str(bad), "--json", index=index_dir)
    assert r.exit_code == 2
    assert "bad.jsonl" in one_line(r.stderr)
    missing = run("--queries", str(tmp_path / "nope.jsonl"), "--json", index=index_dir)
    assert missing.exit_code == 2 and "nope.jsonl" in one_line(missing.stderr)


# --------------------------------------------------------------------------- show


@pytest.mark.parametrize(
    "any_id",
    [VIRTIO_BT_V2_PATCH, VIRTIO_BT_V2, VIRTIO_BT_FAMILY, f"<{VIRTIO_BT_V2_PATCH}>"],
    ids=["patch", "cover", "family", "brackets"],
)
def test_show_any_id(index_dir: Path, any_id: str) -> None:
    r = run("show", any_id, index=index_dir)
    assert r.exit_code == 0, r.output
    # newest first, with every version's Message-ID
    assert r.stdout.index(f"v4  2022-10-24  <{VIRTIO_BT_V2}>") < r.stdout.index(
        f"v3  2022-10-18  <{VIRTIO_BT_FAMILY}>"
    )
    assert "virtio_bt: Fix alignment in configuration struct" in r.stdout.splitlines()[0]
    j = json_lines(run("show", any_id, "--json", index=index_dir).stdout)
    assert [v["message_id"] for v in j] == [VIRTIO_BT_V2, VIRTIO_BT_FAMILY]
    assert j[0]["version"] == 4 and j[0]["family"] == VIRTIO_BT_FAMILY
    assert VIRTIO_BT_V2_PATCH in j[0]["patch_ids"]


def test_show_lists_changelog_and_files(index_dir: Path) -> None:
    r = run("show", DBM, index=index_dir)
    assert "changes v2:" in r.stdout and "Add support of parallel dirty log sync." in r.stdout
    assert "arch/arm64/kvm/mmu.c" in r.stdout


def test_show_unknown_id_exit_1(index_dir: Path) -> None:
    r = run("show", "no-such-id@example.org", index=index_dir)
    assert r.exit_code == 1
    assert "no-such-id@example.org" in one_line(r.stderr)
    assert "Traceback" not in r.output


# --------------------------------------------------------------------------- no index


@pytest.mark.parametrize(
    "argv", [["dirty log DBM"], ["show", DBM], ["status"], ["search", "--queries", "q.jsonl"]]
)
def test_no_index_is_one_line_exit_3(tmp_path: Path, argv: list[str]) -> None:
    missing = tmp_path / "not-an-index"
    r = run(*argv, index=missing)
    assert r.exit_code == 3, r.output
    line = one_line(r.stderr)
    assert str(missing) in line and "kvmsearch index add" in line
    assert "Traceback" not in r.output


def test_index_from_environment(index_dir: Path) -> None:
    r = runner.invoke(
        app, ["dirty log DBM", "--json", "-n", "3"], env={"KVMSEARCH_HOME": str(index_dir)}
    )
    assert DBM in [h["family"] for h in json_lines(r.stdout)]


# --------------------------------------------------------------------------- terminal safety

# ESC, 8-bit C1 controls, other C0 controls (NUL, BEL, ...), DEL, bidi embeddings/overrides
# and isolates, lone surrogates (undecodable bytes smuggled through surrogateescape).
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def test_hostile_mail_cannot_reach_the_terminal(hostile_dir: Path) -> None:
    for argv in (
        ["zorkmid"],
        ["zorkmid", "--explain"],
        ["zorkmid", "--all-versions"],
        ["arch/arm64/kvm/zorkmid.c"],
        ["show", HOSTILE_COVER],
        ["show", HOSTILE_PATCH],
    ):
        r = run(*argv, index=hostile_dir)
        assert r.exit_code == 0, (argv, r.output)
        assert "zorkmid" in r.stdout
        assert not UNSAFE.search(r.output), (argv, UNSAFE.findall(r.output))
    # Neutralised, not dropped: the reader can still see something was there.
    assert "\\x1b[2J" in run("zorkmid", index=hostile_dir).stdout


def test_hostile_mail_json_is_valid_and_lossless(hostile_dir: Path) -> None:
    for argv in (
        ["zorkmid", "--json", "--explain"],
        ["zorkmid", "--json", "--all-versions"],
        ["show", HOSTILE_PATCH, "--json"],
    ):
        r = run(*argv, index=hostile_dir)
        assert r.exit_code == 0
        raw = r.stdout_bytes
        assert raw.isascii() and b"\x1b" not in raw
        objs = json_lines(raw.decode("ascii"))
        assert objs
    hit = json_lines(run("zorkmid", "--json", index=hostile_dir).stdout)[0]
    # JSON is for programs: they get the text as the mail had it.
    assert hit["title"].endswith(HOSTILE_TITLE)


def test_hostile_batch_output_is_valid_json(hostile_dir: Path, tmp_path: Path) -> None:
    q = tmp_path / "q.jsonl"
    q.write_text(json.dumps({"qid": "\x1b[2J", "query": "zorkmid \u202e"}) + "\n")
    r = run("--queries", str(q), "--json", index=hostile_dir)
    assert r.stdout_bytes.isascii()
    assert json_lines(r.stdout)[0]["hits"]


# --------------------------------------------------------------------------- heavy imports


@pytest.mark.parametrize("query", ["arch/arm64/kvm/", "KVM_CAP_STEAL_TIME"])
def test_path_and_ident_queries_do_not_import_the_model(index_dir: Path, query: str) -> None:
    code = (
        "import sys\nfrom kvmsearch.cli import app\n"
        f"try:\n    app([{query!r}, '--index', {str(index_dir)!r}, '--json'])\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "print('MODULES', ' '.join(sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    hits, mods = out.split("MODULES ")
    assert json_lines(hits)
    loaded = set(mods.split())
    assert not [m for m in HEAVY if m in loaded]


# --------------------------------------------------------------------------- small helpers


@pytest.mark.parametrize(
    "pasted",
    [
        f"<{DBM}>",
        f"https://lore.kernel.org/r/{DBM}",
        f"https://lore.kernel.org/kvmarm/{DBM}/",
        f"https://lore.kernel.org/all/{DBM}/T/#u",
        f"https://lore.kernel.org/kvm/{DBM}/raw",
        f"https://patchwork.kernel.org/project/kvm/patch/{DBM}/",
        f"id:{DBM}",
        f"  {DBM}\n",
    ],
)
def test_show_takes_what_users_paste(index_dir: Path, pasted: str) -> None:
    assert message_id_of(pasted) == DBM
    r = run("show", pasted, "--json", index=index_dir)
    assert [v["message_id"] for v in json_lines(r.stdout)] == [DBM]


def test_message_id_of_unquotes_links() -> None:
    assert message_id_of("https://lore.kernel.org/r/a%2Bb@x.org") == "a+b@x.org"


class _Tty:
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    "env,expected", [({}, True), ({"NO_COLOR": "1"}, False), ({"TERM": "dumb"}, False)]
)
def test_colour_only_on_a_terminal_that_wants_it(monkeypatch, env, expected) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(sys, "stdout", _Tty())
    assert use_color() is expected


def test_error_lines_are_cleaned(index_dir: Path) -> None:
    r = run("show", "\x1b[2J\x1b]52;c;eA==\x07@evil", index=index_dir)
    assert r.exit_code == 1
    assert "\x1b" not in r.stderr and "\\x1b[2J" in one_line(r.stderr)


def test_help_metavars_are_words() -> None:
    out = runner.invoke(app, ["search", "--help"]).stdout
    options = out.split("Options:")[1]
    assert "list[str]" not in options and "<int" not in options
    assert "--author WHO" in options and "--since DATE" in options


@pytest.mark.parametrize(
    "argv", [["-h"], ["search", "-h"], ["index", "-h"], ["index", "add", "-h"], ["show", "-h"]]
)
def test_short_help(argv: list[str]) -> None:
    r = runner.invoke(app, argv)
    assert r.exit_code == 0 and r.stdout.startswith("Usage: ")


def test_query_and_batch_file_together_is_an_error(index_dir: Path, tmp_path: Path) -> None:
    q = tmp_path / "q.jsonl"
    q.write_text('{"qid": "a", "query": "vhost"}\n')
    r = run("vhost", "--queries", str(q), index=index_dir)
    assert r.exit_code == 2 and "--queries" in one_line(r.stderr)


# --------------------------------------------------------------------------- landing

ACTLR = "20200529150656.7339-1-james.morse@arm.com"  # applied by Marc, b4 thank-you


def test_hits_and_show_say_where_a_series_landed(index_dir: Path) -> None:
    r = run("aarch32 ACTLR accesses", "-n", "1", index=index_dir)
    assert "landed: applied to kvm-arm64/32bit-fixes by Marc Zyngier, 2020-" in r.stdout
    assert "3/3 patches (v2)" in r.stdout
    (hit,) = json_lines(run("aarch32 ACTLR accesses", "-n", "1", "--json", index=index_dir).stdout)
    assert hit["family"] == ACTLR and hit["landing"]["status"] == "applied"
    assert hit["versions"][0]["landing"] == "applied"
    shown = run("show", ACTLR, index=index_dir).stdout
    assert "landed: applied to kvm-arm64/32bit-fixes by Marc Zyngier" in shown
    assert "Applied to kvm-arm64/32bit-fixes, thanks!" in shown
    (v,) = json_lines(run("show", ACTLR, "--json", index=index_dir).stdout)
    ev = v["landing"]["evidence"][0]
    assert ev["sentence"] == "Applied to kvm-arm64/32bit-fixes, thanks!"
    assert v["landing"]["patches"] == [1, 2, 3] and len(v["landing"]["commits"]) == 3


def test_status_and_kind_filters(index_dir: Path) -> None:
    applied = json_lines(
        run("KVM arm64", "--status", "applied", "--json", "-n", "50", index=index_dir).stdout
    )
    assert [h["family"] for h in applied] == [ACTLR]
    inline = json_lines(
        run("KVM arm64 status:landed", "--json", "-n", "50", index=index_dir).stdout
    )
    assert [h["family"] for h in inline] == [ACTLR]
    never = json_lines(run("aarch32 ACTLR", "--status", "none", "--json", index=index_dir).stdout)
    assert ACTLR not in {h.get("family") for h in never}
    pulls = json_lines(run("KVM", "--kind", "pull", "--json", "-n", "50", index=index_dir).stdout)
    assert pulls and all("PULL" in h["versions"][0]["subject"].upper() for h in pulls)


def test_bad_status_or_kind_is_one_line(index_dir: Path) -> None:
    for args in (("--status", "merged"), ("--kind", "patch")):
        r = run("vgic", *args, index=index_dir)
        assert r.exit_code == 2 and "use" in one_line(r.stderr)
    r = run("vgic status:", index=index_dir)
    assert r.exit_code == 2 and "status:applied" in one_line(r.stderr)


def test_index_option_before_the_command_belongs_to_it(index_dir: Path) -> None:
    r = CliRunner().invoke(app, ["--index", str(index_dir), "show", ACTLR])
    assert r.exit_code == 0 and "landed: applied" in r.stdout
    r = CliRunner().invoke(app, [f"--index={index_dir}", "show", ACTLR, "--json"])
    assert r.exit_code == 0 and json_lines(r.stdout)[0]["message_id"] == ACTLR
    # --no-server before the command belongs to it too, in either order with --index
    for argv in (
        ["--index", str(index_dir), "--no-server", "show", ACTLR],
        ["--no-server", "--index", str(index_dir), "show", ACTLR],
    ):
        r = CliRunner().invoke(app, argv)
        assert r.exit_code == 0 and "landed: applied" in r.stdout, argv


def test_reviewer_filter(index_dir: Path) -> None:
    hits = json_lines(
        run("vdpa", "--reviewer", "witu@nvidia", "--json", "-n", "20", index=index_dir).stdout
    )
    assert hits and all(h.get("reviewers", 0) >= 1 for h in hits)
    inline = json_lines(run("vdpa reviewer:William", "--json", "-n", "20", index=index_dir).stdout)
    assert [h["series"] for h in inline] == [h["series"] for h in hits]
    none = json_lines(run("vdpa", "--reviewer", "nobody-at-all", "--json", index=index_dir).stdout)
    assert none == [{"no_match": True, "query": "vdpa"}]


def test_diff_compares_the_newest_two_versions(index_dir: Path) -> None:
    r = run("diff", VIRTIO_BT_V2, index=index_dir)
    assert r.exit_code == 0, r.output
    head = r.stdout.splitlines()[0]
    assert head.startswith("v3 -> v4") and "1 changed" in head and "0 dropped" in head
    j = json.loads(run("diff", "--json", VIRTIO_BT_FAMILY, "v3", "4", index=index_dir).stdout)
    assert (j["old_version"], j["new_version"]) == (3, 4)
    assert [p["status"] for p in j["patches"]] == ["changed"]
    assert j["diffs_stored"] is True and j["patches"][0]["interdiff"] is not None


@pytest.mark.parametrize(
    ("args", "words"),
    [(["v9"], "has no v9"), (["three"], "not a version"), (["3", "3"], "two different")],
)
def test_diff_bad_versions_are_one_line(index_dir: Path, args: list[str], words: str) -> None:
    r = run("diff", VIRTIO_BT_V2, *args, index=index_dir)
    assert r.exit_code == 2 and words in one_line(r.stderr) and "Traceback" not in r.output


def test_diff_of_a_single_version_says_so(index_dir: Path) -> None:
    r = run("diff", DBM, index=index_dir)
    assert r.exit_code == 2 and "nothing to compare" in one_line(r.stderr)


def test_show_mbox_writes_the_version_for_git_am(index_dir: Path) -> None:
    out = run("show", VIRTIO_BT_V2, "--mbox", "v4", index=index_dir)
    assert out.exit_code == 0, out.output
    assert out.stdout_bytes.startswith(b"From mboxrd@z ")
    assert out.stdout_bytes.count(b"\nFrom mboxrd@z ") + 1 >= 2  # the cover and its patch
    assert b"\ndiff --git " in out.stdout_bytes
    assert f"<{VIRTIO_BT_V2_PATCH}>".encode() in out.stdout_bytes
    assert "wrote v4:" in out.stderr
    bad = run("show", VIRTIO_BT_V2, "--mbox", "v9", index=index_dir)
    assert bad.exit_code != 0 and "has no v9" in bad.stderr and "Traceback" not in bad.output


REVIEWED_MBOX = """\
From mboxrd@z Thu Jan  1 00:00:00 1970
From: Dev <dev@example.org>
Subject: [PATCH] KVM: arm64: Walk the stage-2 tables faster
Date: Tue, 01 Mar 2022 12:00:00 +0000
Message-ID: <walk-1@example.org>

Walking the stage-2 page tables is slow; cache the last level.

Signed-off-by: Dev <dev@example.org>
---
diff --git a/arch/arm64/kvm/mmu.c b/arch/arm64/kvm/mmu.c
--- a/arch/arm64/kvm/mmu.c
+++ b/arch/arm64/kvm/mmu.c
@@ -1,3 +1,3 @@
 a
-b
+c
 d

From mboxrd@z Thu Jan  1 00:00:00 1970
From: Marc Zyngier <maz@kernel.org>
Subject: Re: [PATCH] KVM: arm64: Walk the stage-2 tables faster
Date: Wed, 02 Mar 2022 09:00:00 +0000
Message-ID: <walk-r1@example.org>
In-Reply-To: <walk-1@example.org>
References: <walk-1@example.org>

On Tue, 01 Mar 2022, Dev wrote:
> +c

This walks the tables without the mmu_lock held: use after free waiting to happen.

From mboxrd@z Thu Jan  1 00:00:00 1970
From: Dev <dev@example.org>
Subject: [PATCH] KVM: arm64: Walk the vgic list faster
Date: Tue, 01 Mar 2022 13:00:00 +0000
Message-ID: <vgic-1@example.org>

Walking the vgic list is slow; keep it sorted. The mmu_lock is not involved.

Signed-off-by: Dev <dev@example.org>
---
diff --git a/arch/arm64/kvm/vgic/vgic.c b/arch/arm64/kvm/vgic/vgic.c
--- a/arch/arm64/kvm/vgic/vgic.c
+++ b/arch/arm64/kvm/vgic/vgic.c
@@ -1,3 +1,3 @@
 a
-b
+c
 d
"""


@pytest.fixture(scope="module")
def reviewed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("reviewed") / "reviewed.mbox"
    src.write_text(REVIEWED_MBOX)
    return build_index(tmp_path_factory.mktemp("reviewed-index") / "index", [src])


def test_review_filter_finds_what_reviewers_wrote(reviewed_dir: Path) -> None:
    ids = lambda r: [h["series"] for h in json_lines(r.stdout) if "series" in h]  # noqa: E731
    # inline and as an option; the author's own text saying "mmu_lock" does not count
    assert ids(run("review:mmu_lock", "--json", index=reviewed_dir)) == ["walk-1@example.org"]
    got = run("walk", "--review", "use after free", "--json", index=reviewed_dir)
    assert ids(got) == ["walk-1@example.org"]
    assert ids(run('walk review:"after use"', "--json", index=reviewed_dir)) == []
    # a word the index does not keep cannot select anything: said, not an empty answer
    short = run("review:c", "--json", index=reviewed_dir)
    assert short.exit_code == 2 and "no word the index keeps" in short.stderr


def test_show_lists_the_reviewers_replies(reviewed_dir: Path) -> None:
    out = run("show", "walk-1@example.org", index=reviewed_dir)
    assert out.exit_code == 0, out.output
    assert "  review: 1 replies from 1 people" in out.stdout
    assert (
        "Marc Zyngier on the series: This walks the tables without the mmu_lock held" in out.stdout
    )
    assert "      > +c" in out.stdout
    js = json_lines(run("show", "walk-1@example.org", "--json", index=reviewed_dir).stdout)
    (note,) = js[0]["reviews"]
    assert note["message_id"] == "walk-r1@example.org" and note["answers"] == ["+c"]

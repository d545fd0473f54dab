"""The query contract: one Filters record whether filters come inline or as options,
and the document store's filter read against a brute-force oracle."""

from __future__ import annotations

import ast
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fakes import fake_version

from kvmsearch.indexer.index.docs import DocStore, version_digest
from kvmsearch.indexer.text.paths import filter_path_terms, path_forms
from kvmsearch.models.errors import QueryError
from kvmsearch.models.query import Filters, SearchRequest
from kvmsearch.models.records import Family, ParseReport, ParseResult, PatchInfo
from kvmsearch.query.understand import understand

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("inline", "options"),
    [
        ("author:maz", {"author": "maz"}),
        ("list:kvmarm tree:qemu", {"list_": "kvmarm", "tree": "qemu"}),
        (
            "file:arch/arm64/kvm/ since:2021-03 until:2022",
            {"file": "arch/arm64/kvm/", "since": "2021-03", "until": "2022"},
        ),
        ("kind:pull,stable", {"kind": ["pull", "stable"]}),
    ],
)
def test_inline_filters_and_options_make_the_same_filters(inline, options) -> None:
    from_text = understand(f"vgic {inline}").filters
    from_options = understand("vgic", Filters.from_options(**options)).filters
    assert from_text == from_options


def test_request_rejects_what_cannot_mean_anything() -> None:
    with pytest.raises(QueryError, match="not a mode"):
        SearchRequest("x", mode="fuzzy")
    with pytest.raises(QueryError, match="limit"):
        SearchRequest("x", limit=5000)
    with pytest.raises(QueryError, match="swap them"):
        Filters.from_options(since="2022", until="2021")
    with pytest.raises(QueryError, match="not a date"):
        Filters.from_options(since="someday")


def _versions():
    out = []
    for i in range(30):
        patches = (
            PatchInfo(
                f"p{i}@x",
                f"[PATCH 1/1] x{i}",
                1,
                "msg",
                (f"arch/arm64/kvm/f{i % 4}.c", f"drivers/vhost/v{i % 3}.c"),
            ),
        )
        v = fake_version(f"v{i}@x", f"title {i}", "text", patches=patches)
        out.append(
            replace(
                v,
                kind=("series", "pull", "stable")[i % 3],
                author=("Marc Zyngier <maz@kernel.org>", "Oliver <oupton@google.com>")[i % 2],
                lists=(("kvmarm.lists.cs.columbia.edu",), ("kvm@vger.kernel.org",))[i % 2],
                tree=(None, "qemu", "kvm-unit-tests")[i % 3 if i % 5 else 0],
                date=datetime(2020 + i % 4, 1 + i % 12, 1 + i % 28, 23, 30, tzinfo=UTC)
                if i % 7
                else None,
                cover=replace(v.cover, files=("MAINTAINERS",) if i % 2 else ()),
            )
        )
    return out


def _oracle(v, f: Filters) -> bool:
    def has(values, hay):
        return not values or any(x.lower() in hay.lower() for x in values)

    if not has(f.authors, v.author) or not has(f.trees, v.tree or ""):
        return False
    if f.lists and not any(has(f.lists, x) for x in v.lists):
        return False
    if f.kinds and v.kind not in f.kinds:
        return False
    day = v.date.astimezone(UTC).date() if v.date else None
    if (f.since or f.until) and day is None:
        return False
    if f.since and day < f.since or f.until and day > f.until:
        return False
    if f.files:
        terms = {t for p in v.all_files for t in path_forms(p)}
        if not terms & {t for p in f.files for t in filter_path_terms(p)}:
            return False
    return True


@pytest.mark.parametrize(
    "filters",
    [
        Filters(),
        Filters(kinds=()),
        Filters(authors=("MAZ",)),
        Filters(lists=("kvmarm",)),
        Filters(trees=("qemu",)),
        Filters(kinds=("pull", "stable")),
        Filters(since=date(2021, 1, 1)),
        Filters(until=date(2021, 6, 30)),
        Filters(since=date(2021, 2, 2), until=date(2022, 3, 3), kinds=()),
        Filters(files=("arch/arm64/kvm/",)),
        Filters(files=("f1.c",)),
        Filters(files=("drivers/vhost/v2.c", "maintainers"), authors=("oupton",), kinds=()),
        Filters(files=("arch/",), trees=("kvm-unit",)),
    ],
)
def test_doc_store_filter_matches_the_oracle(tmp_path: Path, filters: Filters) -> None:
    vs = _versions()
    path = tmp_path / "docs.sqlite"
    DocStore.write(
        path,
        ParseResult(
            tuple(vs), tuple(Family(v.message_id, (v.message_id,)) for v in vs), ParseReport()
        ),
        {v.message_id: version_digest(v) for v in vs},
    )
    docs = DocStore(path)
    got = docs.versions_matching(filters)
    want = {v.message_id for v in vs if _oracle(v, filters)}
    if got is None:
        assert want == {v.message_id for v in vs}
    else:
        assert got == want
    docs.close()


STAGES = ("text", "mail", "series", "index")


def _under(mod: str, packages: tuple[str, ...]) -> bool:
    return any(mod == p or mod.startswith(p + ".") for p in packages)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


@pytest.mark.parametrize("stage", STAGES)
def test_indexer_stages_import_only_earlier_stages(stage: str) -> None:
    later = STAGES[STAGES.index(stage) + 1 :]
    for path in (REPO / "indexer" / stage).glob("*.py"):
        for mod in _imports(path):
            assert not _under(mod, tuple(f"kvmsearch.indexer.{s}" for s in later)), (path, mod)
            assert not _under(
                mod, ("kvmsearch.query", "kvmsearch.cli", "kvmsearch.index", "kvmsearch.render")
            ), (path, mod)


def test_layers_point_down() -> None:
    for pkg, banned in (
        ("models", ("kvmsearch.indexer", "kvmsearch.query", "kvmsearch.cli", "kvmsearch.index")),
        ("query", ("kvmsearch.cli", "kvmsearch.index", "kvmsearch.render")),
    ):
        for path in (REPO / pkg).glob("*.py"):
            for mod in _imports(path):
                assert not _under(mod, banned), (path, mod)

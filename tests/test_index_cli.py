"""`kvmsearch index add`, `update`, `rebuild` and `status` as a nightly job calls them:
exit codes, one-line errors, quiet and JSON output, the lock.

Builds use FakeEmbedder: the ``fake_model`` fixture makes it the default model of every
``Index`` the CLI opens (a test-side patch, as in test_search_cli). One integration test
runs the real model.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import FakeEmbedder
from typer.testing import CliRunner, Result

from kvmsearch.cli import app
from kvmsearch.index import Index
from kvmsearch.indexer.index.generations import FORMAT_VERSION, MANIFEST_NAME, IndexHome
from kvmsearch.models.embedding import MODEL_KEY

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

runner = CliRunner()


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    real_init = Index.__init__

    def init(self, path=None, *, embedder_factory=None):  # noqa: ANN001, ANN202
        real_init(self, path, embedder_factory=embedder_factory or FakeEmbedder)

    monkeypatch.setattr(Index, "__init__", init)


def run(*args: str, index: Path | None = None, env: dict[str, str] | None = None) -> Result:
    argv = list(args) + (["--index", str(index)] if index is not None else [])
    return runner.invoke(app, argv, env=env)


def one_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def mboxes(tmp_path: Path) -> Path:
    """Copies of the series samples, each cut to its first message; ``grow()`` appends
    the rest, as a list archive grows between two nightly runs."""
    d = tmp_path / "mail"
    d.mkdir()
    for p in sorted((TESTS / "samples" / "series").glob("*.mbox")):
        data = p.read_bytes()
        cut = data.index(b"\nFrom ", 1) + 1
        (d / p.name).write_bytes(data[:cut])
        (tmp_path / f"{p.name}.rest").write_bytes(data[cut:])
    return d


def grow(mboxes: Path) -> None:
    for p in mboxes.iterdir():
        with p.open("ab") as f:
            f.write((mboxes.parent / f"{p.name}.rest").read_bytes())


@pytest.fixture
def home(tmp_path: Path, mboxes: Path, fake_model: None) -> Path:
    h = tmp_path / "home"
    r = run("index", "add", "--quiet", str(mboxes), index=h)
    assert r.exit_code == 0, r.output
    return h


# --------------------------------------------------------------------------- add, status


def test_index_add_prints_the_outcome(tmp_path: Path, mboxes: Path, fake_model: None) -> None:
    h = tmp_path / "home"
    r = run("index", "add", "--json", str(mboxes), index=h)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["generation"] == IndexHome(h).open_current().name
    assert out["new_messages"] == 5 and out["versions"] == out["versions_changed"] > 0
    assert out["chunks"] > 0 and out["source_errors"] == []
    assert set(out["timings"]) >= {"read", "store", "assemble", "docs", "lexical", "embed"}

    r = run("index", "add", str(mboxes), index=tmp_path / "other")
    assert r.exit_code == 0
    assert r.stdout == "" and "generation 0" in r.stderr and "series versions" in r.stderr


def test_status_human_and_json(home: Path) -> None:
    gen = IndexHome(home).open_current()
    r = run("status", index=home)
    assert r.exit_code == 0, r.output
    assert gen.name in r.stdout and FakeEmbedder.name in r.stdout
    assert f"index format {FORMAT_VERSION}" in r.stdout
    assert "coverless.mbox [mbox]" in r.stdout and "MISSING" not in r.stdout

    r = run("status", "--json", index=home)
    st = json.loads(r.stdout)
    assert st["generation"] == gen.name and st["format_version"] == FORMAT_VERSION
    assert st["counts"] == gen.manifest.counts
    assert st["model"] == {"name": FakeEmbedder.name, "sha256": "fake-64", "dim": 64}
    assert len(st["sources"]) == 5 and all(s["exists"] for s in st["sources"])
    assert all(s["position"]["offset"] > 0 for s in st["sources"])


def test_index_from_the_environment(home: Path) -> None:
    r = run("status", "--json", env={"KVMSEARCH_HOME": str(home)})
    assert json.loads(r.stdout)["home"] == str(home)
    r = run("update", env={"KVMSEARCH_HOME": str(home)})
    assert r.exit_code == 0 and "nothing new" in r.stderr


# --------------------------------------------------------------------------- update


def test_update_with_nothing_new_exits_0_and_writes_nothing(home: Path) -> None:
    before = sorted(p.name for p in (home / "generations").iterdir())
    r = run("update", index=home)
    assert r.exit_code == 0 and r.stdout == ""
    assert "kvmsearch: nothing new; the index is up to date" in r.stderr.splitlines()

    r = run("update", "--quiet", index=home)
    assert r.exit_code == 0 and r.output == ""

    r = run("update", "--json", index=home)
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert out["generation"] is None and out["new_messages"] == 0
    assert sorted(p.name for p in (home / "generations").iterdir()) == before


def test_update_reads_new_mail_into_a_new_generation(home: Path, mboxes: Path) -> None:
    first = IndexHome(home).open_current()
    grow(mboxes)
    r = run("update", "--quiet", index=home)
    assert r.exit_code == 0 and r.output == ""
    now = IndexHome(home).open_current()
    assert now.name != first.name and now.manifest.previous_generation == first.name
    assert now.manifest.counts["messages"] > first.manifest.counts["messages"]


def test_update_without_an_index_exits_3(tmp_path: Path) -> None:
    r = run("update", index=tmp_path / "nothing")
    assert r.exit_code == 3
    assert "kvmsearch index add" in one_line(r.stderr)


def test_index_add_of_a_bad_path_exits_2_and_writes_nothing(
    tmp_path: Path, fake_model: None
) -> None:
    h = tmp_path / "home"
    r = run("index", "add", str(tmp_path / "nope.mbox"), index=h)
    assert r.exit_code == 2
    assert "nope.mbox" in one_line(r.stderr) and "Traceback" not in r.output
    assert not IndexHome(h).exists()


def test_vanished_source_exits_6_naming_it_and_the_rest_update(home: Path, mboxes: Path) -> None:
    first = IndexHome(home).open_current()
    gone = mboxes / "pull-requests.mbox"
    gone.rename(mboxes.parent / "elsewhere.mbox")
    grow(mboxes)
    r = run("update", "--quiet", index=home)
    assert r.exit_code == 6
    line = one_line(r.stderr)  # --quiet still reports the failure
    assert str(gone) in line and "restore it" in line
    assert IndexHome(home).open_current().name != first.name  # the others updated

    r = run("update", "--json", index=home)
    assert r.exit_code == 6
    out = json.loads(r.stdout)
    assert out["generation"] is None
    assert [e["source"] for e in out["source_errors"]] == [str(gone)]

    r = run("status", index=home)
    assert r.exit_code == 0 and f"{gone} [mbox]  (MISSING)" in r.stdout


# --------------------------------------------------------------------------- lock

_HOLDER = """
import sys, time
from kvmsearch.indexer.index.generations import IndexHome
with IndexHome(sys.argv[1]).lock("kvmsearch update"):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_update_while_another_holds_the_lock_exits_4(home: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        r = run("update", "--quiet", index=home)
        assert r.exit_code == 4
        line = one_line(r.stderr)
        assert f"pid {holder.pid} on {socket.gethostname()}" in line
        assert "`kvmsearch update`" in line
        # Readers never take the lock.
        assert run("status", index=home).exit_code == 0
        r = run("search", "--mode", "lexical", "--json", "virtio_bt", index=home)
        assert r.exit_code == 0 and r.stdout.strip()
        with Index.open(home) as idx:
            assert idx.search("virtio_bt alignment", limit=1)
    finally:
        holder.kill()
        holder.communicate()
    # The holder's death released the lock.
    assert run("update", "--quiet", index=home).exit_code == 0


# --------------------------------------------------------------------------- formats


def test_other_format_exits_3_asking_for_rebuild_which_works(home: Path, mboxes: Path) -> None:
    gen = IndexHome(home).open_current()
    raw = json.loads((gen.dir / MANIFEST_NAME).read_text())
    raw["format_version"] = FORMAT_VERSION + 1
    (gen.dir / MANIFEST_NAME).write_text(json.dumps(raw))
    for argv in (["status"], ["update"], ["search", "virtio"], ["index", "add", str(mboxes)]):
        r = run(*argv, index=home)
        assert r.exit_code == 3, (argv, r.output)
        assert "kvmsearch rebuild" in one_line(r.stderr)

    r = run("rebuild", index=home)
    assert r.exit_code == 0, r.output
    assert "5 messages read" in r.stderr and "new messages" not in r.stderr
    r = run("rebuild", "--json", index=home)
    assert r.exit_code == 0 and json.loads(r.stdout)["rebuilt"] is True
    r = run("status", "--json", index=home)
    assert r.exit_code == 0 and json.loads(r.stdout)["format_version"] == FORMAT_VERSION


def test_rebuild_without_sources_exits_3(tmp_path: Path) -> None:
    r = run("rebuild", index=tmp_path / "empty")
    assert r.exit_code == 3 and "kvmsearch index add" in one_line(r.stderr)


# --------------------------------------------------------------------------- real model


@pytest.mark.integration
def test_index_add_with_the_real_model(tmp_path: Path) -> None:
    # The patchwork exports of data/: 21 cover letters, small enough for the real model.
    data = tmp_path / "data"
    data.mkdir()
    for p in sorted((REPO / "data").glob("*.txt")):
        shutil.copy(p, data / p.name)
    h = tmp_path / "home"
    r = run("index", "add", "--json", str(data), index=h)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["generation"] and out["chunks_embedded"] > 0

    st = json.loads(run("status", "--json", index=h).stdout)
    assert st["model"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    # the key over the weights and every pinned config/tokenizer file
    assert st["model"]["sha256"] == MODEL_KEY
    assert st["model"]["dim"] == 384
    assert st["onnx"] and (h / st["onnx"]["path"]).is_file()

    # Queries embed with the exported ONNX model.
    r = run("search", "--json", "--mode", "semantic", "paravirtualised time for guests", index=h)
    assert r.exit_code == 0 and r.stdout.strip()
    r = run("update", index=h)
    assert r.exit_code == 0 and "nothing new" in r.stderr


@pytest.mark.usefixtures("fake_model")
def test_an_archive_dropped_into_a_registered_folder_is_read_by_update(tmp_path: Path) -> None:
    feed = tmp_path / "feed"
    feed.mkdir()
    series = sorted((TESTS / "samples" / "series").glob("*.mbox"))
    shutil.copy(series[0], feed / series[0].name)
    h = tmp_path / "home"
    assert run("index", "add", "--quiet", str(feed), index=h).exit_code == 0
    first = IndexHome(h).open_current()
    # the nightly fetch drops a new month's archive into the folder
    shutil.copy(series[1], feed / series[1].name)
    r = run("update", "--json", index=h)
    assert r.exit_code == 0, r.output
    now = IndexHome(h).open_current()
    assert now.name != first.name
    assert {Path(s.source).name for s in now.manifest.sources} == {series[0].name, series[1].name}
    # nothing new: nothing written
    assert "nothing new" in run("update", index=h).stderr

"""Building and updating an index home: what a build writes, incremental updates that
equal a full build, crash safety of a real update, vanished sources, rebuild, formats.

Every build here uses FakeEmbedder (no torch); the kvm-ppc git bundle provides a real
archive (~6k messages) whose head can be moved to make an update.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeEmbedder
from test_generations import wait_for_line

from kvmsearch.index import Index
from kvmsearch.indexer.index.build import run_build
from kvmsearch.indexer.index.dense import INDEX_FILE, META_FILE, ROWS_FILE
from kvmsearch.indexer.index.docs import DocStore
from kvmsearch.indexer.index.generations import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    TEMP_PREFIX,
    IndexHome,
)
from kvmsearch.indexer.index.lexical import open_lexical
from kvmsearch.indexer.mail.store import MessageStore
from kvmsearch.models.errors import IndexError_, IndexFormatError, SourceError
from kvmsearch.models.serialize import version_to_dict
from kvmsearch.query.dense import DenseSearcher

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
SHARED = REPO.parent / "shared"
BUNDLE = SHARED / "corpus" / "kvm-ppc.vger.kernel.org.git.bundle"
SERIES_SAMPLES = sorted((TESTS / "samples" / "series").glob("*.mbox"))
#: the update the bundle tests make: the archive's last 60 commits
CUT = 60


def build(home: Path | IndexHome, **kw: Any) -> Any:
    """run_build with the fake embedder and no ONNX export."""
    if not isinstance(home, IndexHome):
        home = IndexHome(home)
    return run_build(home, embedder_factory=FakeEmbedder, export_query_model=False, **kw)


# --------------------------------------------------------------------------- snapshots


@dataclass
class Snapshot:
    """Everything a generation serves, in comparable form."""

    docs: dict[str, dict]  # version id -> version_to_dict(with_patches=True)
    families: dict[str, tuple[str, ...]]
    chunks: set[tuple[str, str, int, str]]  # (version_id, field, ordinal, text)
    postings: set[tuple[str, Any, str, float]]  # (field, term, version id, weight)
    sources: dict[str, dict]  # path -> how far it was read
    counts: dict[str, Any]


def snapshot(home: Path) -> Snapshot:
    """Read the serving generation through the docs, dense and lexical readers."""
    import numpy as np

    gen = IndexHome(home).open_current()
    docs = DocStore(gen.dir / "docs.sqlite")
    try:
        versions = {
            v.message_id: version_to_dict(v, with_patches=True) for v in docs.iter_versions()
        }
        families = {}
        for fid in {d["family"] for d in versions.values()}:
            fam = docs.family(fid)
            assert fam is not None, fid
            families[fid] = fam.version_ids
    finally:
        docs.close()

    dense = DenseSearcher(gen.dir)
    rows = np.load(gen.dir / ROWS_FILE)  # (version index, field index, ordinal) per row
    texts = dense.texts(list(range(len(dense))))
    vids, fields = dense.meta["versions"], dense.meta["fields"]
    chunks = {(vids[v], fields[f], o, t) for (v, f, o), t in zip(rows.tolist(), texts, strict=True)}
    assert len(chunks) == len(dense) == len(texts)

    ix = open_lexical(gen.dir / "lexical")
    try:
        with ix.reader() as r:
            # iter_docs skips deleted documents; iter_postings does not.
            live = {n: stored["message_id"] for n, stored in r.iter_docs()}
            postings = {(f, t, live[n], w) for f, t, n, w, _v in r.iter_postings() if n in live}
    finally:
        ix.close()
    assert sorted(live.values()) == sorted(versions)  # one lexical doc per version

    m = gen.manifest
    return Snapshot(
        versions,
        families,
        chunks,
        postings,
        {s.source: read_to(s.state) for s in m.sources},
        dict(m.counts),
    )


#: position keys that describe the last read (where it resumed, whether it had to start
#: over) rather than how far the source was read
_LAST_READ = {"resumed_from", "reread", "reason"}


def read_to(state: dict) -> dict:
    return {k: v for k, v in state.items() if k not in _LAST_READ}


def assert_same_index(got: Snapshot, want: Snapshot) -> None:
    """Field by field, so a failure names what differs rather than dumping both."""
    assert got.docs.keys() == want.docs.keys()
    differing = [vid for vid in want.docs if got.docs[vid] != want.docs[vid]]
    assert not differing, (differing[:5], got.docs[differing[0]], want.docs[differing[0]])
    assert got.families == want.families
    assert got.chunks == want.chunks
    assert got.postings == want.postings
    assert got.sources == want.sources
    assert got.counts == want.counts


def temp_dirs(home: Path) -> list[str]:
    gens = home / "generations"
    return sorted(p.name for p in gens.iterdir() if p.name.startswith(TEMP_PREFIX))


# --------------------------------------------------------------------------- small samples


@pytest.fixture
def sample_sources(tmp_path: Path) -> dict[str, Path]:
    """Copies of the small real samples: a directory of mboxes, one of patchwork exports."""
    mboxes = tmp_path / "src" / "mboxes"
    mboxes.mkdir(parents=True)
    for p in SERIES_SAMPLES:
        shutil.copy(p, mboxes / p.name)
    # The patchwork exports of data/ (its kvmarm slice would make every build here
    # several times slower for no more coverage).
    data = tmp_path / "src" / "data"
    data.mkdir()
    for p in sorted((REPO / "data").glob("*.txt")):
        (data / p.name).write_bytes(p.read_bytes())
    return {"mboxes": mboxes, "data": data}


def test_build_writes_every_part_and_a_complete_manifest(tmp_path, sample_sources) -> None:
    home = tmp_path / "home"
    out = build(home, add_paths=[sample_sources["mboxes"], sample_sources["data"]])
    assert out.generation is not None and out.source_errors == []

    ih = IndexHome(home)
    gen = ih.open_current()
    assert gen.name == out.generation and ih.generations() == [gen.name]
    for part in ("docs.sqlite", "lexical", INDEX_FILE, META_FILE, ROWS_FILE, MANIFEST_NAME):
        assert (gen.dir / part).exists(), part
    assert temp_dirs(home) == []

    raw = json.loads((gen.dir / MANIFEST_NAME).read_text())
    assert raw["format_version"] == FORMAT_VERSION
    assert raw["kvmsearch_version"] and raw["kvmsearch_version"] != "unknown"
    assert raw["model"] == {"name": FakeEmbedder.name, "sha256": "fake-64", "dim": 64}
    assert raw["onnx"] is None  # export_query_model off
    assert raw["built_at"] and raw["build_seconds"] > 0 and raw["previous_generation"] is None
    counts = raw["counts"]
    assert counts["series_versions"] == out.versions > 20
    assert counts["families"] == out.families and counts["chunks"] == out.chunks > 0
    assert counts["messages"] >= out.new_messages > counts["series_versions"]
    assert sum(counts["kinds"].values()) == counts["series_versions"]
    # Each sample mbox and each patchwork file is one source, every one with a position.
    want = {str(p.resolve()) for d in sample_sources.values() for p in d.iterdir()}
    assert {s["path"] for s in raw["sources"]} == want
    for s in raw["sources"]:
        assert s["kind"] in ("mbox", "patchwork") and s["position"], s

    # The parts agree with the manifest.
    snap = snapshot(home)
    assert len(snap.docs) == counts["series_versions"]
    assert len(snap.families) == counts["families"]
    assert len(snap.chunks) == counts["chunks"]
    # A cold cache: every distinct text was embedded once (versions share some text).
    assert out.chunks_embedded == len({c[3] for c in snap.chunks}) <= out.chunks
    assert {c[0] for c in snap.chunks} == set(snap.docs)  # every version has chunks

    with Index.open(home, embedder_factory=FakeEmbedder) as idx:
        st = idx.status()
        assert st.generation == gen.name and st.counts == counts
        assert st.model == raw["model"] and st.format_version == FORMAT_VERSION
        assert all(s.exists for s in st.sources) and len(st.sources) == len(want)
        assert st.size_bytes > 0
        hits = idx.search("vDPA support", limit=5)
        assert "vDPA support" in {h.title for h in hits}


def test_update_with_nothing_new_writes_no_generation(tmp_path, sample_sources) -> None:
    home = tmp_path / "home"
    first = build(home, add_paths=[sample_sources["mboxes"]])
    before = sorted(os.listdir(home / "generations"))
    embedded: list[FakeEmbedder] = []

    def factory() -> FakeEmbedder:
        embedded.append(FakeEmbedder())
        return embedded[-1]

    out = run_build(IndexHome(home), embedder_factory=factory, export_query_model=False)
    assert out.generation is None and out.new_messages == 0 and out.source_errors == []
    assert sorted(os.listdir(home / "generations")) == before
    assert IndexHome(home).open_current().name == first.generation
    assert embedded == []  # the model is not even loaded
    # Re-adding a registered source (another spelling of its path) is nothing new either.
    again = build(home, add_paths=[sample_sources["mboxes"] / ".." / "mboxes"])
    assert again.generation is None


def test_adding_a_source_extends_the_index_and_reuses_the_cache(tmp_path, sample_sources) -> None:
    home = tmp_path / "home"
    embedders: list[FakeEmbedder] = []

    def factory() -> FakeEmbedder:
        embedders.append(FakeEmbedder())
        return embedders[-1]

    one = run_build(
        IndexHome(home),
        add_paths=[sample_sources["mboxes"]],
        embedder_factory=factory,
        export_query_model=False,
    )
    two = run_build(
        IndexHome(home),
        add_paths=[sample_sources["data"]],
        embedder_factory=factory,
        export_query_model=False,
    )
    assert two.generation != one.generation
    assert two.versions > one.versions and two.versions_deleted == 0
    assert two.versions_changed == two.versions - one.versions
    # Only text never seen is embedded, each text once.
    first, second = embedders[0].calls, embedders[1].calls
    assert len(second) == len(set(second)) == two.chunks_embedded > 0
    assert not set(first) & set(second)
    assert set(first) | set(second) == {c[3] for c in snapshot(home).chunks}
    assert IndexHome(home).open_current().manifest.previous_generation == one.generation

    clean = tmp_path / "clean"
    build(clean, add_paths=[sample_sources["mboxes"], sample_sources["data"]])
    assert_same_index(snapshot(home), snapshot(clean))


def test_rebuild_equals_a_clean_build(tmp_path, sample_sources) -> None:
    home = tmp_path / "home"
    build(home, add_paths=[sample_sources["mboxes"]])
    build(home, add_paths=[sample_sources["data"]])
    # Mail appended to a registered mbox is read by the rebuild like everything else.
    extra = sample_sources["mboxes"] / "coverless.mbox"
    with extra.open("ab") as f:
        f.write((TESTS / "samples" / "sources" / "kvm-ppc-mboxrd.mbox").read_bytes())
    with Index(home, embedder_factory=FakeEmbedder) as idx:
        out = idx.rebuild()
    assert out.generation is not None and out.chunks_embedded < out.chunks

    clean = tmp_path / "clean"
    build(clean, add_paths=[sample_sources["mboxes"], sample_sources["data"]])
    assert_same_index(snapshot(home), snapshot(clean))


def test_other_format_refuses_to_open_and_rebuild_replaces_it(tmp_path, sample_sources) -> None:
    home = tmp_path / "home"
    build(home, add_paths=[sample_sources["mboxes"]])
    gen = IndexHome(home).open_current()
    raw = json.loads((gen.dir / MANIFEST_NAME).read_text())
    raw["format_version"] = FORMAT_VERSION + 1
    (gen.dir / MANIFEST_NAME).write_text(json.dumps(raw))

    with pytest.raises(IndexFormatError, match="rebuild"):
        Index.open(home)
    with pytest.raises(IndexFormatError, match="rebuild"):
        Index(home, embedder_factory=FakeEmbedder).update()
    with Index(home, embedder_factory=FakeEmbedder) as idx:
        out = idx.rebuild()
    assert out.generation is not None and out.generation != gen.name
    with Index.open(home, embedder_factory=FakeEmbedder) as idx:
        assert idx.status().format_version == FORMAT_VERSION
        hits = idx.search("virtio_bt configuration struct alignment", limit=3)
        assert hits[0].title == "virtio_bt: Fix alignment in configuration struct"


def test_bad_path_is_refused_before_anything_is_written(tmp_path) -> None:
    home = tmp_path / "home"
    with pytest.raises(SourceError, match="nope.mbox"):
        build(home, add_paths=[tmp_path / "nope.mbox"])
    assert not IndexHome(home).exists()
    assert not (home / "generations").exists() or temp_dirs(home) == []


def test_vanished_source_is_reported_and_the_others_still_update(tmp_path, sample_sources) -> None:
    home = tmp_path / "home"
    mboxes = sample_sources["mboxes"]
    kept, gone = mboxes / "coverless.mbox", mboxes / "pull-requests.mbox"
    first = build(home, add_paths=[kept, gone])
    moved = tmp_path / "moved.mbox"
    gone.rename(moved)
    with kept.open("ab") as f:
        f.write((mboxes / "autosel.mbox").read_bytes())

    out = build(home)
    assert [e.source for e in out.source_errors] == [str(gone.resolve())]
    assert "pull-requests.mbox" in out.source_errors[0].error
    assert out.generation is not None and out.generation != first.generation
    assert out.new_messages > 0 and out.versions_changed > 0

    gen = IndexHome(home).open_current()
    # Still registered, still at its old position: restoring it resumes where it was.
    old = {s.source: s.state for s in IndexHome(home).open_current().manifest.sources}
    assert str(gone.resolve()) in old
    # Its series stay searchable: the message store still holds them.
    assert out.versions == first.versions + out.versions_changed
    assert gen.manifest.counts["series_versions"] == out.versions

    # Nothing new anywhere: still reported, no generation.
    again = build(home)
    assert again.generation is None and len(again.source_errors) == 1
    moved.rename(gone)
    back = build(home)
    assert back.generation is None and back.source_errors == []


# --------------------------------------------------------------------------- kvm-ppc bundle


def git(*args: str | Path) -> str:
    return subprocess.run(
        ["git", *map(str, args)], check=True, capture_output=True, text=True
    ).stdout.strip()


@dataclass
class Bundle:
    repo: Path  # bare clone; master at `head` once the fixture is done
    head: str
    cut: str  # CUT commits before head
    cut_home: Path  # built with master at `cut`: the index before the update
    head_home: Path  # a clean build with master at `head`


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """The kvm-ppc archive cut CUT commits short and indexed, then moved to its head,
    plus a clean index of the head to compare updates with."""
    if not BUNDLE.is_file():
        pytest.skip(f"{BUNDLE} is not there")
    root = tmp_path_factory.mktemp("bundle")
    # The directory name is what the list id is guessed from: keep the archive's.
    repo = root / "kvm-ppc.vger.kernel.org.git"
    git("clone", "--quiet", "--bare", BUNDLE, repo)
    assert git("-C", repo, "symbolic-ref", "HEAD") == "refs/heads/master"
    head = git("-C", repo, "rev-parse", "HEAD")
    cut = git("-C", repo, "rev-parse", f"HEAD~{CUT}")
    git("-C", repo, "update-ref", "refs/heads/master", cut)
    cut_home = root / "cut-home"
    build(cut_home, add_paths=[repo])
    git("-C", repo, "update-ref", "refs/heads/master", head)
    head_home = root / "head-home"
    build(head_home, add_paths=[repo])
    return Bundle(repo, head, cut, cut_home, head_home)


def copy_home(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


@pytest.mark.integration
def test_incremental_update_equals_a_full_build(tmp_path, bundle: Bundle) -> None:
    home = copy_home(bundle.cut_home, tmp_path / "home")
    before = IndexHome(home).open_current()
    assert before.manifest.sources[0].state["epochs"] == {"0": bundle.cut}

    with Index(home, embedder_factory=FakeEmbedder) as idx:
        out = idx.update()
    assert out.generation is not None and out.source_errors == []
    assert out.new_messages == CUT  # one message per public-inbox commit
    assert 0 < out.versions_changed < out.versions
    assert 0 < out.chunks_embedded < out.chunks  # the cache kept the rest
    after = IndexHome(home).open_current()
    assert after.manifest.previous_generation == before.name
    assert after.manifest.sources[0].state["epochs"] == {"0": bundle.head}

    assert_same_index(snapshot(home), snapshot(bundle.head_home))
    # The generation updated from stays for readers that still hold it; nothing else.
    assert IndexHome(home).generations() == [before.name, after.name]
    assert temp_dirs(home) == []


# A real update in its own process. The stage callbacks (the progress hook every caller
# can pass) say where it is; at the chosen point it reports and waits to be killed.
_UPDATER = """
import contextlib, sys, time
sys.path.insert(0, sys.argv[3])
from fakes import FakeEmbedder
from kvmsearch.indexer.index.build import run_build
from kvmsearch.indexer.index.generations import IndexHome

home, point = sys.argv[1], sys.argv[2]
target, when = point.split(":")

def pause():
    print("paused", flush=True)
    time.sleep(600)

@contextlib.contextmanager
def stage(name):
    def progress(done, total=None, note=""):
        if name == target and when == "progress" and done:
            pause()
    if name == target and when == "enter":
        pause()
    yield progress

run_build(IndexHome(home), stage=stage, embedder_factory=FakeEmbedder,
          export_query_model=False, full=sys.argv[4:] == ["full"])
print("finished", flush=True)
"""

KILL_POINTS = {
    # point: does the new generation's temp dir exist when the update is killed?
    "reading mail:enter": False,  # lock held, nothing read yet
    "assembling series:enter": False,  # new messages already in the shared store
    "lexical index:progress": True,  # lexical index updated in the hardlinked copy
    "embedding:progress": True,  # a slab of new vectors already in the shared cache
}


def kill_update_then_recover(home: Path, point: str, query: str, *, killed: str = "update") -> Any:
    """Run ``killed`` ("update" or "rebuild") in a child process, SIGKILL it at
    ``point``, check that the previous generation still serves untouched, then update
    again in this process; returns the second update's outcome."""
    serving = IndexHome(home).open_current()
    manifest_before = (serving.dir / MANIFEST_NAME).read_bytes()
    served_before = snapshot(home)

    argv = [sys.executable, "-c", _UPDATER, str(home), point, str(TESTS)]
    proc = subprocess.Popen(
        argv + (["full"] if killed == "rebuild" else []),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for_line(proc) == "paused"
        assert bool(temp_dirs(home)) == KILL_POINTS[point]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    # The previous generation serves, untouched (the hardlinked lexical files included).
    assert IndexHome(home).open_current().name == serving.name
    assert (serving.dir / MANIFEST_NAME).read_bytes() == manifest_before
    assert_same_index(snapshot(home), served_before)
    with Index.open(home, embedder_factory=FakeEmbedder) as idx:
        assert idx.status().generation == serving.name
        assert idx.search(query, limit=3)

    # The kernel dropped the dead writer's lock: the next update runs and catches up.
    with Index(home, embedder_factory=FakeEmbedder) as idx:
        out = idx.update()
    assert out.generation is not None and out.source_errors == []
    assert IndexHome(home).open_current().manifest.previous_generation == serving.name
    assert temp_dirs(home) == []  # the dead writer's leftovers are cleaned up
    return out


def keep_first_message(mbox: Path) -> bytes:
    """Cut ``mbox`` down to its first message; returns the rest, for appending later."""
    data = mbox.read_bytes()
    cut = data.index(b"\nFrom ", 1) + 1
    mbox.write_bytes(data[:cut])
    return data[cut:]


def build_then_grow(home: Path, mboxes: Path) -> int:
    """Build ``home`` from the first message of each mbox, then append the rest, as a
    list archive grows; returns how many messages were appended."""
    rest = {p: keep_first_message(p) for p in sorted(mboxes.iterdir())}
    build(home, add_paths=[mboxes])
    for p, data in rest.items():
        with p.open("ab") as f:
            f.write(data)
    return sum(data.count(b"From mboxrd@z") for data in rest.values())


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkilled_update_of_samples_recovers(tmp_path, sample_sources, point: str) -> None:
    home = tmp_path / "home"
    mboxes = sample_sources["mboxes"]
    appended = build_then_grow(home, mboxes)
    out = kill_update_then_recover(home, point, "virtio_bt configuration struct")
    assert out.new_messages == appended
    clean = tmp_path / "clean"
    build(clean, add_paths=[mboxes])
    assert_same_index(snapshot(home), snapshot(clean))


@pytest.mark.integration
@pytest.mark.parametrize("point", ["assembling series:enter", "embedding:progress"])
def test_sigkilled_update_of_the_bundle_recovers(tmp_path, bundle: Bundle, point: str) -> None:
    home = copy_home(bundle.cut_home, tmp_path / "home")
    out = kill_update_then_recover(home, point, "KVM PPC Book3S HV")
    assert out.new_messages == CUT
    if point == "embedding:progress":
        assert out.chunks_embedded == 0  # every vector embedded before the kill was kept
    assert_same_index(snapshot(home), snapshot(bundle.head_home))


# --------------------------------------------------------------------------- rebuild


def stored_ids(home: Path) -> set[str]:
    """Message-IDs in the home's message store."""
    with MessageStore(IndexHome(home).store_path) as store:
        return {m.message_id for m in store.iter_all()}


def test_rebuild_drops_mail_gone_from_its_source(tmp_path, sample_sources) -> None:
    home = tmp_path / "home"
    mboxes = sample_sources["mboxes"]
    build(home, add_paths=[mboxes])
    # The archives are rewritten without most of their mail (an expunge, a redacted
    # list): a rebuild forgets it, an update could not know.
    rest = {p: keep_first_message(p) for p in sorted(mboxes.iterdir())}
    with Index(home, embedder_factory=FakeEmbedder) as idx:
        out = idx.rebuild()
    assert out.rebuilt and out.new_messages == len(rest)
    clean = tmp_path / "clean"
    build(clean, add_paths=[mboxes])
    assert_same_index(snapshot(home), snapshot(clean))
    assert stored_ids(home) == stored_ids(clean)
    assert not IndexHome(home).rebuild_store_path.exists()

    # The new store and the positions agree: the next update reads only the mail
    # appended since, and matches a clean build again.
    for p, data in rest.items():
        with p.open("ab") as f:
            f.write(data)
    with Index(home, embedder_factory=FakeEmbedder) as idx:
        out = idx.update()
    assert not out.rebuilt
    assert out.new_messages == sum(data.count(b"From mboxrd@z") for data in rest.values())
    full = tmp_path / "full"
    build(full, add_paths=[mboxes])
    assert_same_index(snapshot(home), snapshot(full))


def test_rebuild_replaces_a_message_store_of_another_format(tmp_path, sample_sources) -> None:
    home = tmp_path / "home"
    mboxes = sample_sources["mboxes"]
    build_then_grow(home, mboxes)
    db = sqlite3.connect(IndexHome(home).store_path)
    with db:
        db.execute("UPDATE meta SET value = '999' WHERE key = 'format'")
    db.close()

    with pytest.raises(IndexFormatError, match="kvmsearch rebuild"):
        Index(home, embedder_factory=FakeEmbedder).update()
    with Index(home, embedder_factory=FakeEmbedder) as idx:
        assert idx.rebuild().generation is not None
        assert idx.update().generation is None  # the store is readable again
    clean = tmp_path / "clean"
    build(clean, add_paths=[mboxes])
    assert_same_index(snapshot(home), snapshot(clean))
    assert stored_ids(home) == stored_ids(clean)


@pytest.mark.parametrize("point", ["assembling series:enter", "embedding:progress"])
def test_sigkilled_rebuild_keeps_the_old_store(tmp_path, sample_sources, point: str) -> None:
    home = tmp_path / "home"
    mboxes = sample_sources["mboxes"]
    appended = build_then_grow(home, mboxes)
    before = stored_ids(home)

    # Killed after its new store holds every message: the store in place is untouched,
    # and the update after it still reads only what is new.
    out = kill_update_then_recover(home, point, "virtio_bt configuration struct", killed="rebuild")
    assert out.new_messages == appended
    assert before < stored_ids(home)
    clean = tmp_path / "clean"
    build(clean, add_paths=[mboxes])
    assert_same_index(snapshot(home), snapshot(clean))

    # The dead rebuild's store never served: the next run of any kind drops it.
    assert not IndexHome(home).rebuild_store_path.exists()
    with Index(home, embedder_factory=FakeEmbedder) as idx:
        assert idx.rebuild().generation is not None
    assert not IndexHome(home).rebuild_store_path.exists()
    assert stored_ids(home) == stored_ids(clean)
    assert_same_index(snapshot(home), snapshot(clean))


def test_rebuild_killed_between_switch_and_store_swap_loses_no_removal(
    tmp_path, sample_sources, monkeypatch
) -> None:
    import kvmsearch.indexer.mail.store as store_mod

    home = tmp_path / "home"
    mboxes = sample_sources["mboxes"]
    build(home, add_paths=[mboxes])
    for p in sorted(mboxes.iterdir()):
        keep_first_message(p)
    with monkeypatch.context() as m:
        # dies right after the new generation began serving, before the store swap
        def killed(*_a: object) -> None:
            raise KeyboardInterrupt

        m.setattr(store_mod, "replace_store", killed)
        with pytest.raises(KeyboardInterrupt), Index(home, embedder_factory=FakeEmbedder) as idx:
            idx.rebuild()
    assert IndexHome(home).rebuild_store_path.exists()
    # The next update finishes the swap instead of assembling from the old store,
    # which still holds the removed mail.
    with Index(home, embedder_factory=FakeEmbedder) as idx:
        idx.update()
    assert not IndexHome(home).rebuild_store_path.exists()
    clean = tmp_path / "clean"
    build(clean, add_paths=[mboxes])
    assert stored_ids(home) == stored_ids(clean)
    assert_same_index(snapshot(home), snapshot(clean))


def _many_mails(n: int, seed: int = 0) -> bytes:
    """``n`` distinct patch mails with incompressible bodies: an archive whose .xz is big
    enough to be cut part-way through."""
    import random

    rng = random.Random(seed)
    out = []
    for i in range(n):
        body = "\n".join(rng.randbytes(40).hex() for _ in range(12))
        out.append(
            f"From mboxrd@z Thu Jan  1 00:00:00 1970\nFrom: A <a@x.org>\n"
            f"Subject: [PATCH] KVM: fix {seed}-{i}\nMessage-ID: <m{seed}-{i}@x>\n"
            f"Date: Mon, 27 Mar 2023 10:00:00 +0000\n\n{body}\n\n"
        )
    return "".join(out).encode()


def test_truncated_archive_is_reported_and_the_others_still_update(
    tmp_path, sample_sources
) -> None:
    import lzma

    home = tmp_path / "home"
    mboxes = sample_sources["mboxes"]
    kept = mboxes / "coverless.mbox"
    broken = tmp_path / "broken.mbox.xz"
    data = (mboxes / "pull-requests.mbox").read_bytes()
    broken.write_bytes(lzma.compress(data))
    first = build(home, add_paths=[kept, broken])
    old_state = {s.source: s.state for s in IndexHome(home).open_current().manifest.sources}

    # new mail in the kept source; the other archive is replaced by a cut-off copy that
    # holds more mail than before (so it is re-read from the start and breaks part-way)
    with kept.open("ab") as f:
        f.write((mboxes / "autosel.mbox").read_bytes())
    whole = lzma.compress(data + _many_mails(400), preset=0)
    broken.write_bytes(whole[: len(whole) * 2 // 3])

    out = build(home)
    assert [e.source for e in out.source_errors] == [str(broken)]
    assert "breaks off" in out.source_errors[0].error
    assert out.generation is not None and out.generation != first.generation
    assert out.versions_changed > 0  # the kept source's new mail is in
    # the broken source keeps its earlier position: a repaired copy resumes from there
    state = {s.source: s.state for s in IndexHome(home).open_current().manifest.sources}
    assert state[str(broken)] == old_state[str(broken)]


def test_parse_of_a_truncated_archive_prints_what_it_read_and_exits_6(
    tmp_path, sample_sources
) -> None:
    import lzma

    from typer.testing import CliRunner

    from kvmsearch.cli import app

    data = (sample_sources["mboxes"] / "coverless.mbox").read_bytes()
    whole = lzma.compress(data + _many_mails(400), preset=0)
    broken = tmp_path / "cut.mbox.xz"
    broken.write_bytes(whole[: len(whole) // 2])
    r = CliRunner().invoke(app, ["parse", "--json", str(broken)])
    assert r.exit_code == 6
    assert r.stdout.count("\n") >= 1  # the mails before the break
    assert "breaks off" in r.stderr and "Traceback" not in r.stderr


def test_a_long_lived_reader_follows_updates(tmp_path, sample_sources) -> None:
    home = tmp_path / "home"
    mboxes = sample_sources["mboxes"]
    arch = tmp_path / "grow.mbox"
    arch.write_bytes((mboxes / "coverless.mbox").read_bytes() + _many_mails(2, seed=9))
    build(home, add_paths=[arch])
    reader = Index.open(home, embedder_factory=FakeEmbedder)
    assert reader.search("fix 9-1", limit=5, mode="lexical")
    seen = {reader.searcher().gen.name}
    for i in range(3):  # more updates than the cleanup keeps generations for
        with arch.open("ab") as f:
            f.write(_many_mails(2, seed=10 + i))
        assert build(home).generation is not None
        hits = reader.search(f"fix {10 + i}-1", limit=5, mode="lexical")
        assert f"m{10 + i}-1@x" in {v.message_id for h in hits for v in h.versions}
        seen.add(reader.searcher().gen.name)
    assert len(seen) == 4
    reader.close()


def test_the_next_run_of_any_kind_removes_what_a_killed_one_left(tmp_path, sample_sources) -> None:
    home = tmp_path / "home"
    build(home, add_paths=[sample_sources["mboxes"] / "coverless.mbox"])
    stale = IndexHome(home).generations_dir / ".tmp-999999-deadbeef"
    (stale / "lexical").mkdir(parents=True)
    (stale / "lexical" / "big").write_bytes(b"x" * 1000)
    out = build(home)  # nothing new: no generation is written, the leftovers still go
    assert out.generation is None
    assert not stale.exists()


def test_verify_passes_on_an_intact_index_and_catches_a_same_size_bit_flip(
    tmp_path, sample_sources
) -> None:
    home = tmp_path / "home"
    build(home, add_paths=[sample_sources["mboxes"]])
    idx = Index(home)
    rep = idx.verify()
    assert rep.ok and rep.files_checked >= 8, rep
    gen = IndexHome(home).open_current()
    target = gen.dir / "dense.faiss"
    st = target.stat()
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, same size
    target.write_bytes(bytes(data))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the same mtime
    rep = idx.verify()
    assert [(p.part, Path(p.path).name, p.what) for p in rep.problems] == [
        ("generation", "dense.faiss", "checksum differs")
    ]
    assert "kvmsearch rebuild" in rep.problems[0].repair
    # the repair works
    assert build(home, full=True).generation is not None
    assert idx.verify().ok


def test_verify_checks_the_message_store(tmp_path, sample_sources) -> None:
    home = tmp_path / "home"
    build(home, add_paths=[sample_sources["mboxes"]])
    store = IndexHome(home).store_path
    data = bytearray(store.read_bytes())
    for i in range(4096, min(len(data), 4096 * 3)):
        data[i] = 0xA5
    store.write_bytes(bytes(data))
    rep = Index(home).verify()
    assert any(p.part == "message store" for p in rep.problems), rep


def test_status_verify_on_the_command_line(tmp_path, sample_sources) -> None:
    from typer.testing import CliRunner

    from kvmsearch.cli import app

    home = tmp_path / "home"
    build(home, add_paths=[sample_sources["mboxes"]])
    ok = CliRunner().invoke(app, ["status", "--verify", "--index", str(home)])
    assert ok.exit_code == 0 and "all intact" in ok.stdout
    docs = IndexHome(home).open_current().docs_path
    docs.write_bytes(docs.read_bytes()[:-1] + b"\x00")
    bad = CliRunner().invoke(app, ["status", "--verify", "--index", str(home)])
    assert bad.exit_code == 3
    assert "damaged: generation" in bad.stderr and "docs.sqlite" in bad.stderr
    assert "repair: kvmsearch rebuild" in bad.stderr
    js = CliRunner().invoke(app, ["status", "--verify", "--json", "--index", str(home)])
    assert js.exit_code == 3 and '"problems": [{"part": "generation"' in js.stdout


@pytest.mark.parametrize("damage", ["manifest", "pointer"])
def test_rebuild_is_a_way_back_from_a_damaged_manifest_or_pointer(
    tmp_path, sample_sources, damage
) -> None:
    home = tmp_path / "home"
    build(home, add_paths=[sample_sources["mboxes"]])
    ih = IndexHome(home)
    gen = ih.open_current()
    if damage == "manifest":
        (gen.dir / "manifest.json").write_text('{"format_version": 2, "sour')
    else:
        ih.pointer_path.write_text("garbage\n")
    with pytest.raises(IndexFormatError, match="kvmsearch rebuild"):
        Index.open(home)
    with Index(home, embedder_factory=FakeEmbedder) as idx:
        out = idx.rebuild()
    assert out.generation is not None and out.versions > 0
    with Index.open(home, embedder_factory=FakeEmbedder) as idx:
        assert idx.verify().ok


def test_rebuild_replaces_a_damaged_embedding_cache(tmp_path, sample_sources) -> None:
    home = tmp_path / "home"
    build(home, add_paths=[sample_sources["mboxes"]])
    cache = IndexHome(home).embedding_cache_path
    cache.write_bytes(b"this is not an sqlite database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{cache}{suffix}").unlink(missing_ok=True)
    with pytest.raises(IndexError_, match="kvmsearch rebuild"):
        build(home, add_paths=[sample_sources["data"]])  # an update cannot use it
    out = build(home, full=True)
    assert out.generation is not None and out.chunks_embedded > 0  # all embedded anew
    assert Index(home).verify().ok


def test_status_and_update_name_a_truncated_generation_file(tmp_path, sample_sources) -> None:
    from typer.testing import CliRunner

    from kvmsearch.cli import app

    home = tmp_path / "home"
    build(home, add_paths=[sample_sources["mboxes"]])
    assert Index(home).status().damaged == ()
    rows = IndexHome(home).open_current().dir / "dense_rows.npy"
    rows.write_bytes(rows.read_bytes()[:-8])
    st = CliRunner().invoke(app, ["status", "--index", str(home)])
    assert st.exit_code == 3 and "damaged: generation" in st.stderr
    assert "dense_rows.npy" in st.stderr and "kvmsearch rebuild" in st.stderr
    with pytest.raises(IndexFormatError, match="damaged.*kvmsearch rebuild"):
        build(home)
    assert build(home, full=True).generation is not None
    assert Index(home).status().damaged == ()


# --------------------------------------------------------------------------- full disk


@pytest.mark.parametrize(
    "failure",
    [
        OSError(28, "No space left on device"),
        # faiss and torch's exporter carry the C library's message in a RuntimeError
        RuntimeError("Error in faiss::FileIOWriter: fwrite: No space left on device"),
        sqlite3.OperationalError("database or disk is full"),
    ],
)
def test_a_full_disk_is_one_line_naming_the_place_and_the_space(
    tmp_path, sample_sources, monkeypatch, failure: Exception
) -> None:
    import kvmsearch.indexer.index.lexical as lexical_mod
    from kvmsearch.models.errors import DiskFullError

    home = tmp_path / "home"
    mboxes = sample_sources["mboxes"]
    build_then_grow(home, mboxes)
    before = IndexHome(home).current()
    assert before is not None

    def full_disk(*_a: object, **_k: object) -> None:
        raise failure

    monkeypatch.setattr(lexical_mod, "update_lexical", full_disk)
    with pytest.raises(DiskFullError) as e:
        build(home)
    msg = str(e.value)
    assert "\n" not in msg
    assert str(home) in msg and "MB free" in msg and "needs about" in msg
    assert "kvmsearch update" in msg
    # nothing serving changed, and the half-written generation is gone already
    after = IndexHome(home).current()
    assert after is not None and after.name == before.name
    leftovers = [
        p.name for p in IndexHome(home).generations_dir.iterdir() if p.name.startswith(".")
    ]
    assert leftovers == []


def test_other_failures_are_not_called_a_full_disk(tmp_path, sample_sources, monkeypatch) -> None:
    import kvmsearch.indexer.index.lexical as lexical_mod

    home = tmp_path / "home"
    build_then_grow(home, sample_sources["mboxes"])

    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("something else")

    monkeypatch.setattr(lexical_mod, "update_lexical", broken)
    with pytest.raises(RuntimeError, match="something else"):
        build(home)

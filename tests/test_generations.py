"""Index home: manifests, atomic switch, crash safety, cleanup, the update lock."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from kvmsearch.indexer.index.generations import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    Generation,
    IndexHome,
    Manifest,
    ModelInfo,
    OnnxInfo,
)
from kvmsearch.models.errors import IndexFormatError, IndexNotFoundError, LockHeldError
from kvmsearch.models.records import SourcePosition


def publish(home: IndexHome, label: str) -> Generation:
    """One generation whose data file and manifest both say ``label``."""
    with home.lock("kvmsearch update"), home.new_generation() as w:
        (w.dir / "data.txt").write_text(label)
        w.manifest.counts = {"label": label}
    gen = w.seal()
    return gen


def run_child(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(proc: subprocess.Popen[str]) -> str:
    # A guard against a hung child, not a timing assertion.
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout=120):
        proc.kill()
        pytest.fail("child process printed nothing")
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        pytest.fail(f"child process died: {proc.stderr.read() if proc.stderr else ''}")
    return line.strip()


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if proc.stdout:
        proc.stdout.close()
    if proc.stderr:
        proc.stderr.close()


# --------------------------------------------------------------------------- manifest


def test_manifest_json_round_trip() -> None:
    m = Manifest(
        kvmsearch_version="0.1.0",
        model=ModelInfo("sentence-transformers/all-MiniLM-L6-v2", "53aa", 384),
        onnx=OnnxInfo("model/model.onnx", "beef"),
        counts={"messages": 3, "kinds": {"series": 2}},
        sources=[SourcePosition("/srv/a.mbox", "mbox", {"offset": 10, "head": "ab"})],
        previous_generation="000001-20250101T000000Z",
        build_seconds=1.5,
        extra={"store_mark": 7},
    )
    assert Manifest.from_json(m.to_json()) == m


def test_source_registry_dedupes_by_resolved_path(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "a.mbox").write_text("")
    os.symlink(tmp_path / "a.mbox", tmp_path / "link.mbox")
    monkeypatch.chdir(tmp_path)
    m = Manifest()
    pos, new = m.add_source("a.mbox", "mbox")
    assert new and pos.source == str(tmp_path / "a.mbox")
    m.set_position(SourcePosition("./a.mbox", "mbox", {"offset": 99}))
    again, new = m.add_source(tmp_path / "link.mbox", "mbox")
    assert not new and again.state == {"offset": 99}
    assert len(m.sources) == 1
    with pytest.raises(ValueError, match="not registered"):
        m.set_position(SourcePosition("b.mbox", "mbox", {}))


def test_wrongly_typed_manifest_fails_before_anything_switches(tmp_path: Path) -> None:
    home = IndexHome(tmp_path)
    first = publish(home, "one")
    with pytest.raises(TypeError, match="SourcePosition"):
        with home.lock("kvmsearch update"), home.new_generation() as w:
            w.manifest.sources.append({"path": "/x", "kind": "mbox"})  # type: ignore[arg-type]
    assert home.open_current().name == first.name


# --------------------------------------------------------------------------- reading


def test_missing_index_and_wrong_format(tmp_path: Path) -> None:
    home = IndexHome(tmp_path / "home")
    assert not home.exists() and home.current() is None
    with pytest.raises(IndexNotFoundError, match=r"no index at .*kvmsearch index add SOURCE"):
        home.open_current()
    gen = publish(home, "one")
    assert home.exists()
    raw = json.loads((gen.dir / MANIFEST_NAME).read_text())
    raw["format_version"] = FORMAT_VERSION + 1
    (gen.dir / MANIFEST_NAME).write_text(json.dumps(raw))
    with pytest.raises(IndexFormatError) as e:
        home.open_current()
    assert f"written by format {FORMAT_VERSION + 1}" in str(e.value)
    assert "run `kvmsearch rebuild`" in str(e.value)
    (gen.dir / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(IndexFormatError, match="damaged.*kvmsearch rebuild"):
        home.current()
    home.pointer_path.write_text("../../etc\n")
    with pytest.raises(IndexFormatError, match="damaged.*kvmsearch rebuild"):
        home.current()


def test_fresh_generation_replaces_an_old_format(tmp_path: Path) -> None:
    home = IndexHome(tmp_path)
    with home.lock("kvmsearch index add"), home.new_generation() as w:
        w.manifest.add_source(tmp_path / "a.mbox", "mbox")
        w.manifest.set_position(SourcePosition(str(tmp_path / "a.mbox"), "mbox", {"offset": 5}))
    old = home.open_current()
    raw = json.loads((old.dir / MANIFEST_NAME).read_text())
    raw["format_version"] = 0
    (old.dir / MANIFEST_NAME).write_text(json.dumps(raw))
    with home.lock("kvmsearch update"), pytest.raises(IndexFormatError):
        home.new_generation()
    with home.lock("kvmsearch rebuild"):
        with home.new_generation(fresh=True) as w:
            assert w.previous is None
            # Rebuild reads every source again from the start.
            assert w.manifest.sources == [SourcePosition(str(tmp_path / "a.mbox"), "mbox", {})]
        home.cleanup()
    new = home.open_current()
    assert new.manifest.previous_generation == old.name
    assert home.generations() == [old.name, new.name]  # the old one may still be read


# --------------------------------------------------------------------------- writing


def test_update_starts_from_the_previous_manifest(tmp_path: Path) -> None:
    home = IndexHome(tmp_path)
    with home.lock("kvmsearch index add"), home.new_generation() as w:
        w.manifest.add_source(tmp_path / "a.mbox", "mbox")
        w.manifest.model = ModelInfo("m", "abc", 384)
        w.manifest.build_seconds = 12.5  # the build's own measure wins
    first = home.open_current()
    assert first.manifest.build_seconds == 12.5
    assert first.manifest.built_at is not None and first.manifest.previous_generation is None
    with home.lock("kvmsearch update"), home.new_generation() as w:
        assert w.previous == first
        assert w.manifest.sources == first.manifest.sources
        assert w.manifest.model == first.manifest.model
        w.manifest.sources.clear()  # must not reach the serving generation's manifest
    assert first.manifest.sources
    second = home.open_current()
    assert second.name == w.name and second.name > first.name
    assert second.manifest.previous_generation == first.name
    assert second.manifest.kvmsearch_version and second.manifest.build_seconds != 12.5


def test_writing_needs_the_lock(tmp_path: Path) -> None:
    home = IndexHome(tmp_path)
    with pytest.raises(RuntimeError, match="lock"):
        home.new_generation()
    with home.lock("a"):
        with pytest.raises(RuntimeError, match="already held"):
            home.lock("b").__enter__()
        w = home.new_generation()
    with pytest.raises(RuntimeError, match="lock"):
        w.publish()


def test_exception_in_writer_changes_nothing_serving(tmp_path: Path) -> None:
    home = IndexHome(tmp_path)
    first = publish(home, "one")
    with pytest.raises(ZeroDivisionError), home.lock("kvmsearch update"):
        with home.new_generation() as w:
            (w.dir / "data.txt").write_text("half")
            1 / 0  # noqa: B018
    assert home.open_current() == first
    # the failed writer removed its own temp dir (a full disk must not stay full)
    assert not w.dir.exists() and w.written_bytes == len("half")
    assert home.cleanup().removed_temp == ()
    assert home.open_current() == first


def test_copy_from_previous_links_or_copies(tmp_path: Path) -> None:
    home = IndexHome(tmp_path)
    with home.lock("kvmsearch update"), home.new_generation() as w:
        (w.dir / "lexical").mkdir()
        (w.dir / "lexical" / "seg_1.seg").write_text("segment")
        (w.dir / "lexical" / "MAIN_WRITELOCK").write_text("")
        (w.dir / "docs.sqlite").write_text("docs v1")
    first = home.open_current()
    with home.lock("kvmsearch update"), home.new_generation() as w:
        assert w.copy_from_previous("absent") is None
        lex = w.copy_from_previous("lexical", hardlink=True, exclude=["*LOCK"])
        docs = w.copy_from_previous("docs.sqlite")
        assert lex is not None and docs is not None
        assert (lex / "seg_1.seg").stat().st_ino == (first.dir / "lexical/seg_1.seg").stat().st_ino
        assert not (lex / "MAIN_WRITELOCK").exists()
        assert docs.stat().st_ino != (first.dir / "docs.sqlite").stat().st_ino
        docs.write_text("docs v2")
    assert (first.dir / "docs.sqlite").read_text() == "docs v1"
    assert (home.open_current().dir / "docs.sqlite").read_text() == "docs v2"


def test_hardlinked_whoosh_index_survives_updates_in_the_new_generation(tmp_path: Path) -> None:
    from whoosh import fields, index

    schema = fields.Schema(id=fields.ID(unique=True, stored=True), text=fields.TEXT(stored=True))
    home = IndexHome(tmp_path)
    with home.lock("kvmsearch update"), home.new_generation() as w:
        (w.dir / "lexical").mkdir()
        ix = index.create_in(str(w.dir / "lexical"), schema)
        with ix.writer() as iw:
            for i in range(5):
                iw.add_document(id=str(i), text=f"old text {i}")
        with ix.writer() as iw:  # a second segment
            iw.add_document(id="5", text="old text 5")
        ix.close()
    first = home.open_current()
    old_files = {p.name for p in (first.dir / "lexical").iterdir() if "LOCK" not in p.name}
    with home.lock("kvmsearch update"), home.new_generation() as w:
        lex = w.copy_from_previous("lexical", hardlink=True, exclude=["*LOCK"])
        assert lex is not None
        assert any(p.stat().st_nlink == 2 for p in lex.iterdir())
        ix = index.open_dir(str(lex))
        with ix.writer() as iw:
            iw.update_document(id="2", text="new text 2")
            iw.delete_by_term("id", "4")
            iw.add_document(id="6", text="new text 6")
        iw = ix.writer()
        iw.update_document(id="0", text="new text 0")
        iw.commit(optimize=True)  # merges every segment and deletes the old files
        ix.close()
        assert not old_files & {p.name for p in lex.iterdir()}

    def texts(d: Path) -> dict[str, str]:
        ix = index.open_dir(str(d))
        with ix.searcher() as s:
            out = {f["id"]: f["text"] for f in s.all_stored_fields()}
        ix.close()
        return out

    assert texts(first.dir / "lexical") == {str(i): f"old text {i}" for i in range(6)}
    assert texts(home.open_current().dir / "lexical") == {
        "0": "new text 0",
        "1": "old text 1",
        "2": "new text 2",
        "3": "old text 3",
        "5": "old text 5",
        "6": "new text 6",
    }


# --------------------------------------------------------------------------- switching


def test_reader_keeps_its_generation_across_switches_and_cleanup(tmp_path: Path) -> None:
    home = IndexHome(tmp_path)
    g1 = publish(home, "one")
    reader = home.current()
    assert reader == g1
    g2 = publish(home, "two")
    assert home.current() == g2
    assert home.cleanup().removed_generations == ()
    # The reader resolved `current` once and still reads generation one.
    assert (reader.dir / "data.txt").read_text() == "one"
    assert reader.manifest.counts == {"label": "one"}
    reader2 = home.current()
    g3 = publish(home, "three")
    report = home.cleanup()
    assert report.removed_generations == (g1.name,)
    assert home.generations() == [g2.name, g3.name]  # current and previous are kept
    assert (reader2.dir / "data.txt").read_text() == "two"
    g4 = publish(home, "four")
    assert home.cleanup(keep_previous=2).removed_generations == ()
    assert home.generations() == [g2.name, g3.name, g4.name]
    with pytest.raises(ValueError):
        home.cleanup(keep_previous=0)


_READER = """
import json, os, sys
from kvmsearch.indexer.index.generations import IndexHome
home = IndexHome(sys.argv[1])
stop = sys.argv[2]
reads = mismatches = 0
seen = set()
print("ready", flush=True)
while not os.path.exists(stop):
    gen = home.current()
    if gen is None:
        continue
    data = (gen.dir / "data.txt").read_text()
    reads += 1
    seen.add(data)
    if data != gen.manifest.counts["label"]:
        mismatches += 1
print(json.dumps({"reads": reads, "mismatches": mismatches, "seen": len(seen)}), flush=True)
"""


def test_concurrent_reader_never_sees_a_partial_generation(tmp_path: Path) -> None:
    home = IndexHome(tmp_path / "home")
    publish(home, "0")
    stop = tmp_path / "stop"
    proc = run_child(_READER, str(home.path), str(stop))
    try:
        assert wait_for_line(proc) == "ready"
        for i in range(1, 15):
            publish(home, str(i))
        stop.touch()
        result = json.loads(wait_for_line(proc))
    finally:
        kill(proc)
    assert proc.returncode in (0, -signal.SIGKILL)
    # Any exception in the reader would have ended it without this line.
    assert result["mismatches"] == 0 and result["reads"] > 0


# --------------------------------------------------------------------------- crashes

_KILLED_WRITER = """
import sys, time
from kvmsearch.indexer.index.generations import IndexHome
home, stage = IndexHome(sys.argv[1]), sys.argv[2]

def pause():
    print("paused", flush=True)
    time.sleep(600)

with home.lock("kvmsearch update"):
    w = home.new_generation()
    (w.dir / "data.txt").write_text("from the killed writer")
    (w.dir / "lexical").mkdir()
    if stage == "filling":
        pause()
    w.manifest.counts = {"label": "killed"}
    if stage == "manifest":
        w._write_manifest()  # manifest complete, directory not renamed yet
        pause()
    w.seal()
    if stage == "sealed":  # renamed to its final name, `current` not switched
        pause()
"""


@pytest.mark.parametrize("stage", ["filling", "manifest", "sealed"])
def test_sigkilled_writer_leaves_previous_generation_serving(tmp_path: Path, stage: str) -> None:
    home = IndexHome(tmp_path / "home")
    g1 = publish(home, "one")
    proc = run_child(_KILLED_WRITER, str(home.path), stage)
    try:
        assert wait_for_line(proc) == "paused"
    finally:
        kill(proc)
    assert proc.returncode == -signal.SIGKILL

    now = home.open_current()
    assert now == g1 and (now.dir / "data.txt").read_text() == "one"
    leftovers = sorted(p.name for p in home.generations_dir.iterdir() if p.name != g1.name)
    assert len(leftovers) == 1
    assert leftovers[0].startswith(".tmp-") == (stage != "sealed")

    # The kernel released the dead writer's lock, so the next update just runs.
    g2 = publish(home, "two")
    assert home.open_current() == g2 and g2.manifest.previous_generation == g1.name
    report = home.cleanup()
    assert [p.name for p in report.removed_temp] + list(report.removed_generations) == leftovers
    assert home.generations() == [g1.name, g2.name]
    assert sorted(p.name for p in home.generations_dir.iterdir()) == [g1.name, g2.name]


def test_cleanup_removes_pointer_temp_files_and_interrupted_deletions(tmp_path: Path) -> None:
    home = IndexHome(tmp_path)
    publish(home, "one")
    (home.path / ".current.tmp-123-abcd").write_text("000009-20250101T000000Z\n")
    (home.generations_dir / ".tmp-gone-000000-20240101T000000Z").mkdir()
    report = home.cleanup()
    assert len(report.removed_temp) == 2
    assert not list(home.path.glob(".current.tmp-*"))


# --------------------------------------------------------------------------- lock

_HOLDER = """
import sys, time
from kvmsearch.indexer.index.generations import IndexHome
with IndexHome(sys.argv[1]).lock("kvmsearch update"):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_lock_names_the_holder_and_dies_with_it(tmp_path: Path) -> None:
    home = IndexHome(tmp_path)
    proc = run_child(_HOLDER, str(tmp_path))
    try:
        assert wait_for_line(proc) == "locked"
        with pytest.raises(LockHeldError) as e:
            with home.lock("kvmsearch update"):
                pass
        msg = str(e.value)
        assert f"pid {proc.pid} on {socket.gethostname()}" in msg
        assert "`kvmsearch update`" in msg and "started " in msg
        # Readers never take the lock.
        assert home.current() is None
        with pytest.raises(LockHeldError):
            home.cleanup()
    finally:
        kill(proc)
    # lock.json still names the dead process; only the OS lock counts.
    assert json.loads(home.lock_info_path.read_text())["pid"] == proc.pid
    with home.lock("kvmsearch update"):
        assert json.loads(home.lock_info_path.read_text())["pid"] == os.getpid()
    assert not home.lock_info_path.exists()


def test_lock_held_without_holder_info_still_explains(tmp_path: Path) -> None:
    home = IndexHome(tmp_path)
    proc = run_child(_HOLDER, str(tmp_path))
    try:
        assert wait_for_line(proc) == "locked"
        home.lock_info_path.unlink()
        with pytest.raises(LockHeldError, match="another update is running"):
            with home.lock("kvmsearch update"):
                pass
    finally:
        kill(proc)


@pytest.mark.parametrize("path", ["/etc/passwd", "../model/model.onnx", "model/../../x", ""])
def test_manifest_paths_stay_inside_the_home(path: str) -> None:
    from kvmsearch.indexer.index.generations import Manifest

    good = Manifest().to_dict()
    good["onnx"] = {"path": "model/model.onnx", "sha256": "0" * 64}
    assert Manifest.from_dict(good).onnx is not None
    bad = dict(good, onnx={"path": path, "sha256": "0" * 64})
    with pytest.raises(ValueError, match="leaves the index home"):
        Manifest.from_dict(bad)


@pytest.mark.parametrize(
    ("failure", "hint"),
    [
        (OSError(30, "Read-only file system"), "read-only; copy the index"),
        (PermissionError(13, "Permission denied"), "run it as the index's owner"),
    ],
)
def test_an_index_that_cannot_be_written_is_one_line_for_an_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: OSError, hint: str
) -> None:
    # Root ignores permissions and tests cannot remount, so the refusal is simulated
    # where the file system would give it: taking the lock file.
    from filelock import FileLock

    from kvmsearch.models.errors import IndexPathError

    def refused(*_a: object, **_k: object) -> None:
        raise failure

    monkeypatch.setattr(FileLock, "acquire", refused)
    home = IndexHome(tmp_path / "idx")
    with pytest.raises(IndexPathError) as e, home.lock("kvmsearch update"):
        pass
    msg = str(e.value)
    assert "\n" not in msg and "`kvmsearch update` needs write access" in msg and hint in msg

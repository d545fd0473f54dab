"""The message store: exact round trips, idempotent upserts, list merging, crash safety."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from kvmsearch.indexer.mail.store import MessageStore, UpsertCounts, delete_store, replace_store
from kvmsearch.models.errors import IndexFormatError
from kvmsearch.models.records import Message, Skip

TESTS = Path(__file__).resolve().parent


def make_message(i: int, *, lists: tuple[str, ...] = ("kvmarm.lists.cs.columbia.edu",)) -> Message:
    """A deterministic message; the crash test's child process builds the same ones."""
    zones = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
    return Message(
        message_id=f"20240101.{i}-1-maz@kernel.org",
        synthetic_id=i % 7 == 0,
        subject=f"[PATCH v{i % 4 + 1} {i % 5}/4] KVM: arm64: fix ünïcode {i}",
        from_name="Marc Zyngier",
        from_addr="maz@kernel.org",
        date=datetime(2024, 1, 1, 10, 2, 11, 123456 if i % 2 else 0, tzinfo=zones[i % 3])
        if i % 11
        else None,
        in_reply_to=None if i % 3 else f"20240101.{i - 1}-1-maz@kernel.org",
        references=tuple(f"ref{j}@x" for j in range(i % 3)),
        lists=lists,
        body="Commit message.\n\nSigned-off-by: A <a@b>\n---\n arch/arm64/kvm/mmu.c | 2 +-\n"
        * (i % 4),
        diff_files=("arch/arm64/kvm/mmu.c", "include/linux/kvm_host.h")[: i % 3],
        has_diff=bool(i % 3),
        source="/srv/kvmarm.mbox",
        position=f"byte {i * 1000}",
        warnings=("charset iso-8859-1 decoded as latin-1",) if i % 5 == 0 else (),
    )


def test_round_trip_is_exact(tmp_path: Path) -> None:
    msgs = [make_message(i) for i in range(40)]
    with MessageStore(tmp_path / "m.sqlite") as store:
        assert store.upsert_many(msgs) == UpsertCounts(40, 0)
    with MessageStore(tmp_path / "m.sqlite") as store:
        back = list(store.iter_all())
        assert back == msgs  # first-seen order, every field
        for a, b in zip(back, msgs, strict=True):
            assert type(a.references) is tuple and type(a.warnings) is tuple
            if b.date is not None:
                assert a.date is not None
                assert a.date.utcoffset() == b.date.utcoffset()
                assert a.date.microsecond == b.date.microsecond
        assert store.count() == 40
        got = store.get_many([msgs[3].message_id, "nope@x", msgs[5].message_id])
        assert got == {msgs[3].message_id: msgs[3], msgs[5].message_id: msgs[5]}
        assert store.get(msgs[0].message_id) == msgs[0]
        assert store.get("nope@x") is None


def test_get_many_beyond_sqlite_parameter_limit(tmp_path: Path) -> None:
    msgs = [make_message(i) for i in range(1200)]
    with MessageStore(tmp_path / "m.sqlite") as store:
        store.upsert_many(msgs, batch=500)
        got = store.get_many(m.message_id for m in msgs)
    assert len(got) == 1200


def test_upsert_is_idempotent(tmp_path: Path) -> None:
    msgs = [make_message(i) for i in range(30)]
    with MessageStore(tmp_path / "m.sqlite") as store:
        assert store.upsert_many(msgs, batch=7) == UpsertCounts(30, 0)
        assert store.upsert_many(msgs, batch=7) == UpsertCounts(0, 30)
        assert store.count() == 30
        assert list(store.iter_all()) == msgs


def test_duplicate_from_another_list_merges_lists(tmp_path: Path) -> None:
    kvmarm = make_message(1)
    virt = replace(
        make_message(1, lists=("virtualization.lists.linux-foundation.org",)),
        source="/srv/virt.mbox",
        position="byte 5",
    )
    with MessageStore(tmp_path / "m.sqlite") as store:
        store.upsert_many([kvmarm])
        mark = store.mark()
        # Within one batch too: the second copy merges into the first.
        assert store.upsert_many([virt, virt, make_message(2)]) == UpsertCounts(1, 2)
        got = store.get(kvmarm.message_id)
        assert got is not None
        assert got.lists == (
            "kvmarm.lists.cs.columbia.edu",
            "virtualization.lists.linux-foundation.org",
        )
        # The first copy keeps naming where the message was read.
        assert (got.source, got.position) == ("/srv/kvmarm.mbox", "byte 1000")
        assert store.mark() > mark
        store.upsert_many([kvmarm])
        assert store.get(kvmarm.message_id).lists == got.lists  # type: ignore[union-attr]


def test_skips_are_keyed_and_counted(tmp_path: Path) -> None:
    with MessageStore(tmp_path / "m.sqlite") as store:
        store.add_skips(
            [Skip("a.mbox @ byte 0", "no-headers"), Skip("x@y", "undecodable", "bad base64")]
        )
        store.add_skips([Skip("x@y", "undecodable", "bad base64 again")])
        store.add_skips([Skip("cur/1", "no-headers")], source="/srv/Maildir")
        assert store.skip_counts() == {"no-headers": 2, "undecodable": 1}
        assert store.skips(source="/srv/Maildir") == [Skip("cur/1", "no-headers")]
        assert Skip("x@y", "undecodable", "bad base64 again") in store.skips()


def test_other_store_format_asks_for_rebuild(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite"
    MessageStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '0' WHERE key = 'format'")
    db.commit()
    db.close()
    with pytest.raises(IndexFormatError, match="kvmsearch rebuild"):
        MessageStore(path)


def test_rows_from_before_a_field_was_added_read_with_its_default(tmp_path: Path) -> None:
    # Simulate a store written when Message had no `warnings` field (nor the later ones).
    path = tmp_path / "m.sqlite"
    msg = replace(make_message(5), warnings=())
    MessageStore(path).close()
    db = sqlite3.connect(path)
    names = json.loads(db.execute("SELECT value FROM meta WHERE key='fields'").fetchone()[0])
    old_names = names[: names.index("warnings")]
    values = [getattr(msg, n) for n in old_names]
    values[old_names.index("date")] = {"$dt": msg.date.isoformat()}  # type: ignore[union-attr]
    blob = zlib.compress(json.dumps(values).encode())
    db.execute("UPDATE meta SET value = ? WHERE key='fields'", (json.dumps(old_names),))
    db.execute(
        "INSERT INTO messages (message_id, lists, touched, record) VALUES (?, ?, 1, ?)",
        (msg.message_id, json.dumps(list(msg.lists)), blob),
    )
    db.commit()
    db.close()
    new = make_message(6)
    with MessageStore(path) as store:
        store.upsert_many([new])
        assert list(store.iter_all()) == [msg, new]


def test_delete_store_removes_wal_files(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite"
    store = MessageStore(path)
    store.upsert_many([make_message(1)])
    store.close()
    delete_store(path)
    assert list(tmp_path.iterdir()) == []


_DIES_WITH_ITS_LOG = """
import os, sys
sys.path.insert(0, sys.argv[2])
from test_store import make_message
from kvmsearch.indexer.mail.store import MessageStore

store = MessageStore(sys.argv[1])
store.upsert_many([make_message(1)])
os._exit(0)  # no close: the committed rows stay in the write-ahead log
"""


def test_replace_store_never_replays_the_old_log_into_the_new_store(tmp_path: Path) -> None:
    old, new = tmp_path / "messages.sqlite", tmp_path / "messages.rebuild.sqlite"
    subprocess.run(
        [sys.executable, "-c", _DIES_WITH_ITS_LOG, str(old), str(Path(__file__).parent)], check=True
    )
    assert Path(f"{old}-wal").stat().st_size > 0
    with MessageStore(new) as store:
        store.upsert_many([make_message(2), make_message(3)])
    replace_store(new, old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["messages.sqlite"]
    with MessageStore(old) as store:
        assert [m.message_id for m in store.iter_all()] == [
            make_message(2).message_id,
            make_message(3).message_id,
        ]


def test_replace_store_replaces_a_file_that_is_no_database(tmp_path: Path) -> None:
    old, new = tmp_path / "messages.sqlite", tmp_path / "new.sqlite"
    old.write_bytes(b"not a database at all" * 100)
    with MessageStore(new) as store:
        store.upsert_many([make_message(2)])
    replace_store(new, old)
    with MessageStore(old) as store:
        assert store.count() == 1


_CHILD = """
import sys, time
sys.path.insert(0, sys.argv[2])
from test_store import make_message
from kvmsearch.indexer.mail.store import MessageStore

def messages():
    for i in range(250):
        yield make_message(i)
    # Asked for message 251: upsert_many is inside its third transaction (50 rows in).
    print("paused", flush=True)
    time.sleep(600)

MessageStore(sys.argv[1]).upsert_many(messages(), batch=100)
"""


def test_sigkill_mid_transaction_leaves_a_consistent_store(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path), str(TESTS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()  # the child prints only once it is mid-transaction
        assert line == "paused\n", proc.stderr.read()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with MessageStore(path) as store:
        assert store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # The two committed batches, not the open one.
        assert store.count() == 200
        assert list(store.iter_all()) == [make_message(i) for i in range(200)]
        # Re-running the whole read inserts only what was lost.
        assert store.upsert_many(make_message(i) for i in range(250)) == UpsertCounts(50, 200)
        assert store.count() == 250

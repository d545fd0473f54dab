"""Archive sources: every format, incremental reads, and the errors users see."""

import gzip
import lzma
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from dulwich.objects import Blob, Commit, Tree
from dulwich.repo import Repo

from kvmsearch.indexer.mail.sources import (
    MboxSource,
    PatchworkSource,
    PublicInboxSource,
    Source,
    expand_paths,
    guess_list_id,
    open_source,
)
from kvmsearch.models.errors import SourceError
from kvmsearch.models.records import RawMail

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SAMPLES = Path(__file__).resolve().parent / "samples"
MBOXRD = SAMPLES / "sources" / "kvm-ppc-mboxrd.mbox"
EMLS = sorted((SAMPLES / "messages").glob("*.eml"))


def _ids(mails) -> list[bytes]:
    """The Message-ID header line of each raw mail (enough to tell them apart)."""
    out = []
    for mail in mails:
        for line in mail.data.split(b"\n"):
            if line.lower().startswith(b"message-id:"):
                out.append(line.split(b":", 1)[1].strip())
                break
    return out


def _mboxrd(messages: list[bytes]) -> bytes:
    """Write messages as mboxrd: From_ line, '>'-quoted From lines, blank separator."""
    out = []
    for msg in messages:
        quoted = b"\n".join(
            b">" + ln if ln.lstrip(b">").startswith(b"From ") else ln for ln in msg.split(b"\n")
        )
        out.append(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + quoted.rstrip(b"\n") + b"\n\n")
    return b"".join(out)


# --------------------------------------------------------------------------- mbox


def test_mboxrd_sample_unquotes_from_lines():
    src = open_source(MBOXRD)
    assert isinstance(src, MboxSource) and src.kind == "mbox"
    mails = list(src.read())
    assert len(mails) == 2
    assert b"\nFrom talking to people" in mails[0].data
    assert b">From " not in mails[0].data
    assert mails[0].position == "byte 0"
    assert mails[1].position.startswith("byte ") and int(mails[1].position[5:]) > 0
    assert all(not m.data.startswith(b"From mboxrd") for m in mails)


@pytest.mark.parametrize("compress", [None, "gz", "xz"])
def test_mbox_round_trip_with_nested_quoting(tmp_path, compress):
    originals = [e.read_bytes() for e in EMLS[:3]]
    # real mails, plus body lines an mboxrd writer must quote once and twice
    originals[0] = originals[0].rstrip(b"\n") + b"\nFrom the start\n>From already quoted\n"
    data = _mboxrd(originals)
    name = "kvmarm.lists.cs.columbia.edu.mbox"
    path = tmp_path / name
    if compress == "gz":
        path = path.with_name(name + ".gz")
        path.write_bytes(gzip.compress(data))
    elif compress == "xz":
        path = path.with_name(name + ".xz")
        path.write_bytes(lzma.compress(data))
    else:
        path.write_bytes(data)
    src = open_source(path)
    assert src.kind == "mbox"
    assert src.default_list == "kvmarm.lists.cs.columbia.edu"
    got = [m.data for m in src.read()]
    assert [g.rstrip(b"\n") for g in got] == [o.rstrip(b"\n") for o in originals]
    assert b"\nFrom the start\n>From already quoted\n" in got[0]
    assert src.position().state["offset"] == len(data)


@pytest.mark.parametrize("compress", [None, "gz"])
def test_mbox_resume_reads_only_appended_mails(tmp_path, compress):
    first, second = _mboxrd([e.read_bytes() for e in EMLS[:2]]), _mboxrd([EMLS[2].read_bytes()])
    path = tmp_path / ("a.mbox.gz" if compress else "a.mbox")
    pack = gzip.compress if compress else (lambda b: b)
    path.write_bytes(pack(first))
    src = open_source(path)
    assert len(list(src.read())) == 2
    pos = src.position()

    # nothing new: nothing read, same offset
    again = open_source(path)
    assert list(again.read(pos)) == []
    assert again.position().state["offset"] == pos.state["offset"]

    with open(path, "ab") as f:  # gzip allows appending a second member
        f.write(pack(second))
    os.utime(path, (1, 1))
    src = open_source(path)
    new = list(src.read(pos))
    assert _ids(new) == _ids([RawMail(EMLS[2].read_bytes(), "", "")])
    state = src.position().state
    assert state["resumed_from"] == len(first) and state["reread"] is False
    assert new[0].position == f"byte {len(first)}"


def test_mbox_rewritten_file_is_read_again_and_says_so(tmp_path):
    path = tmp_path / "a.mbox"
    path.write_bytes(_mboxrd([e.read_bytes() for e in EMLS[:2]]))
    src = open_source(path)
    list(src.read())
    pos = src.position()
    path.write_bytes(_mboxrd([e.read_bytes() for e in EMLS[2:5]]))
    src = open_source(path)
    assert len(list(src.read(pos))) == 3
    state = src.position().state
    assert state["reread"] is True and state["resumed_from"] == 0 and state["reason"]


def test_single_message_file_without_envelope(tmp_path):
    src = open_source(EMLS[0])
    assert src.kind == "mbox"
    mails = list(src.read())
    assert len(mails) == 1 and mails[0].data == EMLS[0].read_bytes().rstrip(b"\n") + b"\n"


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_mbox_has_zero_mails(tmp_path, content):
    path = tmp_path / "empty.mbox"
    path.write_bytes(content)
    src = open_source(path)
    assert list(src.read()) == []


# --------------------------------------------------------------------------- Maildir


def _maildir(root: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    return root


def test_maildir_reads_new_and_cur_and_resumes(tmp_path):
    md = _maildir(tmp_path / "kvm.vger.kernel.org")
    (md / "new" / "1700000000.1.host").write_bytes(EMLS[0].read_bytes())
    (md / "cur" / "1700000001.2.host:2,S").write_bytes(EMLS[1].read_bytes())
    src = open_source(md)
    assert src.kind == "maildir" and src.default_list == "kvm.vger.kernel.org"
    mails = list(src.read())
    assert [m.position for m in mails] == [
        "file new/1700000000.1.host",
        "file cur/1700000001.2.host:2,S",
    ]
    pos = src.position()

    # a mail marked read moves new/ -> cur/ and gains flags: not new
    os.rename(md / "new" / "1700000000.1.host", md / "cur" / "1700000000.1.host:2,RS")
    (md / "new" / "1700000002.3.host").write_bytes(EMLS[2].read_bytes())
    src = open_source(md)
    new = list(src.read(pos))
    assert [m.position for m in new] == ["file new/1700000002.3.host"]
    assert new[0].data == EMLS[2].read_bytes()
    assert set(src.position().state["files"]) == {
        "1700000000.1.host",
        "1700000001.2.host",
        "1700000002.3.host",
    }


# --------------------------------------------------------------------------- public-inbox


class _Inbox:
    """Builds public-inbox epochs with dulwich: one commit per message, blob `m`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.clock = 1_700_000_000

    def epoch(self, n: int) -> Repo:
        path = self.root / "git" / f"{n}.git"
        if path.exists():
            return Repo(str(path))
        path.mkdir(parents=True)
        return Repo.init_bare(str(path))

    def commit(self, repo: Repo, data: bytes | None, *, name: bytes = b"m", parent=True) -> str:
        """A v2 commit: the tree holds one blob, `m` (or `d` for a removal)."""
        tree = Tree()
        if data is not None:
            tree.add(name, 0o100644, self.blob(repo, data))
        return self.commit_tree(repo, tree, parent=parent)

    @staticmethod
    def blob(repo: Repo, data: bytes) -> bytes:
        blob = Blob.from_string(data)
        repo.object_store.add_object(blob)
        return blob.id

    def commit_tree(self, repo: Repo, tree: Tree, *, parent: bool = True) -> str:
        repo.object_store.add_object(tree)
        commit = Commit()
        commit.tree = tree.id
        try:
            head = repo.head()
        except KeyError:
            head = None
        commit.parents = [head] if (head and parent) else []
        commit.author = commit.committer = b"Archiver <a@example.org>"
        self.clock += 1
        commit.author_time = commit.commit_time = self.clock
        commit.author_timezone = commit.commit_timezone = 0
        commit.message = b"msg\n"
        repo.object_store.add_object(commit)
        repo.refs[b"refs/heads/master"] = commit.id
        return commit.id.decode()


def test_public_inbox_v2_epochs_removals_and_resume(tmp_path):
    inbox = _Inbox(tmp_path / "kvm.vger.kernel.org")
    mails = [e.read_bytes() for e in EMLS]
    with inbox.epoch(0) as e0:
        inbox.commit(e0, mails[0])
        inbox.commit(e0, mails[1])
        inbox.commit(e0, b"removed\n", name=b"d")  # a removal commit: no message
    with inbox.epoch(2) as e2:  # numeric order: 2 before 10
        inbox.commit(e2, mails[2])
    with inbox.epoch(10) as e10:
        inbox.commit(e10, mails[3])

    src = open_source(inbox.root)
    assert isinstance(src, PublicInboxSource) and src.kind == "public-inbox"
    assert src.default_list == "kvm.vger.kernel.org"
    got = list(src.read())
    assert [m.data for m in got] == mails[:4]
    assert got[0].position.startswith("commit ") and got[0].position.endswith("(epoch 0)")
    assert got[3].position.endswith("(epoch 10)")
    pos = src.position()
    assert set(pos.state["epochs"]) == {"0", "2", "10"}

    with inbox.epoch(10) as e10:
        inbox.commit(e10, mails[4])
    src = open_source(inbox.root)
    new = list(src.read(pos))
    assert [m.data for m in new] == [mails[4]]
    assert src.position().state["reread"] == []


def test_public_inbox_rewritten_epoch_is_reread(tmp_path):
    inbox = _Inbox(tmp_path / "inbox")
    mails = [e.read_bytes() for e in EMLS]
    with inbox.epoch(0) as e0:
        inbox.commit(e0, mails[0])
        inbox.commit(e0, mails[1])
    src = open_source(inbox.root)
    list(src.read())
    pos = src.position()
    with inbox.epoch(0) as e0:  # history replaced by a new root commit
        inbox.commit(e0, mails[2], parent=False)
        inbox.commit(e0, mails[3])
    src = open_source(inbox.root)
    assert [m.data for m in src.read(pos)] == mails[2:4]
    assert src.position().state["reread"] == ["0"]


def test_public_inbox_v1_layout(tmp_path):
    """v1: each commit adds a blob at ab/cdef... (the Message-ID hash), the rest stays."""
    inbox = _Inbox(tmp_path)
    mails = [e.read_bytes() for e in EMLS[:2]]
    with inbox.epoch(0) as repo:
        dirs: dict[bytes, bytes] = {}
        for i, data in enumerate(mails):
            sub = Tree()
            sub.add(b"c" * 38, 0o100644, inbox.blob(repo, data))
            repo.object_store.add_object(sub)
            dirs[f"{i:02x}".encode()] = sub.id
            root = Tree()
            for dirname, sub_id in dirs.items():
                root.add(dirname, 0o040000, sub_id)
            inbox.commit_tree(repo, root)
    src = open_source(tmp_path / "git" / "0.git")
    assert [m.data for m in src.read()] == mails


@pytest.mark.integration
def test_real_kvm_ppc_bundle_cloned_bare(tmp_path):
    bundle = SHARED / "corpus" / "kvm-ppc.vger.kernel.org.git.bundle"
    if not bundle.exists() or shutil.which("git") is None:
        pytest.skip("bundle or git not available")
    clone = tmp_path / "kvm-ppc.vger.kernel.org.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(bundle), str(clone)], check=True)

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(clone), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    src = open_source(clone)
    assert src.kind == "public-inbox" and src.default_list == "kvm-ppc.vger.kernel.org"
    count = sum(1 for _ in src.read())
    with_m = int(git("rev-list", "--count", "HEAD", "--", "m"))
    assert count == with_m == int(git("rev-list", "--count", "HEAD"))
    assert src.position().state["epochs"] == {"0": git("rev-parse", "HEAD")}
    assert list(open_source(clone).read(src.position())) == []


def test_git_repository_that_is_not_an_inbox_is_refused(tmp_path):
    inbox = _Inbox(tmp_path / "project")
    with inbox.epoch(0) as repo:
        inbox.commit(repo, b"int main(void) { return 0; }\n", name=b"main.c")
    with pytest.raises(SourceError, match="not a public-inbox archive"):
        open_source(tmp_path / "project" / "git" / "0.git")


# --------------------------------------------------------------------------- patchwork


def test_patchwork_export_from_seeds():
    seed = SHARED / "seeds" / "001_92bcc66b6b7480d9.txt"
    if not seed.exists():
        pytest.skip("seeds not available")
    src = open_source(seed)
    assert isinstance(src, PatchworkSource) and src.kind == "patchwork"
    mails = list(src.read())
    headings = seed.read_text().count("\n#### ")
    assert len(mails) == headings == 8
    assert all(re.match(rb"[!-9;-~]+: ", m.data) for m in mails)  # starts with a header
    assert not any(m.data.startswith(b"From patchwork") for m in mails)
    assert all(b"\n```" not in m.data[-10:] for m in mails)
    assert mails[0].position.startswith("block 1 (line ")


def test_patchwork_fence_inside_a_message_does_not_end_it(tmp_path):
    mail = EMLS[0].read_bytes().rstrip(b"\n")
    text = (
        b"\n\n#### [PATCH] x\n##### From: A <a@b>\n\n```c\nFrom patchwork Mon Feb 10 2020\n"
        + mail
        + b"\n```\nnot a heading, still the mail\n```\n#### [PATCH] y\n\n```c\n"
        + mail
        + b"\n```\n"
    )
    path = tmp_path / "export.txt"
    path.write_bytes(text)
    mails = list(open_source(path).read())
    assert len(mails) == 2
    assert mails[0].data.endswith(b"```\nnot a heading, still the mail\n")
    assert mails[1].data == mail + b"\n"


def test_patchwork_resume_by_name_size_mtime(tmp_path):
    seed = SHARED / "seeds" / "003_277f917ff444b92f.txt"
    if not seed.exists():
        pytest.skip("seeds not available")
    path = tmp_path / seed.name
    shutil.copy(seed, path)
    src = open_source(path)
    first = list(src.read())
    pos = src.position()
    assert pos.state["name"] == seed.name and pos.state["size"] == seed.stat().st_size
    assert list(open_source(path).read(pos)) == []
    with open(path, "ab") as f:
        f.write(b"\n")
    src = open_source(path)
    assert len(list(src.read(pos))) == len(first)
    assert src.position().state["reread"] is True


# --------------------------------------------------------------------------- paths and errors


def test_expand_paths_data_folder_one_source_per_file():
    sources = expand_paths([REPO / "data"])
    names = [Path(s.path).name for s in sources]
    # data/README.md is not an archive; the patchwork exports and the mbox slice are.
    expected = sorted(p.name for p in (REPO / "data").iterdir() if p.name != "README.md")
    assert names == expected
    kinds = {Path(s.path).suffix: s.kind for s in sources}
    assert kinds == {".txt": "patchwork", ".xz": "mbox"}
    assert all(isinstance(s, Source) for s in sources)


def test_expand_paths_mixes_files_and_archive_folders(tmp_path):
    shutil.copy(MBOXRD, tmp_path / "b.mbox")
    (tmp_path / "a.mbox.xz").write_bytes(lzma.compress(MBOXRD.read_bytes()))
    (tmp_path / "README.md").write_text("not an archive\n")
    md = _maildir(tmp_path / "maildir")
    (md / "new" / "1.x").write_bytes(EMLS[0].read_bytes())
    kinds = [(Path(s.path).name, s.kind) for s in expand_paths([tmp_path])]
    assert kinds == [("a.mbox.xz", "mbox"), ("b.mbox", "mbox"), ("maildir", "maildir")]
    assert len(expand_paths([md])) == 1


def test_missing_path_is_a_one_line_source_error(tmp_path):
    missing = tmp_path / "nope.mbox"
    with pytest.raises(SourceError) as err:
        open_source(missing)
    message = str(err.value)
    assert str(missing) in message and "\n" not in message
    assert "mbox" in message and "Maildir" in message and "public-inbox" in message


def test_binary_file_is_a_source_error(tmp_path):
    bad = tmp_path / "photo.mbox"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    with pytest.raises(SourceError) as err:
        open_source(bad)
    assert "photo.mbox" in str(err.value) and "\n" not in str(err.value)
    assert "patchwork" in str(err.value)


def test_truncated_xz_is_a_source_error(tmp_path):
    bad = tmp_path / "cut.mbox.xz"
    bad.write_bytes(lzma.compress(MBOXRD.read_bytes())[:40])
    with pytest.raises(SourceError, match="cut.mbox.xz"):
        open_source(bad)


def test_archive_breaking_off_mid_read_is_a_source_error(tmp_path):
    noise = [os.urandom(3000).hex().encode() for _ in range(500)]  # keep it incompressible
    data = _mboxrd([EMLS[0].read_bytes() + n + b"\n" for n in noise])
    packed = gzip.compress(data)
    bad = tmp_path / "cut.mbox.gz"
    bad.write_bytes(packed[: len(packed) // 2])
    src = open_source(bad)  # the head is intact
    mails = []
    with pytest.raises(SourceError, match="breaks off"):
        for mail in src.read():
            mails.append(mail)
    assert mails  # what came before the break was delivered


def test_git_bundle_says_how_to_unpack_it(tmp_path):
    bundle = tmp_path / "x.git.bundle"
    bundle.write_bytes(b"# v2 git bundle\n" + b"0" * 40 + b" refs/heads/master\n\nPACK")
    with pytest.raises(SourceError, match="git clone --bare"):
        open_source(bundle)


def test_plain_folder_needs_expand_paths(tmp_path):
    with pytest.raises(SourceError, match="expand_paths"):
        open_source(tmp_path)
    with pytest.raises(SourceError, match="no mail archive"):
        expand_paths([tmp_path])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("kvmarm.lists.cs.columbia.edu.mbox.xz", "kvmarm.lists.cs.columbia.edu"),
        (
            "/x/virtualization.lists.linux-foundation.org.mbox",
            "virtualization.lists.linux-foundation.org",
        ),  # noqa: E501
        ("kvm-ppc.vger.kernel.org.git", "kvm-ppc.vger.kernel.org"),
        ("000_99fe78bc40beb439.txt", None),
        ("base-cover-letter.mbox", None),
        ("inbox", None),
    ],
)
def test_guess_list_id(name, expected):
    assert guess_list_id(name) == expected

"""Diff detection and file lists: split_at_diff, diff_files, commit_message."""

from pathlib import Path

import pytest

from kvmsearch.indexer.text.diffs import commit_message, diff_files, split_at_diff

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PEER_MAIL = SHARED / "peer-mail" / "mail"


def _peer(name: str) -> str:
    path = PEER_MAIL / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path.read_text("utf-8", "replace")


# --------------------------------------------------------------------------- real samples


@pytest.mark.parametrize(
    ("name", "files"),
    [
        ("0007-cvs-format-diff.mbox", ("bfd/elf-bfd.h", "bfd/elflink.c", "bfd/elfxx-mips.c")),
        (
            "0008-git-rename.mbox",
            (
                "package/rpi-userland/rpi-userland-add-pkgconfig-files.patch",
                "package/rpi-userland/rpi-userland-000-add-pkgconfig-files.patch",
                "package/rpi-userland/"
                "rpi-userland-makefiles-0001-cmake-vmcs.cmake-allow-to-override-VMCS_IN.patch",
                "package/rpi-userland/"
                "rpi-userland-001-makefiles-cmake-vmcs.cmake-allow-to-override-VMCS_IN.patch",
            ),
        ),
        ("0021-git-empty-new-file.mbox", ("banana",)),
        ("0022-git-mode-change.mbox", ("scripts/kconfig/nconf-cfg.sh",)),
        ("0025-git-add-binary-file.mbox", ("pixel.bmp",)),
        ("0026-git-add-mixed-binary-text-files.mbox", ("pixel.bmp", "quit.sh")),
        ("0027-git-modify-binary-file.mbox", ("pixel.bmp",)),
        (
            "0003-git-pull-request-with-diff.mbox",
            (
                "arch/x86/include/asm/smp.h",
                "arch/x86/kernel/acpi/sleep.c",
                "arch/x86/kernel/cpu/mtrr/main.c",
            ),
        ),
    ],
)
def test_diff_files_on_peer_mail(name, files):
    before, diff = split_at_diff(_peer(name))
    assert diff_files(diff) == files
    assert "diff --git" not in before and "\n+++ " not in before


def test_cvs_diff_starts_at_index_line():
    before, diff = split_at_diff(_peer("0007-cvs-format-diff.mbox"))
    assert diff.startswith("Index: bfd/elf-bfd.h\n====")
    assert "RCS file" not in before and "Ok to commit?" in before


def test_pull_request_without_diff_is_left_whole():
    text = _peer("0001-git-pull-request.mbox")
    assert split_at_diff(text) == (text, "")


# --------------------------------------------------------------------------- formats


def test_split_keeps_notes_and_diffstat():
    body = (
        "KVM: arm64: fix a thing\n\nBecause.\n\nSigned-off-by: A <a@b>\n---\n"
        "v2: reworded\n\n arch/arm64/kvm/pvtime.c | 2 +-\n 1 file changed\n\n"
        "diff --git a/arch/arm64/kvm/pvtime.c b/arch/arm64/kvm/pvtime.c\n"
        "index 1..2 100644\n--- a/arch/arm64/kvm/pvtime.c\n+++ b/arch/arm64/kvm/pvtime.c\n"
        "@@ -1 +1 @@\n-a\n+b\n"
    )
    before, diff = split_at_diff(body)
    assert before.endswith(" 1 file changed\n\n")
    assert diff.startswith("diff --git ")
    assert diff_files(diff) == ("arch/arm64/kvm/pvtime.c",)


def test_unified_diff_without_git_header():
    body = "text\n--- a/virt/kvm/kvm_main.c\n+++ b/virt/kvm/kvm_main.c\n@@ -1 +1 @@\n-x\n+y\n"
    before, diff = split_at_diff(body)
    assert before == "text\n"
    assert diff_files(diff) == ("virt/kvm/kvm_main.c",)


def test_separator_and_prose_dashes_are_not_diffs():
    body = "msg\n---\n a.c | 1 +\n--- snip ---\nmore prose\n"
    assert split_at_diff(body) == (body, "")


def test_quilt_style_tree_prefixes_and_timestamps():
    diff = (
        "--- linux-5.4.orig/arch/x86/kvm/x86.c\t2020-01-01 10:00:00.000000000 +0100\n"
        "+++ linux-5.4/arch/x86/kvm/x86.c\t2020-01-02 10:00:00.000000000 +0100\n@@ -1 +1 @@\n"
    )
    assert diff_files(diff) == ("arch/x86/kvm/x86.c",)


def test_new_and_deleted_files_ignore_dev_null():
    diff = (
        "--- /dev/null\n+++ b/tools/new.c\n@@ -0,0 +1 @@\n+x\n"
        "--- a/tools/old.c\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"
    )
    assert diff_files(diff) == ("tools/new.c", "tools/old.c")


def test_quoted_paths_with_spaces_and_utf8():
    diff = 'diff --git "a/docs/caf\\303\\251 notes.txt" "b/docs/caf\\303\\251 notes.txt"\n'
    assert diff_files(diff) == ("docs/café notes.txt",)


def test_unquoted_path_with_space():
    diff = "diff --git a/dir/x y.c b/dir/x y.c\nindex 1..2\n--- a/dir/x y.c\n+++ b/dir/x y.c\n"
    assert diff_files(diff) == ("dir/x y.c",)


def test_rename_and_copy_list_both_sides_in_order():
    diff = (
        "diff --git a/old/name.c b/new/name.c\nsimilarity index 90%\n"
        "rename from old/name.c\nrename to new/name.c\n"
        "diff --git a/src.c b/copy.c\ncopy from src.c\ncopy to copy.c\n"
    )
    assert diff_files(diff) == ("old/name.c", "new/name.c", "src.c", "copy.c")


def test_binary_files_differ_line():
    diff = "Binary files a/fw/blob.bin and b/fw/blob.bin differ\n"
    assert diff_files(diff) == ("fw/blob.bin",)


def test_removed_line_that_looks_like_a_header_is_ignored():
    diff = (
        "diff --git a/a.sql b/a.sql\n--- a/a.sql\n+++ b/a.sql\n@@ -1,2 +1,2 @@\n"
        "--- comment in sql\n+-- new comment\n"
    )
    assert diff_files(diff) == ("a.sql",)


# --------------------------------------------------------------------------- commit_message


def test_commit_message_splits_at_first_dashes_line():
    msg, notes = commit_message("Fix it.\n\nSigned-off-by: A <a@b>\n---\nv2: x\n---\nmore\n")
    assert msg == "Fix it.\n\nSigned-off-by: A <a@b>"
    assert notes == "v2: x\n---\nmore\n"


def test_commit_message_without_dashes_is_all_message():
    assert commit_message("Just words.\n--- not a separator\n") == (
        "Just words.\n--- not a separator",
        "",
    )

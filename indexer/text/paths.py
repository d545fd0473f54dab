"""Paths: when a query word names a file or directory, and the terms a path is indexed
and searched as. The lexical index, the document store's file filter and the query
parser all use these, so a path always meets the terms it was written as.
"""

from __future__ import annotations

import re

#: file endings that make a bare word a file name
_EXT = (
    "c|h|S|s|rs|py|sh|inc|json|txt|rst|dts|dtsi|lds|ld|mk|yaml|yml|cfg|conf|go|cpp|cc|hh|"
    "hpp|pl|awk|bpf|md|html|xml|in|am|ac|m4|tbl|asm|cmake|toml|def|decode|y|l|lex"
)
_PATH = re.compile(
    rf"^(?:[\w.+-]+/)+[\w.+-]*$|^[\w.+-]+\.(?:{_EXT})$|^(?:Makefile|Kconfig|Kbuild|MAINTAINERS)"
    r"(?:\.[\w-]+)?$"
)
# Top-level directories of the trees kvmsearch covers (Linux, QEMU, kvm-unit-tests,
# kvmtool): "arch/arm64" is a path, "KVM/arm64" or "I/O" is not.
_TOP_DIRS = frozenset(
    """
    arch drivers include virt tools documentation lib mm kernel net fs block scripts security
    sound crypto init ipc samples usr certs rust hw target tests accel linux-headers contrib
    migration qapi qom system softmmu ui util docs subprojects x86 arm arm64 powerpc s390x
    riscv lib64 asm-generic uapi selftests
    """.split()
)
# Exact file > the path as a directory prefix > same bare file name elsewhere.
PATH_FULL, PATH_DIR, PATH_BASE = 4.0, 2.0, 1.0
PATH_TIERS = {PATH_FULL: 3, PATH_DIR: 2, PATH_BASE: 1}


def is_path(tok: str) -> bool:
    """Whether a query token names a file or directory (see module notes)."""
    if not _PATH.match(tok):
        return False
    if "/" not in tok:
        return "." in tok[1:] or tok.split(".")[0] in ("Makefile", "Kconfig", "Kbuild")
    parts = [p for p in tok.split("/") if p]
    # A trailing slash, a file ending, a known top directory or a deep path make a path;
    # a lone "a/b" is usually prose ("source/target", "TID1/TID2").
    return (
        tok.endswith("/")
        or bool(re.search(rf"\.(?:{_EXT})$", parts[-1]))
        or parts[0].lower() in _TOP_DIRS
        or len(parts) >= 3
    )


def is_path_like(token: str) -> bool:
    """Whether a query token names a file or directory rather than a word: a path with a
    known top directory, a file ending, a trailing ``/`` or three parts, or a file name.
    ``KVM/arm64``, ``GICv4/GICv4.1`` or ``I/O`` are words."""
    if "://" in token or "@" in token:
        return False
    return is_path(token)


def path_query_forms(path: str) -> list[tuple[str, float]]:
    """``files`` terms a path query looks for, with their weight (see module constants).

    A trailing ``/`` says "directory": then only the prefix form is used.
    """
    p = normalize_path(path)
    if p.startswith("..."):
        base = p.rstrip("/").rsplit("/", 1)[-1]
        return [(base, PATH_BASE)] if base else []
    is_dir = p.endswith("/")
    p = p.rstrip("/")
    if not p:
        return []
    out = [(p + "/", PATH_DIR)]
    if not is_dir:
        out.insert(0, (p, PATH_FULL))
        if "/" in p:
            out.append((p.rsplit("/", 1)[-1], PATH_BASE))
    return out


def normalize_path(path: str) -> str:
    """Lower-cased path without ``./``, a leading ``/`` or doubled slashes; a trailing
    ``/`` (a directory) is kept."""
    p = path.strip().lower().replace("\\", "/")
    p = re.sub(r"/{2,}", "/", p)
    while p.startswith("./"):
        p = p[2:]
    return p.lstrip("/")


def path_forms(path: str) -> list[str]:
    """Terms the ``files`` field holds for one path.

    ``arch/arm64/kvm/pvtime.c`` -> the full path, ``arch/``, ``arch/arm64/``,
    ``arch/arm64/kvm/`` and ``pvtime.c``. A diffstat path shortened to ``.../x.c``
    gives only its file name; a directory (trailing ``/``) gives only prefixes.
    """
    p = normalize_path(path)
    if not p:
        return []
    if p.startswith("..."):
        base = p.rsplit("/", 1)[-1]
        return [base] if base else []
    is_dir = p.endswith("/")
    p = p.rstrip("/")
    segs = p.split("/")
    forms = [] if is_dir else [p]
    forms.extend("/".join(segs[:i]) + "/" for i in range(1, len(segs)))
    if is_dir:
        forms.append(p + "/")
    elif len(segs) > 1:
        forms.append(segs[-1])
    return forms


def filter_path_terms(path: str) -> list[str]:
    """``files`` terms a file filter accepts: the file itself and the path as a directory
    prefix; a bare name (no ``/``) also matches that file name anywhere."""
    return [t for t, w in path_query_forms(path) if w != PATH_BASE]

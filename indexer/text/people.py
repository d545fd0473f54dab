"""People: who wrote a patch, and when two addresses are one person.

Lineage needs the author as maintainers see them. Developers change employer (and
address) between versions, and maintainers repost someone's series keeping them as the
author (an in-body ``From:``, their ``Signed-off-by`` first). The corpus itself is the
mailmap: a full name is one person whatever address it writes from.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["address_of", "display_name", "inbody_author", "person_key"]

_INBODY_FROM = re.compile(r"^From:\s*(?P<name>[^<\n]*?)\s*<(?P<addr>[^<>\s]+@[^<>\s]+)>\s*$")
_NOT_NAME = re.compile(r"[^a-z ]+")
# Role accounts and tools that send mail for many people: their name is no identity.
_GENERIC = frozenset({"root", "admin", "info", "kernel test robot", "patchwork bot", "git"})


def display_name(who: str) -> str:
    """The name of a ``"Name <addr>"`` as written, quotes dropped; the address when
    there is no name."""
    name = who.split("<", 1)[0].strip().strip('"').strip()
    return name or who.strip()


def address_of(who: str) -> str:
    """The lower-cased address of a ``"Name <addr>"`` (or of a bare address)."""
    inside = who.rpartition("<")[2] if "<" in who else who
    return inside.rstrip(">").strip().lower()


def person_key(name: str) -> str | None:
    """One person's name folded (accents, case, punctuation, initials, word order), or
    None when it cannot identify anyone: a single word, a role account."""
    folded = unicodedata.normalize("NFKD", name)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    # "Paolo Bonzini (Red Hat)", "Marc Zyngier via kvmarm"
    folded = re.sub(r"\(.*?\)|\bvia\b.*$", " ", folded)
    words = [w for w in _NOT_NAME.sub(" ", folded).split() if len(w) > 1]
    if len(words) < 2:
        return None
    key = " ".join(words)
    if key in _GENERIC:
        return None
    # "Auger Eric" and "Eric Auger" are one person: the key is the words in order
    return " ".join(sorted(words))


def inbody_author(commit_message: str) -> tuple[str, str] | None:
    """(name, address) of an in-body ``From:`` at the top of a patch: the author when
    someone else sent it."""
    for line in commit_message.split("\n", 3)[:3]:
        m = _INBODY_FROM.match(line.strip())
        if m is not None:
            return m.group("name").strip().strip('"'), m.group("addr").lower()
    return None

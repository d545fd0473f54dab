"""Which review asked for a change: each changelog bullet of a version linked, where the
evidence allows, to a reply on the version before it.

A maintainer reading "v3: use cond_resched() instead of an interrupt" wants the mail
that asked for it. The evidence, strongest first:

- the bullet credits someone ("(Marc)", "as suggested by Sean", "[Oliver]") and that
  person replied to the previous version: the reply of theirs that shares most of the
  bullet's words, else their first;
- no credit, but one reply (not the author's own) shares the bullet's distinctive
  words: three or more and at least 60% of them, or an identifier
  (``cond_resched()``, ``kvm_vcpu_ioctl``) and one more word. The reply's own text
  and the quoted lines it answers both count, since "why not cond_resched() here?"
  under a quoted hunk is the request.

Nothing else is guessed: a bullet with no such reply stays unlinked.
"""

from __future__ import annotations

from collections.abc import Sequence

from kvmsearch.indexer.series.changelog import credits_in
from kvmsearch.indexer.series.landing import ReplyTo
from kvmsearch.indexer.text.identifiers import is_exact_identifier
from kvmsearch.indexer.text.people import display_name
from kvmsearch.models.records import ChangeLink, ChangelogEntry

__all__ = ["asked_for", "link_changes"]

#: words that say a change happened, not what it is ("fix", "add", "use ..."): they
#: never make a bullet's words match a reply
_GENERIC = frozenset(
    """fix fixed fixes add added adds use used uses using remove removed drop dropped
    change changed changes update updated move moved rename renamed rework reworked
    patch patches series version comment comments commit message suggest suggested
    address addressed instead new now also make made more less some few minor small
    nit nits typo typos review reviewed split squash squashed rebase rebased based kvm
    code function functions call calls first second other per since get got set
    arm64 aarch64 x86 ppc powerpc s390 riscv vcpu vcpus guest host""".split()
)
_MIN_WORD = 3


def _words(text: str) -> tuple[set[str], set[str]]:
    """(words, identifiers) of ``text``, lower-cased, stemmed by a crude plural rule
    (enough for matching a bullet to a reply; the index's stemmer is not needed)."""
    words: set[str] = set()
    idents: set[str] = set()
    for raw in text.replace("(", " ( ").replace(")", " ) ").split():
        tok = raw.strip(".,;:!?'\"`[]{}<>")
        if tok.endswith("()"):
            tok = tok[:-2]
        if len(tok) < _MIN_WORD:
            continue
        low = tok.lower()
        # only what names code counts as an identifier: an underscore or a call;
        # "KVM", "arm64" and "GICv3" are words, and common ones at that
        if "_" in tok.strip("_") or raw.rstrip(".,;:").endswith("()"):
            if is_exact_identifier(tok, True) and low not in _GENERIC:
                idents.add(low)
            continue
        if not low.isalnum() or not low[0].isalpha():
            continue
        if low.endswith("s") and len(low) > 4:
            low = low[:-1]
        if low not in _GENERIC:
            words.add(low)
    return words, idents


def _first_names(who: str) -> set[str]:
    name = display_name(who).lower()
    parts = name.replace(",", " ").split()
    return {name, *parts} if parts else set()


#: a reply's words, worked out once per version (a version has many bullets)
_ReplyWords = tuple[ReplyTo, set[str], set[str]]


def _reply_words(replies: Sequence[ReplyTo], author_addr: str) -> list[_ReplyWords]:
    """The replies of others than the author, with the words of their own text and of
    the quoted lines they answer."""
    out: list[_ReplyWords] = []
    for r in replies:
        if r.msg.from_addr != author_addr and r.msg.body:
            words, idents = _words(r.msg.body + "\n" + "\n".join(r.msg.answers))
            out.append((r, words, idents))
    return out


def asked_for(item: str, replies: Sequence[_ReplyWords]) -> ChangeLink | None:
    """The reply in ``replies`` (to the previous version, from :func:`_reply_words`)
    that asked for ``item``."""
    if not replies:
        return None
    b_words, b_idents = _words(item)
    # (shared words, identifiers counting twice; earlier first on a tie; the reply;
    # whether an identifier is among them)
    scored = [
        (len(b_words & w) + 2 * len(b_idents & i), -k, r, bool(b_idents & i))
        for k, (r, w, i) in enumerate(replies)
    ]
    credited = [c.lower() for c in credits_in((item,), item)]
    if credited:
        for name in credited:
            theirs = [s for s in scored if name in _first_names(_who(s[2]))]
            if theirs:
                top = max(theirs, key=lambda s: (s[0], s[1]))
                return _link(item, top[2], "credited")
        return None
    score, _k, best, shared_ident = max(scored, key=lambda s: (s[0], s[1]))
    size = len(b_words) + 2 * len(b_idents)
    if size and score >= 3 and (score * 5 >= size * 3 or shared_ident):
        return _link(item, best, "words")
    return None


def _who(r: ReplyTo) -> str:
    m = r.msg
    return f"{m.from_name} <{m.from_addr}>" if m.from_name else m.from_addr


def _link(item: str, r: ReplyTo, how: str) -> ChangeLink:
    return ChangeLink(item=item, message_id=r.msg.message_id, who=_who(r), how=how)


def link_changes(
    own: Sequence[ChangelogEntry], replies: Sequence[ReplyTo], author_addr: str
) -> tuple[ChangeLink, ...]:
    """Links for every bullet of a version's own changelog delta (``own``)."""
    out: list[ChangeLink] = []
    said = _reply_words(replies, author_addr)
    for e in own:
        for item in e.items or ((e.text,) if e.text and len(e.text) < 400 else ()):
            link = asked_for(item, said)
            if link is not None:
                out.append(link)
    return tuple(out)

"""Why a series matches: the sentences, changelog entries and files that carry the query.

Cheap on purpose (runs for each of the ~10 hits of every query): term overlap with a
light stem, no model call. When nothing overlaps (a purely semantic match) the best
dense chunk speaks instead.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from functools import lru_cache

from kvmsearch.indexer.text.boilerplate import explains as _explains
from kvmsearch.indexer.text.boilerplate import (
    first_diagnostic,
    is_background,
    is_grab_bag,
    leans_by_its_opening,
    leans_on_previous,
    light_stem,
    names_defect,
    opens_with_pointer,
    restates_title,
    says_purpose,
    states_cause_or_fix,
    states_change,
    talks_of_versions,
    without_quoted_commits,
)
from kvmsearch.indexer.text.trailers import TRAILER_PATTERN
from kvmsearch.models.records import (
    ChangelogEntry,
    Hit,
    JsonObject,
    Landing,
    SeriesVersion,
    VersionRef,
)
from kvmsearch.query.understand import QueryPlan

# A sentence ends at . ! ? before a capital, or at a blank line; not after "e.g.",
# "i.e.", "vs." or "cf.", which kernel prose puts before names ("userspace (e.g. QEMU)
# which had opened ...").
_SENT = re.compile(
    r"(?<=[.!?])(?<![eE]\.g\.)(?<![iI]\.e\.)(?<!\bvs\.)(?<!\bcf\.)\s+(?=[A-Z(\"'`])|\n{2,}"
)
_PARA = re.compile(r"\n{2,}")  # the blank line _SENT splits at too
# A line opening with a list marker starts a sentence of its own: an item run into the
# sentence before it ("... emulate a software control virtqueue. - we don't do it in
# virtio-vDPA driver") says neither thing, and a heading over a list ("There are a
# couple of races in the handling of CPU_ON:") ends where its first item starts. Only
# after a line that ends a sentence or a heading, or after another item: a line
# broken before "- buffers ... are overflowed" or "31) from MPIDR_EL1" goes on the
# sentence above it, and after an item only an item of the same kind (a dash after a
# dash, a number after a number) starts another.
_ITEM = re.compile(r"(?:[-*\u2022]|\(?(?:\d{1,2}|[a-z])[.)])\s")
_ITEM_LINE = re.compile(rf"[ \t]*{_ITEM.pattern}")
_ENDS_LINE = re.compile(r"[.:;!?]\s*$")
# an item this short ("- Syndrome valid EXIT_MMIO", "3. virtio-net xdp refactor") is a
# fragment: never a why line of its own
_ITEM_WORDS = 6


def _item_kind(line: str) -> str:
    """The kind of ``line``'s list marker: the bullet itself, "9" for a number, "a" for
    a letter; empty for a line that is no list item."""
    if _ITEM_LINE.match(line) is None:
        return ""
    c = line.lstrip(" \t(")[0]
    return "9" if c.isdigit() else "a" if c.isalpha() else c


def _fragment_item(sentence: str) -> bool:
    """Whether ``sentence`` is a list item too short to say anything alone."""
    return _ITEM.match(sentence) is not None and len(sentence.split()) <= _ITEM_WORDS


def _items_apart(para: str) -> list[str]:
    """``para`` cut before each list item (see _ITEM_LINE)."""
    out: list[list[str]] = []
    prev_kind, prev_ends = "", False
    for line in para.split("\n"):
        kind = _item_kind(line)
        if out and not (kind and (prev_ends or kind == prev_kind)):
            out[-1].append(line)
        else:
            out.append([line])
            prev_kind = kind
        prev_ends = _ENDS_LINE.search(line) is not None
    return ["\n".join(chunk) for chunk in out]


_WORD = re.compile(r"[A-Za-z_][\w]*(?:\.[ch])?|\d+")
_STOP = frozenset(
    "the a an of in to and or for is are was were be by on with that this it its as at from "
    "which what why how when series patch patches does did do change changed".split()
)


# the light stem sentences are matched by (cached in boilerplate)
_key = light_stem


def term_spans(text: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    """Where the words of ``text`` that match ``terms`` (a hit's matched query terms)
    are, by the same light stem the evidence was chosen with: whole words only, so
    "log" marks "logs" but not "catalog"."""
    keys = {_key(t) for t in terms}
    if not keys:
        return []
    return [m.span() for m in _WORD.finditer(text) if _key(m.group()) in keys]


def query_keys(plan: QueryPlan) -> dict[str, str]:
    """Stem key -> the query's spelling, for overlap scoring and highlighting."""
    words = (
        list(plan.words)
        + list(plan.spellings)
        + list(plan.idents)
        + [p.rstrip("/").rsplit("/", 1)[-1] for p in plan.paths]
    )
    out = word_keys([part for w in words for part in _WORD.findall(w) or [w]])
    for phrase in plan.phrases:
        for part in _WORD.findall(phrase):
            if part.lower() not in _STOP:
                out.setdefault(_key(part), part)
    return out


def spelled_by_none(idents: Sequence[str], hits: Sequence[Hit]) -> bool:
    """Whether no hit spells any of ``idents``, in its title or among its matched terms
    (the sentences and changelog entries shown): the hits were found by the parts."""
    return (
        bool(idents)
        and bool(hits)
        and not any(
            i.lower() in h.title.lower() or any(t.lower() == i.lower() for t in h.terms)
            for i in idents
            for h in hits
        )
    )


def word_keys(words: Sequence[str]) -> dict[str, str]:
    """Stem key -> word, for evidence drawn from plain words (an identifier's parts)."""
    out: dict[str, str] = {}
    for w in words:
        if w.lower() not in _STOP and len(w) > 1:
            out.setdefault(_key(w), w)
    return out


# Lines that are bookkeeping, not prose: trailers (indexer.text.trailers' rule), b4's
# base/prerequisite lines, diffstat, quoted replies. One pattern: this runs on every
# line of every hit's evidence.
_NOISE_LINE = re.compile(
    rf"(?:{TRAILER_PATTERN})|\s*(?:(?:base-commit|prerequisite-patch-id):|>"
    r"|\S+\s+\|\s+(?:\d+ ?[+-]*|bin\b)|\d+ files? changed)",
    re.IGNORECASE,
)


@lru_cache(maxsize=1 << 14)
def paragraphs(text: str) -> tuple[tuple[str, ...], ...]:
    """The sentences of ``text`` long enough to say something, by paragraph, without
    trailers, diffstat lines or quoted replies. Cached: the same covers come back query
    after query in a long-lived reader."""
    text = "\n".join(ln for ln in (text or "").splitlines() if not _NOISE_LINE.match(ln))
    out = []
    for para in _PARA.split(text):
        kept = tuple(
            s
            for line in _items_apart(para)
            for s in (" ".join(x.split()) for x in _SENT.split(line))
            if len(s) > 20
        )
        if kept:
            out.append(kept)
    return tuple(out)


@lru_cache(maxsize=1 << 14)
def sentences(text: str) -> tuple[str, ...]:
    """The sentences of ``text`` (see ``paragraphs``), in reading order."""
    return tuple(s for para in paragraphs(text) for s in para)


@lru_cache(maxsize=256)
def _any_key(keys: frozenset[str]) -> re.Pattern[str]:
    """One pattern finding any of ``keys`` as a substring (one C scan, not one per key)."""
    return re.compile("|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True)))


def _mentions(low: str, keys: dict[str, str]) -> bool:
    """Whether lower-cased ``low`` holds any key as a substring."""
    return bool(keys) and _any_key(frozenset(keys)).search(low) is not None


def _overlap(sentence: str, keys: dict[str, str]) -> tuple[int, set[str]]:
    # A key is a prefix of the words it matches, so a sentence that doesn't contain any
    # key as a substring can't match: skip tokenising it (most sentences, every hit).
    if not _mentions(sentence.lower(), keys):
        return 0, set()
    # the words of a quoted commit subject are that commit's (see without_quoted_commits)
    found = set(_sentence_keys(without_quoted_commits(sentence)) & keys.keys())
    return len(found), found


@lru_cache(maxsize=1 << 15)
def _sentence_keys(sentence: str) -> frozenset[str]:
    """The stem keys of a sentence's words (cached: the same covers' sentences come
    back query after query in a long-lived reader)."""
    return frozenset(_key(w) for w in _WORD.findall(sentence))


def _near_duplicate(a: str, b: str) -> bool:
    wa, wb = _sentence_keys(a), _sentence_keys(b)
    return bool(wa and wb) and len(wa & wb) >= 0.6 * len(wa | wb)


# a chosen sentence: (query terms it holds, -position, sentence, the terms, text index)
_Chosen = tuple[int, int, str, set[str], int]


def best_sentences(
    texts: list[str],
    keys: dict[str, str],
    n: int = 3,
    *,
    title: str = "",
    lead_with_cause: bool = False,
) -> tuple[list[str], set[str]]:
    """Up to ``n`` sentences with the most distinct query terms, in reading order;
    only sentences that explain (``indexer.text.boilerplate.explains``): no greetings,
    version talk, base lines, references, tables or the title again.

    Background never leads when the point it sets up is there to lead
    (``indexer.text.boilerplate.is_background``): the next sentence of its paragraph
    that says the problem, its cause or the change leads instead (when it ends its
    paragraph, the next paragraph's first if that says what the posting does), and the
    background
    follows; a grab-bag summary ("a mix of bug fixes, cleanup and new support") gives
    the lead to the first chosen sentence that says one of them.

    ``lead_with_cause`` (a commit message: background, then the problem, then the
    fix, by the kernel's convention): background gives the lead to the first later
    sentence of the message that says the problem or the change, wherever it is; and
    when the first sentence names no defect, cause or fix, the first of the others
    from the same message that does leads ("The "inline" keyword is a hint for the
    compiler ..." is background to "..., so mark them as __always_inline")."""
    scored = []
    seen: set[str] = set()
    pos = 0
    for i, text in enumerate(texts):
        if not _mentions((text or "").lower(), keys):  # see _overlap; most patch messages
            continue
        for s in sentences(text):
            k, found = _overlap(s, keys)
            # A one-patch series often repeats its cover letter word for word.
            if k and s not in seen and _explains(s, title) and not _fragment_item(s):
                seen.add(s)
                scored.append((k, -pos, s, found, i))
            pos += 1
    scored.sort(reverse=True)
    top: list[_Chosen] = []
    for t in scored:
        if len(top) == n:
            break
        # Versions repeat their covers with small edits (a typo fixed, a word added):
        # say each thing once.
        if not any(_near_duplicate(t[2], u[2]) for u in top):
            top.append(t)
    top.sort(key=lambda t: -t[1])
    if top:
        _lead_with_the_point(top, texts, title, n, lead_with_cause)
        _with_what_they_need(top, texts, title, keys)
    matched: set[str] = set()
    for t in top:
        matched |= t[3]
    return [_unmarked(t[2]) for t in top], matched


def _unmarked(sentence: str) -> str:
    """``sentence`` without a leading list marker: an item shown on its own reads as a
    sentence."""
    m = _ITEM.match(sentence)
    return sentence[m.end() :] if m else sentence


# a sentence about one part of a posting or one of its versions ("The last commit is just
# an improvement to a test", "The RFC of this series did not ...")
_A_PART = re.compile(
    r"^the\s+(?:rfc|first|second|third|last|next|final|previous|remaining|other|new)\b", re.I
)


def _after_in_cover(lead: str, paras: tuple[tuple[str, ...], ...]) -> list[str]:
    """The sentence a cover's background ``lead`` sets up, if any: the next of its
    paragraph; or, when it ends its paragraph, the next paragraph's first, as a cover's
    scene often has a paragraph of its own ("... we are already using a W^X setup with
    nVHE." / "This trivial series aims to enforce it ..."). That one only when it says
    what the posting does and is not about one of its parts: the paragraph after a
    scene is as often about the posting ("Sending this as an RFC, mainly to get
    feedback", "The RFC of this series did not have a build-time step")."""
    for i, para in enumerate(paras):
        for j, s in enumerate(para):
            if s != lead:
                continue
            if j + 1 < len(para):
                return [para[j + 1]]
            if i + 1 < len(paras):
                first = paras[i + 1][0]
                if states_change(first) and not _A_PART.match(first):
                    return [first]
    return []


def _lead_with_the_point(
    top: list[_Chosen], texts: list[str], title: str, n: int, lead_with_cause: bool
) -> None:
    """Reorder the chosen sentences ``top`` (in reading order) so that the point leads,
    not the background before it (see best_sentences)."""
    lead = top[0][2]
    source = texts[top[0][4]]
    if is_background(lead):
        # Background leads. The point it sets up is usually the next sentence of its
        # paragraph ("There are a number of cases where we evaluate PSTATE early on
        # guest exit." / "... before it has been synchronised"); in a commit message
        # (background, then the problem, then the fix) the first later sentence that
        # says the problem or the change, wherever it is. The point leads, the
        # background follows it.
        if lead_with_cause:
            message = sentences(source)
            later = list(message[message.index(lead) + 1 :])
        else:
            later = _after_in_cover(lead, paragraphs(source))
        point = next(
            (x for x in later if _is_point(x, title) or _effect_of_previous(x, title)), None
        )
        if point is not None:
            _give_the_lead(top, point, source, n, title)
        elif is_grab_bag(lead):
            # "This series is mostly fixes and cleanups for things I found ...": the
            # first of the other chosen sentences that says one of them leads (from a
            # patch too: a grab bag leaves the saying to its patches)
            first = next((t for t in top[1:] if not is_background(t[2])), None)
            if first is not None:
                _promote(top, first[2], n)
    elif restates_title(lead, title):
        # An announcement that says the title again ("This patch adds a new driver for
        # Virtio based GPIO devices.") gives the lead to the sentence right after it,
        # which says what it is for ("This allows a guest VM running Linux to access
        # GPIO lines provided by the host."), when that one can lead; it follows.
        if lead_with_cause:
            message = sentences(source)
            after = list(message[message.index(lead) + 1 :][:1])
        else:
            after = _after_in_cover(lead, paragraphs(source))
        point = next((x for x in after if _says_what_for(x, title)), None)
        if point is not None:
            _give_the_lead(top, point, source, n, title)
    # A lead that the next sentence of its text turns against ("KVM supports msgsndp in
    # guests by trapping and emulating the instruction, so it was decided to always use
    # XIVE for IPIs if it is available." / "However on PowerVM systems, msgsndp can be
    # used and gives better performance.") is the way things are: its cause words give
    # the reason for them, not for the change. The turn leads, joined to it.
    lead = top[0][2]
    if not names_defect(lead) and not states_change(lead):
        turn = _turn_after(lead, texts[top[0][4]], title)
        if turn is not None:
            _give_the_lead(top, turn, texts[top[0][4]], n, title)
    # a lead that says the posting's own change ("This patch tries to make sure the
    # virtio interrupt handler for MMIO won't be called after a reset ...") is the point
    # already; the reasons after it follow
    lead = top[0][2]
    if lead_with_cause and not states_cause_or_fix(lead) and not states_change(lead):
        first = next(
            (
                t
                for t in top[1:]
                if t[4] == top[0][4] and states_cause_or_fix(t[2]) and _is_point(t[2], title)
            ),
            None,
        )
        if first is not None:
            _give_the_lead(top, first[2], source, n, title)


# a sentence that turns against the one before it
_TURN = re.compile(r"^\W*(?:however|but|unfortunately|sadly)\b", re.IGNORECASE)
_ABOUT_THE_POSTING = re.compile(
    r"\b(?:this|the|these)\s+(?:\w+\s+)?(?:series|patch(?:es|set)?|rfc)\b", re.IGNORECASE
)


def _turn_after(lead: str, source: str, title: str) -> str | None:
    """The sentence right after ``lead`` in ``source`` when it turns against it
    ("However, this runs into problems with CPU hotplug, ...") and can say a thing of
    its own, else None."""
    message = sentences(source)
    if lead not in message:
        return None
    at = message.index(lead) + 1
    if at >= len(message):
        return None
    turn = message[at]
    m = _TURN.match(turn)
    if m is None or not _explains(turn, title) or len(turn.split()) < 6:
        return None
    rest = turn[m.end() :].lstrip(" ,")
    # not a question ('"But how will the timers work?", I hear someone asking.'), a
    # turn whose subject is still the lead ("However, this only happens if the VCPU
    # has the PMU feature.") or one about the posting ("However, this series does _not_
    # provide any real user for this (yet) ...")
    if "?" in turn or leans_on_previous(rest) or _ABOUT_THE_POSTING.search(rest):
        return None
    return turn


def _give_the_lead(top: list[_Chosen], point: str, source: str, n: int, title: str) -> None:
    """Let ``point`` lead ``top``. A point that goes on from the sentence before it in
    ``source`` leads joined to that sentence (to the lead itself when that is the one),
    when the two fit on one line: one whose subject is that sentence ("This results in
    all memory accesses to RAM being cacheable ...", "Which indicates that ... is a bad
    idea.") only so, as alone it would point at nothing, so the lead keeps its place;
    one that turns from it ("But we forget to release ...", "So ...", "Let's ...")
    alone when the two do not fit, as it says a thing of its own."""
    pointer = opens_with_pointer(point)
    if not (pointer or leans_by_its_opening(point)):
        _promote(top, point, n)
        return
    lead = top[0][2]
    message = sentences(source)
    at = message.index(point) if point in message else 0
    before = message[at - 1] if at > 0 else ""
    if before and len(before) + len(point) < _JOINED_CHARS:
        if before == lead:
            _join_to_lead(top, point)
            return
        if _explains(before, title):
            # the point's own entry gives way to the joined line, keeping its terms
            found = set().union(*(t[3] for t in top if t[2] == point))
            top[:] = [t for t in top if t[2] != point]
            _promote(top, f"{before} {point}", n)
            top[0] = (*top[0][:3], top[0][3] | found, top[0][4])
            return
    if not pointer:
        _promote(top, point, n)


# a sentence joined to the one it needs stays one line a terminal can show whole
_JOINED_CHARS = 320


def _with_what_they_need(
    top: list[_Chosen], texts: list[str], title: str, keys: dict[str, str]
) -> None:
    """Give each chosen sentence that cannot stand alone the sentence it needs, joined
    to it: one that leans on the sentence before ("This causes a NULL pointer
    dereference.") gets that one in front; a heading over what follows ("There are a
    couple of races in the handling of CPU_ON:") gets the first item after it. The
    other sentence must explain, and is then not shown again on its own."""
    for t in list(top):
        if t not in top:  # joined into an earlier one already
            continue
        message = sentences(texts[t[4]])
        try:
            at = message.index(t[2])
        except ValueError:  # only a sentence of its own text has neighbours to join
            continue
        if at > 0 and leans_on_previous(t[2]):
            other, first = message[at - 1], False
        # the first item of a list ("- Fix a live migration regression ...", "1) infinite
        # poll for buggy devices"); what follows a heading without a marker is mostly
        # quoted output
        elif at < len(message) - 1 and t[2].endswith(":") and _ITEM.match(message[at + 1]):
            other, first = message[at + 1], True
        else:
            continue
        if not _explains(other, title) or len(other) + len(t[2]) >= _JOINED_CHARS:
            continue
        # where the other sentence was chosen on its own (or already joined to its own),
        # the two are one line, standing where the earlier of them stood
        j = top.index(t)
        k = next((i for i, u in enumerate(top) if i != j and other in u[2]), None)
        given = top[k][2] if k is not None else other
        line = f"{t[2]} {given}" if first else f"{given} {t[2]}"
        found = t[3] | (top[k][3] if k is not None else _overlap(other, keys)[1])
        top[j] = (t[0], t[1], line, found, t[4])
        if k is not None:
            top[min(j, k)] = top[j]
            del top[max(j, k)]


def _is_point(sentence: str, title: str) -> bool:
    """Whether ``sentence`` can take the lead from background: it says the problem, its
    cause or the change, and is a sentence of its own, not a retort ("Nothing wrong
    with that.", "So switch to set_pte_at() instead.") that needs the background."""
    if is_background(sentence) or not _explains(sentence, title):
        return False
    words = sentence.split()
    # a short order that names the code it touches ("Add the
    # drm_atomic_helper_fake_vblank() call there.") says the change
    return len(words) >= 6 or (states_change(sentence) and any(_names_code(w) for w in words))


def _names_code(word: str) -> bool:
    """Whether ``word`` is a function or an identifier ("foo()", "vcpu_load")."""
    return "_" in word.strip(".,;:") or word.rstrip(".,;:").endswith("()")


def _effect_of_previous(sentence: str, title: str) -> bool:
    """Whether ``sentence`` is a short one that names the defect of the sentence
    before it ("Now when disable the LRO, the virtio-net csum is disable too." / "That
    drops the forwarding performance."): too short to lead alone, it leads joined to
    that one (see _with_what_they_need)."""
    return leans_on_previous(sentence) and names_defect(sentence) and _explains(sentence, title)


def _says_what_for(sentence: str, title: str) -> bool:
    """Whether ``sentence``, right after an announcement that says the title again,
    can lead in its place: a point that says the problem, its cause or the fix, or
    what the announced change is for ("This allows a guest VM ... to access GPIO lines
    ..."); not another announcement, nor talk of the posting's versions ("In this
    version we try to address the performance regression saw by V2.")."""
    if restates_title(sentence, title) or talks_of_versions(sentence):
        return False
    if says_purpose(sentence):
        return _explains(sentence, title) and len(sentence.split()) >= 6
    return _is_point(sentence, title) and states_cause_or_fix(sentence)


def _join_to_lead(top: list[_Chosen], sentence: str) -> None:
    """Make the first of ``top`` one line with ``sentence``, the one right after it;
    ``sentence`` is not shown again on its own."""
    first = top[0]
    same = next((t for t in top[1:] if t[2] == sentence), None)
    found = first[3] | (same[3] if same is not None else set())
    if same is not None:
        top.remove(same)
    top[0] = (first[0], first[1], f"{first[2]} {sentence}", found, first[4])


def _promote(top: list[_Chosen], sentence: str, n: int) -> None:
    """Put ``sentence`` first in ``top``: moved if chosen already, else added, dropping
    the chosen ones it repeats and then, to keep ``n``, the ones with the fewest of the
    query's terms (the last in reading order among equals)."""
    same = next((t for t in top if t[2] == sentence), None)
    if same is not None:
        top.remove(same)
    else:
        same = (0, top[0][1], sentence, set(), top[0][4])
        # say each thing once (see best_sentences)
        top[:] = [t for t in top if not _near_duplicate(t[2], sentence)]
        # the sentence that matched best was chosen for it: it is not the one to go
        while len(top) > n - 1:
            top.remove(min(top, key=lambda t: (t[0], t[1])))
    top.insert(0, same)


def matching_files(files: list[str], paths: tuple[str, ...]) -> list[str]:
    out = []
    for f in files:
        for p in paths:
            bare = p.rstrip("/")
            if (
                f == bare
                or f.startswith(bare + "/")
                or ("/" not in bare and f.rsplit("/", 1)[-1] == bare)
            ):
                out.append(f)
                break
    return out


def top_dirs(files: list[str], n: int = 4) -> list[str]:
    c = Counter(f.rsplit("/", 1)[0] + "/" if "/" in f else f for f in files)
    return [d for d, _ in c.most_common(n)]


def build_hit(
    versions: list[SeriesVersion],
    best: SeriesVersion | None,
    score: float,
    plan: QueryPlan,
    *,
    dense_text: str | None = None,
    explain: JsonObject | None = None,
) -> Hit:
    """Assemble one answer from a family's versions and the version that matched best."""
    versions = sorted(versions, key=lambda v: (v.date is not None, v.date, v.version), reverse=True)
    newest = versions[0]
    best = best or newest
    keys = query_keys(plan)

    files: list[str] = []
    seen: set[str] = set()
    for v in versions:
        for f in v.all_files:
            if f not in seen:
                seen.add(f)
                files.append(f)
    shown = (
        matching_files(files, plan.paths + plan.filters.files)
        if (plan.paths or plan.filters.files)
        else []
    )
    if not shown:
        shown = top_dirs(files)

    # The best-matching version speaks first (ties go to it); the other versions'
    # covers next, the fullest first: v4 may say only "updated with everybody's
    # feedback" where v1 explained the series.
    others = sorted(
        (v for v in versions if v is not best and v.cover.motivation),
        key=lambda v: -len(v.cover.motivation),
    )
    texts = (
        [best.cover.motivation]
        + [p.commit_message for p in best.patches]
        + [v.cover.motivation for v in others]
    )
    title = newest.title
    if plan.answer_parts:
        # No hit spells the identifier (the ranking answered its parts, see
        # HybridSearcher.lexical_hits): the sentences about its parts explain, and
        # they are what is marked.
        keys = word_keys(plan.answer_parts)
    # a series without a cover is one commit message (see best_sentences)
    why, matched = best_sentences(texts, keys, title=title, lead_with_cause=not best.has_cover)
    if not why:
        if dense_text:
            # The chunk text carries a title prefix for the model; drop it for display.
            body = dense_text.split("\n", 1)[1] if "\n" in dense_text else dense_text
            why = [x for x in sentences(body) if _explains(x, title)][:2]
        for v in [best, *others]:
            if why:
                break
            why = [x for x in sentences(v.cover.motivation) if _explains(x, title)][:2]
        if not why:
            # Nothing explains but a tool's report (quoted output is never chosen while
            # anything else says why): a fix of a compiler or coccicheck warning is
            # made for that warning, and it is shown.
            report = next((d for t in texts if (d := first_diagnostic(t)) is not None), None)
            why = [report] if report else []

    changelog: list[ChangelogEntry] = []
    seen_text: set[str] = set()
    # A question that names a version ("what changed in v3 of ...") is answered by
    # that version's own changes first, whether or not they share its words.
    asked = [n for n in plan.versions if any(v.version == n for v in versions)]
    spanned = [n for n in plan.changed_between if any(v.version == n for v in versions)]
    for e in asked_changes(versions, spanned or asked):
        seen_text.add(_entry_key(e))
        changelog.append(e)
    for v in versions:
        for e in v.cover.changelog:
            text = " ".join(e.items) if e.items else e.text
            k, found = _overlap(text, keys)
            # Later versions repeat earlier entries, sometimes recased: show each once.
            if k and _entry_key(e) not in seen_text:
                seen_text.add(_entry_key(e))
                changelog.append(e if e.version else replace(e, version=f"v{v.version}"))
                matched |= found
    lists = tuple(dict.fromkeys(lst for v in versions for lst in v.lists))
    refs = tuple(
        VersionRef(
            v.version,
            v.rfc,
            v.resend,
            v.message_id,
            v.date,
            v.subject,
            v.n_patches,
            v.landing.status,
        )
        for v in versions
    )
    landed = _best_landed(versions)
    return Hit(
        family=newest.family,
        title=newest.title,
        score=round(score, 6),
        versions=refs,
        author=newest.author,
        lists=lists,
        tree=newest.tree,
        files=tuple(shown[:12]),
        why=tuple(why),
        changelog=tuple(changelog[: 3 + len(spanned or asked)]),
        terms=tuple(sorted(keys[k] for k in matched)),
        explain=explain,
        landing=landed.landing if landed is not None else Landing(),
        landing_version=landed.message_id if landed is not None else "",
        landing_patches=landed.n_patches if landed is not None else None,
        series=newest.series or newest.family,
        family_versions=len(versions),
        asked_versions=tuple(dict.fromkeys(asked + spanned)),
        version_diffs=tuple(_version_diffs(versions, spanned or asked)),
        asked_by=tuple(a for v in versions if v.version in (spanned or asked) for a in v.asked),
        reviewers=len(
            {
                t.who.lower()
                for v in versions
                for t in v.trailers
                if t.kind in ("reviewed-by", "acked-by") and t.status != "dropped"
            }
        ),
    )


def _version_diffs(versions: Sequence[SeriesVersion], asked: Sequence[int]) -> list[str]:
    """Each asked version against the version before it, counted patch by patch by
    patch id and subject (``indexer.series.compare``; no diff is read)."""
    from kvmsearch.indexer.series.compare import compare_versions

    newest: dict[int, SeriesVersion] = {}
    for v in versions:  # newest first
        newest.setdefault(v.version, v)
    out = []
    for n in asked:
        before = [m for m in newest if m < n]
        if n not in newest or not before:
            continue
        d = compare_versions(newest[max(before)], newest[n], lambda ids: {})
        c = d.counts()
        out.append(
            f"v{d.old_version} -> v{d.new_version}: {len(newest[n].patches)} patches: "
            f"{c['unchanged']} unchanged, {c['changed']} changed, {c['new']} new; "
            f"{c['dropped']} dropped"
        )
    return out


def _entry_key(e: ChangelogEntry) -> str:
    return " ".join((" ".join(e.items) if e.items else e.text).lower().split())


def asked_changes(versions: Sequence[SeriesVersion], asked: Sequence[int]) -> list[ChangelogEntry]:
    """The own changes of each asked version number (``versions`` newest first): what
    its cover adds to the previous version's (``own_entries``); when its cover says
    nothing of its own, the entries any cover labels with that number ("v3: ...")."""
    from kvmsearch.indexer.series.changelog import own_entries

    out: list[ChangelogEntry] = []
    for n in asked:
        k = next(i for i, v in enumerate(versions) if v.version == n)
        earlier = next((v.cover.changelog for v in versions[k + 1 :] if v.version != n), ())
        own = own_entries(versions[k].cover.changelog, earlier)
        if not own:
            labelled = {
                _entry_key(e): e
                for v in versions
                for e in v.cover.changelog
                if e.version.lower().strip(" :") == f"v{n}"
            }
            own = list(labelled.values())
        out += [e if e.version else replace(e, version=f"v{n}") for e in own]
    return out


_RANK = {"applied": 2, "partial": 1}


def _best_landed(versions: Sequence[SeriesVersion]) -> SeriesVersion | None:
    """The version whose landing answers "did it land": applied over partial, newest
    first (``versions`` are newest first)."""
    best: SeriesVersion | None = None
    for v in versions:
        r = _RANK.get(v.landing.status, 0)
        if r and (best is None or r > _RANK[best.landing.status]):
            best = v
    return best

"""Sentences of a cover letter or commit message that explain nothing.

A *why* line should say what a series changes and why. Covers also carry greetings and
thanks, "Here's version four", "based on / applies on top of", changelog headers,
reference lists ("[1] https://..."), tables, quoted log output and the title said
again; this is the one rule that tells them apart (``explains``). Of the sentences
that explain, it also tells the ones that only set the scene (``is_background``:
background, a grab-bag summary, an earlier commit's story) from the ones that say the
problem, its cause or the change (``states_cause_or_fix``, ``states_change``), so the
point can lead.
"""

from __future__ import annotations

import re
from functools import lru_cache

_GREETING = re.compile(
    r"^(?:hi|hello|hey|dear)\b|^(?:many |big |special )?thanks?\b|^thank you\b"
    r"|\bthanks (?:to|for)\b|\b(?:grateful|kudos)\b",
    re.IGNORECASE,
)
# "Here's v3", "This is the fourth version of ...", "Updated with everybody's feedback"
_VERSION_LEAD = re.compile(
    r"^(?:here(?:'s| is| are)|this is|these are|this (?:is )?(?:a |the )?)\s*(?:the |a |an |my )?"
    r"(?:(?:rfc )?v\d+\b|version\s+\w+|(?:next|new|updated|latest|\w+(?:st|nd|rd|th)|"
    r"second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|another|final)\s+"
    r"(?:version|revision|iteration|spin|respin|round|posting|attempt|take))",
    re.IGNORECASE,
)
# "Version 3 of adding MTE support for KVM guests." says no more than "Here's v3"
_VERSION_OF = re.compile(
    r"^(?:the |my )?(?:(?:rfc )?v\d+|version\s+(?:\d+|one|two|three|four|five|six|seven|eight"
    r"|nine|ten))\s+of\b",
    re.IGNORECASE,
)
_BOOKKEEPING = re.compile(
    r"\bre-?bas(?:e|ed|es|ing)\b"
    r"|^(?:(?:this|the|these|my|it)\b[^.]{0,40}?\b(?:is|are|was|were)\s+)?based\s+(?:on|upon)\s+"
    r"(?:v?\d|(?:the )?(?:latest|current)\b|upstream|top of|linux|kvm\w*/"
    r"|(?:\w+\s+)?[\w-]+/[\w-]+|tip|next"
    r"|\w+'s\s+(?:\w+\s+)?(?:fix|fixes|series|patch|patches|work|branch|tree|changes)\b"
    r"|master|mainline)"
    r"|\bappl(?:y|ies)\s+(?:cleanly\s+)?(?:on|to|against|on top of)\b"
    r"|\b(?:appl(?:y|ies)|built|made|developed|prepared)\s+(?:cleanly\s+)?(?:over|against)\s+"
    r"(?:\S+'s\b|linux-next\b|the\s+(?:\S+\s+){0,2}(?:branch|tree)\b|v\d|\w+/\w+)"
    r"|\b(?:sits|goes|built|is|are)\s+on top of\b"
    # what it needs applied first ("..., which is a pre-requisite for this series")
    r"|\b(?:a |the )?pre-?requisites? (?:for|of|to) (?:this|the|these) (?:series|patch|set"
    r"|patches|patchset|patch set)\b"
    r"|^(?:changes|changelog|change log|history)\b|^v\d+\s*(?:->|to|vs\.?|\.\.)\s*v\d+"
    # how this version differs from the last ("Most of the changes are fixing up the
    # numerous checkpatch failures", "Not a great deal has changed from the last posting")
    r"|^(?:most|all|the rest|some|many|none) of the (?:other )?changes\b"
    r"|\bnot (?:a great deal|much|a lot) has changed\b"
    r"|\bupdated with (?:everybody|everyone|all)'?s?\b|\baddress(?:ed|es)? (?:all |the )*"
    r"(?:review )?(?:comments|feedback)\b"
    r"|\b(?:can be found|is available|are available)\s+(?:at|in|on|here|from)\b"
    r"|^(?:resolves|closes|link|bug|cc|to|from)\s*:"
    # the kbuild robot's header over its report ("sparse warnings: (new ones prefixed
    # by >>)"): the diagnostic under it says what is wrong
    r"|\(new ones prefixed by >>\)"
    # how it was tested, what it waits for: about the posting, not the change
    r"|^(?:(?:this|it|the series|these patches|all)\s+(?:was|were|has been|have been)\s+)?"
    r"(?:tested|testing was|build[- ]tested|compile[- ]tested)\b"
    r"|^[-*]?\s*(?:(?:test|testing|performance|perf) )?(?:results?|benchmark|numbers)\s*:"
    # a command line without a "$ " prompt ("qemu-system-x86_64 -m 512M ...",
    # "(qemu) migrate -d tcp:0:3333", "vdpa dev add mgmtdev vdpasim_blk ...")
    r"|^(?:qemu-system-\S+|\(qemu\)|lkvm|virsh|vdpa (?:dev|mgmtdev)|taskset|numactl)\s"
    # an editorial note in brackets ("[Same distribution list as Gavin's series]"), a
    # bare commit reference ('11663111cd49 ("KVM: arm64: Hide PMU registers ...")')
    r"|^\[[^\]]*\]\.?$|^[0-9a-f]{8,40}\s*\(\"[^\"]*\"\)\.?$"
    # git revert's own line ("This reverts commit 8d65bc9a5be3 ..."): the reason is in
    # the sentence after it
    r"|^this reverts commit [0-9a-f]{7,40}\b(?:\s*\(\"[^\"]*\"\))?\.?$"
    # what a version carries ("As introduced in v5, this one contains the patch to ...")
    r"|^as (?:introduced|mentioned|discussed|suggested|noted|done|promised) in (?:v\d+|the "
    r"(?:last|previous) (?:version|posting|round))\b"
    r"|^i(?:'ve| have)\s+(?:\w+\s+)?tested\b"
    # what the series leaves for later ("... will be added separately", "this will be
    # done as a followup series"): about another posting
    r"|\bwill be (?:added|sent|posted|done|handled|addressed|covered|implemented)\s+"
    r"(?:separately|in (?:a|the) (?:follow[- ]?up|separate|later|future|next)\b"
    r"|as (?:a )?follow[- ]?ups?\b|in follow[- ]?ups?\b)"
    r"|\bto be (?:sent|pulled|merged) (?:to|into|by|for|in)\b|\b(?:next|this|the) merge window\b"
    # ... or what is left for later ("... still needs to be done at both vhost core and
    # vhost-vDPA in the future", "left as future work")
    r"|\bstill needs? to be (?:done|implemented|added|supported|fixed)\b[^.]*\b(?:in the future"
    r"|later)\b|\bagain in the future\b|\bfuture work\b"
    r"|\bleft (?:for|as|to) (?:a |the )?(?:future|later|follow[- ]?up)"
    # a revision note left in the cover's prose ("- Non-nested exception injection when
    # executing at EL0 has been fixed."): a bullet saying what changed since last time
    r"|^\s*[-*]\s[^.]*\b(?:has|have) been (?:fixed|dropped|removed|addressed|added|updated"
    r"|reworked|moved|renamed|split|squashed|merged|rebased|simplified|folded)\b"
    # the posting's own status: resent ("send it here again"), an RFC because of
    # something else ("hence why this series is also RFC"), the author's hopes
    r"|\b(?:send|sending|resend|resending|post|posting) (?:it|this|them) (?:here )?again\b"
    # ... or about a numbered patch ("Patch 18 (KVM: arm64: Dump nVHE hypervisor stack
    # on panic) was also squashed into earlier patches.")
    r"|^patch(?:es)? \d+(?:\s*\([^)]*\))?\s+(?:was|were|has been|have been|is|are)\s+"
    r"(?:also\s+|now\s+)?(?:squashed|dropped|removed|merged|folded|moved|split|reordered)\b"
    r"|\b(?:this|the) (?:series|patchset|patch set|patch) is (?:also |still )?(?:an? )?rfc\b"
    r"|^i (?:was|am) hoping\b"
    r"|^i'?m not (?:familiar|sure|an expert)\b|\b(?:i|we) may have (?:overlooked|missed)\b"
    # the author's own puzzlement ("..., but I couldn't find a trace of it in the QEMU
    # code", "I wonder if it should be implemented")
    r"|\bi (?:couldn't|could not|can't|cannot|didn't|did not) (?:find|see|figure out)\b"
    r"|\bi wonder\b|\bi'?m (?:a bit |slightly )?(?:puzzled|confused|unsure)\b"
    # ... or hopes for the posting ("It would be great to have at least patch 3 merged
    # for v5.14")
    r"|\bwould be (?:great|nice|good) to (?:have|get)\b[^.]*\b(?:merged|applied|queued)\b"
    # what the change does not do ("This should not cause any behavioral change.")
    r"|\b(?:should|does|will|would)(?: not|n't) (?:cause|introduce|make) any (?:\w+ )?"
    r"(?:change|difference|regression)s?\b|\bno (?:functional|behaviou?ral) changes?\b"
    # the author's plans for the posting ("I'll try to set up a Windows host ...")
    r"|^i(?:'ll| will)\s+(?:try|look|send|post|respin|rebase|follow up|review|reply|get back)\b"
    # a reply's absence note ("I'm on vacation so I'll review this when I'm back")
    r"|\b(?:on vacation|on holiday|on leave|out of (?:the )?office)\b"
    r"|\b(?:depends|dependent) on (?:the |my |his |her )?(?:series|patch|patches|patchset)\b"
    # a posting waiting for another ("This is still waiting for the vgic rework"), not
    # a guest or a vCPU waiting for an event
    r"|\b(?:is|are|still|currently|now)\s+waiting for\b|\bdetected by coccinelle\b"
    # asking for review, or how to run what is posted: about the posting again
    r"|\b(?:need|needs|require|requires|awaiting)\s+(?:more\s+|some\s+)?reviews?\b"
    r"|\bplease (?:review|have a look|take a look|comment)\b"
    r"|\b(?:can|could|may) be (?:launched|run|invoked|started|executed)\s+"
    r"(?:with|using|individually)\b"
    # a command line ("For example: ./arm-run arm/pmu.flat ...", "$ qemu-system-...")
    r"|^(?:(?:for example|for instance|e\.g\.|example|usage)\s*[:,]?\s*)?(?:\$ |# |\./)",
    re.IGNORECASE,
)
# reference lists, quoted patch subjects ("[PATCH v8 2/9] iommu: ..."), bare links,
# pointers elsewhere ("For more background on this effort please see my talk ...")
_REFERENCE = re.compile(
    r"^\s*\[\d+\]|^\s*references?\s*:|^\s*(?:https?|git)://\S+\s*$"
    r"|(?i:^(?:for (?:more )?(?:background|details|context|information)\b[^.]*?,?\s*)?"
    r"please (?:see|refer to|read|check)\b"
    r"|^see (?:the )?(?:individual )?(?:patch(?:es)?|commit messages?)\b)"
    r"|\[(?:[\w-]+ )?(?:PATCH|RFC)\b"
    # a cover's list of its patches ("- [11/15] vsock: add multi-transports support")
    r"|^\W*\[\d{1,3}/\d{1,3}\]",
)
# log output quoted as evidence: a stack frame ("stage2_map_walker+0x5c/0xf0"), a
# "Call trace:" header, a printk timestamp ("[   12.345678]"), a compiler, sparse or
# smatch diagnostic ("virtio_balloon.c:168:5: warning: ...", "virtgpu_ioctl.c:50 f()
# warn: ...") or a splat's first line ("BUG: KASAN: ...", "WARNING: CPU: 1 PID: ...");
# the sentence around it says what went wrong, the output itself explains nothing
# a source position as tools print it ("vgic-v3-sr.c:351:24", coccicheck's "...:1856:2-17")
_SOURCE_POS = r"\.[chS]:\d+(?::\d+(?:-\d+)?)?"
_LOG_OUTPUT = re.compile(
    r"\w\+0x[0-9a-f]+/0x[0-9a-f]+|\bcall trace:|^\[\s*\d+\.\d{3,}\]"
    rf"|{_SOURCE_POS}(?::|\s+\S+\s+(?:warn|error):)\s"
    r"|^(?-i:BUG|WARNING): |\bInternal error: Oops\b|\bKernel panic - not syncing\b"
    # a driver's own log prefix, the CPU in brackets ("kvm [1]: IDMAP intersecting
    # with HYP VA, unable to continue")
    r"|\b(?-i:[a-z][\w-]*) \[\d+\]: ",
    re.IGNORECASE,
)
# a tool's diagnostic naming a source line ("drivers/vdpa/ifcvf/ifcvf_main.c:34:24:
# warning: variable 'ifcvf' set but not used", coccicheck's "...c:1856:2-17: WARNING:
# Assignment of 0/1 to bool variable.")
# (to its full stop, its "[-Wflag]", the next diagnostic or 200 characters: a report
# wraps its lines, and the source line quoted after the flag is not the point; a path
# starts a token and is bounded, so a hostile 100,000-character token is one try)
_DIAGNOSTIC = re.compile(
    rf"(?<!\S)[\w./+-]{{1,200}}{_SOURCE_POS}:\s+(?:warning|error)\b"
    r"(?:(?!\s[\w./+-]{1,200}\.[chS]:\d)(?<!\])[^.]){0,200}\.?",
    re.I,
)


def first_diagnostic(text: str) -> str | None:
    """The first compiler, sparse or coccicheck diagnostic quoted in ``text``, if any:
    what a fix whose message is only the tool's report was made for."""
    m = _DIAGNOSTIC.search(" ".join((text or "").split()))
    return m.group(0).strip() if m else None


# a sentence cut where a quoted block or a list began: it stops on a word that needs
# more after it ("... the get-reg-list tests have been failing with", "For vhost-scsi
# you can set virtqueue_workers to:")
_CUT = re.compile(
    r"\b(?:with|as|by|the|following|to|of|from|and|or|for|like|a|an|in|on|at|is|are)\s*:?\s*$"
    # ... or a heading over quoted output ("... with clang throws the following warning:")
    r"|\bthe following(?:\s+[\w-]+){0,2}?\s+(?:warnings?|errors?|traces?|splats?|oops|panic"
    r"|crash|logs?|output|messages?|backtraces?|reports?|fields|commits|lines)\s*:\s*$",
    re.IGNORECASE,
)
# one patch subject in a run of them ("iov_iter: Fix iov_iter_get_pages{,_alloc} page
# fault return value powerpc/kvm: Fix kvm_use_magic_page gup: ..."): a prefix of a path
# or subsystem, a colon, a capitalised word
_SUBJECT = re.compile(r"(?:^|\s)[\w/.,{}-]*[a-z][\w/.,{}-]*: [A-Z][a-z]")
_WORDS = re.compile(r"[a-z0-9_]+")
# a sentence's tail: it starts with a lower-case joining word (case matters: "So ..."
# and "Since ..." open sentences of their own)
_FRAGMENT = re.compile(
    r"(?:which|and|or|but|so|that|because|where|while|since|then|now|also|just|only|still"
    r"|even|thus|hence|therefore|however|instead|too|seems|looks)\b"
)
# a command-line option ("-smp", "-M", "--enable-efi"), not an errno ("-EFAULT,")
_OPTION = re.compile(r"-(?!E[A-Z0-9]+\W*$)-?[A-Za-z][\w=,.:/-]*")
# a register's value as a dump prints it
_REGISTER = re.compile(r"[0-9a-fA-F]{16}|0x[0-9a-fA-F]{8,16}")
# a token of a listing: a number (with a unit or sign) or a path
_LISTING = re.compile(r"[-+]?[\d.,]+[%a-zA-Z]{0,3}|\S*/\S*|\S+\.[chS]")
# words that wrap a title into a sentence without adding to it ("This series tries to
# support batched IOTLB updating vhost-vdpa.")
_RESTATING_WORDS = (
    "this series patch patches patchset set the a an to in of for tries try attempts aims "
    "adds add implements introduces is"
)


@lru_cache(maxsize=1 << 16)
def light_stem(word: str) -> str:
    """A light stem: lower case, the first six letters (migrate/migration,
    counters/counter, enables/enable). Identifiers are kept whole: KVM_CAP_STEAL_TIME
    and KVM_CAP_ARM_NISV, or GICv3 and GICv4, name different things."""
    w = word.lower()
    if "_" in w or any(ch.isdigit() for ch in w):
        return w
    return w[:6] if len(w) > 6 else w.rstrip("s") if len(w) > 3 else w


_RESTATING_STEMS = frozenset(light_stem(w) for w in _RESTATING_WORDS.split())


def _words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


@lru_cache(maxsize=1 << 15)
def explains(sentence: str, title: str = "") -> bool:
    """Whether ``sentence`` can stand as a *why* line of a series titled ``title``."""
    s = sentence.strip().replace("\u2019", "'")  # mail clients curl apostrophes
    if _REFERENCE.search(s) or _GREETING.search(s) or _BOOKKEEPING.search(s):
        return False
    if _LOG_OUTPUT.search(s) or _CUT.search(s):
        return False
    # a list of patch subjects run together, as a cover's shortlog
    if len(_SUBJECT.findall(without_quoted_commits(s))) >= 2:
        return False
    # tables and ASCII art: columns and rules, not prose
    if s.count("|") >= 3 or "---" in s or "+--" in s or "===" in s:
        return False
    words = _words(s)
    if _FRAGMENT.match(s) or s.startswith("And "):
        # the tail of a sentence a quoted block or list cut in two ("which allows us to
        # check the vhost owner thread's RLIMITs:"), or one that leans on the sentence
        # before it ("And we have Contiguous bit[52] in stage2 ... descriptors.")
        return False
    if s.endswith(":") and len(words) < 6:
        # a heading over a list or a quote ("kernel.user_worker branch:")
        return False
    lead = _VERSION_LEAD.match(s) or _VERSION_OF.match(s)
    if lead and len(_words(s[lead.end() :])) < 8:
        # "Here's version four of the series." (with nothing else said)
        return False
    # mostly a link
    # (tokens split with str.split: the pattern \S+://\S+ took 20 s on one 100,000-
    # character token, retrying the greedy run from every position)
    if sum(len(u) for u in s.split() if "://" in u[1:-1]) > len(s) / 2:
        return False
    tokens = s.split()
    if len(tokens) >= 4:
        # a command line: several options ("... -smp 2 -M q35,accel=kvm -object ...")
        options = sum(_OPTION.fullmatch(t) is not None for t in tokens)
        # a listing: mostly numbers and paths ("180 arch/x86/kvm/mmu/tdp_iter.c 118 ...",
        # `wc -l` or a size table pasted into the cover)
        listed = sum(_LISTING.fullmatch(t) is not None for t in tokens)
        if options >= max(3, len(tokens) / 4) or listed > 0.6 * len(tokens):
            return False
        # a register dump ("NIP 000000007daf97e0 LR 000000007daf1aec CTR ..."): words
        # of a 64-bit register's width, or 0x-prefixed; a commit id is shorter
        if sum(_REGISTER.fullmatch(t.strip(",;:()[]")) is not None for t in tokens) >= 3:
            return False
    # the title said again: every word of the sentence is in the title
    # by light stem, so "This series enables ..." restates a title saying "Enable ..."
    if title and words and not _new_words(words, title):
        return False
    return True


# "The patch adding the iommu lock did not initialize it." is about another posting
_ANOTHER_POSTING = re.compile(r"^(?:the|our|my)\b", re.IGNORECASE)
# a sentence about the versions of a posting ("In this version we try to address ...",
# "Since last version [2] we've worked on ...", "While I was testing the v2 ...")
_VERSION_TALK = re.compile(
    r"\b(?:this|last|previous|earlier|prior|next|first|the (?:last|previous|first))\s+"
    r"(?:version|posting|revision|iteration|spin|round)s?\b|(?<![\w.])v\d+\b",
    re.IGNORECASE,
)


# what the change before it is for ("This allows a guest VM running Linux to access GPIO
# lines provided by the host.", "It lets userspace pick ...")
_PURPOSE = re.compile(
    r"^(?:this|it|that|these|which)\s+(?:\w+\s+)?(?:allows?|lets|enables?|permits?"
    r"|makes? it possible|gives?|means)\b",
    re.IGNORECASE,
)


def says_purpose(sentence: str) -> bool:
    """Whether ``sentence`` says what the change before it is for."""
    return _PURPOSE.match(sentence) is not None


def talks_of_versions(sentence: str) -> bool:
    """Whether ``sentence`` speaks of the posting's versions ("this version", "v2")."""
    return _VERSION_TALK.search(sentence) is not None


# what an announcement wraps around the title ("This series introduces basic
# functionality of doorbell mapping support for vhost-vDPA.")
_ANNOUNCING_STEMS = frozenset(
    light_stem(w) for w in "support supports basic initial functionality new".split()
)
# at most this many words of its own make an announcement the title said again
_OWN_WORDS = 3


@lru_cache(maxsize=1 << 15)
def restates_title(sentence: str, title: str) -> bool:
    """Whether ``sentence`` announces the change and says little beyond ``title``: it
    says what the posting does, and at most three of its words of four or more
    letters are its own ("This patch adds a new driver for Virtio based GPIO devices."
    to "gpio: Add virtio-gpio driver": based, devices). The sentence after such an
    announcement usually says what it is for."""
    if not title or not states_change(sentence) or _ANOTHER_POSTING.match(sentence):
        return False
    own = {light_stem(w) for w in _new_words(_words(sentence), title) if len(w) >= 4}
    return len(own - _ANNOUNCING_STEMS) <= _OWN_WORDS


def _new_words(words: list[str], title: str) -> list[str]:
    """The words (by light stem) that a sentence of ``words`` adds to ``title`` and to
    the words that wrap a title into a sentence."""
    tw = _title_stems(title)
    return [w for w in words if light_stem(w) not in tw]


# another commit named with its subject ('9fd339a45be5 ("arm64: Work around broken GCC
# 4.9 handling of "S" constraint")'): the subject is that commit's words, not this one's
_QUOTED_COMMIT = re.compile(r"\b[0-9a-f]{7,40}\s*\(\s*\"[^\n]*?\"\s*\)")


def without_quoted_commits(sentence: str) -> str:
    """``sentence`` with each commit reference's quoted subject cut out (the commit
    id stays), so another commit's title does not make it look on topic."""
    if '"' not in sentence:  # most sentences: no quoted subject, no regex pass
        return sentence
    return _QUOTED_COMMIT.sub(lambda m: m.group(0).split(None, 1)[0].split("(", 1)[0], sentence)


# words that say what was wrong, why, or what the change does about it: a defect
# ("crash", "leak", "wrongly", "missing"), a cause ("because", "leads to", "otherwise")
# or a fix ("fix", "avoid", "instead", "so that", "needs to")
_DEFECT_WORDS = (
    r"bugs?|broken|break(?:s|ing)?|crash(?:es|ed|ing)?|panic(?:s|ked)?|hang(?:s|ing)?"
    r"|deadlocks?|races?|racy|leak(?:s|ed|ing)?|overflow(?:s|ed)?|corrupt(?:s|ed|ion|ing)?"
    r"|fail(?:s|ed|ing|ures?)?|wrong(?:ly)?|incorrect(?:ly)?|erroneous(?:ly)?|missing"
    r"|miss(?:es|ed)|unable|cannot|can't|impossible|regression|stall(?:s|ed)?"
    r"|problem(?:s|atic)?|explodes|stuck|forg(?:ot|otten|et)|overlooked"
    # what a performance change is about ("That drops the forwarding performance.")
    r"|degrad(?:es|ed|ing|ation)|hurts?|slow(?:s|er)?(?: down)?|overhead|bottlenecks?"
    r"|contention|expensive|costly|drops? the (?:\w+ )?(?:performance|throughput)"
    r"|no longer|(?:does|do|did)(?:n't| not) work|not working"
    # "This function isn't currently working properly for VFs since ..."
    r"|(?:isn't|aren't|wasn't|weren't|(?:is|are|was|were) not)\s+(?:\w+ly\s+)?working"
    # a quantity or a step that is wrong ("could be too large to make as a contiguous
    # allocation", "But this is useless since ...", "which isn't a good idea")
    r"|too (?:large|big|small|long|short|slow|high|low|early|late|many|few|much)"
    r"|useless|pointless|(?:is|isn't|is not|not) a good idea|a bad idea"
    # what the kernel says when it goes wrong ("This triggers a WARN_ON(preemptible())")
    r"|WARN(?:_ON(?:_ONCE)?)?|oops(?:es)?|splats?"
    # a defect said as a negation ("However H_PAGE_IN_NONSHARED is not defined in the
    # header file", "the bit isn't cleared on reset")
    r"|(?:(?:is|are|was|were|has|have)\s+(?:not|never)|isn't|aren't|wasn't|weren't|hasn't"
    r"|haven't)\s+(?:been\s+)?(?:yet\s+)?(?:properly\s+|correctly\s+)?(?:defined|declared"
    r"|set|initiali[sz]ed|supported|handled|honou?red|checked|cleared|reset|updated"
    r"|propagated|saved|restored|called|freed|released|enabled|exposed|advertised|visible"
    r"|available|accounted|synchroni[sz]ed|flushed|protected|serialized|validated"
    r"|sanitized|sanitised|taken into account)"
)
_DEFECT = re.compile(rf"\b(?:{_DEFECT_WORDS})\b", re.IGNORECASE)
_CAUSE_OR_FIX = re.compile(
    rf"\b(?:{_DEFECT_WORDS}"
    r"|because|due to|as a result|caus(?:e|es|ed|ing)"
    r"|leads? to|results? in|otherwise|fix(?:es|ing)?|prevent(?:s|ed|ing)?"
    # "fixed" the verb, not the adjective ("preallocated with a fixed size")
    r"|fixed(?!\s+(?:size|sized|number|length|value|amount|address|offset|point|rate|width"
    r"|order|format|frequency|layout|count|mapping)\b)"
    r"|avoid(?:s|ed|ing)?|instead|so that|needs? to|must"
    # what the change gains ("There is a performance benefit in waiting ...")
    r"|benefits?|improv(?:e|es|ed|ing|ements?)|speeds? up|faster|reduc(?:e|es|ed|ing|tion))\b"
    r"|, so\b"
    # a turn to what is wrong ("However, the MMIO bus is not ...", "Unfortunately, the
    # address isn't aligned ...")
    r"|^\W*(?:however|unfortunately|sadly)\b",
    re.IGNORECASE,
)


def states_cause_or_fix(sentence: str) -> bool:
    """Whether ``sentence`` names a defect, a cause or a fix (what went wrong, why, or
    what the change does about it), as opposed to the background before it."""
    return _CAUSE_OR_FIX.search(without_quoted_commits(sentence)) is not None


# a sentence saying what the posting does: "This series adds ...", "These patches
# rework ...", "We introduce ...", or a commit message's imperative ("Mark them as
# __always_inline", "Drop the unused parameter")
_STATES_CHANGE = re.compile(
    r"^(?:(?:this|these|the|our|my)\s+(?:\w+\s+){0,2}?(?:series|patch(?:es|set)?|set|commit"
    r"|change|changes|rfc|version|work)\b"
    # "This addresses a couple of issues ...", "This adds ..."
    r"|(?:this|these)\s+(?:adds?|address(?:es)?|fix(?:es)?|implements?|introduces?|reworks?"
    r"|converts?|extends?|removes?|drops?|replaces?|teach(?:es)?|exposes?|enables?)\b"
    # not "We currently use ...", which says how things are
    r"|(?:we|i)\s+(?:(?!currently|already|still|used)\w+\s+)?(?:add|introduce|implement"
    r"|propose|rework|convert|extend|make|move|remove|drop|replace|fix|teach|allow|expose"
    r"|enable|use|switch|split)\b"
    # an imperative, not the same word as a noun ("Support for nested virtualization is
    # being worked on", "Use of ...")
    r"|(?:add|introduce|implement|rework|convert|extend|make|move|remove|drop|replace|fix"
    r"|teach|allow|expose|enable|use|switch|split|mark|pass|let|plumb|support|refactor"
    r"|rename|factor|simplify|clean|export|document|update|return|check|handle|set|clear"
    r"|reset|skip|defer|keep|limit|restrict|disable|stop|ensure|only|align|reject|track"
    r"|provide|initiali[sz]e|free|release|unmap|map|flush|save|restore|validate|sanitise"
    r"|sanitize|hide|reduce|increase|bump|revert|unify|consolidate)\b"
    r"(?!\s+(?:for|of|is|are|was|were|has|have|can|will|may|in|on|and|to)\b))",
    re.IGNORECASE,
)


def states_change(sentence: str) -> bool:
    """Whether ``sentence`` says what the posting does (its own change), as a cover's
    "This series adds ..." or a commit message's imperative does."""
    return _STATES_CHANGE.match(sentence) is not None


# a summary that names only kinds of change ("a mix of bug fixes, cleanup and new
# support", "mostly fixes and cleanups for things I found", "One fix reported by
# Akihiko, and another found while going over the driver"), none of them said
_GRAB_BAG = re.compile(
    r"\b(?:mix|mixture|collection|bunch|assortment|grab[- ]?bag|hodge-?podge) of\s+(?:\w+\s+){0,2}?"
    r"(?:bug|fix|fixes|cleanups?|clean-ups?|changes|patches|improvements|updates|tweaks)\b"
    r"|\b(?:mostly|mainly|largely|just)\s+(?:\w+\s+)?(?:fixes|cleanups|clean-ups|improvements"
    r"|tweaks)\b"
    r"|^(?:one|a) (?:\w+ )?fix\b[^.]*\band another\b|\bbatch of (?:\w+ )?(?:improvements|fixes"
    r"|cleanups|changes|patches)\b"
    r"|\bfix(?:es)? for (?:a few|a couple(?: of)?|some|several|various) (?:\w+ )?issues\b"
    r"|\b(?:a few|a couple(?: of)?|some|several|various) (?:\w+ )?fixes for (?:\w+ )?issues\b"
    r"|\b(?:improvements?|cleanups?|clean-ups?) and (?:a |some |one )?(?:\w+ )?(?:bug|buglet)?\s?"
    r"fix(?:es)?\b"
    r"|\b(?:fix(?:es)?|cleanups?|clean-ups?)(?:,| and| &)\s+(?:\w+\s+)?(?:fix(?:es)?|cleanups?"
    r"|clean-ups?|improvements|features|new support|refactor\w*)\b",
    re.IGNORECASE,
)


def is_grab_bag(sentence: str) -> bool:
    """Whether ``sentence`` sums a posting up by kinds of change only ("a mix of bug
    fixes, cleanup and new support ...")."""
    return _GRAB_BAG.search(sentence) is not None


# an earlier commit's story ("Commit bda324fd037a (...) changed the allocation of
# iotlbs ..., instead of ..."): history, unless it says what went wrong
_HISTORY = re.compile(r"^(?:the\s+)?commit\s+[0-9a-f]{7,40}\b", re.IGNORECASE)
# ... what it brought about is the defect being fixed ("Commit b1c5356e873c (...) causes
# unmap_gfn_range and age_gfn callbacks to only work on the first gfn in the range.")
_WHAT_IT_CAUSED = re.compile(
    r"\b(?:caus(?:es|ed)|results? in|resulted in|leads? to|led to)\b", re.IGNORECASE
)
# ... or an illustration ("Examples for PageOffline() pages are ...", "For example,
# both of them are 512MB with ...")
_ASIDE = re.compile(
    r"^(?:for (?:example|instance)\b|e\.g\.|examples? (?:for|of|are|is)\b"
    # ... or an addition to a point made before ("Furthermore, the driver now also ...")
    r"|(?:furthermore|moreover|additionally|in addition)\b)",
    re.I,
)


def names_defect(sentence: str) -> bool:
    """Whether ``sentence`` names what is wrong ("That drops the forwarding
    performance.", "... leaks the page"), not only a cause or a fix."""
    if _DENIED.search(sentence):
        return False
    return _DEFECT.search(without_quoted_commits(sentence)) is not None


# a defect denied ("Nothing wrong with that.", "This is not a problem as long as ...")
_DENIED = re.compile(
    r"\b(?:nothing|no|not|never|isn't|aren't|wasn't)\s+(?:\w+\s+)?(?:wrong|broken|a bug"
    r"|a problem|an issue|bugs?|problems?|issues?)\b",
    re.IGNORECASE,
)


def is_background(sentence: str) -> bool:
    """Whether ``sentence`` only sets the scene: it names no defect, cause or fix and
    not the posting's own change ("KVM allows userspace to configure either all EL1
    32bit or 64bit vCPUs for a guest."), names only kinds of change (a grab bag), or
    tells an earlier commit's story, gives an example or adds to a point made before
    without naming a defect."""
    if is_grab_bag(sentence):
        return True
    if _HISTORY.match(sentence) or _ASIDE.match(sentence):
        told = without_quoted_commits(sentence)
        if _HISTORY.match(sentence) and _WHAT_IT_CAUSED.search(told):
            return False
        return _DEFECT.search(told) is None
    return not states_cause_or_fix(sentence) and not states_change(sentence)


# a pointer word followed by the posting ("This series ...", "These two patches ...")
# names its own subject
_NOT_THE_POSTING = (
    r"(?!\s+(?:\w+\s+){0,2}?(?:series|patch(?:es|set)?|set|commit|change|version|rfc)\b)"
)
# a short sentence whose subject is the sentence before it ("This causes a NULL pointer
# dereference.", "But seems we can't forbid this example.", "So fix that by using the
# correct type."): alone it says an effect or a fix of nothing; not "This series ...",
# which names its subject
_LEANS = re.compile(
    # "Let's check this at boot time." and "Which seems pretty wrong." go on with the
    # sentence before them too
    r"^(?:this|that|it|these|those|such|so|but|thus|hence|otherwise|which|let's|let\s+us)\b"
    + _NOT_THE_POSTING,
    re.IGNORECASE,
)
_LEANS_WORDS = 12  # longer ones mostly name what they are about ("This is because ...")


# ... or ends on one ("This series fixes all of them.", "Update the MAINTAINERS file to
# reflect this change."), or is an order whose object is one ("Use it instead of open
# coding variant.", "Fix it by adding the PMUver code ...")
_POINTS_BACK = re.compile(
    r"\b(?:(?:all|both|each) of )?(?:them|it|this|that|these|those)\W*$"
    r"|\b(?:this|that|these|those) (?:change|changes|issue|issues|problem|case|cases)\W*$"
    r"|^[a-z]+ (?:it|them|this|that|these|those)\b(?! (?:is|are|was|were|series|patch)\b)",
    re.I,
)


# "However, the latter is more used within the kernel.": which one, the sentence before says
_THE_LATTER = re.compile(r"\bthe (?:latter|former)\b", re.IGNORECASE)


# a subject that is the sentence before ("This results in ...", "It ...", "Such case
# ...", "Which indicates ..."); not a turn ("But ...", "So ...", "Let's ..."), which
# says a thing of its own
_POINTER_SUBJECT = re.compile(
    r"^(?:this|that|these|those|it|such|which)\b" + _NOT_THE_POSTING,
    re.IGNORECASE,
)


def opens_with_pointer(sentence: str) -> bool:
    """Whether ``sentence``'s subject is the sentence before it ("This results in ...",
    "It ...", "Such case ...", "Which indicates ..."), whatever its length."""
    return _POINTER_SUBJECT.match(sentence) is not None


def leans_by_its_opening(sentence: str) -> bool:
    """Whether ``sentence`` opens by going on from the one before it ("This ...",
    "But ...", "So ...", "Let's ..."), whatever its length."""
    return _LEANS.match(sentence) is not None


def leans_on_previous(sentence: str) -> bool:
    """Whether ``sentence`` is a short one that needs the sentence before it to say
    anything: it opens with a pointer back ("This", "It", "But", "So") or ends on one
    ("This series fixes all of them."), and is too short to name its own subject."""
    return len(sentence.split()) < _LEANS_WORDS and (
        leans_by_its_opening(sentence)
        or _POINTS_BACK.search(sentence) is not None
        or _THE_LATTER.search(sentence) is not None
    )


@lru_cache(maxsize=1 << 12)
def _title_stems(title: str) -> frozenset[str]:
    """The light stems of a title's words and of the words that wrap a title into a
    sentence (empty for no title)."""
    stems = frozenset(light_stem(w) for w in _words(title))
    return stems | _RESTATING_STEMS if stems else stems

"""Identifiers: the names a maintainer greps for (``KVM_CAP_ARM_MTE``,
``kvm_pgtable_stage2_map``, ``GICR_ISPENDR0``, ``foo()``, ``DBM``).

Two rules, on purpose, both here:

* :func:`is_exact_identifier` decides what the lexical index keeps case-preserved in
  ``ident_exact`` (and matches by exact spelling). It is generous: ``arm64`` and ``el2``
  are worth an exact match too.
* :func:`is_routing_identifier` decides whether a *query* word makes the question an
  identifier question. It is stricter: lower-case words with digits (``arm64 guests``)
  and mixed-case names (``GICv4``, ``PMUv3``) are how people write prose, and must not
  take a question away from prose retrieval.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

#: longest token the index keeps (longer ones are noise: base64, hashes)
MAX_TOKEN = 80

# Words that may be identifiers (an underscore, a digit, two letters with the second in
# capitals) or calls, found by the regex engine so plain prose costs no Python per word.
_IDENT_CANDIDATE_RE = re.compile(r"(?<!\w)(?:(?=\w*(?:[_0-9]|[A-Za-z][A-Z]))\w+|\w+(?=\(\)))")
# An identifier: has an underscore, or is an ALLCAPS/digits acronym of 2+ chars with a
# letter (DBM, SPE, LPA2, GICv4 is prose-ish but TID1 counts), or camelCase, or foo().
_ROUTING_IDENT = re.compile(
    r"^(?:[A-Za-z_][\w]*_[\w]*|[A-Z][A-Z0-9]{1,}|[A-Z0-9]*[A-Z][A-Z0-9]*\d[A-Z0-9]*|"
    r"[a-z]+[A-Z]\w*|\w+\(\))$"
)


@lru_cache(maxsize=200_000)
def is_exact_identifier(token: str, call: bool = False) -> bool:
    """Whether ``token`` goes into ``ident_exact``: it contains ``_`` or a digit next to
    letters, is all caps (>= 2 chars), is camelCase, or was written as a call ``foo()``."""
    if call:
        return True
    if token.isalpha():
        # the common case, plain and capitalised words, answered without a scan
        if len(token) < 2 or token[1:].islower():
            return False
        if token.isupper():
            return len(token) >= 2
        return any(c.islower() for c in token)  # camelCase
    if "_" in token:
        return any(c.isalnum() for c in token)
    return any(c.isalpha() for c in token)  # letters with digits: arm64, el2


def is_routing_identifier(token: str) -> bool:
    """Whether a query word names an identifier (see the module notes)."""
    return _ROUTING_IDENT.match(token) is not None


def exact_identifiers(text: str) -> Iterator[str]:
    """Identifiers of ``text`` in their written case (see :func:`is_exact_identifier`)."""
    for m in _IDENT_CANDIDATE_RE.finditer(text):
        raw = m.group()
        if len(raw) <= MAX_TOKEN and is_exact_identifier(raw, text.startswith("()", m.end())):
            yield raw


__all__ = ["MAX_TOKEN", "exact_identifiers", "is_exact_identifier", "is_routing_identifier"]

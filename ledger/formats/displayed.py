"""Text that displays as it is stated: the one check of every text the ledger certifies or shows people as a code.

A certificate field, a permit's copy of an application and a rule set's service item code are read by people (a
page, paper, a terminal) and compared by machines as text. A character that displays as nothing, or reorders what
is around it, makes one text display as another: an address with a right-to-left override (U+202E) reads as another
address, an item code with a zero-width space as another item's code. :func:`hidden_character` finds the first such
character (red team rounds 69, 70, 71); honest text of any script passes, emoji sequences and ideographic variants
included.

Never shown as itself:

* control characters (C0, C1: terminal escapes), format characters (bidirectional overrides, embeddings, isolates and
  marks, zero-width spaces, the Arabic letter mark: category Cf) but the two joiners in place (below), surrogates,
  line and paragraph separators;
* the default-ignorable code points of other categories (Unicode's DerivedCoreProperties): the combining grapheme
  joiner, Hangul fillers, Khmer inherent vowels (:data:`_IGNORABLE_RANGES`);
* a zero-width (non-)joiner anywhere but between two characters of another script than ASCII (a Devanagari or Persian
  word, an emoji sequence; an emoji's presentation selector may come before it), and not beside a wide letter: the
  Han, kana, Hangul and Yi scripts (letters of East Asian width wide, full or half) join no letters, so a joiner
  there joins nothing (red team round 71);
* a variation selector anywhere but right after such a character (an emoji's presentation, an ideographic variant).

With ``assigned`` (an applicant's text, a code), private use and unassigned code points too: they display as
whatever a reader's font has. A department's own records (issuance) may hold them: a rare character of a name kept
in a private use area by its register, an emoji newer than this interpreter's Unicode database.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_UNASSIGNED_CATEGORIES = frozenset({"Co", "Cn"})  # private use, unassigned
_JOINERS = frozenset({"\u200c", "\u200d"})
_SELECTOR_RANGES = (
    (0x180B, 0x180D),  # Mongolian free variation selectors
    (0x180F, 0x180F),
    (0xFE00, 0xFE0F),  # variation selectors (U+FE0F: an emoji's presentation)
    (0xE0100, 0xE01EF),  # variation selectors supplement (ideographic variants)
)
_WIDE = frozenset({"W", "F", "H"})
_IGNORABLE_RANGES = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x3164, 0x3164),  # Hangul filler
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
)


_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")  # the space separators (Zs) but U+0020
# The characters a printable text may hold and still not show as itself: the selectors and the ignorables above
# (every other hidden character is one ``str.isprintable`` refuses: a control, format, separator, surrogate, private
# use or unassigned one). A text they are absent from, and printable, passes in two calls into C.
_PRINTABLE_SUSPECTS = frozenset(
    chr(code) for lo, hi in (*_SELECTOR_RANGES, *_IGNORABLE_RANGES) for code in range(lo, hi + 1)
)
_PRINTABLE_SUSPECT = re.compile(
    "[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in (*_SELECTOR_RANGES, *_IGNORABLE_RANGES)) + "]"
)


def _in(code: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= code <= hi for lo, hi in ranges)


def _hidden_category(c: str, assigned: bool) -> bool:
    category = unicodedata.category(c)
    return category in _HIDDEN_CATEGORIES or (assigned and category in _UNASSIGNED_CATEGORIES)


def _base(c: str, assigned: bool) -> bool:
    """Whether ``c`` is a character a joiner or a variation selector may follow: of another script than ASCII, and
    itself neither of them nor hidden."""
    code = ord(c)
    return (
        not c.isascii()
        and c not in _JOINERS
        and not _in(code, _SELECTOR_RANGES)
        and not _in(code, _IGNORABLE_RANGES)
        and not _hidden_category(c, assigned)
    )


def _wide_letter(c: str) -> bool:
    """Whether ``c`` is a letter of a script that joins none (Han, kana, Hangul, Yi): wide, full or half width."""
    return unicodedata.category(c)[0] == "L" and unicodedata.east_asian_width(c) in _WIDE


def hidden_character(text: str, *, assigned: bool = True) -> str | None:
    """The first character of ``text`` that is not shown as itself (module docstring), or None."""
    if text.isprintable() and (text.isascii() or _PRINTABLE_SUSPECT.search(text) is None):
        return None  # the usual case (any script) passes without a look at each character
    if _PRINTABLE_SUSPECT.search(spaced := _SPACES.sub(" ", text)) is None and spaced.isprintable():
        return None  # so does text whose only unprintable characters are spaces (U+3000, U+00A0): none is hidden
    return _first_hidden(text, assigned)


def _first_hidden(text: str, assigned: bool) -> str | None:
    """:func:`hidden_character`, a character at a time (what its fast paths must agree with)."""
    last = len(text) - 1
    for i, c in enumerate(text):
        if c.isprintable() and c not in _PRINTABLE_SUSPECTS:
            continue  # a space of another width (U+3000) makes the text unprintable, not this character
        code = ord(c)
        if c in _JOINERS:
            # between two characters of another script (an emoji's selector may come before it), neither a wide letter
            before = text[i - 1] if i > 0 else " "
            after = text[i + 1] if i < last else " "
            if (
                0 < i < last
                and (_base(before, assigned) or _in(ord(before), _SELECTOR_RANGES))
                and _base(after, assigned)
                and not _wide_letter(before)
                and not _wide_letter(after)
            ):
                continue
            return c
        if _in(code, _SELECTOR_RANGES):
            if i > 0 and _base(text[i - 1], assigned):
                continue
            return c
        if _hidden_category(c, assigned) or _in(code, _IGNORABLE_RANGES):
            return c
    return None


def describe(c: str) -> str:
    """``c`` for a message: its code point and name (``U+202E (RIGHT-TO-LEFT OVERRIDE)``)."""
    category = unicodedata.category(c)
    return f"U+{ord(c):04X} ({unicodedata.name(c, 'a control character' if category == 'Cc' else category)})"


def hidden_in(value: Any, *, assigned: bool = True) -> tuple[str, str] | None:
    """(the first hidden character of a text anywhere in ``value``, its path: ``''``, ``.member``, ``[2]``), or None.
    Member names count as text; the walk keeps its own stack, so no nesting depth makes it recurse."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            hidden = hidden_character(item, assigned=assigned)
            if hidden is not None:
                return hidden, path
        elif isinstance(item, dict):
            for member, inner in reversed(list(item.items())):
                stack.append((inner, f"{path}.{member}"))
                stack.append((member, path))
        elif isinstance(item, (list, tuple)):
            stack.extend((inner, f"{path}[{i}]") for i, inner in reversed(list(enumerate(item))))
    return None

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
* a zero-width (non-)joiner anywhere but between two characters of another script than ASCII, not beside a wide
  letter (Han, kana, Hangul, Yi: red team round 71), and only where it has a use (:func:`_joins`, red team round 73):
  after a virama (an Indic conjunct: RFC 5892 Appendix A.1 and A.2), between letters that join cursively (Arabic,
  Syriac, N'Ko, Mongolian...: RFC 5892 A.1's joining context, read from :data:`_JOINING_TYPES`), or, a joiner only,
  between two emoji (an emoji ZWJ sequence). Between two letters of Greek, Cyrillic, Hebrew, Thai or Latin it joins
  nothing and displays as nothing;
* a variation selector anywhere but right after such a character (an emoji's presentation, an ideographic variant).

With ``assigned`` (an applicant's text, a code), private use and unassigned code points too: they display as
whatever a reader's font has. A department's own records (issuance) may hold them: a rare character of a name kept
in a private use area by its register, an emoji newer than this interpreter's Unicode database.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
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
# Unicode's Joining_Type (ArabicShaping.txt; extracted/DerivedJoiningType.txt lists it whole) of the characters it
# names dual-, right-, left-joining or join-causing (D, R, L, C), as code point ranges, from Unicode 18.0 (the table
# the `idna` package generates from it, idna 3.20's idnadata.joining_types: tests/test_redteam_round73.py keeps the
# two equal). Python's unicodedata has no Joining_Type. Every other character is transparent (T) if a nonspacing or
# enclosing mark (Mn, Me: ArabicShaping.txt's rule for the characters it does not list, with its two exceptions in
# _TRANSPARENT_TOO and _NOT_TRANSPARENT), else non-joining (U).
_JOINING_TYPE_RANGES: dict[str, str] = {  # code points in hex, ranges lo-hi
    "D": (
        "0620 0626 0628 062A-062E 0633-063F 0641-0647 0649-064A 066E-066F 0678-0687 069A-06BF 06C1-06C2 06CC 06CE "
        "06D0-06D1 06FA-06FC 06FF 0712-0714 071A-071D 071F-0727 0729 072B 072D-072E 074E-0758 075C-076A 076D-0770 "
        "0772 0775-0777 077A-077F 07CA-07EA 0841-0845 0848 084A-0853 0855 0860 0862-0865 0868 0886 0889-088D 088F "
        "08A0-08A9 08AF-08B0 08B3-08B8 08BA-08C8 1807 1820-1878 1887-18A8 18AA A840-A871 10AC0-10AC4 10AD3-10AD6 "
        "10AD8-10ADC 10ADE-10AE0 10AEB-10AEE 10B80 10B82 10B86-10B88 10B8A-10B8B 10B8D 10B90 10BAD-10BAE "
        "10D01-10D21 10D23 10EC3-10EC4 10EC6-10EC7 10F30-10F32 10F34-10F44 10F51-10F53 10F70-10F73 10F76-10F81 "
        "10FB0 10FB2-10FB3 10FB8 10FBB-10FBC 10FBE-10FBF 10FC1 10FC4 10FCA 1E900-1E943"
    ),
    "R": (
        "0622-0625 0627 0629 062F-0632 0648 0671-0673 0675-0677 0688-0699 06C0 06C3-06CB 06CD 06CF 06D2-06D3 06D5 "
        "06EE-06EF 0710 0715-0719 071E 0728 072A 072C 072F 074D 0759-075B 076B-076C 0771 0773-0774 0778-0779 0840 "
        "0846-0847 0849 0854 0856-0858 0867 0869-086A 0870-0882 088E 08AA-08AC 08AE 08B1-08B2 08B9 10AC5 10AC7 "
        "10AC9-10ACA 10ACE-10AD2 10ADD 10AE1 10AE4 10AEF 10B81 10B83-10B85 10B89 10B8C 10B8E-10B8F 10B91 "
        "10BA9-10BAC 10D22 10EC2 10F33 10F54 10F74-10F75 10FB4-10FB6 10FB9-10FBA 10FBD 10FC2-10FC3 10FC9"
    ),
    "L": "A872 10ACD 10AD7 10D00 10ED9-10EEE 10FCB",
    "C": "0640 07FA 0883-0885 180A 200D",
}
_JOINING_TYPES: dict[str, tuple[tuple[int, int], ...]] = {
    kind: tuple((int(span.split("-")[0], 16), int(span.split("-")[-1], 16)) for span in text.split())
    for kind, text in _JOINING_TYPE_RANGES.items()
}
_TRANSPARENT_TOO = frozenset({0x1E94B})  # ADLAM NASALIZATION MARK (Lm)
_NOT_TRANSPARENT = frozenset({0x1171E})  # AHOM CONSONANT SIGN MEDIAL RA (Mn in Unicode 14, Mc since: U)
_JOINING_STARTS, _JOINING_SPANS = zip(
    *sorted((lo, (hi, kind)) for kind, spans in _JOINING_TYPES.items() for lo, hi in spans), strict=True
)
_VIRAMA = 9  # the canonical combining class of a virama
_SKIN_TONES = (0x1F3FB, 0x1F3FF)  # emoji modifiers (Sk): an emoji with a skin tone may be joined on
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
                and _joins(text, i, assigned)
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


def joining_type(c: str) -> str:
    """Unicode's Joining_Type of ``c``: D, R, L, C, T or U (:data:`_JOINING_TYPES`)."""
    code = ord(c)
    at = bisect_right(_JOINING_STARTS, code) - 1
    if at >= 0 and code <= _JOINING_SPANS[at][0]:
        return _JOINING_SPANS[at][1]
    if code in _TRANSPARENT_TOO or (code not in _NOT_TRANSPARENT and unicodedata.category(c) in ("Mn", "Me")):
        return "T"
    return "U"


def _cursive(text: str, i: int) -> bool:
    """RFC 5892 A.1's joining context of the joiner at ``i``: the nearest character before it that is not
    transparent joins on its left (L, D) and the nearest after it that is not joins on its right (R, D): a Persian
    non-joiner between two letters that would join (Persian "mi-khaham"), a Mongolian or Syriac joiner."""
    return _nearest(text, i, -1) in ("L", "D") and _nearest(text, i, 1) in ("R", "D")


def _nearest(text: str, i: int, step: int) -> str:
    """The joining type of the nearest character that is not transparent from ``i`` on in direction ``step`` (U at
    either end). A walk stops at the next joiner (U or C), so reading every joiner's context reads ``text`` at most
    twice, however many joiners it holds."""
    i += step
    while 0 <= i < len(text):
        kind = joining_type(text[i])
        if kind != "T":
            return kind
        i += step
    return "U"


def _emoji(c: str, assigned: bool) -> bool:
    """Whether ``c`` may be a side of an emoji ZWJ sequence: a symbol (So: Python's unicodedata has no
    Extended_Pictographic), or with ``assigned`` off a code point this interpreter's Unicode does not know yet (an
    emoji newer than it: issuance takes them)."""
    category = unicodedata.category(c)
    return category == "So" or (not assigned and category == "Cn")


def _joins(text: str, i: int, assigned: bool) -> bool:
    """Whether the joiner at ``i`` (neither end of ``text``) has a use there: after a virama (RFC 5892 A.1, A.2), in
    a cursive joining context (A.1's, for the joiner too: it asks letters that join to join), or a joiner between two
    emoji, the one before it maybe with a skin tone or its presentation selector (an emoji ZWJ sequence)."""
    if unicodedata.combining(text[i - 1]) == _VIRAMA or _cursive(text, i):
        return True
    if text[i] != "\u200d":
        return False
    before = i - 1
    if _in(ord(text[before]), (_SKIN_TONES, (0xFE0F, 0xFE0F))) and before > 0:
        before -= 1
    return _emoji(text[before], assigned) and _emoji(text[i + 1], assigned)


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

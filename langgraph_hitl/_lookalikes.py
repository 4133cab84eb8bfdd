"""Names that could pass for one another: the lookalike letters and a name's skeleton.

`identity.canonical` refuses a Cyrillic or Greek name whose letters all look like Latin ones
(with `LATIN_LOOKALIKES`); `skeleton` and `looks_like` tell whether two accepted names could
still pass for one person, so they never count as two approvers of one action. `identity`
re-exports `skeleton` and `looks_like`.
"""

from __future__ import annotations

import unicodedata

__all__ = ["LATIN_LOOKALIKES", "looks_like", "skeleton"]

# Cyrillic and Greek letters (lower case, as casefold leaves them) that look like a Latin letter.
# Only true lookalikes: a name is refused when every letter in it is one of these.
LATIN_LOOKALIKES = {
    # Cyrillic
    "\u0430": "a",  # а
    "\u0441": "c",  # с
    "\u0501": "d",  # ԁ
    "\u0435": "e",  # е
    "\u04bb": "h",  # һ
    "\u0456": "i",  # і
    "\u0458": "j",  # ј
    "\u04cf": "l",  # ӏ (palochka)
    "\u043e": "o",  # о
    "\u0440": "p",  # р
    "\u051b": "q",  # ԛ
    "\u0455": "s",  # ѕ
    "\u0475": "v",  # ѵ (izhitsa)
    "\u051d": "w",  # ԝ
    "\u0445": "x",  # х
    "\u0443": "y",  # у
    # Greek
    "\u03b1": "a",  # α
    "\u03b9": "i",  # ι
    "\u03f3": "j",  # ϳ (yot)
    "\u03ba": "k",  # κ
    "\u03bf": "o",  # ο
    "\u03c1": "p",  # ρ
    "\u03c5": "u",  # υ
    "\u03bd": "v",  # ν
}

# Letters of other scripts, and Latin letters, that pass for an ASCII letter in a name; with
# `LATIN_LOOKALIKES`, the table `skeleton` folds names through (after dropping combining marks).
_SKELETON_MAP = {
    "\u0131": "i",  # ı dotless i
    "\u0269": "i",  # ɩ
    "\u026a": "i",  # ɪ
    "\u0251": "a",  # ɑ
    "\u0261": "g",  # ɡ
    "\u0185": "b",  # ƅ
    "\u0237": "j",  # ȷ
    "\u028f": "y",  # ʏ
    "\u1d04": "c",  # ᴄ
    "\u1d0f": "o",  # ᴏ
    "\u1d20": "v",  # ᴠ
    "\u1d21": "w",  # ᴡ
    "\u1d22": "z",  # ᴢ
    "\ua731": "s",  # ꜱ
    "\u0142": "l",  # ł
    "\u0111": "d",  # đ
    "\u0127": "h",  # ħ
    "\u00f8": "o",  # ø
    "\u044c": "b",  # ь
    "\u0432": "b",  # в
    "\u043d": "h",  # н
    "\u0442": "t",  # т
    "\u043c": "m",  # м
    "\u043a": "k",  # к
    "\u03c4": "t",  # τ
    "\u03c7": "x",  # χ
    "\u03b3": "y",  # γ
    "0": "o",
    "1": "l",
    "|": "l",
}
_SKELETON_PAIRS = (("rn", "m"), ("vv", "w"), ("cl", "d"))


def skeleton(name: str) -> str:
    """What a canonical name looks like, for telling whether two names could pass for one person.

    Combining marks are dropped, letters that pass for ASCII letters (Latin ``ı``, ``ɑ``; Cyrillic
    ``о``, ``ь``; digits ``0`` and ``1``) are replaced by them, ``rn`` becomes ``m`` and spaces go:
    ``"alıce"``, ``"a lice"``, ``"a1ice"`` and ``"alice\u0332"`` all give ``"alice"``. Two different
    people may hold such names, but never count as two approvers of one action.
    """
    base = "".join(
        ch for ch in unicodedata.normalize("NFD", name) if unicodedata.category(ch) not in ("Mn", "Me")
    )
    folded = "".join(
        _SKELETON_MAP.get(ch) or LATIN_LOOKALIKES.get(ch) or ch for ch in base if not ch.isspace()
    )
    for pair, single in _SKELETON_PAIRS:
        folded = folded.replace(pair, single)
    return folded


def looks_like(a: str, b: str) -> bool:
    """Whether two canonical names could pass for the same person (equal, or equal skeletons)."""
    return a == b or skeleton(a) == skeleton(b)

"""The characters and scripts a name may hold: the checks behind `identity.canonical`.

A name is refused when it holds a character that shows as nothing or as something else
(control, format, private-use, unassigned, separator, otherwise invisible), when it mixes
scripts (except Latin with Han and kana, Bopomofo or Hangul), or when it is Cyrillic or Greek
that looks wholly like a Latin name. Each refusal says which character, where, and the fix.
"""

from __future__ import annotations

import unicodedata

from ._lookalikes import LATIN_LOOKALIKES
from .errors import AuthorizationError

__all__ = ["check_characters", "check_scripts", "describe", "show"]

_SHOW_LENGTH = 80

# Categories no name may contain, with the words used to explain them.
_FORBIDDEN = {
    "Cc": "a control character",
    "Cf": "an invisible format character",
    "Cs": "a lone surrogate (not valid text)",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}

# Scripts that may share one name: Japanese, Chinese (with Bopomofo) and Korean writing mix
# Han with their own scripts, and all of them routinely mix in Latin.
_ALLOWED_MIXES = (
    frozenset({"Latin", "Han", "Hiragana", "Katakana"}),
    frozenset({"Latin", "Han", "Bopomofo"}),
    frozenset({"Latin", "Han", "Hangul"}),
)

# Characters outside the refused categories that still show as nothing (Unicode's default
# ignorables that are letters or marks, plus the blank braille pattern): refused like U+200B.
_INVISIBLE_RANGES = (
    (0x034F, 0x034F),  # COMBINING GRAPHEME JOINER
    (0x115F, 0x1160),  # HANGUL CHOSEONG and JUNGSEONG FILLER (U+3164 and U+FFA0 fold to U+1160)
    (0x17B4, 0x17B5),  # KHMER VOWEL INHERENT AQ and AA
    (0x180B, 0x180F),  # MONGOLIAN FREE VARIATION SELECTORs (U+180E is a format character)
    (0x2800, 0x2800),  # BRAILLE PATTERN BLANK
    (0x3164, 0x3164),  # HANGUL FILLER
    (0xFE00, 0xFE0F),  # VARIATION SELECTOR-1 to -16
    (0xFFA0, 0xFFA0),  # HALFWIDTH HANGUL FILLER
    (0x1D159, 0x1D159),  # MUSICAL SYMBOL NULL NOTEHEAD
    (0xE0100, 0xE01EF),  # VARIATION SELECTOR-17 to -256
)

# The script of a letter is the first word of its Unicode name ("CYRILLIC SMALL LETTER A"),
# except for these first words; None means the letter goes with any script, like punctuation.
_SCRIPT_ALIASES: dict[str, str | None] = {
    "CJK": "Han",
    "IDEOGRAPHIC": "Han",  # 々 〆
    "KATAKANA-HIRAGANA": "Katakana",  # ー
    "HENTAIGANA": "Hiragana",
    "TURNED": "Latin",  # ⅎ
    "MODIFIER": None,  # MODIFIER LETTER ...: apostrophes, tone and stress letters (Hawaiian okina)
    "CARON": None,
    "VERTICAL": None,  # vertical kana repeat marks, vertical tilde
    "MASU": None,  # 〼
}
_TANGUT_RANGES = ((0x17000, 0x18AFF), (0x18D00, 0x18D7F))  # ideographs Python leaves unnamed

_LOOKALIKE_SCRIPTS = frozenset({"Cyrillic", "Greek"})


def show(value: object) -> str:
    """`value` as ASCII-only repr (invisible characters become escapes), cut to a readable length."""
    shown = ascii(value)
    return shown if len(shown) <= _SHOW_LENGTH else shown[: _SHOW_LENGTH - 3] + "..."


def describe(ch: str) -> str:
    """``U+200B ZERO WIDTH SPACE`` for a character."""
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X} {name}" if name else f"U+{ord(ch):04X}"


def check_characters(text: str, original: str, field: str) -> None:
    """Refuse control, format, surrogate, private-use, unassigned, separator and invisible characters."""
    for position, ch in enumerate(text):
        kind = _FORBIDDEN.get(unicodedata.category(ch))
        if kind is None:
            code = ord(ch)
            if not any(low <= code <= high for low, high in _INVISIBLE_RANGES):
                continue
            kind = "an invisible character"
        where = f" at position {position}" if text is original else ""
        msg = (
            f"{field} {show(original)} contains {describe(ch)}{where}, {kind}; names may not hold "
            "control, invisible, private-use, unassigned or line-separator characters, because they "
            "make one name look like another. Remove it and pass the name as plain text."
        )
        raise AuthorizationError(msg)


def _script(ch: str) -> str | None:
    """The script of a letter, from its Unicode name ("Latin", "Cyrillic", "Han"); None if common."""
    if not unicodedata.category(ch).startswith("L"):
        return None  # digits, punctuation, spaces, symbols and marks go with any script
    name = unicodedata.name(ch, "")
    if not name:
        code = ord(ch)
        if any(low <= code <= high for low, high in _TANGUT_RANGES):
            return "Tangut"
        return f"U+{code:04X}"  # an unnamed letter is a script of its own: it mixes with nothing
    first = name.split(" ", 1)[0]
    if first in _SCRIPT_ALIASES:
        return _SCRIPT_ALIASES[first]
    return first.title()


def check_scripts(text: str, original: str, field: str) -> None:
    """Refuse mixed scripts and Cyrillic or Greek names that look wholly like Latin ones."""
    first_letter: dict[str, str] = {}
    for ch in text:
        script = _script(ch)
        if script is not None and script not in first_letter:
            first_letter[script] = ch
    scripts = frozenset(first_letter)
    if len(scripts) > 1 and not any(scripts <= mix for mix in _ALLOWED_MIXES):
        found = ", ".join(f"{script} ({describe(ch)})" for script, ch in first_letter.items())
        msg = (
            f"{field} {show(original)} mixes scripts: {found}. Letters from several scripts can "
            "imitate another person's name (a Cyrillic 'а' looks like a Latin 'a'), so they are "
            "refused. Write the name in one script; Latin may go with Han and kana, Bopomofo or Hangul."
        )
        raise AuthorizationError(msg)
    if len(scripts) == 1 and scripts <= _LOOKALIKE_SCRIPTS:
        decomposed = unicodedata.normalize("NFD", text)
        letters = [ch for ch in decomposed if unicodedata.category(ch).startswith("L")]
        if all(ch in LATIN_LOOKALIKES for ch in letters):
            latin = unicodedata.normalize("NFC", "".join(LATIN_LOOKALIKES.get(ch, ch) for ch in decomposed))
            (script,) = scripts
            msg = (
                f"{field} {show(original)} is written in {script} letters that all look like Latin "
                f"ones, so it looks like the Latin name {latin!r} and could pass for that person. "
                "Write a Latin name in Latin letters; a name with any letter that has no Latin "
                "lookalike (e.g. 'иван') is accepted."
            )
            raise AuthorizationError(msg)

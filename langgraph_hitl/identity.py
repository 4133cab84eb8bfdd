"""People's names as identities: the one place approver names are canonicalized (G10).

Wherever approvers are compared (self-approval, "a different person" for a second review,
allow and deny lists) or stored (decided_by, audit actors), the name first goes through
`canonical`. Two names are the same person exactly when their canonical forms are equal, and
names that could pass for someone else are refused rather than guessed at:

- case, width and Unicode compatibility forms are folded (NFKC, casefold, NFKC again), and
  runs of whitespace collapse to one space, so ``"ALICE"``, ``" alice "`` and fullwidth
  ``"ａｌｉｃｅ"`` are all ``"alice"``;
- invisible, control, private-use, unassigned and line/paragraph-separator characters are
  refused (``"a\\u200blice"``, ``"alice\\u202e"``);
- letters from more than one script are refused (Latin ``"alice"`` with a Cyrillic ``"а"``),
  except Latin with Han and kana (Japanese), Bopomofo (Chinese) or Hangul (Korean);
- a name written wholly in Cyrillic or Greek letters that all look like Latin letters is
  refused (Cyrillic ``"аӏісе"`` looks like ``"alice"``); ``"иван"`` is fine;
- names starting with ``system:`` in any case or width belong to the runner
  (``system:timeout``); people may not use them.

Only the standard library is imported, so this module is cheap to import anywhere.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from .errors import AuthorizationError

__all__ = [
    "SYSTEM_PREFIX",
    "as_recorded",
    "looks_like",
    "skeleton",
    "canonical",
    "canonical_list",
    "canonical_or_none",
    "is_system",
    "same_person",
]

SYSTEM_PREFIX = "system:"
"""Names with this prefix are the runner's own actors (e.g. ``system:timeout``), never a person."""

_MAX_LENGTH = 200
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

# Cyrillic and Greek letters (lower case, as casefold leaves them) that look like a Latin letter.
# Only true lookalikes: a name is refused when every letter in it is one of these.
_LATIN_LOOKALIKES = {
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
_LOOKALIKE_SCRIPTS = frozenset({"Cyrillic", "Greek"})

_CACHE_SIZE = 4096
_ACCEPTED: dict[str, str] = {}
"""Names that passed every check, with their canonical form (the checks depend on the name alone)."""


def canonical(name: object, *, allow_system: bool = False, field: str = "approver") -> str:
    """Return the canonical identity of a person's name, or refuse a name that could deceive.

    The name is NFKC-normalized, casefolded and NFKC-normalized again (repeated until stable,
    since casefolding can undo normalization), trimmed, and each run of internal whitespace
    becomes one space. Equal results mean the same person; different results, a different one.

    Args:
        name: The name to canonicalize; must be a str.
        allow_system: Accept names starting with ``system:`` (in any case or width). Only the
            runner passes True, for its own actors such as ``system:timeout``.
        field: What the name is, for error messages (e.g. ``"approver"``, ``"requested_by"``).

    Returns:
        The canonical name, e.g. ``"alice"`` for ``" ALICE "`` or fullwidth ``"ａｌｉｃｅ"``.

    Raises:
        AuthorizationError: `name` is not a str; is empty or longer than 200 characters; holds
            a control, format (e.g. zero-width or bidi), private-use, unassigned, surrogate,
            line/paragraph separator or otherwise invisible character (e.g. U+3164 HANGUL
            FILLER); mixes scripts; is Cyrillic or Greek that looks wholly like a Latin name; or
            starts with ``system:`` and `allow_system` is False.
    """
    if not isinstance(name, str):
        msg = (
            f"{field} must be a str naming one person, got {type(name).__name__} "
            f"({_show(name)}). Pass the person's name as text, e.g. 'alice'."
        )
        raise AuthorizationError(msg)
    folded = _ACCEPTED.get(name)
    if folded is not None:  # names are checked on every decision; a name once accepted is cheap after
        if not allow_system and folded.startswith(SYSTEM_PREFIX):
            _refuse_system(name, field)
        return folded
    if len(name) > _MAX_LENGTH:
        msg = (
            f"{field} {_show(name)} is {len(name)} characters long; at most {_MAX_LENGTH} are allowed "
            "so names stay readable in the inbox and the audit trail. Use a shorter name or a user id."
        )
        raise AuthorizationError(msg)
    _check_characters(name, name, field)
    result = _fold(name)
    if not result:
        msg = (
            f"{field} {_show(name)} is empty once spaces are trimmed; an empty name identifies no one. "
            "Pass the person's name, e.g. 'alice'."
        )
        raise AuthorizationError(msg)
    if len(result) > _MAX_LENGTH:
        msg = (
            f"{field} {_show(name)} is {len(result)} characters long once normalized; at most "
            f"{_MAX_LENGTH} are allowed so names stay readable in the inbox and the audit trail. "
            "Use a shorter name or a user id."
        )
        raise AuthorizationError(msg)
    _check_characters(result, name, field)
    _check_scripts(result, name, field)
    if len(_ACCEPTED) >= _CACHE_SIZE:
        _ACCEPTED.clear()
    _ACCEPTED[name] = result
    if not allow_system and result.startswith(SYSTEM_PREFIX):
        _refuse_system(name, field)
    return result


def _refuse_system(name: str, field: str) -> None:
    msg = (
        f"{field} {_show(name)} starts with {SYSTEM_PREFIX!r} (in any case or width), which is "
        "reserved for the runner's own decisions such as 'system:timeout'; a person cannot act "
        "under a system name. Use the person's own name."
    )
    raise AuthorizationError(msg)


def canonical_or_none(name: object, *, allow_system: bool = False, field: str = "approver") -> str | None:
    """Like `canonical`, but None passes through as None.

    Args:
        name: The name to canonicalize, or None.
        allow_system: Accept ``system:`` names (the runner's own actors only).
        field: What the name is, for error messages.

    Returns:
        The canonical name, or None when `name` is None.

    Raises:
        AuthorizationError: `name` is neither None nor an acceptable name (see `canonical`).
    """
    if name is None:
        return None
    return canonical(name, allow_system=allow_system, field=field)


def canonical_list(names: Iterable[object] | None, *, field: str = "approvers") -> list[str] | None:
    """Canonicalize a list of people's names, dropping duplicates and keeping first-seen order.

    ``["Alice", "alice ", "bob"]`` gives ``["alice", "bob"]``: two spellings of one person count
    once. ``system:`` names are refused; lists name people.

    Args:
        names: The names, or None.
        field: What the list is, for error messages; each item is named ``field[i]``.

    Returns:
        The canonical names without duplicates, or None when `names` is None.

    Raises:
        AuthorizationError: `names` is a single string or not iterable, or one of its items is
            not an acceptable name (see `canonical`).
    """
    if names is None:
        return None
    if isinstance(names, (str, bytes)):
        msg = (
            f"{field} must be a list of names, got the single string {_show(names)}; a string would "
            f"be read letter by letter. Wrap it in a list: [{_show(names)}]."
        )
        raise AuthorizationError(msg)
    try:
        items = iter(names)
    except TypeError:
        msg = (
            f"{field} must be a list of names, got {type(names).__name__} ({_show(names)}). "
            "Pass a list such as ['alice', 'bob']."
        )
        raise AuthorizationError(msg) from None
    seen: dict[str, None] = {}
    for i, item in enumerate(items):
        seen.setdefault(canonical(item, field=f"{field}[{i}]"), None)
    return list(seen)


def same_person(a: object, b: object) -> bool:
    """Whether two names are one identity; False if either name is refused by `canonical`.

    ``system:`` names are accepted here, so ``same_person("system:timeout", "SYSTEM:TIMEOUT")``
    is True.

    Args:
        a: One name.
        b: The other name.

    Returns:
        True when both names are acceptable and canonicalize to the same identity.
    """
    try:
        return canonical(a, allow_system=True) == canonical(b, allow_system=True)
    except AuthorizationError:
        return False


def is_system(name: str) -> bool:
    """Whether `name` is one of the runner's own actors: starts with ``system:`` in any case or width.

    Args:
        name: The name to test; anything that is not a str is not a system name.

    Returns:
        True when the normalized name starts with ``system:``.
    """
    return isinstance(name, str) and _fold(name).startswith(SYSTEM_PREFIX)


def _fold(text: str) -> str:
    """NFKC, casefold and NFKC again until stable, then trim and collapse whitespace runs."""
    folded = unicodedata.normalize("NFKC", text)
    for _ in range(4):
        again = unicodedata.normalize("NFKC", folded.casefold())
        if again == folded:
            break
        folded = again
    return " ".join(folded.split())


# Letters of other scripts, and Latin letters, that pass for an ASCII letter in a name; with
# `_LATIN_LOOKALIKES`, the table `skeleton` folds names through (after dropping combining marks).
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
        _SKELETON_MAP.get(ch) or _LATIN_LOOKALIKES.get(ch) or ch for ch in base if not ch.isspace()
    )
    for pair, single in _SKELETON_PAIRS:
        folded = folded.replace(pair, single)
    return folded


def looks_like(a: str, b: str) -> bool:
    """Whether two canonical names could pass for the same person (equal, or equal skeletons)."""
    return a == b or skeleton(a) == skeleton(b)


def as_recorded(value: object) -> str | None:
    """How a claimed name is kept in a refusal record: canonical if valid, else an ASCII-escaped repr.

    A refused name may hold what no database stores (NUL, lone surrogates) or what would
    deceive a reader (bidi controls); the record shows it escaped instead. None stays None.
    """
    if value is None:
        return None
    try:
        return canonical(value, allow_system=True)
    except AuthorizationError:
        return _show(value)


def _show(value: object) -> str:
    """`value` as ASCII-only repr (invisible characters become escapes), cut to a readable length."""
    shown = ascii(value)
    return shown if len(shown) <= _SHOW_LENGTH else shown[: _SHOW_LENGTH - 3] + "..."


def _describe(ch: str) -> str:
    """``U+200B ZERO WIDTH SPACE`` for a character."""
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X} {name}" if name else f"U+{ord(ch):04X}"


def _check_characters(text: str, original: str, field: str) -> None:
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
            f"{field} {_show(original)} contains {_describe(ch)}{where}, {kind}; names may not hold "
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


def _check_scripts(text: str, original: str, field: str) -> None:
    """Refuse mixed scripts and Cyrillic or Greek names that look wholly like Latin ones."""
    first_letter: dict[str, str] = {}
    for ch in text:
        script = _script(ch)
        if script is not None and script not in first_letter:
            first_letter[script] = ch
    scripts = frozenset(first_letter)
    if len(scripts) > 1 and not any(scripts <= mix for mix in _ALLOWED_MIXES):
        found = ", ".join(f"{script} ({_describe(ch)})" for script, ch in first_letter.items())
        msg = (
            f"{field} {_show(original)} mixes scripts: {found}. Letters from several scripts can "
            "imitate another person's name (a Cyrillic 'а' looks like a Latin 'a'), so they are "
            "refused. Write the name in one script; Latin may go with Han and kana, Bopomofo or Hangul."
        )
        raise AuthorizationError(msg)
    if len(scripts) == 1 and scripts <= _LOOKALIKE_SCRIPTS:
        decomposed = unicodedata.normalize("NFD", text)
        letters = [ch for ch in decomposed if unicodedata.category(ch).startswith("L")]
        if all(ch in _LATIN_LOOKALIKES for ch in letters):
            latin = unicodedata.normalize("NFC", "".join(_LATIN_LOOKALIKES.get(ch, ch) for ch in decomposed))
            (script,) = scripts
            msg = (
                f"{field} {_show(original)} is written in {script} letters that all look like Latin "
                f"ones, so it looks like the Latin name {latin!r} and could pass for that person. "
                "Write a Latin name in Latin letters; a name with any letter that has no Latin "
                "lookalike (e.g. 'иван') is accepted."
            )
            raise AuthorizationError(msg)

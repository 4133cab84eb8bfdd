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

The character and script checks live in `_name_checks.py`, the lookalike letters and
`skeleton` in `_lookalikes.py`; this module is the one to import from.

Only the standard library is imported, so this module is cheap to import anywhere.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from ._lookalikes import looks_like, skeleton
from ._name_checks import check_characters, check_scripts, show
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
            f"({show(name)}). Pass the person's name as text, e.g. 'alice'."
        )
        raise AuthorizationError(msg)
    folded = _ACCEPTED.get(name)
    if folded is not None:  # names are checked on every decision; a name once accepted is cheap after
        if not allow_system and folded.startswith(SYSTEM_PREFIX):
            _refuse_system(name, field)
        return folded
    if len(name) > _MAX_LENGTH:
        msg = (
            f"{field} {show(name)} is {len(name)} characters long; at most {_MAX_LENGTH} are allowed "
            "so names stay readable in the inbox and the audit trail. Use a shorter name or a user id."
        )
        raise AuthorizationError(msg)
    check_characters(name, name, field)
    result = _fold(name)
    if not result:
        msg = (
            f"{field} {show(name)} is empty once spaces are trimmed; an empty name identifies no one. "
            "Pass the person's name, e.g. 'alice'."
        )
        raise AuthorizationError(msg)
    if len(result) > _MAX_LENGTH:
        msg = (
            f"{field} {show(name)} is {len(result)} characters long once normalized; at most "
            f"{_MAX_LENGTH} are allowed so names stay readable in the inbox and the audit trail. "
            "Use a shorter name or a user id."
        )
        raise AuthorizationError(msg)
    check_characters(result, name, field)
    check_scripts(result, name, field)
    if len(_ACCEPTED) >= _CACHE_SIZE:
        _ACCEPTED.clear()
    _ACCEPTED[name] = result
    if not allow_system and result.startswith(SYSTEM_PREFIX):
        _refuse_system(name, field)
    return result


def _refuse_system(name: str, field: str) -> None:
    msg = (
        f"{field} {show(name)} starts with {SYSTEM_PREFIX!r} (in any case or width), which is "
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
            f"{field} must be a list of names, got the single string {show(names)}; a string would "
            f"be read letter by letter. Wrap it in a list: [{show(names)}]."
        )
        raise AuthorizationError(msg)
    try:
        items = iter(names)
    except TypeError:
        msg = (
            f"{field} must be a list of names, got {type(names).__name__} ({show(names)}). "
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
        return show(value)

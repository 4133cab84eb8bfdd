"""People's names as identities (G10): one canonical form, lookalikes refused, system names reserved."""

from __future__ import annotations

import string
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langgraph_hitl import identity
from langgraph_hitl.errors import AuthorizationError, HITLError
from langgraph_hitl.identity import (
    SYSTEM_PREFIX,
    canonical,
    canonical_list,
    canonical_or_none,
    is_system,
    same_person,
)

# -- strategies -----------------------------------------------------------------------------------

FAST = settings(max_examples=200, deadline=None, database=None)

# ASCII names a person might use; no ':' so none of them is a system name.
ASCII_NAMES = st.from_regex(r"[a-z0-9][a-z0-9._@-]{0,24}", fullmatch=True)
# Whitespace that NFKC turns into a plain space (tabs and newlines are control characters: refused).
SPACES = st.text(alphabet=" \u00a0\u2003\u3000", max_size=3)
INVISIBLE = st.characters(categories=["Cc", "Cf"])
LATIN_TO_CYRILLIC = {
    "a": "\u0430",
    "c": "\u0441",
    "d": "\u0501",
    "e": "\u0435",
    "h": "\u04bb",
    "i": "\u0456",
    "j": "\u0458",
    "l": "\u04cf",
    "o": "\u043e",
    "p": "\u0440",
    "q": "\u051b",
    "s": "\u0455",
    "v": "\u0475",
    "w": "\u051d",
    "x": "\u0445",
    "y": "\u0443",
}
NAME_ALPHABETS = st.sampled_from(
    [
        string.ascii_letters + string.digits + " .-'@",
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ -",
        "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩάέήίόύώ -",
        "山田太郎花子やまだたろうハナコーabcXYZ 　",
        "김철수영희ｶﾀｶﾅＡＢＣ ",
    ]
)


def variant(draw: st.DrawFn, text: str) -> str:
    """`text` with each ASCII character in random case and width, wrapped in random spaces."""
    out = []
    for ch in text:
        if ch.isalpha() and draw(st.booleans()):
            ch = ch.upper()
        if "!" <= ch <= "~" and draw(st.booleans()):
            ch = chr(ord(ch) + 0xFEE0)  # the fullwidth form
        out.append(ch)
    return draw(SPACES) + "".join(out) + draw(SPACES)


@st.composite
def ascii_name_variants(draw: st.DrawFn) -> tuple[str, str]:
    """An ASCII name and one of its case, width and whitespace variants."""
    name = draw(ASCII_NAMES)
    return name, variant(draw, name)


@st.composite
def system_name_variants(draw: st.DrawFn) -> str:
    """``system:<suffix>`` in random case and width, wrapped in random spaces."""
    return variant(draw, SYSTEM_PREFIX + draw(st.from_regex(r"[a-z_]{0,12}", fullmatch=True)))


@st.composite
def script_names(draw: st.DrawFn) -> str:
    """Text drawn from one writing system's letters, so a fair share of it is accepted."""
    return draw(st.text(alphabet=draw(NAME_ALPHABETS), min_size=1, max_size=20))


# -- canonical: accepted names ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Alice", "alice ", "ALICE", "ａｌｉｃｅ", " \u3000Alice\u00a0", "AlIcE"])
def test_canonical_folds_case_width_and_spaces(name: str) -> None:
    """Case, fullwidth forms and surrounding spaces all fold to one identity."""
    assert canonical(name) == "alice"


def test_canonical_collapses_internal_whitespace() -> None:
    """Runs of spaces inside a name become one space."""
    assert canonical("Jean \u00a0\u2003 Paul") == "jean paul"


def test_canonical_folds_sharp_s() -> None:
    """Casefolding expands ß, so 'Straße' and 'STRASSE' are one person."""
    assert canonical("Straße") == "strasse"
    assert same_person("Straße", "STRASSE")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Иван", "иван"),
        ("Анна", "анна"),
        ("山田太郎", "山田太郎"),
        ("やまだ Taro", "やまだ taro"),
        ("ラーメン", "ラーメン"),
        ("김철수 Kim", "김철수 kim"),
        ("王小明 ㄨㄤ", "王小明 ㄨㄤ"),
        ("bob@example.com", "bob@example.com"),
        ("O'Brien-Smith", "o'brien-smith"),
        ("Hawaiʻi", "hawaiʻi"),
        ("Ⅻ", "xii"),
    ],
)
def test_canonical_accepts_single_script_and_cjk_mixes(name: str, expected: str) -> None:
    """One script, or Latin with Han and kana, Hangul or Bopomofo, is accepted and folded."""
    assert canonical(name) == expected


def test_canonical_accepts_cyrillic_with_a_letter_unlike_latin() -> None:
    """A Cyrillic name with any letter that has no Latin lookalike is a name of its own."""
    assert canonical("ИВАН") == "иван"
    assert canonical("Вова") == "вова"


def test_canonical_accepts_greek_whose_lower_case_does_not_look_latin() -> None:
    """Greek 'ΑΒΟ' folds to 'αβο', whose β looks like no Latin letter, so it is accepted."""
    assert canonical("ΑΒΟ") == "αβο"


def test_canonical_accepts_200_characters() -> None:
    """A name of exactly 200 characters is accepted."""
    assert canonical("x" * 200) == "x" * 200


def test_canonical_allow_system_accepts_system_names() -> None:
    """The runner may use system names; they fold like any other."""
    assert canonical(" SYSTEM:Timeout", allow_system=True) == "system:timeout"


# -- canonical: refused names ----------------------------------------------------------------------


@pytest.mark.parametrize("name", [5, None, b"alice", ["alice"]])
def test_canonical_refuses_non_str(name: object) -> None:
    """Only text can name a person."""
    with pytest.raises(AuthorizationError, match=r"^approver must be a str naming one person, got "):
        canonical(name)


@pytest.mark.parametrize("name", ["", "   ", "\u3000\u00a0"])
def test_canonical_refuses_empty(name: str) -> None:
    """A name that is empty once trimmed identifies no one."""
    with pytest.raises(AuthorizationError, match=r"is empty once spaces are trimmed.*Pass the person's name"):
        canonical(name)


def test_canonical_refuses_over_200_characters() -> None:
    """A name longer than 200 characters is refused, saying how long it is."""
    with pytest.raises(AuthorizationError, match=r"is 201 characters long; at most 200"):
        canonical("x" * 201)


def test_canonical_refuses_names_that_grow_past_200_when_normalized() -> None:
    """The limit also holds after NFKC expands compatibility characters."""
    with pytest.raises(AuthorizationError, match=r"is 216 characters long once normalized; at most 200"):
        canonical("\ufdfa" * 12)


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("a\u200blice", r"'a\\u200blice' contains U\+200B ZERO WIDTH SPACE at position 1, an invisible"),
        ("alice\u202e", r"U\+202E RIGHT-TO-LEFT OVERRIDE at position 5, an invisible format"),
        ("\ufeffalice", r"U\+FEFF ZERO WIDTH NO-BREAK SPACE at position 0"),
        ("a\u200dlice", r"U\+200D ZERO WIDTH JOINER at position 1"),
        ("ali\u2060ce", r"U\+2060 WORD JOINER at position 3"),
        ("alice\n", r"U\+000A at position 5, a control character"),
        ("al\tice", r"U\+0009 at position 2, a control character"),
        ("\ue000alice", r"U\+E000 at position 0, a private-use character"),
        ("alice\u0378", r"U\+0378 at position 5, an unassigned code point"),
        ("alice\u2028", r"U\+2028 LINE SEPARATOR at position 5, a line separator"),
        ("alice\u2029", r"U\+2029 PARAGRAPH SEPARATOR at position 5, a paragraph separator"),
        ("al\udc80ice", r"U\+DC80 at position 2, a lone surrogate"),
        ("alice\u3164", r"U\+3164 HANGUL FILLER at position 5, an invisible character"),
        ("alice\ufe0f", r"U\+FE0F VARIATION SELECTOR-16 at position 5, an invisible character"),
        ("alice\u2800", r"U\+2800 BRAILLE PATTERN BLANK at position 5, an invisible character"),
        ("a\u034flice", r"U\+034F COMBINING GRAPHEME JOINER at position 1, an invisible character"),
    ],
)
def test_canonical_refuses_invisible_and_control_characters(name: str, shown: str) -> None:
    """Control, format, private-use, unassigned, separator and invisible characters are refused."""
    with pytest.raises(AuthorizationError, match=shown + r".*Remove it"):
        canonical(name)


@pytest.mark.parametrize(
    ("name", "scripts"),
    [
        ("al\u0456ce", r"Latin \(U\+0061 LATIN SMALL LETTER A\), Cyrillic \(U\+0456 CYRILLIC"),
        ("p\u0430ypal", r"Latin .*, Cyrillic \(U\+0430 CYRILLIC SMALL LETTER A\)"),
        ("Иван Smith", r"Cyrillic .*, Latin "),
        ("\u03bfscar", r"Greek .*, Latin "),
        ("やまだ 김", r"Hiragana .*, Hangul "),
        ("ㄨㄤ やまだ", r"Bopomofo .*, Hiragana "),
    ],
)
def test_canonical_refuses_mixed_scripts(name: str, scripts: str) -> None:
    """Letters from scripts that do not belong together are refused, naming the scripts."""
    with pytest.raises(AuthorizationError, match=rf"mixes scripts: {scripts}.*Write the name in one script"):
        canonical(name)


@pytest.mark.parametrize(
    ("name", "latin"),
    [
        ("\u0430\u04cf\u0456\u0441\u0435", "alice"),
        ("\u0410\u04c0\u0406\u0421\u0415", "alice"),
        ("\u0440\u0430\u0443\u0440\u0430\u04cf", "paypal"),
        ("\u0435\u0308", "\u00eb"),
        ("\u03bf\u03ba", "ok"),
        ("\u0445\u04431", "xy1"),
    ],
)
def test_canonical_refuses_whole_script_lookalikes(name: str, latin: str) -> None:
    """A Cyrillic or Greek name whose every letter looks Latin is refused, naming the Latin lookalike."""
    with pytest.raises(AuthorizationError, match=f"looks like the Latin name {latin!r}"):
        canonical(name)


@pytest.mark.parametrize(
    "name", ["system:timeout", "SYSTEM:TIMEOUT", " System:timeout", "ｓｙｓｔｅｍ：timeout"]
)
def test_canonical_refuses_system_names(name: str) -> None:
    """Names starting with 'system:' in any case or width belong to the runner."""
    with pytest.raises(AuthorizationError, match=r"starts with 'system:'.*reserved for the runner"):
        canonical(name)


def test_canonical_error_names_the_field() -> None:
    """The message starts with the field the caller named."""
    with pytest.raises(AuthorizationError, match=r"^requested_by 'a\\u200bb' contains"):
        canonical("a\u200bb", field="requested_by")


def test_canonical_error_is_a_permission_error() -> None:
    """Refusals are HITLError and PermissionError, so existing handlers catch them."""
    with pytest.raises(AuthorizationError) as caught:
        canonical("system:timeout")
    assert isinstance(caught.value, HITLError) and isinstance(caught.value, PermissionError)


def test_canonical_error_cuts_long_values() -> None:
    """A long refused value is shown cut short, not in full."""
    with pytest.raises(AuthorizationError, match=r"'x{40,}\.\.\. is 500 characters long") as caught:
        canonical("x" * 500)
    assert len(str(caught.value)) < 300


# -- canonical: properties -------------------------------------------------------------------------


@FAST
@given(st.text(max_size=30) | script_names())
def test_canonical_is_idempotent(name: str) -> None:
    """Every accepted name is already canonical: canonicalizing it again changes nothing."""
    try:
        once = canonical(name, allow_system=True)
    except AuthorizationError:
        return
    assert canonical(once, allow_system=True) == once
    assert same_person(name, once)


@FAST
@given(ascii_name_variants())
def test_canonical_variants_are_one_identity(pair: tuple[str, str]) -> None:
    """Case, width and whitespace variants of an ASCII name all map to the lower-case name."""
    name, spelled = pair
    assert canonical(spelled) == canonical(name) == name


@FAST
@given(ASCII_NAMES, INVISIBLE, st.integers(min_value=0))
def test_canonical_refuses_inserted_invisible_characters(name: str, ch: str, where: int) -> None:
    """Inserting any control or format character anywhere in a name gets it refused."""
    at = where % (len(name) + 1)
    with pytest.raises(AuthorizationError, match=r"contains U\+[0-9A-F]{4,6}.* at position"):
        canonical(name[:at] + ch + name[at:])


@FAST
@given(ASCII_NAMES.filter(lambda n: any(c in LATIN_TO_CYRILLIC for c in n)), st.integers(min_value=0))
def test_canonical_refuses_one_cyrillic_lookalike(name: str, pick: int) -> None:
    """Replacing any one Latin letter with its Cyrillic lookalike gets the name refused."""
    spots = [i for i, c in enumerate(name) if c in LATIN_TO_CYRILLIC]
    at = spots[pick % len(spots)]
    spoofed = name[:at] + LATIN_TO_CYRILLIC[name[at]] + name[at + 1 :]
    with pytest.raises(AuthorizationError, match=r"mixes scripts: |looks like the Latin name "):
        canonical(spoofed)


@FAST
@given(system_name_variants())
def test_canonical_reserves_system_in_any_case_or_width(name: str) -> None:
    """'system:' in any case, width or padding is refused, unless the runner allows it."""
    with pytest.raises(AuthorizationError, match=r"starts with 'system:'"):
        canonical(name)
    assert canonical(name, allow_system=True).startswith(SYSTEM_PREFIX)
    assert is_system(name)


@FAST
@given(st.text(max_size=30))
def test_canonical_refuses_only_with_authorization_error(name: str) -> None:
    """Any text either canonicalizes to a short, trimmed str or raises AuthorizationError."""
    try:
        result = canonical(name, allow_system=True)
    except AuthorizationError:
        return
    assert result and result == result.strip() and len(result) <= 200


# -- canonical_or_none -----------------------------------------------------------------------------


def test_canonical_or_none_passes_none() -> None:
    """None stays None."""
    assert canonical_or_none(None) is None


def test_canonical_or_none_canonicalizes_names() -> None:
    """Anything else is canonicalized, with the same options and refusals."""
    assert canonical_or_none(" ALICE ") == "alice"
    assert canonical_or_none("System:timeout", allow_system=True) == "system:timeout"
    with pytest.raises(AuthorizationError, match=r"^requested_by 'system:x' starts with"):
        canonical_or_none("system:x", field="requested_by")


# -- canonical_list --------------------------------------------------------------------------------


def test_canonical_list_passes_none() -> None:
    """None stays None."""
    assert canonical_list(None) is None


def test_canonical_list_drops_duplicates_in_first_seen_order() -> None:
    """Spellings of one person count once, at the first spelling's place."""
    assert canonical_list(["Bob", "Alice", "alice ", "ＢＯＢ", "carol"]) == ["bob", "alice", "carol"]
    assert canonical_list(iter(["x"])) == ["x"]
    assert canonical_list([]) == []


@pytest.mark.parametrize("names", ["alice", b"alice"])
def test_canonical_list_refuses_a_bare_string(names: object) -> None:
    """A single string is refused instead of being read letter by letter."""
    with pytest.raises(AuthorizationError, match=r"^approvers must be a list of names, got the single str"):
        canonical_list(names)  # type: ignore[arg-type]


def test_canonical_list_refuses_non_iterables() -> None:
    """Something that is not a list at all is refused with the fix."""
    with pytest.raises(AuthorizationError, match=r"^reviewers must be a list of names, got int \(5\)"):
        canonical_list(5, field="reviewers")  # type: ignore[arg-type]


def test_canonical_list_names_the_bad_item() -> None:
    """A refused item is named by its index."""
    with pytest.raises(AuthorizationError, match=r"^approvers\[1\] 'al\\u0456ce' mixes scripts"):
        canonical_list(["bob", "al\u0456ce"])
    with pytest.raises(AuthorizationError, match=r"^approvers\[0\] 'SYSTEM:timeout' starts with 'system:'"):
        canonical_list(["SYSTEM:timeout"])


@FAST
@given(st.lists(st.text(max_size=12) | ASCII_NAMES, max_size=6))
def test_canonical_list_is_idempotent(names: list[str]) -> None:
    """An accepted list canonicalizes to itself and holds no duplicates."""
    try:
        once = canonical_list(names)
    except AuthorizationError:
        return
    assert once is not None
    assert canonical_list(once) == once
    assert len(set(once)) == len(once)


# -- same_person and is_system ---------------------------------------------------------------------


def test_same_person_matches_spellings_of_one_name() -> None:
    """Two spellings of one name are the same person; two names are not."""
    assert same_person("Alice", "ａｌｉｃｅ ")
    assert same_person("SYSTEM:TIMEOUT", "system:timeout")
    assert not same_person("alice", "bob")


@pytest.mark.parametrize(
    ("a", "b"), [("alice", "al\u0456ce"), ("alice", "a\u200blice"), ("", ""), (None, None), ("x", 5)]
)
def test_same_person_is_false_when_either_is_refused(a: object, b: object) -> None:
    """A refused name is nobody, not even itself."""
    assert not same_person(a, b)


@FAST
@given(st.text(max_size=12) | ASCII_NAMES, st.text(max_size=12) | ASCII_NAMES)
def test_same_person_agrees_with_canonical(a: str, b: str) -> None:
    """same_person is symmetric and true exactly when both canonical forms exist and are equal."""
    assert same_person(a, b) == same_person(b, a)
    if same_person(a, b):
        assert canonical(a, allow_system=True) == canonical(b, allow_system=True)


@pytest.mark.parametrize("name", ["system:timeout", "SYSTEM:policy", " System:x", "ｓｙｓｔｅｍ：timeout"])
def test_is_system_spots_system_names(name: str) -> None:
    """The runner's names are recognized in any case or width."""
    assert is_system(name)


@pytest.mark.parametrize("name", ["alice", "systemic", "sys tem:x", "my system:x", ""])
def test_is_system_rejects_people(name: str) -> None:
    """Only a leading 'system:' makes a system name."""
    assert not is_system(name)


# -- the module ------------------------------------------------------------------------------------


def test_identity_exports_its_api() -> None:
    """__all__ lists exactly the public API."""
    assert sorted(identity.__all__) == sorted(
        [
            "SYSTEM_PREFIX",
            "as_recorded",
            "canonical",
            "canonical_list",
            "canonical_or_none",
            "is_system",
            "looks_like",
            "same_person",
            "skeleton",
        ]
    )
    assert SYSTEM_PREFIX == "system:"


def test_as_recorded_keeps_valid_names_canonical_and_escapes_the_rest() -> None:
    """A refused name is kept ASCII-escaped, so NUL, surrogates and bidi controls never reach a record raw."""
    assert identity.as_recorded(" Alice ") == "alice"
    assert identity.as_recorded("system:timeout") == "system:timeout"
    assert identity.as_recorded(None) is None
    for bad in ("al\x00ice", "alice\ud800", "a\u202elice", 42):
        shown = identity.as_recorded(bad)
        assert shown is not None and shown.isascii() and "\x00" not in shown


def test_identity_imports_no_third_party_module() -> None:
    """Importing the module pulls in neither LangGraph nor pydantic."""
    code = (
        "import sys, langgraph_hitl.identity; third = {'langgraph', 'pydantic', 'langchain_core'}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in third))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@settings(max_examples=200, database=None)
@given(ASCII_NAMES, st.sampled_from(["\u0301", "\u0307", "\u0332", "\u0338"]), st.integers(min_value=0))
def test_skeleton_ignores_combining_marks(name: str, mark: str, at: int) -> None:
    """A combining mark anywhere after the first letter leaves a name looking like the same person."""
    at = 1 + at % len(name)
    marked = name[:at] + mark + name[at:]
    try:
        shown = canonical(marked)
    except AuthorizationError:
        return  # refused outright is fine too
    assert identity.looks_like(shown, canonical(name))


@settings(max_examples=200, database=None)
@given(ASCII_NAMES.filter(lambda n: any(c in "ia01" for c in n)), st.integers(min_value=0))
def test_skeleton_folds_latin_lookalike_letters(name: str, at: int) -> None:
    """Swapping one i, a, 0 or 1 for its lookalike (ı, ɑ, o, l) still looks like the same name."""
    swap = {"i": "\u0131", "a": "\u0251", "0": "o", "1": "l"}
    spots = [i for i, c in enumerate(name) if c in swap]
    i = spots[at % len(spots)]
    twin = name[:i] + swap[name[i]] + name[i + 1 :]
    assert identity.looks_like(canonical(twin), canonical(name))


def test_skeleton_keeps_different_names_apart() -> None:
    """Names that only share letters stay different people."""
    for a, b in [("alice", "bob"), ("alice", "alicia"), ("ann", "anna"), ("lan", "ian")]:
        assert not identity.looks_like(canonical(a), canonical(b))

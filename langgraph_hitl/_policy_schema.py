"""The policy file schema, read from the dataclasses, and the problems a file can have.

The keys a file may hold are the fields of `Policy`, `Rule`, `Requirement` and
`ConfidenceBands` whose types are plain data, so a field those classes gain is a key too;
pydantic checks each section against its class, and each problem becomes a `FileProblem`
with the key and the fix (`policy_files` adds the file and the line).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import reprlib
import string
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from .policy import ConfidenceBands, Policy, Requirement, Rule
from .types import Risk

__all__ = ["FileProblem"]


@dataclass(frozen=True)
class FileProblem:
    """One thing wrong with a policy file."""

    key: str
    """Where, as a path: `requirements.high.timeout_s`, `rules[1].when` (empty for the whole file)."""
    message: str
    """What is wrong, with the bad value."""
    fix: str
    """What to write instead."""
    line: int | None = None
    """The 1-based line, when the parser or a scan of the text finds it."""


def _key(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# -- the schema, from the dataclasses ---------------------------------------------------------


def _plain(tp: Any) -> bool:
    """Whether values of type `tp` can be written in a file (text, numbers, lists, tables)."""
    if tp in (str, int, float, bool, type(None)):
        return True
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return True
    if origin in (typing.Union, types.UnionType, list, tuple, dict, Sequence, Mapping):
        return all(_plain(a) for a in args if a is not Ellipsis)
    return False


def _nullable(tp: Any) -> bool:
    """Whether a field of type `tp` may be None and holds no booleans: `false` is its None in TOML."""
    args = typing.get_args(tp)
    return type(None) in args and bool not in args and not any(typing.get_origin(a) is Literal for a in args)


@cache
def _fields(cls: type) -> dict[str, Any]:
    """The file keys of a dataclass: its fields whose types are plain data, with their types."""
    hints = typing.get_type_hints(cls)
    out = {f.name: hints[f.name] for f in dataclasses.fields(cls) if _plain(hints[f.name])}
    if cls is Rule:
        out["when"] = str | None  # an expression in the rule language
    if cls is Policy:  # checked section by section, each against its own class
        out.update(rules=list[dict[str, Any]], requirements=dict[Risk, dict[str, Any]])
        out["confidence"] = dict[str, Any] | None
    return out


@cache
def _model(cls: type) -> Any:
    from pydantic import ConfigDict, create_model

    fields: dict[str, Any] = {name: (tp, None) for name, tp in _fields(cls).items()}
    config = ConfigDict(strict=True, extra="forbid")
    return create_model(f"{cls.__name__}File", __config__=config, **fields)


def _nulls(data: Any, cls: type) -> Any:
    """`data` with `false` as None for the number fields that may be None (TOML has no null)."""
    if not isinstance(data, dict):
        return data
    hints = _fields(cls)
    return {k: None if v is False and k in hints and _nullable(hints[k]) else v for k, v in data.items()}


def _validate(data: dict[str, Any]) -> list[FileProblem]:
    """Check `data`'s keys and value types against the dataclasses' fields; fill in nulls in place."""
    data.update(_nulls(data, Policy))
    checks: list[tuple[tuple[str | int, ...], type, Any]] = [((), Policy, data)]
    if isinstance(data.get("rules"), list):
        data["rules"] = [_nulls(r, Rule) for r in data["rules"]]
        checks += [(("rules", i), Rule, r) for i, r in enumerate(data["rules"])]
    if isinstance(data.get("requirements"), dict):
        data["requirements"] = {k: _nulls(v, Requirement) for k, v in data["requirements"].items()}
        checks += [(("requirements", k), Requirement, v) for k, v in data["requirements"].items()]
    if isinstance(data.get("confidence"), dict):
        data["confidence"] = _nulls(data["confidence"], ConfidenceBands)
        checks.append((("confidence",), ConfidenceBands, data["confidence"]))
    problems: list[FileProblem] = []
    for base, cls, value in checks:
        problems += _pydantic_problems(base, cls, value)
    return problems


def _pydantic_problems(base: tuple[str | int, ...], cls: type, value: Any) -> list[FileProblem]:
    from pydantic import ValidationError

    try:
        _model(cls).model_validate(value)
    except ValidationError as exc:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for err in exc.errors():
            loc = [p for p in err["loc"] if isinstance(p, int) or ("[" not in p and p not in _TAGS)]
            grouped.setdefault(_key([*base, *loc]), []).append(dict(err))
        return [_problem(key, errs, cls) for key, errs in grouped.items()]
    return []


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 2, 4, 4, 60, 60
_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none", "tuple"})
_TYPE_FIXES = {
    "string_type": "write text in quotes",
    "int_type": "write a whole number, without quotes",
    "float_type": "write a number, without quotes",
    "bool_type": "write true or false",
    "list_type": "write a list: [...]",
    "sequence_str": 'write a list: ["..."]',
    "dict_type": "write a table of keys",
    "model_type": "write a table of keys",
}


def _problem(key: str, errs: list[dict[str, Any]], cls: type) -> FileProblem:
    err = errs[0]
    bad = _SHORT.repr(err.get("input"))
    if err["type"] == "extra_forbidden":
        name = key.rsplit(".", 1)[-1]
        allowed = sorted(_fields(cls))
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        return FileProblem(key, f"unknown key `{name}`.", f"{hint}Allowed here: {', '.join(allowed)}.")
    if err["type"] == "literal_error":
        return FileProblem(key, f"{bad} is not allowed.", f"use {err['ctx']['expected']}.")
    messages = " or ".join(dict.fromkeys(e["msg"].lower() for e in errs))
    fixes = " or ".join(dict.fromkeys(_TYPE_FIXES.get(e["type"], "see the policy file format") for e in errs))
    return FileProblem(key, f"got {bad}: {messages}.", f"{fixes}.")


def _field_of(message: str, cls: type, base: tuple[str | int, ...]) -> str:
    """The key a dataclass's own error is about: the first of its fields the message names."""
    indexed = _INDEXED.search(message)
    if indexed and indexed.group(1) in _fields(cls):
        return _key([*base, indexed.group(1), indexed.group(2)])
    names = [n for n in _fields(cls) if n in message]
    first = min(names, key=message.index) if names else None
    return _key([*base, first] if first else base)


_INDEXED = re.compile(r"(\w+)\[['\"]?([^'\"\]]+)['\"]?\]")


_PHRASE_FIX = (
    'write the phrase with plain argument names in braces, e.g. "DELETE {id}"; {{ and }} for braces.'
)


def _phrase_problem(phrase: str) -> str | None:
    """Why a verify phrase template would fail when an action is assessed, or None."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(phrase) if f is not None]
    except ValueError as exc:
        return f"{phrase!r} is not a phrase template: {exc}."
    bad = [f for f in fields if not f.isidentifier()]
    return f"{phrase!r} has the placeholder {{{bad[0]}}}, which is not an argument name." if bad else None

"""Policy files as text: TOML and YAML parsing with line numbers, and a TOML writer.

`tomllib` reads TOML but cannot write it, and neither format's parser says on which line a
key sits once the file has parsed; both are needed to name a bad key's line in an error. The
writer covers what a policy holds: tables, arrays of tables, strings, numbers, booleans and
(nested) arrays of those.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["find_line", "parse_text", "to_toml", "to_yaml"]

Loc = Sequence[str | int]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_KEY = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*\]\]?\s*(?:#.*)?$")
_ASSIGN = re.compile(rf"^\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*=")
_LITERAL = re.compile(r"[^'\x00-\x1f\x7f]*")
_TOML_AT = re.compile(r"at line (\d+)")


class TextError(ValueError):
    """The text does not parse; `line` is where the parser stopped, when it says."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def parse_text(text: str, fmt: str) -> Any:
    """The data in `text`, read as `fmt` (`toml` or `yaml`); a YAML mapping may not repeat a key.

    Raises:
        TextError: The text does not parse, with the line where the parser gives one.
    """
    if fmt == "toml":
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            found = _TOML_AT.search(str(exc))
            msg = f"not valid TOML: {exc}"
            raise TextError(msg, int(found.group(1)) if found else None) from None
    import yaml

    try:
        return yaml.load(text, Loader=_loader())  # noqa: S506  (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        msg = f"not valid YAML: {' '.join(str(exc).split())}"
        raise TextError(msg, line) from None


def _loader() -> Any:
    """A SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last one silently)."""
    import yaml

    class _Strict(yaml.SafeLoader):  # type: ignore[misc]  # pyyaml ships no types
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool)):
                    continue
                if key in seen:
                    msg = f"the key {key!r} is given twice"
                    raise yaml.constructor.ConstructorError(None, None, msg, key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return _Strict


# -- where a key is ---------------------------------------------------------------------------


def find_line(text: str, fmt: str, loc: Loc) -> int | None:
    """The 1-based line of the deepest part of `loc` found in `text` (None if none is)."""
    if not loc:
        return None
    try:
        return _yaml_line(text, loc) if fmt == "yaml" else _toml_line(text, loc)
    except Exception:  # a line number is a courtesy; never let finding it hide the real error
        return None


def _toml_key(part: str) -> str:
    part = part.strip()
    if part.startswith('"'):
        return str(json.loads(part))
    if part.startswith("'"):
        return part[1:-1]
    return part


def _split(dotted: str) -> list[str]:
    return [_toml_key(m.group(0)) for m in re.finditer(_KEY, dotted)]


def _toml_line(text: str, loc: Loc) -> int | None:
    """Scan the TOML text's table headers and keys for the path nearest to `loc`."""
    want = tuple(loc)
    table: tuple[str | int, ...] = ()
    arrays: dict[tuple[str | int, ...], int] = {}
    best, best_len = None, 0
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            path: tuple[str | int, ...] = tuple(_split(header.group(2)))
            if header.group(1) == "[[":
                arrays[path] = arrays.get(path, -1) + 1
                path = (*path, arrays[path])
            table = path
            here = path
        else:
            assign = _ASSIGN.match(line)
            if not assign:
                continue
            here = (*table, *_split(assign.group(1)))
        common = 0
        while common < min(len(here), len(want)) and here[common] == want[common]:
            common += 1
        if common == len(here) and common > best_len:
            best, best_len = number, common
    return best


def _yaml_line(text: str, loc: Loc) -> int | None:
    import yaml

    node = yaml.compose(text, Loader=yaml.SafeLoader)
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if str(k.value) == str(part)), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


# -- writing ----------------------------------------------------------------------------------


def to_yaml(data: Mapping[str, Any]) -> str:
    """`data` as YAML, in the order given."""
    import yaml

    class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # pyyaml ships no types
        pass

    def text(dumper: Any, value: str) -> Any:
        # Line breaks YAML folds (NEL, U+2028) and control characters survive only double-quoted.
        style = None if value.isprintable() else '"'
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, text)
    return str(yaml.dump(dict(data), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100))


def to_toml(data: Mapping[str, Any], *, header: str = "") -> str:
    """`data` as TOML: plain values first, then tables (`[a.b]`) and arrays of tables (`[[a]]`)."""
    out = [f"# {line}" if line else "#" for line in header.splitlines()]
    _table(out, (), data)
    return "\n".join(out).lstrip("\n") + "\n"


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _table(out: list[str], path: tuple[str, ...], data: Mapping[str, Any]) -> None:
    nested = []
    for key, value in data.items():
        if isinstance(value, Mapping) or _is_table_array(value):
            nested.append((key, value))
        else:
            out.append(f"{_key(key)} = {_value(value)}")
    for key, value in nested:
        sub = (*path, _key(key))
        if isinstance(value, Mapping):
            if not value or not all(isinstance(v, Mapping) for v in value.values()):
                out.extend(["", f"[{'.'.join(sub)}]"])  # a table of tables needs only its tables' headers
            _table(out, sub, value)
        else:
            for item in value:
                out.extend(["", f"[[{'.'.join(sub)}]]"])
                _table(out, sub, item)


def _key(key: str) -> str:
    return key if _BARE.fullmatch(key) else _string(key)


def _string(text: str) -> str:
    if '"' in text and _LITERAL.fullmatch(text):
        return f"'{text}'"  # a literal string reads better than escaped quotes: 'env == "prod"'
    # JSON's escapes (\" \\ \n \t \uXXXX) are TOML's; TOML also wants DEL escaped.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if value is None:
        return "false"  # TOML has no null: `false` is None for the number fields that may be None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    msg = f"{value!r} ({type(value).__name__}) cannot be written to TOML"
    raise TypeError(msg)

"""Declarative rule predicates: a small, safe expression language over an action's arguments.

A policy file cannot hold Python code, so a rule's `when` is an expression, checked when the
file is loaded and then evaluated against each action's `args`:

```
len(to) > 5                              a list argument's length
env == "prod" and amount >= 10_000       comparisons, `and`, `or`, `not`
env in ["prod", "production"]            membership (also `"admin" in roles`, `not in`)
customer.tier == "gold"                  a nested field; args["odd key"] for any key
matches(email, "@example\\.com$")        a regular expression (re.search), checked at load
lower(country) == "de"                   lower-cased text
is_vip()                                 a predicate registered in code, called with the args
```

A missing argument is `None`, so `env == "prod"` is false when there is no `env`. Anything
that raises (`len(None)`, `None > 5`, comparing text with a number, a registered predicate's
own error) makes the rule match, as a Python `Rule.when` that raises does: rules fail closed.

Regular expressions are limited so that no pattern can stall the gate (Python's `re`
backtracks and cannot be interrupted): at most `MAX_PATTERN_CHARS` characters; no
backreferences, lookarounds or conditionals; no repeated group that contains a repeat or an
alternation (`(a+)+`, `(a|ab)*`: write `a+`, `[ab]*`), which takes exponential time; and at
most two open-ended repeats (`*`, `+`, `{n,}`), with bounded ones counted by their range
(`MAX_STEPS`), which bounds the polynomial worst case to about 0.2 s. Text longer than
`MAX_MATCH_CHARS` characters is not searched: the rule matches (fail closed), as on an error.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = ["MAX_MATCH_CHARS", "MAX_PATTERN_CHARS", "MAX_SOURCE_CHARS", "Predicate", "RuleSyntaxError"]

MAX_SOURCE_CHARS = 2000
"""The longest `when` expression accepted."""
MAX_PATTERN_CHARS = 500
"""The longest regular expression accepted."""
MAX_MATCH_CHARS = 512
"""The longest text a regular expression is matched against; longer text counts as a match."""
MAX_STEPS = MAX_MATCH_CHARS**3
"""The most backtracking steps a pattern may need in the worst case, estimated as
`MAX_MATCH_CHARS ** (open-ended repeats + 1)` times each bounded repeat's range (2 for `?`):
two open-ended repeats (`a*b*c`) at most, about 0.2 s on `MAX_MATCH_CHARS` characters."""

Fn = Callable[[Mapping[str, Any]], Any]

_FUNCTIONS = ("len", "lower", "matches")
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: bool(a == b),
    ast.NotEq: lambda a, b: bool(a != b),
    ast.Lt: lambda a, b: bool(a < b),
    ast.LtE: lambda a, b: bool(a <= b),
    ast.Gt: lambda a, b: bool(a > b),
    ast.GtE: lambda a, b: bool(a >= b),
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_GROUP = re.compile(r"\(([^()]*)\)([+*?]|\{\d*,?\d*\})?")
_RISKY_BODY = re.compile(r"[+*|Q]|\{\d*,\d*\}")
_UNBOUNDED = re.compile(r"[+*]|\{\d*,\}")
_QUANTIFIER = re.compile(r"([+*?]|\{(\d*)(,?)(\d*)\})[?+]?")
_UNSAFE = re.compile(r"\\[1-9]|\(\?P=|\(\?<?[=!]|\(\?\(")


class RuleSyntaxError(ValueError):
    """A `when` expression is not in the language; the message says where and what to write."""


class Predicate:
    """A compiled `when` expression: call it with an action's args; `source` is the text it came from.

    Args:
        source: The expression, e.g. `'len(to) > 5'`.
        predicates: Named predicates the expression may call as `name()`; each gets the args.

    Raises:
        RuleSyntaxError: The expression uses something outside the language, names an unknown
            predicate, or holds an unsafe regular expression.

    Example:
        ```python
        bulk = Predicate("len(to) > 5")
        assert bulk({"to": list("abcdef")}) and not bulk({"to": ["a"]})
        ```
    """

    __slots__ = ("_fn", "names", "predicates", "source")

    def __init__(self, source: str, *, predicates: Mapping[str, Callable[..., Any]] | None = None) -> None:
        if not isinstance(source, str) or not source.strip():
            msg = f"when={source!r}; write an expression such as 'len(to) > 5', or leave `when` out."
            raise RuleSyntaxError(msg)
        if len(source) > MAX_SOURCE_CHARS:
            msg = f"when is {len(source)} characters; the limit is {MAX_SOURCE_CHARS}. Split the rule."
            raise RuleSyntaxError(msg)
        self.source = source
        self.predicates = dict(predicates or {})
        self.names: set[str] = set()
        """The registered predicates the expression calls."""
        try:
            tree = ast.parse(source.strip(), mode="eval")
            self._fn: Fn = self._compile(tree.body)
        except SyntaxError as exc:
            msg = f"when={source!r} is not an expression (column {exc.offset}): {exc.msg}."
            raise RuleSyntaxError(msg) from None
        except (RecursionError, MemoryError):
            msg = f"when={source[:60]!r}... is nested too deeply; write it flatter, or as several rules."
            raise RuleSyntaxError(msg) from None

    def __call__(self, args: Mapping[str, Any]) -> bool:
        return bool(self._fn(args))

    def __repr__(self) -> str:
        return f"Predicate({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Predicate) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)

    # -- compiling ----------------------------------------------------------------------------

    def _fail(self, node: ast.AST, what: str) -> RuleSyntaxError:
        col = getattr(node, "col_offset", 0) + 1
        return RuleSyntaxError(f"when={self.source!r}, column {col}: {what}")

    def _compile(self, node: ast.expr) -> Fn:
        if isinstance(node, ast.BoolOp):
            return _bool_op(isinstance(node.op, ast.And), [self._compile(v) for v in node.values])
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self._compile(node.operand)
            return lambda a: not inner(a)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = _constant(node)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return lambda a: value
            raise self._fail(node, "`-` goes only before a number.")
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Constant):
            if node.value is Ellipsis or isinstance(node.value, (bytes, complex)):
                raise self._fail(
                    node, f"{node.value!r} is not allowed; use text, numbers, true/false or None."
                )
            value = node.value
            return lambda a: value
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items = [self._compile(e) for e in node.elts]
            return lambda a: [item(a) for item in items]
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.Attribute):
            base = self._compile(node.value)
            key = node.attr
            return lambda a: _field(base(a), key)
        if isinstance(node, ast.Subscript):
            base, index = self._compile(node.value), self._compile(node.slice)
            return lambda a: _field(base(a), index(a))
        if isinstance(node, ast.Call):
            return self._call(node)
        raise self._fail(
            node,
            f"`{ast.unparse(node)}` is not in the rule language. Use argument names, constants, "
            "comparisons, in / not in, and / or / not, len(), lower(), matches() and registered predicates.",
        )

    def _name(self, node: ast.Name) -> Fn:
        name = node.id
        if name == "args":
            return lambda a: a
        if name in ("true", "false", "null", "none"):
            raise self._fail(node, f"`{name}` is an argument name here; write True, False or None.")
        return lambda a: a.get(name) if isinstance(a, Mapping) else None

    def _compare(self, node: ast.Compare) -> Fn:
        for op in node.ops:
            if type(op) not in _COMPARE:  # `is` / `is not`
                raise self._fail(node, f"`{ast.unparse(node)}`: use == and != instead of `is`.")
        left = self._compile(node.left)
        steps = [
            (_COMPARE[type(op)], self._compile(right))
            for op, right in zip(node.ops, node.comparators, strict=True)
        ]

        def compare(a: Mapping[str, Any]) -> bool:
            current = left(a)
            for test, right in steps:
                value = right(a)
                if not test(current, value):
                    return False
                current = value
            return True

        return compare

    def _call(self, node: ast.Call) -> Fn:
        if not isinstance(node.func, ast.Name) or node.keywords:
            raise self._fail(
                node,
                f"`{ast.unparse(node)}`: call len(), lower(), matches() or a registered predicate by name.",
            )
        name = node.func.id
        if name in self.predicates:
            if node.args:
                raise self._fail(
                    node, f"`{name}()` is a registered predicate; it takes no arguments (it gets the args)."
                )
            self.names.add(name)
            fn = self.predicates[name]
            return lambda a: fn(a)
        if name not in _FUNCTIONS:
            known = ", ".join(sorted(self.predicates)) or "none"
            raise self._fail(
                node,
                f"unknown function or predicate `{name}`. Built in: len, lower, matches; registered: {known}. "
                f"Register it in code: Policy.from_file(path, predicates={{{name!r}: fn}}).",
            )
        want = 2 if name == "matches" else 1
        if len(node.args) != want:
            raise self._fail(node, f"`{name}` takes {want} argument{'s' if want > 1 else ''}.")
        value = self._compile(node.args[0])
        if name == "len":
            return lambda a: len(value(a))
        if name == "lower":
            return lambda a: _text(value(a)).lower()
        return _matcher(value, self._pattern(node.args[1]))

    def _pattern(self, node: ast.expr) -> re.Pattern[str]:
        pattern = _constant(node)
        if not isinstance(pattern, str):
            raise self._fail(
                node, 'matches() takes the pattern as text written in the rule: matches(x, "^a").'
            )
        problem = pattern_problem(pattern)
        if problem:
            raise self._fail(node, problem)
        return re.compile(pattern)


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` is refused as a rule's regular expression, or None if it is safe to use."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"the pattern is {len(pattern)} characters; the limit is {MAX_PATTERN_CHARS}."
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"pattern {pattern!r} is not a regular expression: {exc}."
    ops = list(_walk(_parsed(pattern)))  # as `re` reads it: comments and verbose mode hide nothing
    if _UNSAFE.search(pattern) or any(op in _UNSAFE_OPS for op, _ in ops):
        return f"pattern {pattern!r} uses a backreference, lookaround or conditional; these are not allowed."
    shape = _shape(pattern)
    if _nested_repeat(shape) or _parsed_nested_repeat(ops):
        return (
            f"pattern {pattern!r} repeats a group that itself repeats or alternates, which can take "
            "exponential time; write `a+` for `(a+)+` and `[ab]*` for `(a|b)*`."
        )
    steps = max(_worst_steps(shape), _parsed_worst_steps(ops))
    if steps > MAX_STEPS:
        return (
            f"pattern {pattern!r} can take about {steps:.1e} steps on {MAX_MATCH_CHARS} characters (limit "
            f"{MAX_STEPS:.1e}): it has too many repeats; split it into matches() joined with `and`."
        )
    return None


def _shape(pattern: str) -> str:
    """`pattern` with escapes and character classes as one letter and every group opening as `(`."""
    shape = re.sub(r"\\.", "x", pattern)
    shape = re.sub(r"\[\^?\]?[^\]]*\]", "x", shape)
    return re.sub(r"\(\?(?:P<\w+>|<\w+>|[a-zA-Z-]*:)", "(", shape)


def _worst_steps(shape: str) -> int:
    """A bound on the steps a backtracking search needs for `shape` on `MAX_MATCH_CHARS` characters."""
    steps = MAX_MATCH_CHARS
    for quantifier in _QUANTIFIER.finditer(shape):
        low, comma, high = quantifier.group(2), quantifier.group(3), quantifier.group(4)
        if quantifier.group(1) in ("*", "+") or (comma and not high):
            steps *= MAX_MATCH_CHARS
        elif quantifier.group(1) == "?":
            steps *= 2
        elif comma:
            steps *= max(1, int(high) - int(low or 0) + 1)
    return steps


def _nested_repeat(shape: str) -> bool:
    """Whether a repeated group contains a repeat or an alternation, innermost groups first."""
    while True:
        group = _GROUP.search(shape)
        if group is None:
            return False
        body, repeat = group.group(1), group.group(2) or ""
        risky = bool(_RISKY_BODY.search(body))
        if risky and _UNBOUNDED.fullmatch(repeat):
            return True
        shape = shape[: group.start()] + ("Q" if risky or repeat else "x") + shape[group.end() :]


def _parsed(pattern: str) -> list[tuple[Any, Any]]:
    """`pattern` as Python's own parser reads it, so that comments, verbose mode and odd
    brackets cannot hide a repeat or a group from the checks (the text-level `_shape` alone can
    be fooled: `(?x)(a|a #)\n)+b` is `(a|a)+b`)."""
    try:
        from re import _parser as sre_parse  # type: ignore[attr-defined]  # Python 3.11+
    except ImportError:  # pragma: no cover - Python 3.10
        import sre_parse
    return list(sre_parse.parse(pattern).data)


_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})
_UNSAFE_OPS = frozenset({"GROUPREF", "GROUPREF_EXISTS", "ASSERT", "ASSERT_NOT"})


def _walk(items: Any) -> Iterator[tuple[str, Any]]:
    """Every (opcode name, argument) in a parsed pattern, depth first (sub-patterns are found
    wherever they sit in an argument: a repeat's body, a group, a branch's alternatives)."""
    for op, arg in items:
        yield getattr(op, "name", str(op)), arg
        yield from _inner(arg)


def _inner(arg: Any) -> Iterator[tuple[str, Any]]:
    if hasattr(arg, "data"):  # a sub-pattern
        yield from _walk(arg.data)
    elif isinstance(arg, (tuple, list)):
        for part in arg:
            yield from _inner(part)


def _parsed_nested_repeat(ops: list[tuple[str, Any]]) -> bool:
    """Whether a part that may repeat more than once holds a varying repeat or an alternation."""
    for op, arg in ops:
        if op in _REPEATS and arg[1] > 1:
            for inner, inner_arg in _inner(arg[2]):
                if inner == "BRANCH" or (inner in _REPEATS and inner_arg[1] != inner_arg[0]):
                    return True
    return False


def _parsed_worst_steps(ops: list[tuple[str, Any]]) -> int:
    """`_worst_steps` counted on the parsed pattern."""
    from _sre import MAXREPEAT

    steps = MAX_MATCH_CHARS
    for op, arg in ops:
        if op in _REPEATS:
            steps *= MAX_MATCH_CHARS if arg[1] == MAXREPEAT else max(1, arg[1] - arg[0] + 1)
    return steps


def _constant(node: ast.expr) -> Any:
    """The value of a constant node (a number with its sign), or a marker that it is not one."""
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return Ellipsis


def _bool_op(conjunction: bool, parts: list[Fn]) -> Fn:
    if conjunction:
        return lambda a: all(part(a) for part in parts)
    return lambda a: any(part(a) for part in parts)


def _field(base: Any, key: Any) -> Any:
    """`base[key]` for a mapping (None when missing) or a list (an int index); None stays None."""
    if base is None:
        return None
    if isinstance(base, Mapping):
        return base.get(key)
    if isinstance(base, list) and isinstance(key, int) and not isinstance(key, bool):
        return base[key] if -len(base) <= key < len(base) else None
    msg = f"cannot take field {key!r} of a {type(base).__name__}"
    raise TypeError(msg)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        msg = f"expected text, got {type(value).__name__}"
        raise TypeError(msg)
    return value


def _matcher(value: Fn, pattern: re.Pattern[str]) -> Fn:
    def matches(a: Mapping[str, Any]) -> bool:
        text = _text(value(a))
        if len(text) > MAX_MATCH_CHARS:
            msg = f"text of {len(text)} characters is longer than {MAX_MATCH_CHARS}"
            raise ValueError(msg)  # the rule matches: fail closed
        return pattern.search(text) is not None

    return matches

"""Policies as files people review: `Policy.from_file("policy.toml")` and `policy.to_file(...)`.

A policy file holds everything a `Policy` holds that is data: the reversibility table, rules
(with `when` written in the rule language of `policy_rules`, or calling predicates registered
in code), per-risk requirements, verify phrases, impacts, confidence bands, `unknown`,
`soft_timeout_s` and the version. TOML is read with `tomllib`; `.yaml` / `.yml` files need
`pyyaml`, imported only when one is read or written.

```toml
version = "2026-11"

[actions]
search = "fully_reversible"
delete_record = "irreversible_high"

[[rules]]
name = "prod-delete"
actions = ["delete_record"]
when = 'env == "prod"'
risk = "critical"

[requirements.critical]
required_approvals = 2
timeout_s = 3600

[verify_phrases]
delete_record = "DELETE {id}"
```

The keys are the fields of `Policy`, `Rule`, `Requirement` and `ConfidenceBands`, read from
the classes themselves, so a field those gain is a key here too. TOML has no null: write
`false` for a number that may be None (`soft_timeout_s = false`: soft gates wait forever).

A file is checked whole before anything is built: every problem is reported at once, in a
`PolicyFileError` naming the file, the line (where the parser or a scan of the text finds
it), the key and the fix. A file that loads is a complete `Policy`; nothing is half-loaded.

Example:
    ```python
    policy = Policy.from_file("policy.toml", predicates={"is_vip": lambda args: args.get("vip") is True})
    policy.to_file("policy.yaml")
    ```
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ._policy_schema import (
    _PHRASE_FIX,
    FileProblem,
    _field_of,
    _fields,
    _key,
    _phrase_problem,
    _validate,
)
from ._policy_text import TextError, find_line, parse_text, to_toml, to_yaml
from .errors import PolicyError
from .policy import ConfidenceBands, Policy, Requirement, Rule
from .policy_rules import Predicate, RuleSyntaxError

__all__ = [
    "MAX_FILE_BYTES",
    "FileProblem",
    "PolicyFileError",
    "dump_policy",
    "load_policy",
    "policy_data",
    "policy_from_text",
]

MAX_FILE_BYTES = 1_000_000
"""The largest policy file read."""

Predicates = Mapping[str, Callable[[dict[str, Any]], Any]]


class PolicyFileError(PolicyError):
    """A policy file cannot be read, or does not describe a valid policy; nothing was loaded.

    Attributes:
        path: The file.
        problems: Every problem found, each with its key, line and fix.
    """

    def __init__(self, path: str, problems: Sequence[FileProblem]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """One line per problem: `file:line: key: message Fix: fix`."""
        out = []
        for p in self.problems:
            where = f"{self.path}:{p.line}" if p.line else self.path
            key = f" {p.key}:" if p.key else ""
            out.append(f"{where}:{key} {p.message}" + (f" Fix: {p.fix}" if p.fix else ""))
        return out


# -- reading ----------------------------------------------------------------------------------


def file_format(path: str | os.PathLike[str]) -> Literal["toml", "yaml"]:
    """`toml` or `yaml`, from the file's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix == ".toml":
        return "toml"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    msg = f"a policy file ends in .toml, .yaml or .yml, not {suffix or 'nothing'!r}."
    raise PolicyFileError(os.fspath(path), [FileProblem("", msg, "rename it, e.g. policy.toml")])


def load_policy(path: str | os.PathLike[str], *, predicates: Predicates | None = None) -> Policy:
    """The policy in a TOML or YAML file (see the module docstring).

    Args:
        path: The file; `.toml`, or `.yaml` / `.yml` with pyyaml installed.
        predicates: Named predicates rules may call as `name()`; each gets the action's args.

    Raises:
        PolicyFileError: The file cannot be read or is not a valid policy; every problem is named.
    """
    name, fmt = os.fspath(path), file_format(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        problem = FileProblem("", f"cannot read the file: {exc.strerror or exc}.", "check the path.")
        raise PolicyFileError(name, [problem]) from None
    if len(raw) > MAX_FILE_BYTES:
        problem = FileProblem("", f"the file is {len(raw):,} bytes; the limit is {MAX_FILE_BYTES:,}.", "")
        raise PolicyFileError(name, [problem])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problem = FileProblem("", f"byte {exc.start} is not UTF-8.", "save the file as UTF-8.", line)
        raise PolicyFileError(name, [problem]) from None
    return policy_from_text(text, fmt=fmt, source=name, predicates=predicates)


def policy_from_text(
    text: str, *, fmt: Literal["toml", "yaml"], source: str = "<policy>", predicates: Predicates | None = None
) -> Policy:
    """The policy in `text`, read as `fmt`; `source` names it in errors. See `load_policy`."""
    for pname, fn in (predicates or {}).items():
        if not (isinstance(pname, str) and pname.isidentifier() and callable(fn)):
            msg = f"predicates[{pname!r}] must map a plain name to a function of the args; got {fn!r}."
            raise PolicyError(msg)
    if fmt == "yaml":
        _need_yaml(source)
    try:
        return _policy_of(text, fmt, source, predicates or {})
    except RecursionError:  # `[[[[...]]]]` thousands deep: a parser or a check ran out of stack
        problem = FileProblem("", "the file nests lists or tables too deeply to read.", "flatten it.")
        raise PolicyFileError(source, [problem]) from None


def _policy_of(text: str, fmt: Literal["toml", "yaml"], source: str, predicates: Predicates) -> Policy:
    """`policy_from_text` after its argument checks."""
    try:
        data = parse_text(text, fmt)
    except TextError as exc:
        fix = "fix the syntax at that line."
        raise PolicyFileError(source, [FileProblem("", str(exc), fix, exc.line)]) from None
    if not isinstance(data, dict):
        what = type(data).__name__
        problem = FileProblem(
            "", f"the file holds a {what}, not a table of keys.", "start with version = ..."
        )
        raise PolicyFileError(source, [problem])
    problems = _validate(data)
    policy = _build(data, predicates, problems)
    if problems or policy is None:
        located = [dataclasses.replace(p, line=p.line or _line(text, fmt, p.key)) for p in problems]
        raise PolicyFileError(source, located)
    return policy


def _need_yaml(source: str) -> None:
    from importlib.util import find_spec

    if find_spec("yaml") is None:
        fix = "pip install pyyaml, or write the policy as TOML."
        raise PolicyFileError(source, [FileProblem("", "reading YAML needs pyyaml.", fix)])


def _line(text: str, fmt: str, key: str) -> int | None:
    loc: list[str | int] = []
    for part in key.replace("]", "").replace("[", ".").split("."):
        if part:
            loc.append(int(part) if part.isdigit() else part)
    return find_line(text, fmt, loc)


# -- building ---------------------------------------------------------------------------------


def _build(data: dict[str, Any], predicates: Predicates, problems: list[FileProblem]) -> Policy | None:
    """The policy from validated `data`, or None with what the classes refused added to `problems`."""

    flawed = [p.key for p in problems]

    def checked(base: tuple[str | int, ...]) -> bool:
        """Whether nothing at `base`, inside it or around it (a section of the wrong type) was flawed."""
        prefix = _key(base)
        inside = (prefix + ".", prefix + "[")
        return not any(
            k == prefix or k.startswith(inside) or prefix.startswith((k + ".", k + "[")) for k in flawed
        )

    def section(name: str, kind: type) -> Any:
        value = data.get(name)
        return value if isinstance(value, kind) and checked((name,)) else kind()

    def make(cls: type, base: tuple[str | int, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return cls(**kwargs)
        except (PolicyError, TypeError, ValueError) as exc:
            problems.append(FileProblem(_field_of(str(exc), cls, base), str(exc), ""))
            return None

    rules = []
    for i, spec in enumerate(section("rules", list)):
        if not checked(("rules", i)):
            continue
        kwargs = dict(spec)
        if kwargs.get("when") is not None:
            try:
                kwargs["when"] = Predicate(kwargs["when"], predicates=predicates)
            except RuleSyntaxError as exc:
                problems.append(FileProblem(_key(("rules", i, "when")), str(exc), ""))
                continue
        rules.append(make(Rule, ("rules", i), kwargs))
    requirements = {
        k: make(Requirement, ("requirements", k), v)
        for k, v in section("requirements", dict).items()
        if checked(("requirements", k))
    }
    for action, phrase in section("verify_phrases", dict).items():
        problem = _phrase_problem(phrase) if checked(("verify_phrases", action)) else None
        if problem:
            problems.append(FileProblem(_key(("verify_phrases", action)), problem, _PHRASE_FIX))
    bands = data.get("confidence")
    confidence = None
    if isinstance(bands, dict) and checked(("confidence",)):
        confidence = make(ConfidenceBands, ("confidence",), bands)
    if problems:
        return None
    fields = {**data, "rules": rules, "requirements": requirements, "confidence": confidence}
    return make(Policy, (), {k: v for k, v in fields.items() if k in data or k == "rules"})  # type: ignore[no-any-return]


# -- writing ----------------------------------------------------------------------------------


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _plain_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_value(v) for v in value]
    return value


def _dataclass_data(obj: Any, *, keep: Sequence[str] = (), where: str) -> dict[str, Any]:
    """A dataclass's fields that differ from their defaults (and those in `keep`), as plain data."""
    out: dict[str, Any] = {}
    kinds = _fields(type(obj))  # type: ignore[arg-type]  # a dataclass type is hashable
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if field.name not in keep and value == _default(field):
            continue
        if field.name not in kinds:
            msg = f"{where}.{field.name} is {value!r}, which is not data a file can hold."
            raise PolicyError(msg)
        out[field.name] = _plain_value(value)
    return out


def policy_data(policy: Policy, *, predicates: Predicates | None = None) -> dict[str, Any]:
    """The policy as the plain data its file holds (only what differs from the defaults).

    Raises:
        PolicyError: A rule's `when` is Python code that is neither a rule expression nor one
            of `predicates`, or a field holds something that is not data.
    """
    names = {id(fn): name for name, fn in (predicates or {}).items()}
    rules = []
    for i, rule in enumerate(policy.rules):
        spec = _dataclass_data(dataclasses.replace(rule, when=None), keep=("name",), where=f"rules[{i}]")
        order = [f.name for f in dataclasses.fields(Rule)]
        if isinstance(rule.when, Predicate):
            spec["when"] = rule.when.source
        elif rule.when is not None and id(rule.when) in names:
            spec["when"] = f"{names[id(rule.when)]}()"
        elif rule.when is not None:
            msg = (
                f"rules[{i}] ({rule.name!r}) has a Python predicate, which a file cannot hold. Write it "
                "in the rule language (when='len(to) > 5'), or register it: to_file(path, "
                "predicates={'name': fn}) writes it as when = 'name()'."
            )
            raise PolicyError(msg)
        rules.append(dict(sorted(spec.items(), key=lambda item: order.index(item[0]))))
    plain = dataclasses.replace(policy, rules=(), requirements={}, confidence=None)
    data = _dataclass_data(plain, keep=("version",), where="policy")
    data = {"version": data.pop("version"), **data}
    if policy.confidence is not None:
        data["confidence"] = _dataclass_data(
            policy.confidence, keep=[f.name for f in dataclasses.fields(ConfidenceBands)], where="confidence"
        )
    if policy.requirements:
        data["requirements"] = {
            risk: _dataclass_data(req, where=f"requirements.{risk}")
            for risk, req in policy.requirements.items()
        }
    if rules:
        data["rules"] = rules
    return data


def dump_policy(
    policy: Policy, path: str | os.PathLike[str], *, predicates: Predicates | None = None
) -> Path:
    """Write `policy` to `path` as TOML or YAML (by the suffix); what is written loads back the same.

    Raises:
        PolicyError: The policy holds something a file cannot (see `policy_data`), or text that
            is not valid Unicode (a lone surrogate); nothing is written.
    """
    name, fmt = os.fspath(path), file_format(path)
    if fmt == "yaml":
        _need_yaml(name)
    data = policy_data(policy, predicates=predicates)
    header = (
        "A langgraph-hitl policy: Policy.from_file(path) loads it; `langgraph-hitl policy check` lints it."
    )
    text = to_toml(data, header=header) if fmt == "toml" else to_yaml(data)
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        msg = f"the policy holds text that is not valid Unicode ({exc.object[exc.start : exc.end]!r}); fix the text."
        raise PolicyError(msg) from None
    again = policy_from_text(text, fmt=fmt, source=name, predicates=predicates)
    if policy_data(again, predicates=predicates) != data:  # pragma: no cover - a writer bug, caught loudly
        msg = f"{name}: the written policy does not read back the same; nothing was written."
        raise PolicyError(msg)
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(encoded)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target

"""Policy files: the README's policy as TOML assesses as the Python one does, files round-trip,
bad files fail whole with the file, line, key and fix named, rule regexes cannot stall the gate,
and `langgraph-hitl policy check` lints."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langgraph_hitl import ConfidenceBands, Policy, Requirement, Rule
from langgraph_hitl.cli import main
from langgraph_hitl.errors import PolicyError
from langgraph_hitl.policy_files import PolicyFileError, policy_data
from langgraph_hitl.policy_lint import lint_policy
from langgraph_hitl.policy_rules import MAX_MATCH_CHARS, Predicate, RuleSyntaxError, pattern_problem

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "policy.toml"
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

README_POLICY = Policy(
    {
        "search": "fully_reversible",
        "update_record": "partially_reversible",
        "send_email": "irreversible_low",
        "delete_record": "irreversible_high",
    },
    rules=[
        Rule("bulk-mail", actions="send_email", when=lambda a: len(a["to"]) > 5, risk="high"),
        Rule("prod-delete", actions="delete_record", when=lambda a: a.get("env") == "prod", risk="critical"),
    ],
    requirements={
        "high": Requirement(
            approvers=["alice", "bob"], timeout_s=3600, on_timeout="escalate", escalation=[["manager"]]
        ),
        "critical": Requirement(required_approvals=2, timeout_s=3600),
    },
    verify_phrases={"delete_record": "DELETE {id}"},
    confidence=ConfidenceBands(auto_approve_at=0.85, auto_reject_below=0.3),
    version="2026-11",
)

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10),
    st.sampled_from(["prod", "vip", "a1"]),
    st.text(max_size=5),
    st.lists(st.text(max_size=2), max_size=8),
)
actions = st.fixed_dictionaries(
    {
        "name": st.sampled_from(
            ["search", "update_record", "send_email", "delete_record", "drop_db", "Search"]
        ),
        "args": st.dictionaries(st.sampled_from(["to", "env", "id", "amount", "x"]), values, max_size=4),
    }
)
confidences = st.one_of(st.none(), st.floats(0, 1))


@FAST
@given(action=actions, confidence=confidences)
def test_readme_policy_file_assesses_like_the_python_policy(
    action: dict[str, Any], confidence: float | None
) -> None:
    """examples/policy.toml gives the same assessment as the README's Python policy for any action."""
    from_file = Policy.from_file(EXAMPLE)
    assert from_file.assess(action, confidence=confidence) == README_POLICY.assess(
        action, confidence=confidence
    )  # type: ignore[arg-type]


conditions = st.sampled_from(
    [
        "len(to) > 5",
        'env == "prod"',
        'env in ["prod", "staging"] and amount >= 3',
        "not (amount < 0) or x == None",
        'matches(x, "^a[0-9]+$")',
        'lower(x) == "ab"',
        'args["to"][0] == "a"',
        "is_vip()",
    ]
)
risks = st.sampled_from(["low", "medium", "high", "critical"])
rules = st.builds(
    lambda name, acts, when, risk, mode: Rule(
        name, actions=acts, when=when, risk=risk, mode=mode if risk is None or mode else None
    ),
    st.text(min_size=1, max_size=6),
    st.one_of(
        st.just("*"), st.lists(st.sampled_from(["search", "send_email", "pay"]), min_size=1, max_size=2)
    ),
    st.one_of(st.none(), conditions.map(lambda s: Predicate(s, predicates={"is_vip": _vip}))),
    st.one_of(st.none(), risks),
    st.sampled_from(["verify", "deny", "hard"]),
)
requirements = st.builds(
    Requirement,
    approvers=st.one_of(st.none(), st.lists(st.sampled_from(["alice", "bob", "Ωmega", 'a"b']), min_size=1)),
    required_approvals=st.sampled_from([1, 2]),
    timeout_s=st.one_of(st.none(), st.integers(1, 10**6), st.floats(0.5, 1e6)),
    escalation=st.lists(st.lists(st.sampled_from(["m", "n"]), min_size=1, max_size=2), max_size=2),
)
policies = st.builds(
    lambda table, rls, reqs, phrases, conf, version, unknown, soft: Policy(
        table,
        rules=rls,
        requirements=reqs,
        verify_phrases=phrases,
        confidence=conf,
        version=version,
        unknown=unknown,
        soft_timeout_s=soft,
    ),  # fmt: skip
    st.dictionaries(
        st.sampled_from(["search", "send_email", "pay", "a b", "é\x7f"]),
        st.sampled_from(
            ["fully_reversible", "partially_reversible", "irreversible_low", "irreversible_high"]
        ),
    ),
    st.lists(rules, max_size=3),
    st.dictionaries(st.sampled_from(["low", "medium", "critical"]), requirements, max_size=2),
    st.dictionaries(
        st.sampled_from(["pay", "search"]), st.sampled_from(["PAY {amount}", "yes", "{x} {{ok}}"])
    ),
    st.one_of(st.none(), st.builds(ConfidenceBands, st.floats(0.5, 1), st.floats(0, 0.5))),
    st.text(max_size=8),
    st.sampled_from(["hard", "deny"]),
    st.one_of(st.none(), st.integers(1, 99999), st.floats(1, 1e5)),
)


def _vip(args: dict[str, Any]) -> bool:
    return args.get("x") == "vip"


@FAST
@given(policy=policies, probe=st.lists(st.tuples(actions, confidences), min_size=1, max_size=5))
def test_to_file_then_from_file_assesses_identically(
    tmp_path: Path, policy: Policy, probe: list[Any]
) -> None:
    """Whatever a file can hold, written as TOML or YAML and read back, assesses every action the same."""
    for suffix in (".toml", ".yaml"):
        path = tmp_path / f"p{suffix}"
        policy.to_file(path, predicates={"is_vip": _vip})
        again = Policy.from_file(path, predicates={"is_vip": _vip})
        for action, confidence in probe:
            action = {**action, "name": action["name"].replace("Search", "pay")}
            assert again.assess(action, confidence=confidence) == policy.assess(action, confidence=confidence)


@FAST
@given(data=st.data())
def test_a_mutated_file_loads_the_same_or_fails_naming_the_file(tmp_path: Path, data: st.DataObject) -> None:
    """Any edit of a valid TOML or YAML file either loads or raises PolicyFileError naming the file,
    never another error (a section of the wrong type, a stray alias, a NUL, ...)."""
    suffix = data.draw(st.sampled_from([".toml", ".yaml"]))
    if suffix == ".yaml":
        Policy.from_file(EXAMPLE).to_file(tmp_path / "example.yaml")
    text = (EXAMPLE if suffix == ".toml" else tmp_path / "example.yaml").read_text(encoding="utf-8")
    pos = data.draw(st.integers(0, len(text) - 1))
    kind = data.draw(st.sampled_from(["delete", "insert", "replace_line", "swap"]))
    piece = data.draw(
        st.sampled_from(
            ['"', "[", "]", "=", "\n", "0", "-1", "x", "true", "{", "é", "\x00", "''", "*a", ": ", "- "]
        )
    )
    if kind == "delete":
        text = text[:pos] + text[pos + data.draw(st.integers(1, 30)) :]
    elif kind == "insert":
        text = text[:pos] + piece + text[pos:]
    elif kind == "swap":
        text = text.replace(
            '"irreversible_high"', data.draw(st.sampled_from(['"deny"', "3", '["x"]', "false"]))
        )
    else:
        lines = text.splitlines()
        lines[pos % len(lines)] = data.draw(
            st.sampled_from(["x = 1", "[rules]", "timeout_s = -1", "when = 'a >'"])
        )
        text = "\n".join(lines)
    path = tmp_path / f"mutated{suffix}"
    path.write_text(text, encoding="utf-8")
    try:
        policy = Policy.from_file(path)
    except PolicyFileError as exc:
        assert str(path) in str(exc) and exc.problems
        return
    assert isinstance(policy, Policy)
    assert policy_data(Policy.from_file(path)) == policy_data(policy)


def _error(tmp_path: Path, text: str, name: str = "p.toml") -> PolicyFileError:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyFileError) as info:
        Policy.from_file(path)
    assert str(path) in str(info.value)
    return info.value


def test_errors_name_the_line_key_and_fix(tmp_path: Path) -> None:
    """Each problem is reported at once, with its line, its key and what to write instead."""
    err = _error(
        tmp_path,
        'version = "1"\n[actions]\nsend = "irreversible"\n\n[requirements.high]\naprovers = ["a"]\n'
        "timeout_s = -5\n\n[[rules]]\nname = 'r'\nwhen = 'len(to) >> 1'\nrisk = 'high'\n",
    )
    found = {p.key: p for p in err.problems}
    assert found["actions.send"].line == 3 and "irreversible_low" in found["actions.send"].fix
    assert found["requirements.high.aprovers"].line == 6
    assert "did you mean `approvers`" in found["requirements.high.aprovers"].fix
    assert found["rules[0].when"].line == 11 and "not in the rule language" in found["rules[0].when"].message


def test_class_level_errors_are_located_too(tmp_path: Path) -> None:
    """What the dataclasses refuse (a negative timeout, approve-on-timeout for high) names its key and line."""
    err = _error(
        tmp_path,
        '[requirements.high]\ntimeout_s = 60\non_timeout = "approve"\n\n[requirements.low]\ntimeout_s = -1\n',
    )
    keys = {p.key: p.line for p in err.problems}
    assert keys.get("requirements.low.timeout_s") == 6, err.problems


@pytest.mark.parametrize(
    ("text", "name", "match"),
    [
        ('version = "1"\n[actions\n', "p.toml", r"p\.toml:2: not valid TOML"),
        ("actions:\n  a: fully_reversible\n  a: irreversible_high\n", "p.yaml", r"p\.yaml:3: .*given twice"),
        ("- 1\n", "p.yml", "holds a list"),
        (
            'verify_phrases = "x"\nrules = "y"\nrequirements = [1]\nconfidence = 3\n',
            "p.toml",
            r"p\.toml:4: confidence",
        ),
        (
            "version = 2\n",
            "p.toml",
            r"version: got 2: input should be a valid string\. Fix: write text in quotes",
        ),
        ('[verify_phrases]\nx = "DELETE {"\n', "p.toml", r"p\.toml:2: verify_phrases\.x"),
        ('[verify_phrases]\nx = "{a.__class__}"\n', "p.toml", "not an argument name"),
        ("[[rules]]\nname='r'\nwhen='matches(x, \"(a+)+$\")'\nmode='deny'\n", "p.toml", "exponential time"),
        ("[[rules]]\nname='r'\nwhen='is_vip()'\nmode='deny'\n", "p.toml", r"predicates=\{'is_vip': fn\}"),
    ],
)
def test_bad_files_are_refused_whole(tmp_path: Path, text: str, name: str, match: str) -> None:
    """Syntax, duplicate keys, wrong shapes, bad phrases, unsafe regexes, unregistered predicates: refused."""
    assert re.search(match, str(_error(tmp_path, text, name)))


def test_other_suffixes_and_unreadable_files_are_refused(tmp_path: Path) -> None:
    """A .json file and a missing file raise PolicyFileError, not OSError."""
    with pytest.raises(PolicyFileError, match=r"\.toml, \.yaml or \.yml"):
        Policy.from_file(tmp_path / "p.json")
    with pytest.raises(PolicyFileError, match="cannot read"):
        Policy.from_file(tmp_path / "missing.toml")
    (tmp_path / "latin.toml").write_bytes(b'version = "\xe9"\n')
    with pytest.raises(PolicyFileError, match="not UTF-8"):
        Policy.from_file(tmp_path / "latin.toml")


def test_to_file_refuses_python_predicates_unless_registered(tmp_path: Path) -> None:
    """A lambda cannot be written; a registered function is written as `name()` and read back."""
    with pytest.raises(PolicyError, match="Python predicate"):
        README_POLICY.to_file(tmp_path / "p.toml")
    policy = Policy({"pay": "irreversible_low"}, rules=[Rule("vip", actions="pay", when=_vip, mode="deny")])
    policy.to_file(tmp_path / "p.toml", predicates={"is_vip": _vip})
    assert 'when = "is_vip()"' in (tmp_path / "p.toml").read_text(encoding="utf-8")
    again = Policy.from_file(tmp_path / "p.toml", predicates={"is_vip": _vip})
    assert again.assess({"name": "pay", "args": {"x": "vip"}})["mode"] == "deny"


def test_rule_language_semantics_fail_closed() -> None:
    """Missing args are None; errors and over-long text make a rule match; unsafe code is refused."""
    rule = Rule("r", when=Predicate('matches(x, "^ok$")'), mode="deny")
    assert not rule.matches({"name": "a", "args": {"x": "no"}})
    assert rule.matches({"name": "a", "args": {"x": "ok"}})
    assert rule.matches({"name": "a", "args": {}})  # matches(None, ...) raises: fail closed
    assert rule.matches({"name": "a", "args": {"x": "o" * (MAX_MATCH_CHARS + 1)}})
    assert not Predicate('env == "prod"')({})
    for source in ["__import__('os')", "x.__class__ == 1 or x()", "(lambda: 1)()", "x + 1", "[i for i in x]"]:
        with pytest.raises(RuleSyntaxError):
            Predicate(source)
    for pattern in [r"(a+)+$", r"(a|aa)*b", r"a*a*a*b", r"(?=x)", r"(a)\1", r"a?" * 30]:
        assert pattern_problem(pattern), pattern
    assert pattern_problem(r"^[a-z]+-[0-9]+$") is None


def test_lint_finds_dead_and_contradictory_parts() -> None:
    """Never-matching rules, auto+verify actions, short approver lists and deadline-less soft gates."""
    policy = Policy(
        {"search": "fully_reversible", "mail": "irreversible_low"},
        rules=[
            Rule("never", actions="mail", when=Predicate("amount > 10 and amount < 5"), risk="high"),
            Rule("noop", actions="search", risk="low"),
        ],
        requirements={"critical": Requirement(approvers=["alice"], required_approvals=2)},
        verify_phrases={"search": "FIND"},
        soft_timeout_s=None,
    )
    found = {(f.severity, f.key) for f in lint_policy(policy)}
    assert ("warning", "rules[0].when") in found
    assert ("warning", "rules[1]") in found
    assert ("warning", "verify_phrases.search") in found
    assert ("error", "requirements.critical.approvers") in found
    assert ("warning", "requirements.medium.timeout_s") in found
    assert lint_policy(Policy.from_file(EXAMPLE)) == []


def test_policy_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`policy check` exits 0 on a clean file, 2 on a lint error or a bad file, and prints JSON."""
    assert main(["policy", "check", str(EXAMPLE)]) == 0
    assert "0 error(s), 0 warning(s)" in capsys.readouterr().out
    bad = tmp_path / "p.toml"
    bad.write_text(
        '[requirements.critical]\napprovers = ["alice"]\nrequired_approvals = 2\n', encoding="utf-8"
    )
    assert main(["policy", "check", str(bad), "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["findings"][0]["key"] == "requirements.critical.approvers"
    bad.write_text("version = \n", encoding="utf-8")
    assert main(["policy", "check", str(bad)]) == 2
    assert f"{bad}:1: not valid TOML" in capsys.readouterr().err


def test_hostile_files_and_policies_fail_cleanly(tmp_path: Path) -> None:
    """A YAML alias bomb is refused quickly with short messages; text that is not Unicode is never written."""
    rows = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    rows += [f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]" for p, n in zip("abcdef", "bcdefg", strict=True)]
    err = _error(tmp_path, "\n".join([*rows, "version: *g", "rules: *g"]) + "\n", "bomb.yaml")
    assert len(str(err)) < 20_000 and any(p.key == "version" for p in err.problems)
    with pytest.raises(PolicyError, match="not valid Unicode"):
        Policy({"a\ud800": "fully_reversible"}).to_file(tmp_path / "s.toml")
    assert not (tmp_path / "s.toml").exists()


def test_patterns_that_hide_backtracking_from_the_text_checks_are_refused() -> None:
    """Bounded repeats of varying groups, verbose-mode and inline comments cannot smuggle in a
    pattern that backtracks for minutes (each of these took 4 to 130 s on 22 to 30 characters)."""
    for pattern in [
        "(a?){30}a{30}",  # a repeated group holding `?`
        "(a|a){24}b",  # a bounded repeat of an alternation
        "(?:a{1,2}){1,40}b",  # a bounded repeat of a bounded repeat
        "(?x)(a|a #)\n)+b",  # verbose mode: the comment hides the group's end
        "(a|a(?#(x))+b",  # an inline comment opens a bracket the text check counts
        "(?#[)a*b*c*d*]",  # an inline comment opens a character class the text check swallows
    ]:
        assert pattern_problem(pattern), pattern
    for pattern in [r"(ab){3}", r"(?:[ab]c){1,5}", r"(?i)^x[0-9]{2,4}$", r"(a+)?", r"^\d{3}-\d{4}$"]:
        assert pattern_problem(pattern) is None, pattern


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.yaml", 'version: "1"\nactions: ' + "[" * 3000 + "]" * 3000 + "\n"),
        ("deep.toml", 'version = "1"\nrules = ' + "[" * 3000 + "]" * 3000 + "\n"),
        (
            "deep2.yaml",
            'version: "1"\nactions: {a: fully_reversible}\nrules: ' + "{a: " * 3000 + "1" + "}" * 3000,
        ),
    ],
)
def test_deeply_nested_files_are_a_policy_file_error(tmp_path: Path, name: str, text: str) -> None:
    """Nesting thousands deep is refused as a bad file, never a `RecursionError`."""
    err = _error(tmp_path, text, name)
    assert "nests" in str(err) or err.problems

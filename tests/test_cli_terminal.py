"""Terminal safety: what agents and strangers write never drives the reviewer's terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langgraph_hitl import Approvals
from langgraph_hitl.cli._safe import json_visible, visible
from langgraph_hitl.errors import HITLError

from graphs import build

ROOT = Path(__file__).resolve().parent.parent
UNSAFE = ("Cc", "Cf", "Cs", "Zl", "Zp")

# ESC sequences (clear screen, window title, colour), C1 controls (CSI, NEL), bell, backspace,
# carriage return, bidi embeddings, overrides and isolates, marks, line separator; rich markup and emoji codes.
DANGER = [
    "\x1b[2J", "\x1b]0;pwned\x07", "\x1b[31m", "\x9b6n", "\x85", "\x07", "\x08", "\r", "\t",
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
    "\u200e", "\u200f", "\u2028", "\ufeff", "\U000e0041", "[red]", "[/]", "[link=https://x.test]y[/link]",
    ":smile:",
]  # fmt: skip
nasty = st.lists(
    st.one_of(
        st.sampled_from(DANGER),
        st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=4),
    ),
    min_size=1,
    max_size=5,
).map("".join)


def escaped(text: str) -> str:
    """How the CLI must show `text` outside JSON: each unsafe character as a Python-style escape."""
    out = []
    for char in text:
        code = ord(char)
        if unicodedata.category(char) not in UNSAFE:
            out.append(char)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)


def assert_terminal_safe(data: bytes, where: str) -> None:
    """No byte sequence in `data` is a control, format or bidi character, bar newlines."""
    text = data.decode("utf-8")
    bad = [(i, hex(ord(c))) for i, c in enumerate(text) if c != "\n" and unicodedata.category(c) in UNSAFE]
    assert not bad, f"{where}: unsafe characters reach the terminal: {bad[:5]}"


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """The real command line in a child process, output as raw bytes, no colours, no folding."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGGRAPH_HITL_", "FORCE_COLOR"))}
    env.update(NO_COLOR="1", TERM="dumb", COLUMNS="5000")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "langgraph_hitl.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\x1b[2Jb", "a\\x1b[2Jb"),
        ("\u202eevil", "\\u202eevil"),
        ("x\x9by", "x\\x9by"),
        ("[red]hi[/]", "[red]hi[/]"),
        ("tab\there", "tab\\x09here"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("naïve 日本 🙂", "naïve 日本 🙂"),
    ],
)
def test_visible_escapes_only_unsafe_characters(text: str, shown: str) -> None:
    """Controls, C1, bidi and tag characters become escapes; markup, accents, CJK and emoji stay."""
    assert visible(text) == shown


@given(value=nasty)
def test_json_visible_keeps_json_equal(value: str) -> None:
    """Escaping unsafe characters in JSON text gives the same JSON value back, and nothing unsafe."""
    dumped = json_visible(json.dumps({value: [value]}, indent=2, ensure_ascii=False))
    assert json.loads(dumped) == {value: [value]}
    assert_terminal_safe(dumped.encode("utf-8"), "json_visible")


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arg=nasty, key=nasty, description=nasty, task=nasty, message=nasty, actor=nasty, thread=nasty)
def test_reading_commands_never_print_unsafe_characters(
    arg: str, key: str, description: str, task: str, message: str, actor: str, thread: str
) -> None:
    """Hostile text in a real request's args (values and keys), description, context, thread id, a
    reviewer's message and a refused actor's name: `pending`, `show` and `audit` print it visibly
    escaped, as bytes with no control, format or bidi character; `[red]` stays literal text."""
    thread = "t-" + "".join(c for c in thread if c.isprintable())[:40]  # start() takes printable ids only
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        db_url = f"sqlite:///{cwd / 'hitl.db'}"
        with Approvals.open(build(), db_url) as hitl:
            asked = hitl.start(
                thread,
                {
                    "action": {
                        "name": "delete_record",
                        "args": {"note": arg, key: 1},
                        "description": description,
                    },
                    "hitl_context": {"task": task},
                },
            ).pending[0]
            other = hitl.start(
                thread + "-b", {"action": {"name": "delete_record", "args": {"id": 2}}}
            ).pending[0]
            try:
                hitl.decide(other.request_id, {"type": "approve"}, approver=actor)
            except HITLError:
                pass  # refused, and audited under the name given
            else:
                other = hitl.start(
                    thread + "-c", {"action": {"name": "delete_record", "args": {"id": 3}}}
                ).pending[0]
            hitl.decide(other.request_id, {"type": "reject", "message": message}, approver="bob")
        base = ["--db", db_url]
        runs = {
            "pending": run_cli(cwd, *base, "pending"),
            "show": run_cli(cwd, *base, "show", asked.request_id),
            "show decided": run_cli(cwd, *base, "show", other.request_id),
            "audit": run_cli(cwd, *base, "audit", "--limit", "0"),
            "show --json": run_cli(cwd, *base, "show", asked.request_id, "--json"),
        }
        for name, proc in runs.items():
            assert proc.returncode == 0, (name, proc.stderr)
            assert_terminal_safe(proc.stdout, name)
            assert_terminal_safe(proc.stderr, name)
        show = runs["show"].stdout.decode("utf-8")
        assert escaped(description) in show and escaped(thread) in show
        assert json_visible(json.dumps(arg, ensure_ascii=False)) in show  # the args block is JSON
        said = f'rejected by bob: "{message}"' if message else "rejected by bob"
        assert escaped(said) in runs["show decided"].stdout.decode("utf-8")
        assert escaped(thread) in runs["pending"].stdout.decode("utf-8")
        assert json.loads(runs["show --json"].stdout)["request"]["payload"]["hitl"]["context"]["task"] == task
        if actor.strip() and not _valid_name(actor):  # a blank name is refused before anything is recorded
            assert escaped(actor[:200]) in runs["audit"].stdout.decode("utf-8")


def _valid_name(name: Any) -> bool:
    from langgraph_hitl.decisions import decider

    try:
        decider(name)
    except HITLError:
        return False
    return True

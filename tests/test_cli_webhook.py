"""Webhook settings for the CLI: a question a CLI decision creates is announced, signed, to a real receiver."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import test_notify
from test_notify import Receiver

from langgraph_hitl import Approvals
from langgraph_hitl.cli._errors import CLIError
from langgraph_hitl.cli._settings import resolve_settings
from langgraph_hitl.notify import SIGNATURE_HEADER, verify_signature
from langgraph_hitl.store import open_store

from graphs import action, build

ROOT = Path(__file__).resolve().parent.parent
GRAPH = f"{ROOT / 'tests' / 'graphs.py'}:builder"
SECRET = "cli-webhook-secret-0123456789"


receiver = test_notify.receiver
"""The notify suite's loopback receiver, as this module's fixture."""


def events(server: Receiver) -> list[dict[str, Any]]:
    """The bodies `server` got, after checking each signature."""
    with server.lock:
        got = list(server.requests)
    for request in got:
        verify_signature(request.body, secret=SECRET, header=request.headers.get(SIGNATURE_HEADER.lower()))
    return [request.json() for request in got]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No settings leak in from the environment or a config file."""
    for name in list(os.environ):
        if name.startswith("LANGGRAPH_HITL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def env(**extra: str) -> dict[str, str]:
    """The environment for CLI children: repo and tests/ importable, no inherited settings."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("LANGGRAPH_HITL_")}
    out["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests"), out.get("PYTHONPATH", "")])
    return {**out, **extra}


def run_cli(cwd: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """The real command line in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "langgraph_hitl.cli", *args],
        cwd=cwd,
        env=env(**extra_env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def critical(db_url: str) -> str:
    """A paused prod delete: critical, so two different people must approve it."""
    with Approvals.open(build(), db_url) as hitl:
        return hitl.start("prod-1", action("delete_record", id=7, env="prod")).pending[0].request_id


def status(db_url: str, request_id: str) -> str:
    """The inbox status of a request."""
    with open_store(db_url) as store:
        row = store.inbox.get(request_id)
    assert row is not None
    return row.status


@pytest.mark.slow
def test_cli_decision_announces_the_second_stage_question(
    db_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """`approve --webhook-url --webhook-secret`: the receiver gets the signed `decided` event and the
    `pending` event of the second-stage question the decision created, before the command exits."""
    rid = critical(db_url)
    proc = run_cli(
        tmp_path, "--db", db_url, "approve", rid, "--as", "alice", "--graph", GRAPH,
        "--webhook-url", receiver.url, "--webhook-secret", SECRET,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    [second] = [line.split()[0] for line in proc.stdout.splitlines() if line.startswith("  ")]
    received = events(receiver)
    assert [e["event"] for e in received] == ["pending", "decided"]
    pending, decided = received
    assert pending["request"]["hitl"]["request_id"].startswith(second)
    assert (
        pending["request"]["hitl"]["stage"] == 2
        and "alice" in pending["request"]["hitl"]["exclude_approvers"]
    )
    assert decided["request"]["request_id"] == rid and decided["decision"]["type"] == "approve"
    assert proc.stderr == ""


@pytest.mark.slow
def test_webhook_from_env_and_secret_file_from_config(
    db_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """LANGGRAPH_HITL_WEBHOOK_URL, and webhook_secret_file in langgraph-hitl.toml (relative to the file)."""
    rid = critical(db_url)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "hook").write_text(SECRET + "\n")
    (tmp_path / "langgraph-hitl.toml").write_text(
        f'db = "{db_url}"\ngraph = "{GRAPH}"\nwebhook_secret_file = "secrets/hook"\n'
    )
    proc = run_cli(tmp_path, "approve", rid, "--as", "alice", LANGGRAPH_HITL_WEBHOOK_URL=receiver.url)
    assert proc.returncode == 0, proc.stderr
    assert [e["event"] for e in events(receiver)] == ["pending", "decided"]


def test_settings_precedence_for_the_webhook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Option, then environment, then the config file; the secret file is read only when needed."""
    (tmp_path / "langgraph-hitl.toml").write_text(
        'webhook_url = "http://config.test/h"\nwebhook_secret_file = "missing"\n'
    )
    settings = resolve_settings(None, None)
    assert (
        settings.webhook_url == "http://config.test/h"
        and settings.webhook_secret_file == tmp_path / "missing"
    )
    with pytest.raises(
        CLIError, match=r"Cannot read the webhook secret file '.*missing' \(from webhook_secret_file"
    ):
        settings.require_webhook_secret()
    monkeypatch.setenv("LANGGRAPH_HITL_WEBHOOK_URL", "http://env.test/h")
    monkeypatch.setenv("LANGGRAPH_HITL_WEBHOOK_SECRET", "from-env")
    settings = resolve_settings(None, None)
    assert (settings.webhook_url, settings.require_webhook_secret()) == ("http://env.test/h", "from-env")
    settings = resolve_settings(None, None, webhook_url="http://option.test/h", webhook_secret="from-option")
    assert (settings.webhook_url, settings.require_webhook_secret()) == (
        "http://option.test/h",
        "from-option",
    )


@pytest.mark.parametrize(
    ("args", "config", "message", "hint"),
    [
        (["--webhook-url", "http://127.0.0.1:9/h"], "", "A webhook URL is set (http://127.0.0.1:9/…) but no secret",
         "Pass --webhook-secret, set LANGGRAPH_HITL_WEBHOOK_SECRET, or add webhook_secret_file"),
        (["--webhook-url", "ftp://x/h", "--webhook-secret", "s"], "", "url 'ftp://x/…' is not an http(s) URL",
         "Fix --webhook-url"),
        ([], 'webhook_secret = "s"\n', "webhook_secret is not read from the config file",
         'webhook_secret_file = "/run/secrets/hitl_webhook"'),
    ],
)  # fmt: skip
def test_bad_webhook_settings_are_usage_errors_and_decide_nothing(
    db_url: str, tmp_path: Path, args: list[str], config: str, message: str, hint: str
) -> None:
    """A URL without a secret, a URL that is not http(s), a secret in the config file: exit 2, still pending."""
    rid = critical(db_url)
    (tmp_path / "langgraph-hitl.toml").write_text(config)
    proc = run_cli(tmp_path, "--db", db_url, "approve", rid, "--as", "alice", "--graph", GRAPH, *args)
    assert proc.returncode == 2, proc.stderr
    error, hint_line = proc.stderr.splitlines()
    assert message in error and hint in hint_line
    assert status(db_url, rid) == "pending"


@pytest.mark.slow
def test_unreachable_webhook_warns_and_the_decision_stands(db_url: str, tmp_path: Path) -> None:
    """Nobody listening: the decision is made and the thread goes on; stderr says the events were lost."""
    rid = critical(db_url)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/hooks"
    proc = run_cli(
        tmp_path, "--db", db_url, "approve", rid, "--as", "alice", "--graph", GRAPH,
        "--webhook-url", dead, "--webhook-secret", SECRET,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert status(db_url, rid) == "resumed"
    warning = [line for line in proc.stderr.splitlines() if line.startswith("Warning: ")]
    assert (
        warning
        and f"to http://127.0.0.1:{dead.split(':')[2].split('/')[0]}/… were not delivered" in warning[0]
    )


@pytest.mark.slow
def test_serve_announces_what_a_web_decision_asks_next(
    db_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """`serve --webhook-url --webhook-secret`: a decision through the web inbox's API is announced, with
    the second-stage question it created."""
    rid = critical(db_url)
    (tmp_path / "tokens.txt").write_text("alice:alice-secret-token\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "langgraph_hitl.cli", "--db", db_url, "serve", "--port", str(port),
         "--approvers", str(tmp_path / "tokens.txt"), "--graph", GRAPH,
         "--webhook-url", receiver.url, "--webhook-secret", SECRET],
        cwd=tmp_path, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _post_when_up(f"http://127.0.0.1:{port}/api/requests/{rid}/decision", {"type": "approve"}, proc)
        deadline = time.monotonic() + 30
        while len(events(receiver)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    pending, decision = events(receiver)
    assert (pending["event"], pending["request"]["hitl"]["stage"]) == ("pending", 2)
    assert (decision["event"], decision["request"]["request_id"]) == ("decided", rid)


def _post_when_up(url: str, body: dict[str, Any], proc: subprocess.Popen[bytes]) -> Any:
    """POST `body` as alice once the server answers."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer alice-secret-token", "Content-Type": "application/json"},
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.URLError as exc:
            if isinstance(exc, urllib.error.HTTPError):
                raise
            assert proc.poll() is None, "serve exited"
            assert time.monotonic() < deadline, "the web inbox did not start"
            time.sleep(0.2)

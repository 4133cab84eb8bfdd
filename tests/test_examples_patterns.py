"""The pattern examples and notebook 04 run as documented: real subprocesses, a real kernel, offline."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from langgraph_hitl import Approvals, AuthorizationError

from fake_openai import FakeOpenAI, text, tool_calls

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NOTEBOOK = ROOT / "notebooks" / "04_pipelines_and_tool_approval.ipynb"


def start(name: str, cwd: Path, **env: str) -> subprocess.Popen[str]:
    """Start an example in its own process (offline: no API key unless given)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    environ.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.Popen(
        [sys.executable, str(EXAMPLES / name)],
        cwd=cwd,
        env=environ,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, f"{proc.args} failed:\n{out[-2000:]}\n{err[-3000:]}"
    return out


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every offline example, run once in parallel processes (each in its own folder)."""
    names = ["email_pipeline.py", "deploy_risk_tiers.py", "confidence_gate.py", "tool_agent.py"]
    procs = {n: start(n, tmp_path_factory.mktemp(n.removesuffix(".py"))) for n in names}
    return {n: finish(p) for n, p in procs.items()}


def test_email_pipeline_example_revises_until_approved(outputs: dict[str, str]) -> None:
    """The tone stage is re-run and re-reviewed twice, then approved; a second email stops at stage 2."""
    out = outputs["email_pipeline.py"]
    assert "intern -> refused: 'intern' may not decide" in out
    assert re.findall(r"stage 2 of 3 \(tone_review\), revision (\d)", out) == ["0", "1", "2"]
    assert "stage 2 tone_review  approved  revisions=2" in out
    assert "| Dear colleagues," in out and "| The Release Team" in out
    assert "pipeline: rejected, stopped at {'stage': 2, 'name': 'tone_review'" in out
    assert "chain verifies: True" in out


def test_deploy_risk_tiers_example_critical_needs_two_people(outputs: dict[str, str]) -> None:
    """Four tiers: dev runs, staging one reviewer, prod a senior, prod + data loss two different seniors."""
    out = outputs["deploy_risk_tiers.py"]
    assert "low / notify -> executed" in out
    assert "qa_anna approves -> executed" in out and "qa_anna -> refused" in out
    assert "sre_lead again -> refused: 'sre_lead' already approved this action" in out
    assert "cto approves -> executed (approved by sre_lead and cto)" in out
    assert "deployed: ['dev', 'staging', 'prod', 'prod (drops data)']" in out


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_deploy_risk_tiers_critical_tier_in_process(db_url: str) -> None:
    """The example's policy and graph, driven here: one approver twice is refused, two distinct ones deploy."""
    deploy = load("deploy_risk_tiers")
    tiers = {
        env: deploy.POLICY.assess(deploy.proposal(env)["action"])["risk"]
        for env in ("dev", "staging", "prod")
    }
    assert tiers == {"dev": "low", "staging": "medium", "prod": "high"}
    with Approvals.open(deploy.build(), db_url) as hitl:
        run = hitl.start("mig", deploy.proposal("prod", drops_data=True))
        assert run.pending[0].risk == "critical"
        run = hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="eng_manager")
        with pytest.raises(AuthorizationError, match="needs a different approver"):
            hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="eng_manager")
        assert deploy.DEPLOYED == []
        run = hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="sre_lead")
    assert run.values["status"] == "executed" and len(deploy.DEPLOYED) == 1


def test_confidence_gate_example_routes_three_ways_and_refuses_a_wrong_phrase(
    outputs: dict[str, str],
) -> None:
    """0.93 runs, 0.55 asks, 0.12 is denied; a mistyped DELETE phrase is refused and the request stays open."""
    out = outputs["confidence_gate.py"]
    assert re.search(r"0\.93 .* -> executed", out) and re.search(r"0\.55 .* -> asks a person", out)
    assert re.search(r"0\.12 .* -> denied", out)
    assert "delete_account  level=verify   gate=verify" in out
    assert "types 'DELETE 4812' -> refused: Confirmation phrase does not match" in out
    assert "still pending: True, deleted so far: 0" in out and "types 'DELETE 4821' -> executed" in out


def test_tool_agent_example_offline(outputs: dict[str, str]) -> None:
    """Scripted model: the search and the edited email run, the delete does not, every call is answered."""
    out = outputs["tool_agent.py"]
    assert "model: scripted" in out and "one question, 2 risky call(s):" in out
    assert "ran: [\"search_crm('churned Acme')\", \"send_email(to='team-acme@example.com')\"]" in out
    assert "the model's next turn receives a ToolMessage for every call: True" in out
    assert re.search(r"delete_record +\[error\] Not run: a reviewer \(ops_lead\) rejected it", out)


def test_tool_agent_example_with_chatopenai(tmp_path: Path) -> None:
    """With OPENAI_API_KEY set the example uses ChatOpenAI; its next request carries a ToolMessage per call."""
    with FakeOpenAI() as server:
        server.push(
            tool_calls(
                ("search_crm", {"query": "Acme"}, "c1"),
                ("send_email", {"to": "all@example.com", "subject": "s", "body": "b"}, "c2"),
                ("delete_record", {"record_id": 4821}, "c3"),
            ),
            text("Emailed the account team; kept the record."),
        )
        out = finish(start("tool_agent.py", tmp_path, OPENAI_API_KEY="test", OPENAI_BASE_URL=server.base_url))
    assert "model: ChatOpenAI" in out and "model: Emailed the account team; kept the record." in out
    first, second = server.requests
    assert [t["function"]["name"] for t in first["tools"]] == ["search_crm", "send_email", "delete_record"]
    sent: list[dict[str, Any]] = second["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "tool", "tool"]
    assert sorted(m["tool_call_id"] for m in sent[3:]) == ["c1", "c2", "c3"]
    replies = {m["tool_call_id"]: m["content"] for m in sent[3:]}
    assert (
        replies["c2"].endswith("email sent to team-acme@example.com") and "Executed instead" in replies["c2"]
    )
    assert replies["c3"].startswith("Not run: a reviewer (ops_lead) rejected it")


def test_notebook_04_executes_and_shows_the_patterns(tmp_path: Path) -> None:
    """Notebook 04 runs top to bottom in a fresh python3 kernel (this venv's), with the outputs it documents."""
    import nbformat
    from nbclient import NotebookClient

    saved = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in saved.cells if c.cell_type == "code"]
    assert all(c.outputs for c in code[:-1]), "the notebook is committed with its outputs"
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert [o for o in outputs if o.get("output_type") == "error"] == []
    text_out = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    for expected in [
        "asks: ['manager'] | node: review_tone_review | stage: 2",
        "pipeline: completed",
        "has 2 action(s) to decide; got 1 decision(s)",
        "every call answered: True",
        "resolved by human:sam",
        "model says low       -> medium",
        "model says critical  -> critical hard  approvals=2",
    ]:
        assert expected in text_out, expected

"""The README's "Integrations" examples are the files the suite runs: each
`examples/integrations/*.py` appears in the README verbatim, inside a python block, and a test
runs it as a subprocess (named here, so an example cannot be shown without being run)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples" / "integrations").glob("*.py"))
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def test_there_are_integration_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {"webhooks.py", "slack.py", "mcp.py", "opentelemetry_tracing.py"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_in_the_readme_verbatim(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert source in BLOCKS, f"paste {path.relative_to(ROOT)} into the README's Integrations section as is"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_run_by_a_test(path: Path) -> None:
    """Some test file names the example's path and runs it with `sys.executable`."""
    needle = f'"integrations" / "{path.name}"'
    runners = [
        t.name
        for t in (ROOT / "tests").glob("test_*.py")
        if t.name != Path(__file__).name
        and needle in (text := t.read_text(encoding="utf-8"))
        and "sys.executable" in text
    ]
    assert runners, f"no test runs examples/integrations/{path.name}"

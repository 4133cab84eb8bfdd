"""Write the README's "Where it works" table from the compatibility matrix's last results.

    python -m pytest tests/test_matrix.py      # writes test-artifacts/matrix.json
    python scripts/readme_matrix.py            # rewrites the table between the matrix markers

A cell counts the state schemas (TypedDict, pydantic, dataclass) that passed every check.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_matrix import MODES, RESULTS, SAVERS, SCHEMAS, SHAPES, applies  # noqa: E402

START, END = "<!-- matrix:start -->", "<!-- matrix:end -->"


def table(results: dict[str, str]) -> str:
    lines = [
        "| checkpointer | run with | " + " | ".join(SHAPES) + " |",
        "|---|---|" + "---|" * len(SHAPES),
    ]
    for saver in SAVERS:
        for mode in MODES:
            if not applies(mode, saver):
                continue
            cells = []
            for shape in SHAPES:
                got = [results.get(f"{mode}|{shape}|{schema}|{saver}", "not run") for schema in SCHEMAS]
                passed = got.count("pass")
                cells.append(
                    "yes (3/3 schemas)" if passed == len(SCHEMAS) else f"**{passed}/3** ({', '.join(got)})"
                )
            lines.append(f"| {saver} | `{mode}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    if not RESULTS.exists():
        msg = f"No results at {RESULTS}: run python -m pytest tests/test_matrix.py first."
        raise SystemExit(msg)
    results = json.loads(RESULTS.read_text())
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        msg = f"README.md has no {START} ... {END} markers to write between."
        raise SystemExit(msg)
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{table(results)}\n{END}{tail}", encoding="utf-8")
    print(f"wrote the matrix table ({len(results)} results) into {readme}")


if __name__ == "__main__":
    main()

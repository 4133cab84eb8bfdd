# Two set-up commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.demo-installed

.PHONY: install demo test soak bench lint typecheck clean screenshots

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The demo needs LangGraph, SQLite and the CLI it points you to; the full suite's tools stay on `make test`.
$(DEMO_STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[cli]"
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(PY) examples/quickstart.py

# Two workers (pytest-xdist), each test file on one worker: files share module fixtures and artifacts.
test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile

soak: $(STAMP)
	$(PY) -m pytest -m soak -s --durations=0 tests/test_faults.py tests/test_fuzz.py tests/test_integrity.py

bench: $(STAMP)
	$(PY) benchmarks/run.py

# The same checks as .pre-commit-config.yaml and CI: ruff check, ruff format --check, mypy --strict.
lint: $(STAMP)
	$(VENV)/bin/ruff check langgraph_hitl tests examples benchmarks scripts
	$(VENV)/bin/ruff format --check langgraph_hitl tests examples benchmarks scripts
	$(MAKE) typecheck

typecheck: $(STAMP)
	$(VENV)/bin/mypy langgraph_hitl

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache hitl.db hitl.db-wal hitl.db-shm

screenshots: $(STAMP)
	$(PY) scripts/screenshots.py

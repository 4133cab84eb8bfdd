"""`python -m langgraph_hitl.cli ...`: the same as the `langgraph-hitl` command."""

from __future__ import annotations

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())

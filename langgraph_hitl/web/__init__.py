"""The web inbox (extra `web`): server-rendered pages for reviewers and a JSON API for tools.

Install with `pip install "langgraph-hitl[web]"`, then:

```python
import uvicorn
from langgraph_hitl.web import create_app

app = create_app(db="sqlite:///hitl.db", graph="examples/quickstart.py:build_graph",
                 approvers="tokens.txt")  # lines of 'alice:<token>'
uvicorn.run(app, host="127.0.0.1", port=8000)
```

Pages: `/` (pending), `/requests/{id}` (detail, decision forms with one row per call of a
multi-call request, and the outcome once decided), `/audit`, `/metrics`, `/reversible`
(executed actions that may be reversed), `/operations` (the stop switch, for `operators=`),
`/links/{token}` (one-time approval links, for their own approver signed in). API: `/api/requests`,
`/api/requests/{id}`, `/api/requests/{id}/decision`, `/api/audit`, `/api/stats`, documented at
`/api/docs` (Swagger UI from local files, no CDN). Sessions live in the database and end at
sign-out; bodies over the limit get 413 and repeated wrong tokens 429.
"""

from __future__ import annotations

try:
    import fastapi  # noqa: F401
    import jinja2  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    msg = f'The web inbox needs the [web] extra: pip install "langgraph-hitl[web]" ({exc.name} is missing).'
    raise ImportError(msg) from exc

from .app import SECRET_ENV, SESSION_COOKIE, TOKENS_ENV, create_app
from .auth import hash_token, load_approvers

__all__ = ["SECRET_ENV", "SESSION_COOKIE", "TOKENS_ENV", "create_app", "hash_token", "load_approvers"]

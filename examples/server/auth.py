"""Who is calling the deployment: LangGraph Server custom auth for the approval example.

The review nodes take who answered from `config["configurable"]["langgraph_auth_user_id"]`,
which LangGraph Server fills from this handler's answer; an answer's own `approver` field is
never trusted. Two kinds of caller:

- a person with their own token (`HITL_SERVER_TOKENS="alice:tok-a,bob:tok-b"`) is that person;
- the inbox service (`HITL_INBOX_TOKEN`), which has authenticated the person itself, acts for the
  approver it names in the `x-hitl-approver` header (`ServerInbox` sends it with each decision).
  Without that header it is nobody: it may read, and the review nodes refuse its answers.

A token arrives as `Authorization: Bearer ...` or as `x-api-key`. Agent Inbox sends the key typed
in its Settings ("LangSmith API Key", kept in the browser's localStorage) as `x-api-key` on every
request (langchain-ai/agent-inbox `src/lib/client.ts`, `createClient`), so each reviewer's Agent
Inbox holds that reviewer's own token, and their answers are theirs.

Anyone else gets 401. Replace the token lists with your identity provider in production.
"""

from __future__ import annotations

import hmac
import os

from langgraph_sdk import Auth

auth = Auth()

APPROVER_HEADER = b"x-hitl-approver"


def _people() -> dict[str, str]:
    pairs = (
        item.split(":", 1) for item in os.environ.get("HITL_SERVER_TOKENS", "").split(",") if ":" in item
    )
    return {token.strip(): name.strip() for name, token in pairs if token.strip()}


def _token(headers: dict[bytes, bytes], authorization: str | None) -> str:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return headers.get(b"x-api-key", b"").decode("utf-8", "replace").strip()


@auth.authenticate
async def authenticate(headers: dict[bytes, bytes], authorization: str | None) -> Auth.types.MinimalUserDict:
    """The caller's identity: a person's own token, or the inbox acting for a named approver."""
    token = _token(headers, authorization)
    inbox = os.environ.get("HITL_INBOX_TOKEN", "")
    if token and inbox and hmac.compare_digest(token, inbox):
        acting_for = headers.get(APPROVER_HEADER, b"").decode("utf-8", "replace").strip()
        return {"identity": acting_for, "is_authenticated": True}
    for known, name in _people().items():
        if token and hmac.compare_digest(token, known):
            return {"identity": name, "is_authenticated": True}
    raise Auth.exceptions.HTTPException(status_code=401, detail="Unknown or missing token.")

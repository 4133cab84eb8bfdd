"""The errors langgraph-hitl raises.

Every error derives from `HITLError`, so `except HITLError` catches anything this
package raises on purpose. Where a built-in fits, the error subclasses it too, so
callers that already catch `ValueError` or `PermissionError` keep working.

```
HITLError
 ├── PolicyError            (ValueError)       a policy or rule is misconfigured
 ├── DecisionError          (ValueError)       a decision is malformed or not allowed for the request
 ├── NotPendingError        (LookupError)      the request is unknown or no longer waits for a decision
 ├── ConflictError                             another decision for the same request won the race
 ├── AuthorizationError     (PermissionError)  this approver may not decide this request
 ├── AuditIntegrityError                       the audit log's hash chain does not verify
 ├── CheckpointerError      (ValueError)       a checkpointer URL is unsupported or cannot be opened
 ├── ThreadStateError       (RuntimeError)     a thread is missing, finished, or paused where it should not be
 ├── HaltedError            (RuntimeError)     a stop switch is on: no handler starts under its scope
 │   defined beside the part that raises them:
 ├── GraphSpecError         (ValueError)       graphspec: a `file.py:attr` graph spec names no graph
 ├── PolicyFileError        (ValueError)       policy_files: a policy file is unreadable or invalid (a PolicyError)
 ├── AuditEventError        (ValueError)       store.audit: an audit event is malformed
 ├── FeedbackError          (ValueError)       store.feedback: a feedback score or kind is invalid
 ├── ForwardError           (RuntimeError)     store.feedback: forwarding feedback to LangSmith failed
 ├── ReversalError          (ValueError)       approvals.reversal: an action cannot be reversed (no compensation, ...)
 ├── ReadOnlyInboxError                        web.service: the inbox was started without a graph
 ├── NotifierConfigError    (ValueError)       notify: a webhook notifier is misconfigured
 ├── SignatureError         (ValueError)       notify: a webhook signature is missing, wrong or stale
 └── LinkError              (ValueError)       notify: an approval link is altered, expired, used or misdirected
```

Messages say what was wrong, the bad value, what is allowed, and the fix.
"""

from __future__ import annotations

__all__ = [
    "AuditIntegrityError",
    "AuthorizationError",
    "CheckpointerError",
    "ConflictError",
    "DecisionError",
    "HITLError",
    "HaltedError",
    "NotPendingError",
    "PolicyError",
    "ThreadStateError",
]


class HITLError(Exception):
    """Base class of every error langgraph-hitl raises on purpose."""


class PolicyError(HITLError, ValueError):
    """A policy, rule or gate option is misconfigured (raised when it is built, not during a run)."""


class DecisionError(HITLError, ValueError):
    """A decision is malformed or not allowed for the request it answers.

    The request stays pending: correct the decision and submit it again.
    """


class NotPendingError(HITLError, LookupError):
    """The request is unknown, or it was already decided, expired or cancelled."""


class ConflictError(HITLError):
    """Another decision for the same request was accepted first (one decision wins)."""


class AuthorizationError(HITLError, PermissionError):
    """The approver may not decide this request (not listed, excluded, or approving their own action)."""


class AuditIntegrityError(HITLError):
    """The audit log's hash chain does not verify; `seq` names the first bad row."""

    def __init__(self, message: str, *, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq


class CheckpointerError(HITLError, ValueError):
    """A checkpointer URL is unsupported, or its database cannot be opened or set up."""


class ThreadStateError(HITLError, RuntimeError):
    """A thread does not exist, has finished, or is paused where new input was given (G8)."""


class HaltedError(HITLError, RuntimeError):
    """A halt (the stop switch, `Approvals.halt`) covers the action: its handler was not started.

    Nothing is lost: the thread stays where it was, and continues once the halt is lifted.
    """

"""`SlackSettings`: the Slack app the web inbox answers, and which Slack users are which approvers.

Pass them to `create_app(slack=SlackSettings(...))` and the inbox answers the Approve and
Reject buttons of the review messages at `POST /slack/interactions` (set that address as the
app's interactivity request URL). Identity comes from Slack's signed payload, never from the
message: a click counts only when Slack's signature checks out and the clicking user's id is
mapped here to an approver name, which then goes through the same checks as a decision made in
the inbox (listed approver, four-eyes, confirmation phrase, one winner).

The CLI's `serve` reads the same settings from the environment (`SlackSettings.from_env`):
`HITL_SLACK_SIGNING_SECRET`, `HITL_SLACK_BOT_TOKEN`, `HITL_SLACK_USERS` (the users file) and
optionally `HITL_SLACK_TEAM_ID`. This module imports nothing from slack_sdk: the endpoint does,
and only when the settings are given.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HITLError
from ..identity import canonical

__all__ = [
    "BOT_TOKEN_ENV",
    "SIGNING_SECRET_ENV",
    "TEAM_ID_ENV",
    "USERS_ENV",
    "SlackConfigError",
    "SlackSettings",
    "load_slack_users",
]

SIGNING_SECRET_ENV = "HITL_SLACK_SIGNING_SECRET"
"""Environment variable holding the Slack app's signing secret (read by `SlackSettings.from_env`)."""
BOT_TOKEN_ENV = "HITL_SLACK_BOT_TOKEN"
"""Environment variable holding the app's bot token (`xoxb-...`), for `views.open` and `chat.update`."""
USERS_ENV = "HITL_SLACK_USERS"
"""Environment variable naming the users file: one `U0123ABCD = alice` line per person."""
TEAM_ID_ENV = "HITL_SLACK_TEAM_ID"
"""Optional environment variable: the only Slack workspace (`T...`) whose clicks count."""

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,31}")
_TEAM_ID = re.compile(r"[TE][A-Z0-9]{2,31}")


@dataclass(frozen=True)
class SlackSettings:
    """The Slack app behind the review messages' buttons.

    Args:
        signing_secret: The app's signing secret (Basic Information > App Credentials). Every
            request is checked against it with `slack_sdk.signature.SignatureVerifier`.
        bot_token: The app's bot token (`xoxb-...`): opens the modals and updates the messages.
        users: Slack user id -> approver name, e.g. `{"U0123ABCD": "alice"}`. Ids are matched
            exactly (Slack's are upper-case letters and digits starting with U or W); names are
            canonicalized as everywhere else (lookalikes and `system:` names are refused). A click
            by anyone else is refused and told why.
        api_base: Slack's Web API (`https://slack.com/api/`); another address only for a stand-in.
        response_url_base: Where a click's `response_url` must point for the endpoint to use it
            (`https://hooks.slack.com/`); another address only for a stand-in.
        team_id: If set, clicks from any other workspace are refused.
        replay_window_s: How old (or how far ahead) a request's timestamp may be; Slack's advice
            is 300 s, and the verifier refuses anything beyond that whatever this says.

    Raises:
        SlackConfigError: (a `ValueError`) an empty secret or token, a malformed user or team id,
            no users, or a name that is not a valid approver name.

    Example:
        >>> s = SlackSettings(signing_secret="8f7...", bot_token="xoxb-1", users={"U0ALICE": " Alice "})
        >>> s.users
        {'U0ALICE': 'alice'}
    """

    signing_secret: str = field(repr=False)
    bot_token: str = field(repr=False)
    users: Mapping[str, str]
    api_base: str = "https://slack.com/api/"
    response_url_base: str = "https://hooks.slack.com/"
    team_id: str | None = None
    replay_window_s: float = 300.0

    def __post_init__(self) -> None:
        for name in ("signing_secret", "bot_token"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                msg = f"SlackSettings({name}=...) is empty; copy it from the Slack app's settings page."
                raise SlackConfigError(msg)
        object.__setattr__(self, "users", _check_users(self.users))
        if self.team_id is not None and not _TEAM_ID.fullmatch(self.team_id):
            msg = f"SlackSettings(team_id={self.team_id!r}) is not a Slack workspace id (like 'T0123ABCD')."
            raise SlackConfigError(msg)
        window = self.replay_window_s
        if isinstance(window, bool) or not isinstance(window, (int, float)) or not 0 < window <= 300:
            msg = (
                f"SlackSettings(replay_window_s={window!r}): use seconds in (0, 300]; Slack's advice is 300."
            )
            raise SlackConfigError(msg)
        for name in ("api_base", "response_url_base"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.startswith(("https://", "http://")):
                msg = f"SlackSettings({name}={value!r}) must be an http(s) address ending in '/'."
                raise SlackConfigError(msg)
            if not value.endswith("/"):
                object.__setattr__(self, name, value + "/")

    @classmethod
    def from_env(
        cls, users_file: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
    ) -> SlackSettings | None:
        """Settings from the environment, or None when no users file is named (Slack is off).

        Args:
            users_file: The users file; None reads `$HITL_SLACK_USERS`.
            environ: Where to read (default `os.environ`).

        Raises:
            SlackConfigError: A users file is named but the secret or the token is missing, or
                the file is unreadable or malformed.
        """
        env = os.environ if environ is None else environ
        path = users_file if users_file is not None else (env.get(USERS_ENV) or None)
        if path is None:
            return None
        missing = [name for name in (SIGNING_SECRET_ENV, BOT_TOKEN_ENV) if not env.get(name)]
        if missing:
            msg = (
                f"Slack users are configured ({os.fspath(path)!r}) but {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set; set them to the Slack app's signing "
                "secret and bot token."
            )
            raise SlackConfigError(msg)
        return cls(
            signing_secret=env[SIGNING_SECRET_ENV],
            bot_token=env[BOT_TOKEN_ENV],
            users=load_slack_users(path),
            team_id=env.get(TEAM_ID_ENV) or None,
        )


class SlackConfigError(HITLError, ValueError):
    """A Slack setting is invalid (raised when the app is built, never while answering a click)."""


def _check_users(users: Any) -> dict[str, str]:
    if not isinstance(users, Mapping) or not users:
        msg = "SlackSettings(users=...) is empty: map each Slack user id to an approver, e.g. {'U0123ABCD': 'alice'}."
        raise SlackConfigError(msg)
    out: dict[str, str] = {}
    for user_id, name in users.items():
        if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id):
            msg = (
                f"Slack user id {user_id!r} is malformed: Slack's ids are upper-case letters and digits "
                "starting with U or W (profile > ... > Copy member ID)."
            )
            raise SlackConfigError(msg)
        try:
            out[user_id] = canonical(name, field=f"users[{user_id!r}]")
        except (HITLError, TypeError) as exc:
            msg = f"Slack user {user_id}: {exc}"
            raise SlackConfigError(msg) from None
    return out


def load_slack_users(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a users file: one `U0123ABCD = alice` (or `U0123ABCD:alice`) line per person; `#` comments.

    Raises:
        SlackConfigError: The file cannot be read, a line is malformed, or an id appears twice.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        msg = (
            f"Cannot read the Slack users file {os.fspath(path)!r}: {getattr(exc, 'strerror', None) or exc}."
        )
        raise SlackConfigError(msg) from None
    users: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        user_id, sep, name = line.partition("=") if "=" in line else line.partition(":")
        if not sep or not user_id.strip() or not name.strip():
            msg = f"{os.fspath(path)}:{number}: expected 'U0123ABCD = alice', got {raw.strip()!r}."
            raise SlackConfigError(msg)
        if user_id.strip() in users:
            msg = f"{os.fspath(path)}:{number}: Slack user {user_id.strip()} is listed twice."
            raise SlackConfigError(msg)
        users[user_id.strip()] = name.strip()
    return users

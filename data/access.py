"""Who the current request is and what they may do: the roles, and the check every privileged action makes.

The request's identity is set once, by the guard in api/auth.py (a Flask before_request that checks every
route); views, callbacks and endpoints only ask `allowed(level)` or call `require(level, what)`, so an
admin-only action refuses a lower role in its own code, not only by hiding a button.

Levels, each including the ones before it:
    display   a wall display with a token: the kiosk views of its token, read-only
    viewer    every view and JSON read endpoint
    analyst   + exports (CSV downloads) and saved budget scenarios
    admin     + alert rules and webhooks, annotations, budgets, users, API keys, display tokens, the audit log
With no users configured, a request from the server's own machine is `open`: it may do everything
(local demo use; the page says so in a banner).
"""
from __future__ import annotations

from dataclasses import dataclass, field

LEVELS = ("anonymous", "display", "viewer", "analyst", "admin")
RANK = {name: i for i, name in enumerate(LEVELS)}


class Forbidden(PermissionError):
    """The current identity may not do this; the message says what is needed."""

    def __init__(self, level: str, what: str, identity: "Identity"):
        self.level = level
        self.what = what
        self.identity = identity
        super().__init__(f"{what} needs the {level} role" + (
            "; you are not logged in" if identity.kind == "anonymous" else f"; you are {identity.describe()}"))


@dataclass(frozen=True)
class Identity:
    kind: str                 # anonymous, open, user, display
    name: str = "anonymous"   # user name, display token id
    role: str = "anonymous"   # one of LEVELS
    views: tuple[str, ...] = field(default=())  # a display's views (paths)

    def at_least(self, level: str) -> bool:
        return RANK[self.role] >= RANK[level]

    def describe(self) -> str:
        if self.kind == "user":
            return f"{self.name} ({self.role})"
        if self.kind == "display":
            return f"display {self.name} (read-only)"
        return self.kind

    @property
    def actor(self) -> str:
        """How the audit log names this identity."""
        return {"user": self.name, "display": f"display:{self.name}", "open": "local (no users)"}.get(self.kind, "anonymous")


ANONYMOUS = Identity("anonymous")
OPEN = Identity("open", "local", "admin")


def current() -> Identity:
    """The identity of the request being served (anonymous outside a request or before the guard ran)."""
    from flask import g, has_request_context

    if not has_request_context():
        return ANONYMOUS
    return getattr(g, "pulse_identity", ANONYMOUS)


def allowed(level: str) -> bool:
    return current().at_least(level)


def require(level: str, what: str) -> "Identity":
    identity = current()
    if not identity.at_least(level):
        raise Forbidden(level, what, identity)
    return identity


def audit(action: str, target=None, detail: dict | None = None) -> None:
    """Record an action of the current identity in the server's audit log (data/audit.py)."""
    from flask import current_app, has_request_context, request

    if not has_request_context():
        return
    log = current_app.extensions.get("pulse.audit")
    if log is not None:
        log.record(current().actor, action, None if target is None else str(target), detail, ip=request.remote_addr)

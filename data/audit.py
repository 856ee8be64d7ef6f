"""The audit log: who did what, when, from where. Logins and failed logins, logouts, changes to users, display
tokens, alert rules, webhooks, annotations, budgets and saved scenarios, and exports.

One JSON object per line in `audit.jsonl` in the data directory, appended (never rewritten), from the
server and from the command line alike: like the users file it sits beside the warehouse so that the CLI
can write it while the server holds the DuckDB file. Entries: ts (UTC), actor (a user name, `cli`,
`display:<id>` or `anonymous`), action (`login`, `login.failed`, `user.create`, `rule.create`, ...),
target, detail (a small JSON object) and ip.
"""
from __future__ import annotations

import fcntl
import json
import os
import threading
from collections import deque
from datetime import datetime, timezone
from pathlib import Path

AUDIT_FILE = "audit.jsonl"
MAX_FIELD = 500


class AuditLog:
    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / AUDIT_FILE
        self._lock = threading.Lock()

    def record(self, actor: str, action: str, target: str | None = None, detail: dict | None = None,
               ip: str | None = None) -> dict:
        entry = {"ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                 "actor": _clip(actor), "action": action, "target": _clip(target), "detail": detail or {},
                 "ip": ip}
        line = json.dumps(entry, default=str, ensure_ascii=True) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # one whole line per writer, across processes
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        return entry

    def recent(self, limit: int = 100, action: str | None = None) -> list[dict]:
        """The newest `limit` entries (of `action`, or of actions starting with `action.`), newest first."""
        kept: deque = deque(maxlen=max(0, limit))
        try:
            with open(self.path, encoding="utf-8") as file:
                for line in file:
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if action and entry.get("action") != action and not str(entry.get("action")).startswith(action + "."):
                        continue
                    kept.append(entry)
        except FileNotFoundError:
            return []
        return list(reversed(kept))


def _clip(value):
    return value[:MAX_FIELD] if isinstance(value, str) else value

"""A small JSON document beside the warehouse (ingest keys, users, display tokens): re-read when its file
changes, so a CLI's change reaches the running server at once, and replaced atomically when written, so a
reader never sees half a file. Owner-only: it holds password and key hashes."""
from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path


class JsonFile:
    """A small JSON document re-read when its file changes and replaced atomically when written."""

    def __init__(self, path: Path, key: str):
        self.path = path
        self.key = key
        self._lock = threading.RLock()
        self._mtime: int | None = None
        self._items: list[dict] = []

    def load(self) -> list[dict]:
        with self._lock:
            try:
                mtime = self.path.stat().st_mtime_ns
            except FileNotFoundError:
                self._items, self._mtime = [], None
                return self._items
            if mtime != self._mtime:
                self._items = json.loads(self.path.read_text())[self.key]
                self._mtime = mtime
            return self._items

    def save(self, items: list[dict]) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=self.path.parent, delete=False, suffix=".tmp") as tmp:
                json.dump({self.key: items}, tmp, indent=2)
            os.chmod(tmp.name, 0o600)
            os.replace(tmp.name, self.path)
            self._mtime = None

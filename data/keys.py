"""API keys for ingest (`Authorization: Bearer KEY`).

Keys come from `$PULSE_INGEST_KEYS` (comma-separated) and from `ingest_keys.json` in the data directory,
which holds only SHA-256 hashes: a key is a long random secret, so a fast hash is enough to make the
file useless to a reader (as GitHub does for tokens); the key itself is shown once, when created. The
file lives beside the warehouse rather than in it so that this CLI works while the server holds the
DuckDB file; the server re-reads the file when it changes.

    python -m data.keys create --name shop-frontend [--data-dir DIR]
    python -m data.keys list [--data-dir DIR]
    python -m data.keys revoke KEY_ID [--data-dir DIR]
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import secrets
import sys
from datetime import datetime, timezone
from pathlib import Path

from data.audit import AuditLog
from data.jsonfile import JsonFile
from data.warehouse import resolve_data_dir

KEYS_FILE = "ingest_keys.json"
GENERATED_KEY_FILE = "ingest-key.txt"
PREFIX = "pulse"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class KeyStore:
    def __init__(self, data_dir: Path, env_keys: str | None = None):
        self.path = Path(data_dir) / KEYS_FILE
        self.generated_path = Path(data_dir) / GENERATED_KEY_FILE
        env = env_keys if env_keys is not None else os.environ.get("PULSE_INGEST_KEYS", "")
        self._env_hashes = [_hash(k.strip()) for k in env.split(",") if k.strip()]
        self._file = JsonFile(self.path, "keys")

    # -- reading ---------------------------------------------------------------------------------
    def _load(self) -> list[dict]:
        return self._file.load()

    def list(self) -> list[dict]:
        return [{k: v for k, v in key.items() if k != "sha256"} for key in self._load()]

    def active_count(self) -> int:
        return len(self._env_hashes) + sum(1 for k in self._load() if not k.get("revoked_at"))

    def verify(self, token: str | None) -> str | None:
        """The id of the active key `token` is, or None."""
        if not token:
            return None
        digest = _hash(token)
        if any(hmac.compare_digest(digest, h) for h in self._env_hashes):
            return "env"
        for key in self._load():
            if not key.get("revoked_at") and hmac.compare_digest(digest, key["sha256"]):
                return key["id"]
        return None

    def allow(self, token: str) -> None:
        """Accept `token` for this process only, never stored (the live demo stream's own key)."""
        self._env_hashes.append(_hash(token))

    # -- changing --------------------------------------------------------------------------------
    def create(self, name: str) -> tuple[str, str]:
        """A new key: (id, the key itself). Only its hash is stored."""
        key_id = secrets.token_hex(4)
        token = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        keys = self._load() + [{"id": key_id, "name": name, "sha256": _hash(token), "created_at": _now()}]
        self._save(keys)
        return key_id, token

    def revoke(self, key_id: str) -> bool:
        keys = self._load()
        found = False
        for key in keys:
            if key["id"] == key_id and not key.get("revoked_at"):
                key["revoked_at"] = _now()
                found = True
        if found:
            self._save(keys)
        return found

    def ensure_one(self) -> str | None:
        """With no key configured anywhere, create one, keep it in the data directory (readable by the
        owner only) and return it so the server can print it. Otherwise None."""
        if self.active_count():
            return None
        _, token = self.create("generated at first start")
        self.generated_path.write_text(token + "\n")
        self.generated_path.chmod(0o600)
        return token

    def _save(self, keys: list[dict]) -> None:
        self._file.save(keys)


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data.keys", description="Manage Pulse's ingest API keys.")
    parser.add_argument("--data-dir", default=None, help="data directory (default $PULSE_DATA_DIR or ./var)")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key and print it (shown only once)")
    create.add_argument("--name", required=True, help="who or what uses the key")
    commands.add_parser("list", help="list keys (ids and names, never the keys)")
    revoke = commands.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    args = parser.parse_args(argv)
    store = KeyStore(resolve_data_dir(args.data_dir), env_keys="")
    audit = AuditLog(resolve_data_dir(args.data_dir))
    if args.command == "create":
        key_id, token = store.create(args.name)
        audit.record("cli", "key.create", key_id, {"name": args.name})
        print(f"created key {key_id} ({args.name}); it is shown only now:\n{token}")
    elif args.command == "list":
        for key in store.list():
            state = f"revoked {key['revoked_at']}" if key.get("revoked_at") else "active"
            print(f"{key['id']}  {state:<28}  created {key['created_at']}  {key['name']}")
    elif not store.revoke(args.key_id):
        print(f"no active key with id {args.key_id!r}", file=sys.stderr)
        return 1
    else:
        audit.record("cli", "key.revoke", args.key_id, {})
        print(f"revoked key {args.key_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

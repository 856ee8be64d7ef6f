"""People who may log in (users and their roles) and wall displays that may show views without a login
(display tokens).

Both live beside the warehouse in the data directory, as the ingest keys do (data/keys.py) and for the
same reason: these commands must work while the server holds the DuckDB file, and a change (a user
disabled, a token revoked) must take effect on the running server at its next request: the server re-reads
a file whenever it changes. Files are written atomically and readable by their owner only.

- `users.json`: name, role (viewer < analyst < admin), an argon2id password hash (argon2-cffi, its
  default RFC 9106 parameters), disabled, created.
- `display_tokens.json`: id, name, the views the display may show, and the SHA-256 of the token (a long
  random secret: a fast hash is enough, as for ingest keys), created, revoked.

Every change is written to the audit log (data/audit.py).

    python app.py users create NAME --role viewer|analyst|admin [--password-stdin]
    python app.py users set-role NAME ROLE | set-password NAME | disable NAME | enable NAME | list
    python app.py tokens create --name lobby-tv [--views wall,monitoring] | list | revoke ID
(also as `python -m data.users users ...` and `python -m data.users tokens ...`)
"""
from __future__ import annotations

import argparse
import getpass
import hashlib
import hmac
import json
import re
import secrets
import sys
from datetime import datetime, timezone
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from data.audit import AuditLog
from data.jsonfile import JsonFile
from data.warehouse import resolve_data_dir

USERS_FILE = "users.json"
TOKENS_FILE = "display_tokens.json"
ROLES = ("viewer", "analyst", "admin")
# Views a display token may be given (the kiosk playlist's names, components/kiosk.py) and their paths.
DISPLAY_VIEWS = {"wall": "/wall", "monitoring": "/", "funnel": "/funnel", "experiments": "/experiments",
                 "budget": "/budget", "alerts": "/alerts"}
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
TOKEN_PREFIX = "pulsedisp"

_hasher = PasswordHasher()
# Verified against when the user does not exist, so an unknown name costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class UserError(ValueError):
    pass


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class UserStore:
    def __init__(self, data_dir: Path, audit: AuditLog | None = None):
        self._file = JsonFile(Path(data_dir) / USERS_FILE, "users")
        self.audit = audit or AuditLog(data_dir)

    @property
    def path(self) -> Path:
        return self._file.path

    def list(self) -> list[dict]:
        return [{k: v for k, v in user.items() if k != "password"} for user in self._file.load()]

    def get(self, name: str) -> dict | None:
        for user in self._file.load():
            if user["name"] == name:
                return {k: v for k, v in user.items() if k != "password"}
        return None

    def active(self, name: str) -> dict | None:
        """The user `name` if it exists and is not disabled (its current role: a change applies at once)."""
        user = self.get(name)
        return user if user and not user.get("disabled") else None

    def has_users(self) -> bool:
        """Whether any user was ever created (disabled ones count: disabling everyone must not open Pulse)."""
        return bool(self._file.load())

    def has_admin(self) -> bool:
        return any(u["role"] == "admin" and not u.get("disabled") for u in self._file.load())

    def authenticate(self, name: str, password: str) -> dict | None:
        """The active user whose password this is, or None. Takes the same time whether or not the user exists."""
        stored = next((u for u in self._file.load() if u["name"] == name), None)
        try:
            _hasher.verify(stored["password"] if stored else _DUMMY_HASH, (password or "")[:MAX_PASSWORD])
        except (VerificationError, InvalidHashError):
            return None
        if stored is None or stored.get("disabled"):
            return None
        if _hasher.check_needs_rehash(stored["password"]):
            self._update(name, password=_hasher.hash(password))
        return self.get(name)

    # -- changing --------------------------------------------------------------------------------
    def create(self, name: str, role: str, password: str, actor: str = "cli") -> dict:
        if not NAME_PATTERN.match(name or ""):
            raise UserError(f"name={name!r}: use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
        _check_role(role)
        _check_password(password)
        users = self._file.load()
        if any(u["name"] == name for u in users):
            raise UserError(f"name={name!r}: a user with this name exists (use set-role or set-password)")
        user = {"name": name, "role": role, "password": _hasher.hash(password), "disabled": False, "created": _now()}
        self._file.save(users + [user])
        self.audit.record(actor, "user.create", name, {"role": role})
        return self.get(name)

    def set_role(self, name: str, role: str, actor: str = "cli") -> None:
        _check_role(role)
        before = self._require(name)["role"]
        self._update(name, role=role)
        self.audit.record(actor, "user.set_role", name, {"from": before, "to": role})

    def set_password(self, name: str, password: str, actor: str = "cli") -> None:
        self._require(name)
        _check_password(password)
        self._update(name, password=_hasher.hash(password), password_changed=_now())
        self.audit.record(actor, "user.set_password", name, {})

    def set_disabled(self, name: str, disabled: bool, actor: str = "cli") -> None:
        self._require(name)
        self._update(name, disabled=disabled)
        self.audit.record(actor, "user.disable" if disabled else "user.enable", name, {})

    def _require(self, name: str) -> dict:
        user = self.get(name)
        if user is None:
            raise UserError(f"no user named {name!r}")
        return user

    def _update(self, name: str, **changes) -> None:
        users = [dict(u, **changes) if u["name"] == name else u for u in self._file.load()]
        self._file.save(users)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise UserError(f"role={role!r}: must be one of {', '.join(ROLES)}")


def _check_password(password: str) -> None:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UserError(f"the password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """Display tokens: read-only access to a fixed set of kiosk views, for a wall display."""

    def __init__(self, data_dir: Path, audit: AuditLog | None = None):
        self._file = JsonFile(Path(data_dir) / TOKENS_FILE, "tokens")
        self.audit = audit or AuditLog(data_dir)

    def list(self) -> list[dict]:
        return [{k: v for k, v in t.items() if k != "sha256"} for t in self._file.load()]

    def verify(self, token: str | None) -> dict | None:
        """The active token `token` is (id, name, views), or None."""
        if not token or len(token) > 200:
            return None
        digest = _sha256(token)
        for item in self._file.load():
            if not item.get("revoked_at") and hmac.compare_digest(digest, item["sha256"]):
                return {k: v for k, v in item.items() if k != "sha256"}
        return None

    def active(self, token_id: str) -> dict | None:
        for item in self._file.load():
            if item["id"] == token_id and not item.get("revoked_at"):
                return {k: v for k, v in item.items() if k != "sha256"}
        return None

    def create(self, name: str, views: list[str] | tuple[str, ...] = ("wall",), actor: str = "cli") -> tuple[str, str]:
        """A new token: (id, the token itself). Only its hash is stored."""
        views = [v.strip() for v in views if v.strip()]
        unknown = [v for v in views if v not in DISPLAY_VIEWS]
        if unknown or not views:
            raise UserError(f"views={','.join(views)!r}: each must be one of {', '.join(DISPLAY_VIEWS)}")
        if not (name or "").strip() or len(name) > 100:
            raise UserError(f"name={name!r}: give the display a name of 1-100 characters")
        token_id = secrets.token_hex(4)
        token = f"{TOKEN_PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
        items = self._file.load() + [{"id": token_id, "name": name, "views": views, "sha256": _sha256(token),
                                      "created_at": _now()}]
        self._file.save(items)
        self.audit.record(actor, "token.create", token_id, {"name": name, "views": views})
        return token_id, token

    def revoke(self, token_id: str, actor: str = "cli") -> bool:
        items = self._file.load()
        found = False
        for item in items:
            if item["id"] == token_id and not item.get("revoked_at"):
                item["revoked_at"] = _now()
                found = True
        if found:
            self._file.save(items)
            self.audit.record(actor, "token.revoke", token_id, {})
        return found


# -- command line -------------------------------------------------------------------------------
def _read_password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"password for {args.name} ({MIN_PASSWORD}+ characters): ")
    if getpass.getpass("again: ") != first:
        raise UserError("the two passwords differ")
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python app.py", description="Manage Pulse's users and display tokens.")
    parser.add_argument("--data-dir", default=None, help="data directory (default $PULSE_DATA_DIR or ./var)")
    groups = parser.add_subparsers(dest="group", required=True)

    users = groups.add_parser("users", help="people who log in, and their roles").add_subparsers(dest="command", required=True)
    create = users.add_parser("create", help="create a user (asks for the password)")
    create.add_argument("name")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    role = users.add_parser("set-role", help="change a user's role (applies at the user's next request)")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    password = users.add_parser("set-password", help="set a user's password")
    password.add_argument("name")
    password.add_argument("--password-stdin", action="store_true")
    for command, text in (("disable", "refuse a user's logins and end their sessions"), ("enable", "undo disable")):
        users.add_parser(command, help=text).add_argument("name")
    users.add_parser("list", help="list users and roles")

    tokens = groups.add_parser("tokens", help="display tokens for wall displays").add_subparsers(dest="command", required=True)
    tcreate = tokens.add_parser("create", help="create a display token and print it (shown only once)")
    tcreate.add_argument("--name", required=True, help="which display uses it")
    tcreate.add_argument("--views", default="wall",
                         help=f"comma-separated views it may show (default wall; of {', '.join(DISPLAY_VIEWS)})")
    tokens.add_parser("list", help="list display tokens (ids, names, views; never the tokens)")
    trevoke = tokens.add_parser("revoke", help="revoke a display token by id")
    trevoke.add_argument("token_id")
    audit = groups.add_parser("audit", help="show the audit log, newest first")
    audit.add_argument("--limit", type=int, default=50)

    argv = list(sys.argv[1:] if argv is None else argv)
    data_dir_arg = None
    for i, word in enumerate(argv):  # --data-dir may come anywhere, as with `python app.py --data-dir X`
        if word == "--data-dir" and i + 1 < len(argv):
            data_dir_arg = argv[i + 1]
            del argv[i:i + 2]
            break
        if word.startswith("--data-dir="):
            data_dir_arg = word.split("=", 1)[1]
            del argv[i]
            break
    args = parser.parse_args(argv)
    data_dir = resolve_data_dir(data_dir_arg)
    try:
        if args.group == "users":
            return _users(UserStore(data_dir), args)
        if args.group == "tokens":
            return _tokens(TokenStore(data_dir), args)
        for entry in AuditLog(data_dir).recent(args.limit):
            print(f"{entry['ts']}  {entry['actor']:<20} {entry['action']:<18} {entry.get('target') or '':<20} "
                  f"{json.dumps(entry.get('detail') or {})}")
        return 0
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _users(store: UserStore, args) -> int:
    if args.command == "create":
        store.create(args.name, args.role, _read_password(args))
        print(f"created {args.role} {args.name}")
    elif args.command == "set-role":
        store.set_role(args.name, args.role)
        print(f"{args.name} is now {args.role}")
    elif args.command == "set-password":
        store.set_password(args.name, _read_password(args))
        print(f"password of {args.name} changed")
    elif args.command in ("disable", "enable"):
        store.set_disabled(args.name, args.command == "disable")
        print(f"{args.command}d {args.name}")
    else:
        for user in store.list():
            state = "disabled" if user.get("disabled") else "active"
            print(f"{user['name']:<24} {user['role']:<8} {state:<9} created {user['created']}")
    return 0


def _tokens(store: TokenStore, args) -> int:
    if args.command == "create":
        token_id, token = store.create(args.name, args.views.split(","))
        print(f"created display token {token_id} ({args.name}, views {args.views}); it is shown only now:\n{token}\n"
              f"open on the display: /wall?kiosk=1&token={token}")
    elif args.command == "list":
        for item in store.list():
            state = f"revoked {item['revoked_at']}" if item.get("revoked_at") else "active"
            print(f"{item['id']}  {state:<28}  created {item['created_at']}  {','.join(item['views']):<24} {item['name']}")
    elif not store.revoke(args.token_id):
        print(f"no active display token with id {args.token_id!r}", file=sys.stderr)
        return 1
    else:
        print(f"revoked display token {args.token_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

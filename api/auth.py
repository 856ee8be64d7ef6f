"""Access control for every route, in one place: a Flask `before_request` guard, plus the login page, logout,
the audit log endpoint and the security headers of every response.

Who a request is (data/access.py `Identity`):
- a **user**, from the signed session cookie set at login (re-checked against users.json at every request,
  so a disabled user or a changed role applies at once; a login lasts `$PULSE_SESSION_HOURS`, default 12);
- a **display**, from a display token: `?token=...` on a view's URL is checked once, moved into the session
  cookie and stripped from the URL by a redirect; the display may then show its token's views, read-only,
  and nothing else;
- **open**: no users exist and the request comes from this machine (loopback, not through a proxy) and
  the server was started on a loopback address: local demo use, everything allowed, a banner says so;
- **anonymous** otherwise: the login page, static files, /api/v1/ping and ingest (which checks its own API key).

What each route needs is the table `POLICY` (endpoint -> level, per method). An endpoint missing from it
needs admin: a new route is closed until someone decides who may use it (tests/unit/test_access.py fails
on it too).
"""
from __future__ import annotations

import ipaddress
import json
import os
import secrets
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, current_app, g, jsonify, redirect, render_template_string, request, session

from data import access
from data.access import ANONYMOUS, OPEN, Forbidden, Identity
from data.audit import AuditLog
from data.users import DISPLAY_VIEWS, MAX_PASSWORD, TokenStore, UserStore

auth_blueprint = Blueprint("pulse_auth", __name__)

PUBLIC, KEY, PAGE, CALLBACK = "public", "key", "page", "callback"
_READ, _WRITE = ("GET", "HEAD"), ("POST", "PUT", "PATCH", "DELETE")

# endpoint -> level, or {methods: level}. Levels: public, key (the endpoint checks its own API key), page,
# callback (see `_check_callback`), or a role of data/access.py.
POLICY: dict[str, str | dict] = {
    "static": PUBLIC,
    "_dash_assets.static": PUBLIC,
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>": PUBLIC,  # installed JS/CSS
    "/_favicon.ico": PUBLIC,
    "/_reload-hash": "display",
    "/_dash-layout": "display",
    "/_dash-dependencies": "display",
    "/_dash-update-component": CALLBACK,
    "/": PAGE,
    "/<path:path>": PAGE,
    "pulse_auth.login": PUBLIC,
    "pulse_auth.logout": PUBLIC,
    "pulse_auth.audit": "admin",
    "pulse_api.ping": PUBLIC,
    "pulse_api.health": "viewer",
    "pulse_api.kpis": "viewer",
    "pulse_api.timeseries": "viewer",
    "pulse_api.funnel": "viewer",
    "pulse_api.experiments": "viewer",
    "pulse_api.experiment": "viewer",
    "pulse_api.budget_channels": "viewer",
    "pulse_api.budget_optimize": "viewer",  # a computation over the warehouse; writes nothing
    "pulse_api.budget_pacing": "viewer",
    "pulse_api.set_budget": "admin",
    "pulse_api.report": "analyst",
    "pulse_api.export": "analyst",  # the export menus' files (api/export.py)
    "pulse_api.targets": "viewer",
    "pulse_api.set_target": "admin",
    "pulse_api.list_rules": "viewer",
    "pulse_api.get_rule": "viewer",
    "pulse_api.create_rule": "admin",
    "pulse_api.update_rule": "admin",
    "pulse_api.delete_rule": "admin",
    "pulse_api.active_alerts": "viewer",
    "pulse_api.alert_history": "viewer",
    "pulse_api.list_webhooks": "admin",  # webhook URLs can carry secrets
    "pulse_api.add_webhook": "admin",
    "pulse_api.delete_webhook": "admin",
    "pulse_api.list_deliveries": "admin",
    "pulse_api.ingest_events": KEY,
    "pulse_api.ingest_spend": KEY,
    "pulse_api.start_import": KEY,
    "pulse_api.stage_rows": KEY,
    "pulse_api.commit_import": KEY,
    "pulse_api.abort_import": KEY,
}
DEFAULT_LEVEL = "admin"

MAX_FAILURES = 5            # failed logins (per name, and per address) before a lockout
FAILURE_WINDOW = 15 * 60    # seconds a failure counts
MAX_LOCKOUT = 15 * 60


def install(app, data_dir: Path) -> None:
    """Attach users, display tokens, the audit log, the session settings, the guard and the headers to the
    Dash app's Flask server. Settings (environment): PULSE_SECRET_KEY, PULSE_SECURE_COOKIES,
    PULSE_TRUST_PROXY, PULSE_SESSION_HOURS, PULSE_WALL_FRAME_ANCESTORS."""
    server = app.server
    data_dir = Path(data_dir)
    audit_log = AuditLog(data_dir)
    server.extensions["pulse.dash"] = app
    server.extensions["pulse.audit"] = audit_log
    server.extensions["pulse.users"] = UserStore(data_dir, audit_log)
    server.extensions["pulse.tokens"] = TokenStore(data_dir, audit_log)
    server.extensions["pulse.throttle"] = Throttle()
    server.config.setdefault("PULSE_OPEN_LOCAL", True)  # main() sets it False when bound beyond loopback
    server.secret_key = os.environ.get("PULSE_SECRET_KEY") or _secret_key(data_dir)
    server.config.update(
        SESSION_COOKIE_NAME="pulse_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=_flag("PULSE_SECURE_COOKIES"),
        PERMANENT_SESSION_LIFETIME=timedelta(days=30),  # a display's; a user's login is cut at PULSE_SESSION_HOURS
        PULSE_SESSION_SECONDS=float(os.environ.get("PULSE_SESSION_HOURS", "12")) * 3600,
    )
    if _flag("PULSE_TRUST_PROXY"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=1, x_proto=1, x_host=1)
    server.register_blueprint(auth_blueprint)
    server.before_request(guard)
    server.after_request(security_headers)
    server.register_error_handler(Forbidden, _forbidden)
    from dash.exceptions import DependencyException

    # Dash answers an unknown /_dash-component-suites/ path with an exception (a 500): it is a 404.
    server.register_error_handler(DependencyException, lambda error: ("Not found", 404))


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _secret_key(data_dir: Path) -> str:
    """The key that signs session cookies: kept in the data directory (owner-only), made on first start."""
    path = data_dir / "session-secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(key + "\n")
        return key


# -- who is asking ----------------------------------------------------------------------------------
def identify() -> Identity:
    users: UserStore = current_app.extensions["pulse.users"]
    name = session.get("user")
    if name:
        user = users.active(name)
        fresh = time.time() - float(session.get("at", 0)) < current_app.config["PULSE_SESSION_SECONDS"]
        if user and fresh:
            return Identity("user", user["name"], user["role"])
        session.clear()  # disabled, removed or expired
    token_id = session.get("display")
    if token_id:
        token = current_app.extensions["pulse.tokens"].active(token_id)
        if token:
            return Identity("display", token["id"], "display", tuple(DISPLAY_VIEWS[v] for v in token["views"]))
        session.clear()  # revoked
    if open_mode():
        return OPEN
    return ANONYMOUS


def open_mode() -> bool:
    """No users exist and the request comes straight from this machine to a server bound to loopback."""
    if not current_app.config.get("PULSE_OPEN_LOCAL") or current_app.extensions["pulse.users"].has_users():
        return False
    environ = request.environ
    if any(h in environ for h in ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")):
        return False  # through a proxy: the client is elsewhere
    return is_loopback(environ.get("REMOTE_ADDR", ""))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# -- the guard --------------------------------------------------------------------------------------
def level_of(endpoint: str, method: str) -> str:
    rule = POLICY.get(endpoint, DEFAULT_LEVEL)
    if isinstance(rule, dict):
        return rule.get(method, DEFAULT_LEVEL)
    return rule


def guard():
    identity = identify()
    g.pulse_identity = identity
    if request.endpoint is None:  # 404 / 405: nothing to protect
        return None
    level = level_of(request.endpoint, request.method)
    if level in (PUBLIC, KEY):
        return None
    if level == PAGE:
        return _check_page(identity)
    if level == CALLBACK:
        return _check_callback(identity)
    if identity.at_least(level):
        return None
    return _refuse(identity, level, f"{request.method} {request.path}")


def _refuse(identity: Identity, level: str, what: str):
    status = 401 if identity.kind == "anonymous" else 403
    message = (f"{what} needs a login" if status == 401 else
               f"{what} needs the {level} role; you are {identity.describe()}")
    response = jsonify({"status": "error", "error": message, "needs": level})
    response.status_code = status
    return response


def _forbidden(error: Forbidden):
    return _refuse(error.identity, error.level, error.what)


def _check_page(identity: Identity):
    token = request.args.get("token")
    if token is not None:
        found = current_app.extensions["pulse.tokens"].verify(token)
        rest = [(k, v) for k, v in parse_qsl(request.query_string.decode(errors="replace"), keep_blank_values=True)
                if k != "token"]
        if not found:
            _audit("display.refused", None, {"path": request.path})
            return _page_message(401, "This display token is not valid: it may have been revoked. Create a new one "
                                      "with `python app.py tokens create --name NAME`.")
        session.clear()
        session["display"] = found["id"]
        session.permanent = True
        _audit("display.start", found["id"], {"name": found["name"], "path": request.path}, actor=f"display:{found['id']}")
        return redirect(request.path + ("?" + urlencode(rest) if rest else ""), code=303)
    if identity.kind == "anonymous":
        return redirect("/login?" + urlencode({"next": request.full_path.rstrip("?")}), code=302)
    if identity.kind == "display" and request.path not in identity.views:
        return _page_message(403, "This display may show only " + ", ".join(identity.views) + ".")
    return None


def _check_callback(identity: Identity):
    if identity.kind == "anonymous":
        return _refuse(identity, "viewer", "the dashboard's data")
    body = request.get_json(silent=True)
    dash_app = current_app.extensions["pulse.dash"]
    output = body.get("output") if isinstance(body, dict) else None
    entry = dash_app.callback_map.get(output) if isinstance(output, str) else None
    if entry is None or not entry.get("callback"):  # unknown or clientside: Dash itself would fail (a 500)
        response = jsonify({"status": "error", "error": f"output={str(output)[:80]!r}: no such callback",
                            "field": "output"})
        response.status_code = 400
        return response
    if identity.kind != "display":
        return None  # viewers and up; privileged callbacks check the role themselves (data/access.require)
    module = getattr(entry["callback"], "__module__", "")
    view_modules = {f"pages.{name}" for name, path in DISPLAY_VIEWS.items() if path in identity.views}
    if not (module in view_modules or module.startswith(("components.", "pages._", "dash."))):
        return _refuse(identity, "viewer", f"callback {str(body.get('output'))[:80]}")
    for item in _callback_values(body):
        if isinstance(item, dict) and item.get("property") == "pathname" and item.get("value") not in identity.views:
            return _refuse(identity, "viewer", f"view {str(item.get('value'))[:80]}")
    return None


def _callback_values(body: dict):
    for group in ("inputs", "state"):
        for item in body.get(group) or []:
            if isinstance(item, list):  # pattern-matching inputs come as lists
                yield from item
            else:
                yield item


def _page_message(status: int, message: str):
    return render_template_string(PAGE_HTML, title="Pulse", message=message, form=False), status


def security_headers(response):
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    ancestors = os.environ.get("PULSE_WALL_FRAME_ANCESTORS", "").strip()
    if ancestors and request.path == "/wall":
        frame = f"frame-ancestors {ancestors}"  # the wall may be framed by the configured origins
    else:
        frame = "frame-ancestors 'none'"
        headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Content-Security-Policy", f"{frame}; object-src 'none'; base-uri 'self'; form-action 'self'")
    if request.path.startswith(("/api/", "/_dash-update-component", "/login")):
        headers.setdefault("Cache-Control", "no-store")
    return response


# -- login throttling -------------------------------------------------------------------------------
class Throttle:
    """Failed logins per key: after `limit` failures of a key within FAILURE_WINDOW, further attempts with
    it wait 30 s, doubling with every failure up to MAX_LOCKOUT. Keys and limits (see `login_keys`): a name
    from one address (5), an address (20: guessing many names), a name from anywhere (50: a distributed
    guess; high enough that nobody locks a colleague out by mistyping). Memory is bounded."""

    def __init__(self, max_keys: int = 10_000):
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self.max_keys = max_keys

    def wait(self, keys: dict[str, int]) -> float:
        """Seconds until every key of `keys` ({key: limit}) may try again (0: now)."""
        now = time.monotonic()
        longest = 0.0
        with self._lock:
            for key, limit in keys.items():
                recent = [t for t in self._failures.get(key, []) if now - t < FAILURE_WINDOW]
                if len(recent) >= limit:
                    lock = min(MAX_LOCKOUT, 30 * 2 ** min(20, len(recent) - limit))
                    longest = max(longest, recent[-1] + lock - now)
        return max(0.0, longest)

    def failed(self, keys) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > self.max_keys:
                self._failures = {k: v for k, v in self._failures.items() if now - v[-1] < FAILURE_WINDOW}
            for key in keys:
                self._failures[key] = [t for t in self._failures.get(key, []) if now - t < FAILURE_WINDOW][-100:] + [now]

    def succeeded(self, keys) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


def login_keys(name: str, address: str) -> dict[str, int]:
    return {f"name+ip:{name}|{address}": MAX_FAILURES, f"ip:{address}": 4 * MAX_FAILURES,
            f"name:{name}": 10 * MAX_FAILURES}


# -- login, logout, audit ---------------------------------------------------------------------------
PAGE_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title><link rel="stylesheet" href="/assets/00-bootstrap-5.3.9.min.css"></head>
<body class="bg-body-tertiary"><main class="container" style="max-width: 26rem; margin-top: 10vh">
<h1 class="h3 mb-3">Pulse</h1>
{% if message %}<div class="alert alert-{{ tone or 'warning' }}" role="alert">{{ message }}</div>{% endif %}
{% if form %}
<form method="post" action="/login">
  <input type="hidden" name="next" value="{{ next }}">
  <div class="mb-3"><label class="form-label" for="name">Name</label>
    <input class="form-control" id="name" name="name" autocomplete="username" required maxlength="64" value="{{ name }}" autofocus></div>
  <div class="mb-3"><label class="form-label" for="password">Password</label>
    <input class="form-control" id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024"></div>
  <button class="btn btn-primary w-100" type="submit">Sign in</button>
</form>
{% if no_users %}<p class="small text-body-secondary mt-3">No users exist yet. Create the first admin on the server:
<code>python app.py users create NAME --role admin</code></p>{% endif %}
{% endif %}
</main></body></html>"""


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no //host, no backslashes): never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target or len(target) > 2000:
        return "/"
    if any(ord(c) < 32 for c in target):
        return "/"
    return target


def _login_page(status: int = 200, message: str | None = None, name: str = "", tone: str | None = None,
                headers: dict | None = None):
    body = render_template_string(PAGE_HTML, title="Pulse · Sign in", message=message, tone=tone, form=True, name=name,
                                  next=_safe_next(request.values.get("next")),
                                  no_users=not current_app.extensions["pulse.users"].has_users())
    return body, status, headers or {}


@auth_blueprint.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return _login_page()
    name = (request.form.get("name") or "").strip()[:64]
    password = (request.form.get("password") or "")[:MAX_PASSWORD]
    address = request.remote_addr or "?"
    throttle: Throttle = current_app.extensions["pulse.throttle"]
    keys = login_keys(name, address)
    wait = throttle.wait(keys)
    if wait > 0:
        _audit("login.throttled", name, {"retry_after": round(wait)}, actor=name or "anonymous")
        return _login_page(429, f"Too many failed sign-ins. Try again in {int(wait) + 1} seconds.", name,
                           headers={"Retry-After": str(int(wait) + 1)})
    user = current_app.extensions["pulse.users"].authenticate(name, password)
    if user is None:
        throttle.failed(keys)
        _audit("login.failed", name, {}, actor=name or "anonymous")
        return _login_page(401, "Wrong name or password, or the user is disabled.", name)
    throttle.succeeded([f"name+ip:{name}|{address}"])
    session.clear()  # a fresh session: nothing from before the login carries over
    session["user"] = user["name"]
    session["at"] = time.time()
    session.permanent = True
    _audit("login", user["name"], {"role": user["role"]}, actor=user["name"])
    return redirect(_safe_next(request.form.get("next")), code=303)


@auth_blueprint.post("/logout")
def logout():
    identity = access.current()
    if identity.kind in ("user", "display"):
        _audit("logout", identity.name, {})
    session.clear()
    return redirect("/login", code=303)


@auth_blueprint.get("/api/v1/audit")
def audit():
    """The newest audit entries (admin): ?limit=1..1000 (default 100), ?action=login (or a prefix: user, rule)."""
    text = request.args.get("limit", "100")
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        return jsonify({"status": "error", "error": f"limit={text[:40]!r}: must be a whole number from 1 to 1000",
                        "field": "limit"}), 400
    action = request.args.get("action") or None
    if action is not None and (len(action) > 40 or not all(c.isalnum() or c in "._" for c in action)):
        return jsonify({"status": "error", "error": f"action={action[:40]!r}: letters, digits, '.' and '_' only",
                        "field": "action"}), 400
    entries = current_app.extensions["pulse.audit"].recent(int(text), action)
    return jsonify({"status": "ok", "entries": entries})


def _audit(action: str, target, detail: dict, actor: str | None = None) -> None:
    current_app.extensions["pulse.audit"].record(actor or access.current().actor, action, target, detail,
                                                 ip=request.remote_addr)


def describe_policy() -> str:
    """The policy table as JSON (for the README and the tests)."""
    return json.dumps(POLICY, indent=2)

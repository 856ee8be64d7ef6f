"""Access control (issue 9): every route of the Flask url_map and every server-side Dash callback, called as
anonymous, a display token, a viewer, an analyst, an admin and an ingest key, through the real server
(Flask's test client) over a real warehouse. A route or callback added later without an entry here fails
`test_every_route_and_callback_is_covered`, so nothing is skipped silently."""
from __future__ import annotations

import json

import pytest

from api.auth import KEY, PAGE, PUBLIC, POLICY, level_of
from data.access import RANK
from data.audit import AuditLog
from data.users import UserError, UserStore
from tests.access_fixtures import (IDENTITIES, PASSWORD, callback_payload, dependencies, make_warehouse, secure,
                                   table_counts)

# One concrete request per endpoint: (method, path, JSON body). Writes carry bodies that fail validation,
# so the matrix changes nothing in the warehouse (checked).
REQUESTS = {
    "static": ("GET", "/static/none.css", None),
    "_dash_assets.static": ("GET", "/assets/pulse.css", None),
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>":
        ("GET", "/_dash-component-suites/dash/deps/none.js", None),
    "/_dash-layout": ("GET", "/_dash-layout", None),
    "/_dash-dependencies": ("GET", "/_dash-dependencies", None),
    "/_reload-hash": ("GET", "/_reload-hash", None),
    "/_favicon.ico": ("GET", "/_favicon.ico", None),
    "/": ("GET", "/", None),
    "/<path:path>": ("GET", "/funnel", None),
    "pulse_auth.login": ("GET", "/login", None),
    "pulse_auth.audit": ("GET", "/api/v1/audit", None),
    "pulse_api.ping": ("GET", "/api/v1/ping", None),
    "pulse_api.health": ("GET", "/api/v1/health", None),
    "pulse_api.kpis": ("GET", "/api/v1/kpis?from=2026-11-18&to=2026-11-20", None),
    "pulse_api.timeseries": ("GET", "/api/v1/timeseries?from=2026-11-19&to=2026-11-20", None),
    "pulse_api.funnel": ("GET", "/api/v1/funnel?from=2026-11-18&to=2026-11-20", None),
    "pulse_api.experiments": ("GET", "/api/v1/experiments", None),
    "pulse_api.experiment": ("GET", "/api/v1/experiments/nope", None),
    "pulse_api.budget_channels": ("GET", "/api/v1/budget/channels?from=2026-11-13&to=2026-11-20", None),
    "pulse_api.budget_optimize": ("POST", "/api/v1/budget/optimize", {"scenario": "nope"}),
    "pulse_api.budget_pacing": ("GET", "/api/v1/budget/pacing", None),
    "pulse_api.set_budget": ("PUT", "/api/v1/budget/budgets", {}),
    "pulse_api.report": ("GET", "/api/v1/report?view=nowhere", None),
    "pulse_api.export": ("GET", "/api/v1/export?view=monitoring&table=kpis&format=csv&from=2026-11-18&to=2026-11-20",
                         None),
    "pulse_api.targets": ("GET", "/api/v1/targets?month=2026-11", None),
    "pulse_api.set_target": ("PUT", "/api/v1/targets", {}),
    "pulse_api.list_rules": ("GET", "/api/v1/alerts/rules", None),
    "pulse_api.get_rule": ("GET", "/api/v1/alerts/rules/1", None),
    "pulse_api.create_rule": ("POST", "/api/v1/alerts/rules", {}),
    "pulse_api.update_rule": ("PUT", "/api/v1/alerts/rules/999999", {}),
    "pulse_api.delete_rule": ("DELETE", "/api/v1/alerts/rules/999999", None),
    "pulse_api.active_alerts": ("GET", "/api/v1/alerts/active", None),
    "pulse_api.alert_history": ("GET", "/api/v1/alerts/history", None),
    "pulse_api.list_webhooks": ("GET", "/api/v1/alerts/webhooks", None),
    "pulse_api.add_webhook": ("POST", "/api/v1/alerts/webhooks", {}),
    "pulse_api.delete_webhook": ("DELETE", "/api/v1/alerts/webhooks/999999", None),
    "pulse_api.list_deliveries": ("GET", "/api/v1/alerts/deliveries", None),
    "pulse_api.ingest_events": ("POST", "/api/v1/events", [{"event_id": "x"}]),
    "pulse_api.ingest_spend": ("POST", "/api/v1/spend", [{"channel": "x"}]),
    "pulse_api.start_import": ("POST", "/api/v1/imports", {"kind": "nope"}),
    "pulse_api.stage_rows": ("POST", "/api/v1/imports/none/rows", []),
    "pulse_api.commit_import": ("POST", "/api/v1/imports/none/commit", {}),
    "pulse_api.abort_import": ("DELETE", "/api/v1/imports/none", None),
}
# Checked separately: the callbacks (below) and logout (last, it ends the session).
SEPARATE = {"/_dash-update-component", "pulse_auth.logout"}

# Callbacks that act for a role above viewer, and the role (checked inside the callback: data/access.require).
PRIVILEGED = {"pages.alerts.save_rule": "admin", "pages.alerts.add_webhook": "admin", "pages.alerts.change_rule": "admin",
              "pages.monitoring.add_annotation": "admin", "pages.budget.save_what_if": "analyst",
              "pages.funnel.download_dropoffs": "analyst", "pages.admin.create_user": "admin",
              "pages.admin.change_user": "admin", "pages.admin.create_token": "admin",
              "pages.admin.revoke_token": "admin", "pages.admin.refresh_audit": "admin"}
REFUSAL = ("Only an admin", "the analyst role")
# Callbacks whose inputs are pattern-matching items (no component of that id on a bare page): the item clicked.
# (None today: the export menus download from /api/v1/export, in REQUESTS.)
CLICKED: dict[str, dict] = {}
DISPLAY_MODULES = ("pages.wall", "pages._", "components.", "dash.")


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("secured")
    warehouse = make_warehouse(tmp)
    yield secure(warehouse, tmp)
    warehouse.dispose()


def _identity_role(who: str) -> str:
    return {"anonymous": "anonymous", "ingest": "anonymous", "display": "display"}.get(who, who)


def _call(client, method, path, body):
    return client.open(path, method=method, json=body) if body is not None else client.open(path, method=method)


def test_every_route_and_callback_is_covered(secured):
    endpoints = {rule.endpoint for rule in secured.app.server.url_map.iter_rules()}
    assert endpoints - set(REQUESTS) - SEPARATE == set(), "a route with no entry in this test's REQUESTS"
    assert endpoints - set(POLICY) == set(), "a route with no entry in api/auth.py's POLICY (it needs admin until given one)"
    for dep in dependencies(secured):
        func = secured.app.callback_map[dep["output"]]["callback"]
        name = f"{func.__module__}.{func.__name__}"
        if func.__module__ == "pages.admin" or any(
                word in func.__name__ for word in ("save", "add", "change", "download", "delete", "set_", "create",
                                                   "revoke", "export", "upload", "toggle")):
            assert name in PRIVILEGED, f"{name} looks like an action: list its role in PRIVILEGED"


def test_role_matrix_of_routes(secured):
    before = table_counts(secured.warehouse)
    problems = []
    for endpoint, (method, path, body) in REQUESTS.items():
        level = level_of(endpoint, method)
        for who in IDENTITIES:
            answer = _call(secured.client(who), method, path, body)
            status, role = answer.status_code, _identity_role(who)
            if level == PUBLIC:
                ok = status not in (401, 403) and status < 500
            elif level == KEY:
                ok = status < 500 and (status not in (401, 403) if who == "ingest" else status == 401)
            elif level == PAGE:
                if who in ("anonymous", "ingest"):
                    ok = status == 302 and answer.headers["Location"].startswith("/login?next=")
                elif who == "display":
                    ok = status == 403  # "/" and "/funnel" are not the display's views
                else:
                    ok = status == 200
            elif RANK[role] >= RANK[level]:
                ok = status not in (401, 403) and status < 500
            else:
                ok = status == (401 if role == "anonymous" else 403)
            if not ok:
                problems.append(f"{who:9} {method} {path} ({level}): {status} {answer.data[:120]!r}")
    assert problems == []
    assert table_counts(secured.warehouse) == before


def test_role_matrix_of_callbacks(secured):
    before = table_counts(secured.warehouse)
    problems = []
    deps = dependencies(secured)
    assert len(deps) > 20
    for dep in deps:
        func = secured.app.callback_map[dep["output"]]["callback"]
        name = f"{func.__module__}.{func.__name__}"
        values = dict(secured.values)
        for d in dep["inputs"]:
            if d["property"] == "n_clicks":
                values[f"{d['id']}.n_clicks"] = 1  # a click
        payload = callback_payload(dep, values)
        if name in CLICKED:  # a pattern-matching menu: one concrete item clicked
            item = CLICKED[name]
            payload["inputs"] = [[{"id": item, "property": "n_clicks", "value": 1}]]
            payload["changedPropIds"] = [json.dumps(item, separators=(",", ":"), sort_keys=True) + ".n_clicks"]
        for who in IDENTITIES:
            answer = secured.client(who).post("/_dash-update-component", json=payload)
            status, role, text = answer.status_code, _identity_role(who), answer.get_data(as_text=True)
            if role == "anonymous":
                ok = status == 401
            elif role == "display" and name in PRIVILEGED:  # a shared piece's action (an export): refused
                ok = status == 403 or (status == 200 and any(r in text for r in REFUSAL))
            elif role == "display":
                ok = (status in (200, 204)) if func.__module__.startswith(DISPLAY_MODULES) else status == 403
                ok = ok and not any(r in text for r in REFUSAL) if status == 200 else ok
            else:
                needed = PRIVILEGED.get(name, "viewer")
                refused = any(r in text for r in REFUSAL)
                ok = status in (200, 204) and refused == (RANK[role] < RANK[needed])
            if not ok:
                problems.append(f"{who:9} {name}: {status} {text[:160]!r}")
    assert problems == []
    assert table_counts(secured.warehouse) == before


def test_unknown_or_malformed_callbacks_are_a_400(secured):
    viewer = secured.client("viewer")
    for body in ({"output": "nope.children"}, {"output": ["x"]}, [], {"output": "kiosk-clock.children"}):
        answer = viewer.post("/_dash-update-component", json=body)
        assert answer.status_code == 400 and answer.get_json()["field"] == "output", body
    assert viewer.post("/_dash-update-component", data="not json").status_code == 400


def test_display_sees_only_its_views(secured):
    display = secured.client("display")
    assert display.get("/wall?kiosk=1").status_code == 200
    for path in ("/", "/funnel", "/budget", "/alerts", "/experiments"):
        assert display.get(path).status_code == 403, path
    router = next(d for d in dependencies(secured) if d["output"].startswith(".._pages_content"))
    for path, status in (("/wall", 200), ("/budget", 403), ("/alerts", 403)):
        payload = callback_payload(router, {"_pages_location.pathname": path, "_pages_location.search": "?kiosk=1"})
        assert display.post("/_dash-update-component", json=payload).status_code == status, path
    assert display.get("/api/v1/kpis").status_code == 403
    # The wall's connection badge pings; the display learns how fresh the data is, a stranger only that
    # the server is up.
    assert set(display.get("/api/v1/ping").get_json()) == {"status", "newest_event", "timezone"}
    assert secured.client("anonymous").get("/api/v1/ping").get_json() == {"status": "ok"}


def test_login_throttling_and_audit(secured):
    client = secured.app.server.test_client()
    for _ in range(5):
        assert client.post("/login", data={"name": "viewer", "password": "wrong password!"}).status_code == 401
    locked = client.post("/login", data={"name": "viewer", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    actions = [e["action"] for e in AuditLog(secured.data_dir).recent(20)]
    assert actions[:2] == ["login.throttled", "login.failed"] and "login" in actions
    log = secured.client("admin").get("/api/v1/audit?limit=5&action=login").get_json()["entries"]
    assert {e["action"] for e in log} <= {"login", "login.failed", "login.throttled"} and len(log) == 5
    assert secured.client("viewer").get("/api/v1/audit").status_code == 403
    assert secured.client("admin").get("/api/v1/audit?limit=-1").status_code == 400


def test_cookies_headers_and_redirects(secured):
    client = secured.app.server.test_client()
    answer = client.post("/login", data={"name": "analyst", "password": PASSWORD, "next": "//evil.example/x"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/"  # never an open redirect
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "pulse_session=" in cookie
    page = client.get("/funnel")
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert client.get("/api/v1/kpis").headers["Cache-Control"] == "no-store"


def test_role_changes_and_disabling_apply_at_once(secured, tmp_path):
    users = UserStore(secured.data_dir)
    users.create("temp", "viewer", PASSWORD, actor="test")
    client = secured.app.server.test_client()
    assert client.post("/login", data={"name": "temp", "password": PASSWORD}).status_code == 303
    assert client.put("/api/v1/budget/budgets", json={}).status_code == 403
    users.set_role("temp", "admin", actor="test")
    assert client.put("/api/v1/budget/budgets", json={}).status_code == 400  # allowed now; the body is wrong
    users.set_disabled("temp", True, actor="test")
    assert client.get("/api/v1/kpis").status_code == 401
    with pytest.raises(UserError):
        users.create("bad name", "viewer", PASSWORD)
    with pytest.raises(UserError):
        users.create("short", "viewer", "short")


def test_revoked_display_token_stops_the_display(secured):
    from data.users import TokenStore
    tokens = TokenStore(secured.data_dir)
    token_id, token = tokens.create("temp", ["wall"], actor="test")
    client = secured.app.server.test_client()
    assert client.get(f"/wall?token={token}&kiosk=1").headers["Location"] == "/wall?kiosk=1"
    assert client.get("/wall?kiosk=1").status_code == 200
    tokens.revoke(token_id, actor="test")
    assert client.get("/wall?kiosk=1").status_code == 302
    assert client.get(f"/wall?token={token}").status_code == 401


def test_open_only_on_loopback_with_no_users(warehouse, tmp_path):
    """No users: open from this machine (the existing tests and the README's start command), not through a
    proxy and not from elsewhere; refusing to start on another address without an admin."""
    from app import create_app, refuse_unprotected

    app = create_app(warehouse, data_dir=tmp_path)
    client = app.server.test_client()
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/api/v1/health", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 401
    assert client.get("/api/v1/health", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 401
    app.server.config["PULSE_OPEN_LOCAL"] = False
    assert client.get("/api/v1/health").status_code == 401
    assert refuse_unprotected("127.0.0.1", tmp_path) is None
    message = refuse_unprotected("0.0.0.0", tmp_path)
    assert "python app.py users create NAME --role admin" in message
    UserStore(tmp_path).create("root", "admin", PASSWORD, actor="test")
    assert refuse_unprotected("0.0.0.0", tmp_path) is None


def test_cli_manages_users_and_tokens(tmp_path, capsys, monkeypatch):
    from data.users import main
    import io, sys
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "create", "ana", "--role", "analyst", "--password-stdin", "--data-dir", str(tmp_path)]) == 0
    assert main(["--data-dir", str(tmp_path), "users", "set-role", "ana", "admin"]) == 0
    assert main(["users", "disable", "ana", "--data-dir", str(tmp_path)]) == 0
    assert main(["tokens", "create", "--name", "tv", "--views", "wall,funnel", "--data-dir", str(tmp_path)]) == 0
    assert main(["tokens", "create", "--name", "tv", "--views", "nope", "--data-dir", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert "created analyst ana" in out and "ana is now admin" in out and "pulsedisp_" in out
    store = UserStore(tmp_path)
    assert store.get("ana")["role"] == "admin" and store.get("ana")["disabled"]
    assert store.has_users() and not store.has_admin()  # a disabled user still closes the open local mode
    assert "argon2id" in json.loads((tmp_path / "users.json").read_text())["users"][0]["password"]
    actions = [e["action"] for e in AuditLog(tmp_path).recent(10)]
    assert actions == ["token.create", "user.disable", "user.set_role", "user.create"]


def test_admin_page_manages_users_and_tokens(secured):
    deps = {f"{secured.app.callback_map[d['output']]['callback'].__name__}": d for d in dependencies(secured)
            if secured.app.callback_map[d["output"]]["callback"].__module__ == "pages.admin"}
    create = callback_payload(deps["create_user"], {"admin-user-create.n_clicks": 1, "admin-user-name.value": "carol",
                                                    "admin-user-role.value": "analyst",
                                                    "admin-user-password.value": PASSWORD})
    assert "Only an admin" in secured.client("analyst").post("/_dash-update-component", json=create).get_data(as_text=True)
    assert UserStore(secured.data_dir).get("carol") is None
    answer = secured.client("admin").post("/_dash-update-component", json=create)
    assert answer.status_code == 200 and "Created analyst carol" in answer.get_data(as_text=True)
    assert UserStore(secured.data_dir).get("carol")["role"] == "analyst"
    token = callback_payload(deps["create_token"], {"admin-token-create.n_clicks": 1, "admin-token-name.value": "tv2",
                                                    "admin-token-views.value": ["wall", "funnel"]})
    text = json.dumps(secured.client("admin").post("/_dash-update-component", json=token).get_json(), ensure_ascii=False)
    assert "/wall?kiosk=1&token=pulsedisp_" in text and "playlist=wall,funnel" in text
    entries = AuditLog(secured.data_dir).recent(2)
    assert [(e["actor"], e["action"]) for e in entries] == [("admin", "token.create"), ("admin", "user.create")]
    page = callback_payload(next(d for d in dependencies(secured) if d["output"].startswith(".._pages_content")),
                            {"_pages_location.pathname": "/admin", "_pages_location.search": ""})
    assert "Only an admin" in secured.client("viewer").post("/_dash-update-component", json=page).get_data(as_text=True)
    assert "carol" in secured.client("admin").post("/_dash-update-component", json=page).get_data(as_text=True)


# Last: it ends the sessions of the shared clients.
def test_logout_ends_every_session(secured):
    for who in ("display", "viewer", "analyst", "admin"):
        client = secured.client(who)
        answer = client.post("/logout")
        assert answer.status_code == 303 and answer.headers["Location"] == "/login"
        assert client.get("/api/v1/health").status_code == 401
        assert client.post("/_dash-update-component", json={"output": "x"}).status_code == 401


def test_lower_roles_do_not_get_admin_controls(tmp_path_factory):
    """The forms of admin actions are left out for lower roles (their callbacks refuse them anyway)."""
    tmp = tmp_path_factory.mktemp("controls")
    warehouse = make_warehouse(tmp)
    secured = secure(warehouse, tmp)
    router = next(d for d in dependencies(secured) if d["output"].startswith(".._pages_content"))
    for path, admin_only in (("/alerts", ("webhook-url", "rule-add")), ("/", ("annotation-add",))):
        payload = callback_payload(router, {"_pages_location.pathname": path, "_pages_location.search": ""})
        for who in ("viewer", "analyst", "admin"):
            text = secured.client(who).post("/_dash-update-component", json=payload).get_data(as_text=True)
            assert all((f'"{i}"' in text) == (who == "admin") for i in admin_only), (path, who)
    warehouse.dispose()

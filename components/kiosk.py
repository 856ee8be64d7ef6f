"""The shell's live-display pieces: kiosk mode, the connection badge, the clock and the playlist.

Kiosk mode (`kiosk=1` in any view's URL) shows the data only: no navbar, no controls, a dark high-contrast
theme with type sized to the screen. Pieces of chrome come back one by one with `show=` (navbar, filters,
timerange, refresh; comma-separated). The classes that do it are set on <html> before the first paint by
the inline script in `app.py`'s index page (no white flash), and again by a clientside callback whenever
the URL changes without a reload (the playlist).

A playlist (`playlist=wall,monitoring,funnel&interval=60`) moves through views without reloading the page,
keeping its own parameters in each view's URL so the rotation goes on. The connection badge polls
/api/v1/ping; while the server is unreachable the screen keeps its last numbers and says since when they
are stale, and it resumes by itself when the server is back (each view's own refresh timer reloads it).
"""
from __future__ import annotations

from dash import Input, Output, State, clientside_callback, dcc, html

HEARTBEAT_SECONDS = 5
PLAYLIST_VIEWS = {"wall": "/wall", "monitoring": "/", "funnel": "/funnel", "experiments": "/experiments",
                  "budget": "/budget", "alerts": "/alerts"}
CHROME = ("navbar", "filters", "timerange", "refresh")

# Runs in the page's <head>, before anything is drawn, and from the clientside callback below.
CLASSES_SCRIPT = """
window.pulseKiosk = function (search) {
    var params = new URLSearchParams(search || "");
    var root = document.documentElement, kiosk = params.get("kiosk") === "1";
    root.classList.toggle("kiosk", kiosk);
    root.setAttribute("data-bs-theme", kiosk ? "dark" : "light");
    var shown = (params.get("show") || "").split(",");
    %s.forEach(function (piece) { root.classList.toggle("show-" + piece, kiosk && shown.indexOf(piece) >= 0); });
    return kiosk;
};
window.pulseKiosk(window.location.search);
""" % list(CHROME)


def kiosk_shell() -> html.Div:
    """The bar a wall display shows above the view (clock, connection), and the timers behind it."""
    return html.Div([
        dcc.Interval(id="clock-tick", interval=1000),
        dcc.Interval(id="heartbeat", interval=HEARTBEAT_SECONDS * 1000),
        dcc.Interval(id="playlist-timer", interval=60_000, disabled=True),
        dcc.Store(id="connection", data={"ok": True, "last_ok": None}),
        html.Div([html.Span(id="kiosk-clock", className="kiosk-clock"),
                  html.Div(id="kiosk-data-as-of", className="kiosk-data-as-of")], className="kiosk-bar kiosk-only"),
        html.Span(id="connection-badge", className="d-none"),
    ])


clientside_callback(
    """function (search) { window.pulseKiosk(search); return window.dash_clientside.no_update; }""",
    Output("kiosk-clock", "title"), Input("url", "search"))

clientside_callback(
    """function () {
        var now = new Date();
        return now.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", hour12: false});
    }""",
    Output("kiosk-clock", "children"), Input("clock-tick", "n_intervals"))

clientside_callback(
    """async function (_, state) {
        var last = (state && state.last_ok) || Date.now();
        try {
            var controller = new AbortController();
            var timer = setTimeout(function () { controller.abort(); }, 4000);
            var response = await fetch("/api/v1/ping", {cache: "no-store", signal: controller.signal});
            clearTimeout(timer);
            if (response.ok) {
                var body = await response.json();
                return {ok: true, last_ok: Date.now(), newest: body.newest_event, timezone: body.timezone};
            }
        } catch (error) { /* unreachable: keep the last numbers and say so */ }
        return Object.assign({}, state, {ok: false, last_ok: last});
    }""",
    Output("connection", "data"), Input("heartbeat", "n_intervals"), State("connection", "data"))

# "Data as of" the newest event, under the clock, on kiosk views that do not say it themselves.
clientside_callback(
    """function (state, pathname) {
        if (!state || !state.newest || pathname === "/" || pathname === "/wall") { return null; }
        var time = new Date(state.newest).toLocaleTimeString([], {timeZone: state.timezone || "UTC",
            hour: "2-digit", minute: "2-digit", hour12: false});
        return "Data as of " + time;
    }""",
    Output("kiosk-data-as-of", "children"), Input("connection", "data"), Input("url", "pathname"))

clientside_callback(
    """function (state) {
        if (!state || state.ok) { return [null, "d-none"]; }
        var since = new Date(state.last_ok).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", hour12: false});
        return ["Reconnecting… data stale since " + since, "badge text-bg-warning connection-badge"];
    }""",
    Output("connection-badge", "children"), Output("connection-badge", "className"), Input("connection", "data"))

# The playlist: every `interval` seconds (default 60, at least 5), the next view, its URL carrying the
# playlist on; dcc.Location navigates without a reload.
clientside_callback(
    """function (search) {
        var params = new URLSearchParams(search || "");
        var seconds = Math.max(5, parseInt(params.get("interval") || "60", 10) || 60);
        return [!params.get("playlist"), seconds * 1000];
    }""",
    Output("playlist-timer", "disabled"), Output("playlist-timer", "interval"), Input("url", "search"))

clientside_callback(
    """function (_, pathname, search) {
        var views = %s;
        var params = new URLSearchParams(search || "");
        var names = (params.get("playlist") || "").split(",").filter(function (n) { return views[n]; });
        if (!names.length) { return window.dash_clientside.no_update; }
        var here = names.findIndex(function (n) { return views[n] === pathname; });
        var next = names[(here + 1) %% names.length];
        var carried = new URLSearchParams();
        ["playlist", "interval", "kiosk", "show", "refresh"].forEach(function (key) {
            if (params.get(key) !== null) { carried.set(key, params.get(key)); }
        });
        if (!carried.get("kiosk")) { carried.set("kiosk", "1"); }
        return views[next] + "?" + carried.toString().replace(/%%2C/g, ",");
    }""" % PLAYLIST_VIEWS,
    Output("url", "href"), Input("playlist-timer", "n_intervals"), State("url", "pathname"),
    State("url", "search"), prevent_initial_call=True)

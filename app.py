"""Pulse: build the Dash app, mount the API, and serve it.

    python app.py [--host 127.0.0.1] [--port 8050] [--data-dir var] [--timezone UTC] [--no-live]

On first start with an empty warehouse, the demo data is generated (see data/generate.py).
"""
from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import secrets
import sys
from contextlib import contextmanager
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from data.keys import KeyStore
from data.warehouse import Warehouse, resolve_data_dir
from data.writer import make_writer

HERE = Path(__file__).resolve().parent
SERVER_FILE = "server.json"
log = logging.getLogger("pulse")


def create_app(warehouse: Warehouse, timezone: str = "UTC", data_dir: str | Path | None = None) -> dash.Dash:
    """The Dash app over `warehouse`, with its one writer and the ingest keys of `data_dir` (default: the
    DuckDB file's directory)."""
    _forget_ui_modules()
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"),
        title="Pulse",
        suppress_callback_exceptions=True,  # page controls exist only while their page is shown
        update_title=None,  # keep the tab title steady while callbacks run (no "Updating...")
    )
    app.server.extensions["pulse.warehouse"] = warehouse
    app.server.extensions["pulse.writer"] = make_writer(warehouse)
    app.server.extensions["pulse.keys"] = KeyStore(_data_dir(warehouse, data_dir))
    app.server.config["PULSE_TIMEZONE"] = timezone

    from api import blueprint
    from components.alert_banner import alert_banner
    from components.kiosk import CLASSES_SCRIPT, kiosk_shell
    from components.navbar import navbar

    app.server.register_blueprint(blueprint)
    from api.auth import install as install_access_control
    from pages._access import access_bar

    install_access_control(app, _data_dir(warehouse, data_dir))  # every route checked: api/auth.py
    # Kiosk classes are set before the first paint (no white flash on a dark wall display).
    app.index_string = app.index_string.replace("{%css%}", "{%css%}\n<script>" + CLASSES_SCRIPT + "</script>", 1)
    app.layout = html.Div([
        dcc.Location(id="url", refresh="callback-nav"),
        navbar(),
        kiosk_shell(),
        dbc.Container([access_bar(), alert_banner(), dash.page_container], fluid=True, id="page"),
    ])
    return app


def _data_dir(warehouse: Warehouse, data_dir) -> Path:
    if data_dir is not None:
        return Path(data_dir)
    return warehouse.duckdb_path.parent if warehouse.duckdb_path else resolve_data_dir()


def _forget_ui_modules() -> None:
    """Dash keeps pages and `@callback`s in process-wide registries and hands them to the first app that
    serves a request. Starting each app from fresh registries and fresh imports lets one process build
    several apps (the tests build one per test) with every callback attached to each."""
    from dash import _callback, _pages

    _pages.PAGE_REGISTRY.clear()
    _callback.GLOBAL_CALLBACK_LIST.clear()
    _callback.GLOBAL_CALLBACK_MAP.clear()
    for name in [n for n in sys.modules if n.startswith(("pages.", "components."))]:
        del sys.modules[name]


def ensure_demo_data(warehouse: Warehouse, days: int, scale: float, seed: int) -> None:
    if not warehouse.is_empty():
        return
    from data.generate import generate

    log.info("empty warehouse at %s: generating %d days of demo data (scale %.2f)", warehouse.url, days, scale)
    summary = generate(warehouse, days=days, scale=scale, seed=seed)
    log.info("demo data ready: %s", summary)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python app.py", description="Serve the Pulse dashboard.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    parser.add_argument("--data-dir", default=None,
                        help="directory of the DuckDB warehouse (default $PULSE_DATA_DIR or ./var; "
                             "$WAREHOUSE_URL overrides when --data-dir is not given)")
    parser.add_argument("--timezone", default="UTC", help="IANA time zone the views show times in")
    parser.add_argument("--no-live", action="store_true", help="do not run the live demo event stream")
    parser.add_argument("--live-rate", default="20", type=_live_rate,
                        help="events per second of the live demo stream (default 20), or 'history' for the "
                             "demo history's own rate")
    parser.add_argument("--no-demo", action="store_true", help="do not generate demo data into an empty warehouse")
    parser.add_argument("--demo-days", type=int, default=90)
    parser.add_argument("--demo-scale", type=float, default=1.0)
    parser.add_argument("--demo-seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=32,
                        help="request threads of the server (default 32: ingest requests mostly wait for the "
                             "writer's commit, and more of them in flight make each commit carry more)")
    return parser


def _live_rate(text: str) -> float | None:
    if text == "history":
        return None
    try:
        rate = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--live-rate: expected a number of events per second or 'history', "
                                         f"got {text!r}") from None
    if not 0 < rate <= 100_000:
        raise argparse.ArgumentTypeError(f"--live-rate: {text} is outside 0 < rate <= 100000")
    return rate


def local_url(host: str, port: int) -> str:
    """How a process on this machine reaches the server bound to `host` (a wildcard means loopback)."""
    local = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    return f"http://{local}:{port}"


def start_live_demo(app: dash.Dash, warehouse: Warehouse, host: str, port: int, rate: float | None):
    """The demo stream, sending through this server's own ingest API with a key valid for this process."""
    from data.live import LiveDemo, LiveStream, history_state

    state = history_state(warehouse)
    if state is None:
        log.info("no generated demo history in the warehouse: live demo stream off")
        return None
    token = secrets.token_urlsafe(32)
    app.server.extensions["pulse.keys"].allow(token)
    stream = LiveStream(LiveDemo(*state, rate=rate), local_url(host, port), token)
    stream.start()
    log.info("live demo stream on: about %s events/s", rate if rate else "the history's")
    return stream


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["users"], ["tokens"], ["audit"]) or argv[2:3] in (["users"], ["tokens"], ["audit"]):
        from data.users import main as manage  # python app.py users|tokens|audit ... (data/users.py)

        sys.exit(manage(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    refusal = refuse_unprotected(args.host, _data_dir_of(args.data_dir))
    if refusal:
        print(refusal, file=sys.stderr, flush=True)
        sys.exit(2)
    warehouse = Warehouse.open(args.data_dir)
    if not args.no_demo:
        ensure_demo_data(warehouse, args.demo_days, args.demo_scale, args.demo_seed)
    app = create_app(warehouse, timezone=args.timezone, data_dir=args.data_dir)
    from api.auth import is_loopback

    app.server.config["PULSE_OPEN_LOCAL"] = is_loopback(args.host)  # no users: open only on loopback
    from api.alerting import seed_demo_rules, start_alerting

    if not args.no_demo:
        app.server.extensions["pulse.writer"].call(seed_demo_rules)  # only into a warehouse that never had rules
    start_alerting(app)
    generated_key = app.server.extensions["pulse.keys"].ensure_one()
    if generated_key:
        print(f"No ingest API key was configured; created one (also saved in the data directory):\n"
              f"  {generated_key}", flush=True)

    from waitress import serve

    if not args.no_live:
        start_live_demo(app, warehouse, args.host, args.port, args.live_rate)
    log.info("Pulse on http://%s:%d/ (warehouse %s)", args.host, args.port, warehouse.url)
    # What is built by now (modules, pages, callbacks, plotly's validators: some 200,000 objects) lives as long
    # as the server. Out of the cycle collector's sight, a full collection, which stops every request thread,
    # takes about 15 ms instead of 110 (measured on the monitoring page's requests).
    gc.freeze()
    with announced(_data_dir(warehouse, args.data_dir), args.host, args.port):
        serve(app.server, host=args.host, port=args.port, threads=args.threads, ident="pulse")


def _data_dir_of(data_dir) -> Path:
    """The data directory the server will use (that of $WAREHOUSE_URL's DuckDB file when it names one)."""
    if data_dir is None and os.environ.get("WAREHOUSE_URL"):
        path = Warehouse(os.environ["WAREHOUSE_URL"]).duckdb_path
        if path is not None:
            return path.parent
    return resolve_data_dir(data_dir)


def refuse_unprotected(host: str, data_dir: Path) -> str | None:
    """Bound beyond loopback, Pulse starts only once an admin exists (with no users it would be open to
    anyone who reaches it). The message says how to create one."""
    from api.auth import is_loopback
    from data.users import UserStore

    if is_loopback(host) or UserStore(data_dir).has_admin():
        return None
    return (f"Pulse will not serve {host} without an admin: with no users anyone who can reach it would see and "
            f"change everything. Create one first:\n"
            f"  python app.py users create NAME --role admin{'' if data_dir == resolve_data_dir() else f' --data-dir {data_dir}'}\n"
            f"or bind to 127.0.0.1 for local use.")


@contextmanager
def announced(data_dir: Path, host: str, port: int):
    """While serving, `server.json` in the data directory says where: commands such as `python -m data.load`
    then send their rows through this server, which owns the DuckDB file, instead of opening it."""
    path = Path(data_dir) / SERVER_FILE
    path.write_text(json.dumps({"url": local_url(host, port), "pid": os.getpid()}))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()

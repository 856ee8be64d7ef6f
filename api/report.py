"""A whole view as one PDF or PNG, rendered in the server by the system's headless Chromium printing the page.

    GET /report?view=monitoring|funnel|experiments|budget|wall&format=pdf|png&<the view's own query string>

Chromium opens the view on this server (so the report shows exactly what the page shows for that URL: the
same callbacks, the same numbers), lets its callbacks finish (a virtual-time budget), and prints it (PDF)
or takes a screenshot (PNG). Nothing is fetched from elsewhere. One report renders at a time: a second
request meanwhile is a 503 (retry); one that takes longer than REPORT_TIMEOUT seconds a 504. No Chromium
on the machine ($PULSE_CHROMIUM or `chromium` on PATH) is a 501.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from flask import Response, current_app, jsonify, request

from api import blueprint
from data import access
from queries.filters import FilterError

VIEWS = {"monitoring": "/", "funnel": "/funnel", "experiments": "/experiments", "budget": "/budget", "wall": "/wall"}
FORMATS = {"pdf": "application/pdf", "png": "image/png"}
REPORT_TIMEOUT = 120          # seconds a render may take
CALLBACK_BUDGET_MS = 25_000   # virtual time the page's callbacks get before the print
_rendering = threading.Lock()


def chromium() -> str | None:
    return os.environ.get("PULSE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def _error(status: int, field: str, value, problem: str) -> Response:
    response = jsonify({"status": "error", "error": f"{field}={value!r}: {problem}", "field": field,
                        "value": value, "problem": problem})
    response.status_code = status
    return response


@blueprint.get("/report")
def report():
    view = request.args.get("view", "monitoring")
    fmt = request.args.get("format", "pdf")
    if view not in VIEWS:
        raise FilterError("view", view, f"must be one of {', '.join(VIEWS)}")
    if fmt not in FORMATS:
        raise FilterError("format", fmt, f"must be one of {', '.join(FORMATS)}")
    binary = chromium()
    if not binary:
        return _error(501, "chromium", None, "no Chromium on this server (set $PULSE_CHROMIUM)")
    access.require("analyst", "exporting a report")
    pairs = [(k, v) for k, v in parse_qsl(request.query_string.decode(), keep_blank_values=True)
             if k not in ("view", "format", "token")]
    if not _rendering.acquire(timeout=1):
        return _error(503, "report", view, "another report is being rendered; retry in a minute")
    # Chromium is a client of its own: where logins are needed it gets a display token for this one view,
    # revoked as soon as the render is done (and never valid for more than the view it prints).
    tokens, token_id, asker = current_app.extensions.get("pulse.tokens"), None, access.current()
    if tokens is not None and asker.kind != "open":
        token_id, token = tokens.create(f"report for {asker.actor}", [view], actor=asker.actor)
        pairs.append(("token", token))
    url = request.host_url.rstrip("/") + VIEWS[view] + ("?" + urlencode(pairs, safe="/,:") if pairs else "")
    access.audit("export", view, {"view": view, "format": fmt, "report": True})
    try:
        with tempfile.TemporaryDirectory(prefix="pulse-report-") as folder:
            out = Path(folder) / f"view.{fmt}"
            command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                       "--disable-background-networking", "--disable-component-update", "--disable-sync",
                       "--disable-default-apps", f"--user-data-dir={folder}/profile", "--window-size=1400,2200",
                       f"--virtual-time-budget={CALLBACK_BUDGET_MS}", "--run-all-compositor-stages-before-draw"]
            command += ([f"--print-to-pdf={out}", "--no-pdf-header-footer"] if fmt == "pdf"
                        else [f"--screenshot={out}"])
            try:
                subprocess.run(command + [url], capture_output=True, timeout=REPORT_TIMEOUT, check=False)
            except subprocess.TimeoutExpired:
                return _error(504, "report", view, f"rendering took longer than {REPORT_TIMEOUT} s")
            if not out.exists() or out.stat().st_size == 0:
                return _error(500, "report", view, "Chromium wrote no file")
            body = out.read_bytes()
    finally:
        if token_id is not None:
            tokens.revoke(token_id, actor="report")
        _rendering.release()
    return Response(body, mimetype=FORMATS[fmt],
                    headers={"Content-Disposition": f'attachment; filename="pulse-{view}.{fmt}"'})

"""Soak test of a wall display: the /wall page in kiosk mode, refreshing every few seconds for many minutes
in headless Chromium at 1920x1080, while live events arrive; the browser's JS heap and DOM size over time.

    python bench/soak.py [--minutes 10] [--refresh 2] [--sample 30] [--data-dir DIR] [--path /wall]

Starts `python app.py` on DIR (default: a temporary copy of a generated 1M-event demo warehouse kept in
/tmp/pulse-soak) with the demo's live stream on, opens the page, and every --sample seconds forces a
garbage collection in the page and records the JS heap in use, DOM nodes, event listeners and the number
of refreshes drawn so far. The heap after the first minute is the baseline: a page that can run for days
stays within 20% of it. Prints a Markdown table for docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, port: int) -> subprocess.Popen:
    log = open(data_dir / "soak-server.log", "ab")
    process = subprocess.Popen([sys.executable, "app.py", "--data-dir", str(data_dir), "--port", str(port),
                                "--live-rate", "20"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600  # a first start generates the demo warehouse
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/ping", timeout=5).read()
            return process
        except OSError:
            if process.poll() is not None:
                raise RuntimeError((data_dir / "soak-server.log").read_text()[-2000:])
            time.sleep(1)
    raise TimeoutError("server did not start")


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--window-size=1920,1080"):
        options.add_argument(flag)
    if shutil.which("chromium"):
        options.binary_location = shutil.which("chromium")
    driver = webdriver.Chrome(options=options)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})
    driver.execute_cdp_cmd("Performance.enable", {})
    return driver


def sample(driver) -> dict:
    driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
    metrics = {m["name"]: m["value"] for m in driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]}
    refreshes = driver.execute_script("return window.pulseSoakRefreshes || 0")
    return {"heap_mb": metrics["JSHeapUsedSize"] / 2**20, "nodes": int(metrics["Nodes"]),
            "listeners": int(metrics["JSEventListeners"]), "refreshes": refreshes}


COUNT_REFRESHES = """
    window.pulseSoakRefreshes = 0;
    new MutationObserver(function () { window.pulseSoakRefreshes += 1; })
        .observe(document.getElementById('page'), {subtree: true, characterData: true, childList: true});
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--refresh", default="2", help="the page's refresh interval, seconds")
    parser.add_argument("--sample", type=float, default=30, help="seconds between samples")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--path", default="/wall")
    args = parser.parse_args(argv)
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="pulse-soak-"))
    port = free_port()
    server = start_server(data_dir, port)
    driver = browser()
    rows = []
    try:
        url = f"http://127.0.0.1:{port}{args.path}?kiosk=1&refresh={args.refresh}"
        driver.get(url)
        time.sleep(10)
        driver.execute_script(COUNT_REFRESHES)
        began = time.monotonic()
        while True:
            elapsed = time.monotonic() - began
            rows.append({"minute": elapsed / 60, **sample(driver)})
            print(f"{elapsed / 60:5.1f} min  heap {rows[-1]['heap_mb']:6.2f} MB  nodes {rows[-1]['nodes']:6d}  "
                  f"listeners {rows[-1]['listeners']:5d}  DOM changes {rows[-1]['refreshes']}", flush=True)
            if elapsed >= args.minutes * 60:
                break
            time.sleep(max(0.0, args.sample - (time.monotonic() - began - elapsed)))
        logs = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()
        server.terminate()
        server.wait(30)
    baseline = next(r for r in rows if r["minute"] >= 1)
    worst = max(r["heap_mb"] for r in rows if r["minute"] >= 1)
    print(f"\n`python bench/soak.py --minutes {args.minutes:g} --refresh {args.refresh} --path {args.path}`, "
          f"{datetime.now(timezone.utc):%Y-%m-%d}, {platform.node()} ({os.cpu_count()} cores); JS heap after a "
          "forced garbage collection:\n")
    print("| minute | JS heap, MB | vs minute 1 | DOM nodes | event listeners | DOM changes so far |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['minute']:.1f} | {r['heap_mb']:.2f} | {r['heap_mb'] / baseline['heap_mb'] - 1:+.1%} | "
              f"{r['nodes']:,} | {r['listeners']:,} | {r['refreshes']:,} |")
    print(f"\nHighest heap after minute 1: {worst:.2f} MB, {worst / baseline['heap_mb'] - 1:+.1%} against minute 1 "
          f"(target: within +20%). Console errors: {len(logs)}.")
    return 0 if worst <= baseline["heap_mb"] * 1.2 else 1


if __name__ == "__main__":
    sys.exit(main())

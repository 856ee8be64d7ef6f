"""The exact callback requests a browser sends when it opens a view, recorded from headless Chromium.

    python bench/record.py URL PATH_AND_QUERY    # prints the recorded requests as JSON

Chromium's DevTools performance log holds every request the page makes; the POSTs to
`/_dash-update-component` are the view's callbacks with the bodies Dash's renderer built (inputs, state,
changed properties), whatever the page's layout holds. bench/run.py replays them over plain HTTP.
"""
from __future__ import annotations

import json
import shutil
import sys
import time

CALLBACK_PATH = "/_dash-update-component"


def browser():
    """Headless Chromium logging its network traffic (the performance log)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--window-size=1920,1080"):
        options.add_argument(flag)
    if shutil.which("chromium"):
        options.binary_location = shutil.which("chromium")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options)
    driver.execute_cdp_cmd("Network.enable", {})
    return driver


def record(driver, url: str, quiet: float = 2.0, limit: float = 120.0) -> list[dict]:
    """Open `url` and return the callback requests it sends, in order, once every one has been answered
    and none has been sent for `quiet` seconds (a view whose timer keeps firing stops at `limit`).
    Each: {"output": ..., "body": the JSON body, "status": HTTP status}."""
    driver.get_log("performance")  # drop what earlier pages logged
    driver.get(url)
    sent, answered, bodies = {}, {}, {}
    last_activity, started = time.monotonic(), time.monotonic()
    while time.monotonic() - started < limit:
        for entry in driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message["method"] == "Network.requestWillBeSent" and CALLBACK_PATH in params["request"]["url"]:
                sent[params["requestId"]] = params["request"]
                last_activity = time.monotonic()
            elif message["method"] == "Network.responseReceived" and params.get("requestId") in sent:
                answered[params["requestId"]] = params["response"]["status"]
            elif message["method"] == "Network.loadingFinished" and params.get("requestId") in sent:
                last_activity = time.monotonic()
        pending = [r for r in sent if r not in answered]
        if not pending and sent and time.monotonic() - last_activity > quiet:
            break
        time.sleep(0.1)
    out = []
    for request_id, request in sent.items():
        body = request.get("postData")
        if body is None:  # large bodies are left out of the event; DevTools hands them on request
            body = driver.execute_cdp_cmd("Network.getRequestPostData", {"requestId": request_id})["postData"]
        payload = json.loads(body)
        out.append({"output": payload["output"], "body": payload, "status": answered.get(request_id)})
        bodies[request_id] = payload
    return out


def main(argv=None) -> int:
    base, path = (argv or sys.argv[1:])[:2]
    driver = browser()
    try:
        print(json.dumps(record(driver, base.rstrip("/") + path), indent=1))
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())

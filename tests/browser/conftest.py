"""Browser tests: the real app on a real server thread, driven by headless Chromium (dash_duo)."""
from __future__ import annotations

import os
import shutil

import pytest
from selenium.webdriver.chrome.options import Options

from app import create_app
from queries import side_by_side

if shutil.which("chromium") and "DASH_TEST_CHROMEPATH" not in os.environ:
    os.environ["DASH_TEST_CHROMEPATH"] = shutil.which("chromium")


# Another port lets two checkouts run their browser tests side by side.
PORT = int(os.environ.get("PULSE_TEST_PORT", "8050"))


def pytest_setup_options():
    """Chromium flags for a closed network: no background fetches, no first-run work."""
    options = Options()
    for flag in ("--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-quic", "--disable-default-apps", "--window-size=1400,1000"):
        options.add_argument(flag)
    return options


@pytest.fixture(scope="session", autouse=True)
def query_pools():
    """The queries' thread pools started before any test server: dash.testing's server, stopping, raises
    SystemExit in every thread started since it began, and a pool worker killed that way loses the task
    it takes next (queries/side_by_side.py replaces the pool, but not the task)."""
    side_by_side.start()


@pytest.fixture
def start_pulse(dash_duo, warehouse):
    """Start a fresh Pulse app (its own registries) on the shared test warehouse and open `path`; returns
    dash_duo (its server_url stays unset: the server is at dash_duo.server.url)."""
    def start(path: str = "/"):
        app = create_app(warehouse)
        # Straight to `path`, without a first visit to "/": the monitoring page's queries would run for
        # nothing, on threads the test server kills when it stops (dash.testing's KillerThread).
        dash_duo.start_server(app, port=PORT, navigate=False)
        dash_duo.wait_for_page(url=dash_duo.server.url + path, timeout=20)
        return dash_duo
    return start

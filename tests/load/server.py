"""A real Pulse server process (python app.py) on a free loopback port, for tests and benchmarks that kill
it or load it."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEY = "load-test-key-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PulseProcess:
    def __init__(self, data_dir: Path, port: int | None = None):
        self.data_dir, self.port, self.process = data_dir, port or free_port(), None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "PulseProcess":
        with socket.socket() as probe:  # another server there would answer the health check below
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                raise RuntimeError(f"port {self.port} is in use by another process")
        env = {**os.environ, "PULSE_INGEST_KEYS": KEY}
        env.pop("WAREHOUSE_URL", None)
        log = open(self.data_dir / "server.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "app.py", "--data-dir", str(self.data_dir), "--port", str(self.port),
             "--no-demo", "--no-live"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {(self.data_dir / 'server.log').read_text()[-2000:]}")
            try:
                self.get("/api/v1/health")
                if self.process.poll() is None:
                    return self
            except OSError:
                time.sleep(0.2)
                continue
            raise RuntimeError(f"server exited: {(self.data_dir / 'server.log').read_text()[-2000:]}")
        raise TimeoutError("server did not start")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.loads(response.read())

    def post(self, path: str, rows: list, timeout: float = 30) -> tuple[int, dict]:
        request = urllib.request.Request(self.url + path, data=json.dumps(rows).encode(), method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {KEY}"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")



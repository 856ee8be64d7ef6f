#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine with Python, then runs the whole suite,
# browser tests included. Extra arguments go to pytest (e.g. `bash tests/run.sh tests/unit -x`).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt

exec .venv/bin/python -m pytest "$@"

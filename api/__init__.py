"""Pulse's HTTP API, mounted on the Dash server under /api/v1."""
from flask import Blueprint

blueprint = Blueprint("pulse_api", __name__, url_prefix="/api/v1")

from api import alerts, budget, experiments, export, health, imports, ingest, reads, report, targets  # noqa: E402,F401  (routes register themselves on the blueprint)

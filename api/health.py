"""GET /api/v1/health: is the warehouse there, how big is it, and how fresh."""
from flask import jsonify

from api import blueprint
from data.warehouse import current
from queries.health import warehouse_health


@blueprint.get("/health")
def health():
    return jsonify({"status": "ok", **warehouse_health(current())})

"""GET /api/v1/health: is the warehouse there, how big is it, how fresh, and is ingest keeping up."""
from flask import current_app, jsonify

from api import blueprint
from data import access
from data.warehouse import current
from queries.health import newest_event, warehouse_health


@blueprint.get("/health")
def health():
    writer = current_app.extensions["pulse.writer"]
    return jsonify({
        "status": "ok",
        **warehouse_health(current()),
        "events_per_second_last_minute": round(writer.events_per_second(60), 3),
        "writer_queue_depth": writer.queue_depth,
    })


@blueprint.get("/ping")
def ping():
    """A cheap sign of life for screens that watch their connection (components/kiosk.py); to whoever may
    see a view (a display token or more), with the newest event's time, which kiosk views without a "Data
    as of" line of their own show, in the display time zone. Anyone may ping: nothing else is said."""
    if not access.allowed("display"):
        return jsonify({"status": "ok"})
    newest = newest_event(current())
    return jsonify({"status": "ok", "newest_event": newest.isoformat() + "Z" if newest is not None else None,
                    "timezone": current_app.config.get("PULSE_TIMEZONE", "UTC")})

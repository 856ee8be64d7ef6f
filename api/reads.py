"""JSON twins of the views: the same query string as the page, the same query functions, the same numbers."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import current_app, jsonify, request

from api import blueprint, jsonable
from api.tabular import csv_of, csv_response, wants_csv
from data.warehouse import current
from queries.filters import FilterError, Filters
from queries.funnel import FunnelOptions, funnel_report
from queries.kpis import kpis_with_comparison
from queries.timeseries import STEPS, timeseries as kpi_timeseries


@blueprint.errorhandler(FilterError)
def bad_filter(error: FilterError):
    response = jsonify({"status": "error", "error": str(error), **error.as_dict()})
    response.status_code = 400
    return response


@blueprint.get("/kpis")
def kpis():
    filters = Filters.from_query(request.query_string.decode())
    tz = current_app.config.get("PULSE_TIMEZONE", "UTC")
    now = datetime.now(timezone.utc)  # one instant for the range reported and the range queried
    start, end = filters.resolve(now, tz)
    table = kpis_with_comparison(current(), filters, now=now, tz=tz)
    if wants_csv():
        return csv_response(table.rename(columns={"current": "value"}), "kpis")
    return jsonify({
        "from": start.isoformat() + "Z", "to": end.isoformat() + "Z", "compare": filters.compare,
        "filters": filters.dimension_values(),
        "kpis": {row.kpi: jsonable.row({"value": row.current, "previous": row.previous, "change": row.change})
                 for row in table.itertuples()},
    })


@blueprint.get("/timeseries")
def timeseries():
    """The trend charts' data: KPIs per bucket and channel (channel "(all)": the totals). `step` is
    5min, hour or day (default: by the range's length, as the page)."""
    filters = Filters.from_query(request.query_string.decode())
    step = request.args.get("step") or None
    if step is not None and step not in STEPS:
        raise FilterError("step", step, f"must be one of {', '.join(STEPS)}")
    tz = current_app.config.get("PULSE_TIMEZONE", "UTC")
    start, end = filters.resolve(datetime.now(timezone.utc), tz)
    table = kpi_timeseries(current(), filters, start, end, step=step, tz=tz)
    if wants_csv():
        return csv_response(table, "timeseries")
    rows = [jsonable.row(record) for record in table.to_dict("records")]
    return jsonify({"from": start.isoformat() + "Z", "to": end.isoformat() + "Z", "rows": rows})


@blueprint.get("/funnel")
def funnel():
    """The funnel view's data (docs/metrics.md, "Funnel"): the page's filters plus `steps` (comma-separated
    or repeated), `count` (users, sessions), `window` (30m, 1h, 1d, 7d...), `order` (indirect, strict),
    `breakdown` (channel, campaign, device, region, landing_page) and `interval` (hour, day: the trend's
    buckets). Tables as lists of rows: steps, breakdown (null without one), trend, times, time_histogram."""
    query = request.query_string.decode()
    filters = Filters.from_query(query)
    options = FunnelOptions.from_query(query)
    tz = current_app.config.get("PULSE_TIMEZONE", "UTC")
    now = datetime.now(timezone.utc)  # one instant for the range and for "still in progress"
    start, end = filters.resolve(now, tz)
    report = funnel_report(current(), filters, start, end, options, now=now.replace(tzinfo=None), tz=tz)
    if wants_csv():
        return csv_of({"steps": report.steps, "breakdown": report.breakdown, "trend": report.trend,
                       "times": report.times, "time_histogram": report.time_histogram}, "steps")
    return jsonify({
        "from": start.isoformat() + "Z", "to": end.isoformat() + "Z", "filters": filters.dimension_values(),
        "options": options.as_dict(), "steps": _records(report.steps), "breakdown": _records(report.breakdown),
        "trend": _records(report.trend), "times": _records(report.times),
        "time_histogram": _records(report.time_histogram),
    })


def _records(table) -> list[dict] | None:
    return None if table is None else [jsonable.row(record) for record in table.to_dict("records")]

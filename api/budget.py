"""JSON twin of the budget view (docs/metrics.md, "Attribution" and "Budget").

    GET  /budget/channels     the channel returns table: the page's filters (default the last 90 days) plus
                              attribution (last_click, first_click, linear, position_based, time_decay) and
                              lookback (days, 1-90); with marginal ROAS from the response curves, and the
                              channel ranking under every model
    POST /budget/optimize     the optimizer; body {source, dataset, scenario, total_budget, target_roas, target_cpa,
                              bounds, locked, max_change, attribution, lookback}; the range from the query
                              string as above (source attribution)
    GET  /budget/pacing       this month's (or ?month=YYYY-MM) plan against actual spend per channel
    PUT  /budget/budgets      set a month's planned budget {month: "YYYY-MM", channel, planned}

A bad value is a 400 naming the field and the value; infeasible constraints a 400 saying which.
"""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
from flask import current_app, jsonify, request

from api import blueprint, jsonable
from api.tabular import csv_of, wants_csv
from data import access
from data.warehouse import current
from queries import budget as q
from queries.attribution import AttributionOptions, attribution_report
from queries.filters import FilterError, Filters

DEFAULT_FILTERS = Filters(start="now-90d", end="now", compare="none")


def _range():
    query = request.query_string.decode()
    filters = Filters.from_query(query, DEFAULT_FILTERS)
    tz = current_app.config.get("PULSE_TIMEZONE", "UTC")
    start, end = filters.resolve(datetime.now(timezone.utc), tz)
    return query, filters, start, end


@blueprint.get("/budget/channels")
def budget_channels():
    query, filters, start, end = _range()
    options = AttributionOptions.from_query(query)
    wh = current()
    report = attribution_report(wh, filters, start, end, options)
    table = q.with_marginal_roas(report.channels, q.attribution_responses(wh, filters, start, end, options))
    if wants_csv():
        return csv_of({"channels": table, "models": report.models, "ranks": report.ranks}, "channels")
    return jsonify({"from": jsonable.value(start), "to": jsonable.value(end), "filters": filters.dimension_values(),
                    "attribution": options.model, "lookback": options.lookback,
                    "channels": _records(table), "models": _records(report.models), "ranks": _records(report.ranks)})


@blueprint.post("/budget/optimize")
def budget_optimize():
    _, filters, start, end = _range()
    body = request.get_json(silent=True)
    if body is None:
        raise FilterError("body", (request.get_data(as_text=True) or "")[:80], "must be a JSON object")
    budget_request = q.OptimizeRequest.parse(body)
    responses, result = q.optimize(current(), filters, start, end, budget_request)
    return jsonify(q.recommendation_json(budget_request, responses, result)
                   | {"from": jsonable.value(start), "to": jsonable.value(end)})


@blueprint.get("/budget/pacing")
def budget_pacing():
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    month = request.args.get("month")
    moment = q.month_moment(month, now)
    table = q.pacing(current(), moment)
    if wants_csv():
        return csv_of({"channels": table}, "channels")
    return jsonify({"month": moment.strftime("%Y-%m"), "as_of": jsonable.value(moment), "channels": _records(table)})


@blueprint.put("/budget/budgets")
def set_budget():
    access.require("admin", "setting budgets")
    body = jsonable.body_with("month", "channel", "planned")
    month, channel, planned = q.check_budget(current(), body["month"], body["channel"], body["planned"])
    current_app.extensions["pulse.writer"].call(lambda conn: q.write_budget(conn, month, channel, planned))
    access.audit("budget.set", channel, {"month": month.strftime("%Y-%m"), "planned": planned})
    return jsonify({"status": "ok", "month": month.strftime("%Y-%m"), "channel": channel, "planned": planned})


def _records(table) -> list[dict]:
    return [jsonable.row(r) for r in table.replace({np.inf: None, -np.inf: None}).to_dict("records")]

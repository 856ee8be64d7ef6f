"""JSON twin of the A/B experiment statistics (docs/metrics.md, "Experiments").

    GET /experiments           every experiment, for a picker
    GET /experiments/<name>    per-variant statistics, SRM check and funnels; the page's query string
                               (from, to, default the last 90 days; channel, campaign, device, region) plus
                               metric (an event type, default purchase) and mode (fixed | sequential,
                               default fixed)

An unknown experiment is a 404 naming it; a bad metric, mode or filter a 400 naming the field and value.
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import current_app, jsonify, request

from analytics.experiments import MODES, compare_variants
from api import blueprint, jsonable
from api.tabular import csv_of, wants_csv
from data.warehouse import current
from queries.experiments import (DEFAULT_FILTERS, experiment_design, experiment_list, experiment_options,
                                 exposure_window, experiment_numbers)
from queries.filters import Filters


@blueprint.get("/experiments")
def experiments():
    rows = experiment_list(current()).to_dict("records")
    return jsonify({"experiments": [{**jsonable.row(r), "variants": (r["variants"] or "").split(", ")} for r in rows]})


@blueprint.get("/experiments/<name>")
def experiment(name: str):
    filters = Filters.from_query(request.query_string.decode(), DEFAULT_FILTERS)
    metric, mode = experiment_options(filters, MODES)
    wh = current()
    design = experiment_design(wh, name)
    if design is None:
        response = jsonify({"status": "error", "error": f"no experiment named {name!r}", "field": "experiment",
                            "value": name, "problem": "unknown experiment"})
        response.status_code = 404
        return response
    tz = current_app.config.get("PULSE_TIMEZONE", "UTC")
    start, end = filters.resolve(datetime.now(timezone.utc), tz)  # one instant for every number below
    counts, funnel = experiment_numbers(wh, design, filters, start, end, metric)
    result = compare_variants(counts.variants, design.control, mode=mode)
    window_start, window_end = exposure_window(design, start, end)
    if wants_csv():
        return csv_of({"variants": result.variants, "funnel": funnel}, "variants")
    return jsonify({
        "experiment": design.name, "description": design.description, "control": design.control,
        "start_ts": jsonable.value(design.start_ts), "end_ts": jsonable.value(design.end_ts),
        "from": jsonable.value(start), "to": jsonable.value(end), "filters": filters.dimension_values(),
        "window": {"from": jsonable.value(window_start), "to": jsonable.value(window_end)},
        "metric": metric, "mode": result.mode, "mode_description": result.mode_description,
        "confidence": result.confidence,
        "expected_users": result.expected_users if mode == "sequential" else None,
        "multi_variant_users": counts.multi_variant_users,
        "sample_ratio": jsonable.row(vars(result.sample_ratio)),
        "variants": [jsonable.row(r) for r in result.variants.to_dict("records")],
        "funnel": [jsonable.row(r) for r in funnel.to_dict("records")],
    })


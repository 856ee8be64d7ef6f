"""The floor and the naive baseline of each view and endpoint bench/run.py measures, run directly in DuckDB.

    python bench/direct.py DB SETTINGS_JSON RUNS   # prints "RESULT {json}"

Run as its own process on a warehouse file no server holds (DuckDB lets one process open a file for
writing): bench/run.py starts it on the data directory's file before the server opens it, or on a copy.
- floor: the query functions the endpoint or the page callback calls, with no result cache (a process
  without the writer has none: each call is its queries over the tables), no HTTP, no figures;
- naive: the same aggregate in one statement over the raw `events` table, with no rollups, no `sessions`
  table and no cache (a session's channel is the channel of its events, as ingested).
The monitoring page's three parts have their own floor, bench/monitoring.py's QUERIES_ONLY.
"""
from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.funnel import asof_sql  # noqa: E402  (the funnel's SQL-only computation, one ASOF JOIN per step)
from data.warehouse import Warehouse  # noqa: E402
from queries import budget as q_budget  # noqa: E402
from queries.alerts import active, history, rules  # noqa: E402
from queries.attribution import AttributionOptions, attribution_report  # noqa: E402
from queries.channels import channel_performance  # noqa: E402
from queries.experiments import (DEFAULT_FILTERS as EXPERIMENT_DEFAULTS, experiment_design,  # noqa: E402
                                 experiment_list, variant_counts, variant_funnels)
from queries.filters import FilterError, Filters  # noqa: E402
from queries.funnel import FunnelOptions, funnel_report  # noqa: E402
from queries.health import newest_event  # noqa: E402
from queries.kpis import kpis_with_comparison  # noqa: E402
from queries.scope import dimension_predicate  # noqa: E402
from queries.timeseries import timeseries  # noqa: E402

BUDGET_DEFAULTS = Filters(start="now-90d", end="now", compare="none")
WALL_DEFAULTS = Filters(start="now/d", end="now", compare="week")  # compare: the wall always compares

# -- the naive baselines: one statement over raw events each ---------------------------------------------

TOTALS = """SELECT count(DISTINCT session_id) AS sessions, count(DISTINCT user_id) AS users,
    count(*) FILTER (WHERE type = 'page_view') AS page_views, count(*) FILTER (WHERE type = 'purchase') AS orders,
    coalesce(sum(revenue) FILTER (WHERE type = 'purchase'), 0) AS revenue,
    count(*) FILTER (WHERE type = 'signup') AS signups
    FROM events e WHERE e.ts >= :start AND e.ts < :end AND """

SERIES = """SELECT time_bucket(:step, e.ts) AS bucket, e.channel, count(DISTINCT e.session_id) AS sessions,
    coalesce(sum(e.revenue) FILTER (WHERE e.type = 'purchase'), 0) AS revenue,
    count(*) FILTER (WHERE e.type = 'purchase') AS orders
    FROM events e WHERE e.ts >= :start AND e.ts < :end AND {dims} GROUP BY ALL"""

SPEND = "SELECT coalesce(sum(cost), 0) FROM ad_spend a WHERE a.ts >= :start AND a.ts < :end AND "

LAST_CLICK = """WITH purchases AS (
        SELECT e.channel, e.revenue FROM events e
        WHERE e.type = 'purchase' AND e.ts >= :start AND e.ts < :end AND {dims}),
    spend AS (SELECT a.channel, sum(a.cost) AS spend FROM ad_spend a
        WHERE a.ts >= :start AND a.ts < :end AND {spend_dims} GROUP BY ALL)
    SELECT p.channel, count(*) AS orders, sum(p.revenue) AS revenue, any_value(s.spend) AS spend
    FROM purchases p LEFT JOIN spend s USING (channel) GROUP BY ALL"""

VARIANTS = """WITH first_exposures AS (
        SELECT user_id, min(ts) AS first_exposure, arg_min(channel, ts) AS channel,
               CASE WHEN min(variant) = max(variant) THEN min(variant) END AS variant
        FROM events WHERE experiment = :experiment AND ts >= :start AND ts < :end GROUP BY user_id),
    exposed AS (SELECT * FROM first_exposures e WHERE {dims}),
    converters AS (SELECT DISTINCT e.user_id FROM events e JOIN exposed x USING (user_id)
        WHERE e.type = 'purchase' AND e.ts >= x.first_exposure AND e.ts < :end)
    SELECT x.variant, count(*) AS users, count(c.user_id) AS conversions
    FROM exposed x LEFT JOIN converters c USING (user_id) GROUP BY ALL"""


def _dims(filters: Filters, alias: str = "e", spend: bool = False) -> tuple[str, dict]:
    # spend is kept per channel and campaign only (README: a device or region filter shows spend as "-")
    return dimension_predicate(filters, alias, only=("channel", "campaign") if spend else
                               ("channel", "campaign", "device", "region"))


def naive_kpis(wh, filters: Filters, now: datetime):
    """The tiles' totals for the range and its comparison period, and the spend."""
    start, end = filters.resolve(now)
    dims, params = _dims(filters)
    spend_dims, spend_params = _dims(filters, "a", spend=True)
    for a, b in [(start, end), filters.comparison(now)]:
        wh.read(TOTALS + dims, {**params, "start": a, "end": b})
        wh.read(SPEND + spend_dims, {**spend_params, "start": a, "end": b})


def naive_series(wh, filters: Filters, now: datetime, compare: bool = True):
    start, end = filters.resolve(now)
    dims, params = _dims(filters)
    step = "1 hour" if end - start <= timedelta(days=2) else "1 day"
    for a, b in [(start, end)] + ([filters.comparison(now)] if compare else []):
        wh.read(SERIES.format(dims=dims), {**params, "start": a, "end": b, "step": step})


def naive_monitoring(wh, filters: Filters, now: datetime):
    naive_kpis(wh, filters, now)
    naive_series(wh, filters, now)


def naive_funnel(wh, filters: Filters, now: datetime):
    start, end = filters.resolve(now)
    options = FunnelOptions()
    sql, params = asof_sql(options, filters)
    wh.read(sql, {**params, "start": start, "end": end, "until": end + options.window_length})


def naive_budget(wh, filters: Filters, now: datetime):
    start, end = filters.resolve(now)
    dims, params = _dims(filters)
    spend_dims, spend_params = _dims(filters, "a", spend=True)
    wh.read(LAST_CLICK.format(dims=dims, spend_dims=spend_dims), {**params, **spend_params, "start": start, "end": end})


def naive_experiment(wh, filters: Filters, now: datetime, name: str):
    start, end = filters.resolve(now)
    # a user's channel: that of the first exposure's event (the settings filter on channels only)
    dims, params = dimension_predicate(filters, "e", only=("channel",))
    wh.read(VARIANTS.format(dims=dims), {**params, "experiment": name, "start": start, "end": end})


# -- the floors: the query functions of each endpoint and page callback -----------------------------------

def floor_funnel(wh, filters: Filters, now: datetime):
    start, end = filters.resolve(now)
    funnel_report(wh, filters, start, end, FunnelOptions(), now=now.replace(tzinfo=None))


def floor_experiment(wh, filters: Filters, now: datetime, name: str):
    start, end = filters.resolve(now)
    design = experiment_design(wh, name)
    variant_counts(wh, design, filters, start, end)
    variant_funnels(wh, design, filters, start, end)


def floor_budget_channels(wh, filters: Filters, now: datetime):
    start, end = filters.resolve(now)
    options = AttributionOptions()
    report = attribution_report(wh, filters, start, end, options)
    q_budget.with_marginal_roas(report.channels, q_budget.attribution_responses(wh, filters, start, end, options))


def floor_optimize(wh, filters: Filters, now: datetime):
    start, end = filters.resolve(now)
    try:
        q_budget.optimize(wh, filters, start, end, q_budget.OptimizeRequest.parse({}))
    except FilterError:  # under 14 days of spend: no curve to optimize (the API answers 400 as fast)
        pass


def floor_budget_page(wh, filters: Filters, now: datetime):
    """What the budget page's render computes: the channel table, the curves, the optimizer, the pacing."""
    floor_optimize(wh, filters, now)
    floor_budget_channels(wh, filters, now)
    q_budget.pacing(wh, now.replace(tzinfo=None))


def floor_wall(wh, filters: Filters, now: datetime):
    """The wall's frame (pages/wall.py wall_data) without its plan lines: today's KPIs against last week,
    today's and last week's hourly revenue, the channel mix, the active alerts, the newest event."""
    start, end = filters.resolve(now)
    earlier = filters.comparison(now)
    kpis_with_comparison(wh, filters, now=now)
    timeseries(wh, filters, start, end)
    timeseries(wh, filters, earlier[0], earlier[0] + max(end - start, timedelta(days=1)), step="hour")
    channel_performance(wh, filters, start, end)
    active(wh, include_pending=False)
    newest_event(wh)


def floor_alerts(wh, filters: Filters, now: datetime):
    rules(wh)
    active(wh)
    history(wh)


def items(experiment: str | None) -> dict:
    """name -> (filter defaults, floor, naive or None). Names match bench/run.py's rows."""
    out = {
        "api kpis": (None, lambda wh, f, now: kpis_with_comparison(wh, f, now=now), naive_kpis),
        "api timeseries": (None, lambda wh, f, now: timeseries(wh, f, *f.resolve(now)),
                           lambda wh, f, now: naive_series(wh, f, now, compare=False)),
        "api funnel": (None, floor_funnel, naive_funnel),
        "api budget/channels": (BUDGET_DEFAULTS, floor_budget_channels, naive_budget),
        "api budget/optimize": (BUDGET_DEFAULTS, floor_optimize, None),
        "budget page": (BUDGET_DEFAULTS, floor_budget_page, naive_budget),
        "wall frame": (WALL_DEFAULTS, floor_wall, naive_kpis),
        "alerts page": (None, floor_alerts, None),
        "monitoring naive": (None, None, naive_monitoring),
    }
    if experiment:
        out["api experiment"] = (EXPERIMENT_DEFAULTS, lambda wh, f, now: floor_experiment(wh, f, now, experiment),
                                 lambda wh, f, now: naive_experiment(wh, f, now, experiment))
    return out


def timed(fn, wh, filters: Filters, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn(wh, filters, datetime.now(timezone.utc))
        times.append(time.perf_counter() - started)
    return times


def main(argv=None) -> int:
    db, settings, runs = (argv or sys.argv[1:])[:3]
    wh = Warehouse("duckdb:///" + db)   # no writer in this process: no result cache, every call queries
    assert wh.results is None
    names = experiment_list(wh)
    experiment = str(names.iloc[0]["name"]) if len(names) else None
    out = {"experiment": experiment, "times": {}}
    for label, query in json.loads(settings):
        row = out["times"][label] = {}
        for name, (defaults, floor, naive) in items(experiment).items():
            filters = Filters.from_query(query, defaults)
            row[name] = {"floor": timed(floor, wh, filters, int(runs)) if floor else None,
                         "naive": timed(naive, wh, filters, int(runs)) if naive else None}
            print(f"direct {label} {name} done", file=sys.stderr, flush=True)
    wh.dispose()
    print("RESULT " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The data behind each view's charts and tables, as tables a person can read: one column per quantity,
named with its unit, numbers as numbers (docs/metrics.md, "Exports").

Every table here comes from the query function the chart or grid on the page calls, with the same `Filters`
(one code path per number); only the columns are renamed and, where a chart plots a subset, the same rows
are kept. The page's export menu, the view workbook and nothing else read these; the API's `format=csv`
answers with its JSON rows instead (the same query functions, machine names for the columns).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from analytics.attribution import MODEL_LABELS, MODELS
from analytics.experiments import MODES, compare_variants
from data.warehouse import Warehouse
from queries import budget as q
from queries.attribution import AttributionOptions, attribution_report
from queries.channels import campaign_performance, channel_list, channel_performance
from queries.experiments import (DEFAULT_FILTERS as EXPERIMENT_DEFAULTS, experiment_design, experiment_list,
                                 experiment_options, url_option, experiment_numbers)
from queries.filters import DIMENSIONS, FilterError, Filters
from queries.funnel import FunnelOptions, funnel_report
from queries.kpis import kpis_with_comparison
from queries.timeseries import TOTAL, timeseries
from queries import alerts as alert_queries
from queries.wall import DEFAULTS as WALL_DEFAULTS, HEADLINE, wall_data

# The time range and comparison each view shows when its URL leaves them out.
DEFAULTS = {
    "monitoring": Filters(),
    "funnel": Filters(start="now-7d", end="now"),
    "experiments": EXPERIMENT_DEFAULTS,
    "budget": Filters(start="now-90d", end="now", compare="none"),
    "wall": WALL_DEFAULTS,
    "alerts": Filters(start="now-1h", end="now"),
}
TITLES = {"monitoring": "Monitoring", "funnel": "Funnel", "experiments": "Experiments", "budget": "Budget",
          "wall": "Wall", "alerts": "Alerts"}
PATHS = {"monitoring": "/", "funnel": "/funnel", "experiments": "/experiments", "budget": "/budget", "wall": "/wall",
         "alerts": "/alerts"}
UNFILTERED = ("alerts",)  # views whose tables no filter or time range changes: their cover leaves them out

# Exports of more rows than this are refused with a message (docs/metrics.md, "Exports"); a server sets
# its own with the Flask config key PULSE_EXPORT_MAX_ROWS.
MAX_EXPORT_ROWS = 100_000

KPI_NAMES = {  # kpi -> (name, unit)
    "sessions": ("Sessions", "count"), "users": ("Users", "count"), "page_views": ("Page views", "count"),
    "bounce_rate": ("Bounce rate", "fraction (0-1)"), "conversion_rate": ("Conversion rate", "fraction (0-1)"),
    "orders": ("Orders", "count"), "revenue": ("Revenue", "$"), "average_order_value": ("Average order value", "$"),
    "signups": ("Sign-ups", "count"), "spend": ("Spend", "$"), "roas": ("ROAS", "revenue / spend"),
    "cpa": ("CPA", "$ per order"), "cac": ("CAC", "$ per new customer"),
}
EVENT_NAMES = {"page_view": "Visit", "product_view": "Product view", "add_to_cart": "Add to cart",
               "checkout": "Checkout", "purchase": "Purchase", "signup": "Sign-up"}
COMPARISON = "Comparison period (all channels, shifted onto this range)"


class ExportTooLarge(FilterError):
    """A table over the export row limit: names the table and its row count."""

    def __init__(self, table: str, rows: int, limit: int):
        super().__init__("rows", rows, f"the table {table!r} has {rows:,} rows, over the export limit of "
                                       f"{limit:,} rows; narrow the time range or the filters")
        self.table, self.rows, self.limit = table, rows, limit


def check_rows(name: str, frame: pd.DataFrame, limit: int = MAX_EXPORT_ROWS) -> pd.DataFrame:
    if len(frame) > limit:
        raise ExportTooLarge(name, len(frame), limit)
    return frame


@dataclass
class Table:
    key: str          # stable id (the page's export menu, the file name)
    title: str        # as the chart or grid is titled on the page; a workbook sheet's name
    frame: pd.DataFrame


@dataclass
class ViewTables:
    view: str
    filters: Filters
    start: datetime   # the resolved range, UTC (naive)
    end: datetime
    tz: str
    exported_at: datetime
    settings: dict = field(default_factory=dict)   # the view's own choices (funnel steps, experiment, ...)
    tables: list[Table] = field(default_factory=list)

    def table(self, key: str) -> Table:
        for table in self.tables:
            if table.key == key:
                return table
        raise FilterError("table", key, f"{TITLES[self.view]} has the tables {', '.join(t.key for t in self.tables)}")

    def cover(self) -> pd.DataFrame:
        """What the workbook's first sheet states: view, filters, time range, time zone, export time."""
        local = lambda moment: pd.Timestamp(moment).tz_localize("UTC").tz_convert(self.tz)  # noqa: E731
        rows = [("View", TITLES[self.view]), ("Exported at", f"{local(self.exported_at):%Y-%m-%d %H:%M:%S %Z}"),
                ("Time zone", self.tz)]
        if self.view not in UNFILTERED:
            rows += [("Time range (as chosen)", f"from={self.filters.start} to={self.filters.end}"),
                     ("Time range from", f"{local(self.start):%Y-%m-%d %H:%M:%S}"),
                     ("Time range to (excluded)", f"{local(self.end):%Y-%m-%d %H:%M:%S}"),
                     ("Comparison", self.filters.compare if self.view in ("monitoring", "wall") else "none")]
            rows += [(dim.capitalize(), ", ".join(getattr(self.filters, dim)) or "all") for dim in DIMENSIONS]
        rows += [(name, value) for name, value in self.settings.items()]
        rows += [("Sheets", ", ".join(t.title for t in self.tables)),
                 ("Link", PATHS[self.view] + "?" + self.filters.to_query())]
        return pd.DataFrame(rows, columns=["Setting", "Value"])

    def caption(self) -> str:
        """One line naming the filters and the range, for chart images."""
        local = lambda moment: pd.Timestamp(moment).tz_localize("UTC").tz_convert(self.tz)  # noqa: E731
        dims = "; ".join(f"{d}: {', '.join(getattr(self.filters, d))}" for d in DIMENSIONS if getattr(self.filters, d))
        return (f"{local(self.start):%Y-%m-%d %H:%M} to {local(self.end):%Y-%m-%d %H:%M} ({self.tz})"
                f"{'; ' + dims if dims else '; all traffic'}")


def view_tables(view: str, wh: Warehouse, query, tz: str = "UTC", now: datetime | None = None) -> ViewTables:
    """Every table of `view` for the URL query string `query`, at `now` (default: this instant)."""
    if view not in BUILDERS:
        raise FilterError("view", view, f"one of {', '.join(BUILDERS)}")
    now = now or datetime.now(timezone.utc)
    filters = Filters.from_query(query, DEFAULTS[view])
    start, end = filters.resolve(now, tz)
    out = ViewTables(view, filters, start, end, tz, now.astimezone(timezone.utc).replace(tzinfo=None))
    BUILDERS[view](wh, out, now)
    return out


def view_caption(view: str, query, tz: str = "UTC") -> str:
    """The chart images' caption of a view's URL, without computing its tables."""
    filters = Filters.from_query(query, DEFAULTS[view])
    start, end = filters.resolve(tz=tz)
    return ViewTables(view, filters, start, end, tz, datetime.now()).caption()


def _local(times: pd.Series, tz: str) -> pd.Series:
    """UTC times as wall-clock times of `tz` (spreadsheets have no time zones: the header names it)."""
    return pd.to_datetime(times).dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None)


def _renamed(frame: pd.DataFrame, columns: dict) -> pd.DataFrame:
    present = {k: v for k, v in columns.items() if k in frame.columns}
    return frame[list(present)].rename(columns=present).reset_index(drop=True)


# -- monitoring ------------------------------------------------------------------------------------------

def _monitoring(wh: Warehouse, out: ViewTables, now: datetime) -> None:
    filters, start, end, tz = out.filters, out.start, out.end, out.tz
    kpis = kpis_with_comparison(wh, filters, now=now, tz=tz)
    out.tables.append(Table("kpis", "KPIs", pd.DataFrame({
        "KPI": [KPI_NAMES[k][0] for k in kpis.kpi], "Unit": [KPI_NAMES[k][1] for k in kpis.kpi],
        "This period": kpis.current, "Comparison period": kpis.previous,
        "Change (fraction of the comparison period)": kpis.change})))
    series = timeseries(wh, filters, start, end, tz=tz)
    labels = dict(zip(*channel_list(wh)[["name", "label"]].T.values))
    period = filters.comparison(now, tz)
    previous = None
    if period:
        earlier = timeseries(wh, filters, *period, tz=tz)
        earlier = earlier[earlier.channel == TOTAL]
        previous = earlier.assign(bucket=earlier.bucket + (start - period[0]))
    when = f"Bucket start ({tz})"
    for key, metric, title, unit in (("revenue", "revenue", "Revenue by channel", "Revenue ($)"),
                                     ("sessions", "sessions", "Sessions by channel", "Sessions")):
        rows = series[series.channel != TOTAL]
        table = pd.DataFrame({when: _local(rows.bucket, tz), "Channel": [labels.get(c, c) for c in rows.channel],
                              unit: rows[metric]})
        if previous is not None:
            table = pd.concat([table, pd.DataFrame({when: _local(previous.bucket, tz), "Channel": COMPARISON,
                                                    unit: previous[metric]})], ignore_index=True)
        out.tables.append(Table(key, title, table))
    totals = series[series.channel == TOTAL]
    table = pd.DataFrame({when: _local(totals.bucket, tz), "Series": "All channels",
                          "Conversion rate (fraction of sessions)": totals.conversion_rate})
    if previous is not None:
        table = pd.concat([table, pd.DataFrame({when: _local(previous.bucket, tz), "Series": COMPARISON,
                                                "Conversion rate (fraction of sessions)": previous.conversion_rate})],
                          ignore_index=True)
    out.tables.append(Table("conversion", "Conversion rate", table))
    mix = channel_performance(wh, filters, start, end, tz)
    mix = mix[mix.revenue > 0].sort_values("revenue", ascending=False)  # the bars the chart draws
    out.tables.append(Table("mix", "Revenue by channel (total)",
                            _renamed(mix, {"label": "Channel", "revenue": "Revenue ($)"})))
    campaigns = campaign_performance(wh, filters, start, end, tz).head(25)
    out.tables.append(Table("campaigns", "Top campaigns", _renamed(campaigns, {
        "campaign": "Campaign", "label": "Channel", "sessions": "Sessions", "orders": "Orders",
        "revenue": "Revenue ($)", "spend": "Spend ($)", "roas": "ROAS (revenue / spend)",
        "cpa": "CPA ($ per order)"})))


# -- funnel ----------------------------------------------------------------------------------------------

def funnel_options(filters: Filters) -> FunnelOptions:
    """The funnel's own URL parameters, kept by `Filters` among its extras."""
    return FunnelOptions.from_query({k: v for k, v in filters.extra.items() if isinstance(v, str)})


def _funnel(wh: Warehouse, out: ViewTables, now: datetime) -> None:
    options = funnel_options(out.filters)
    report = funnel_report(wh, out.filters, out.start, out.end, options,
                           now=now.astimezone(timezone.utc).replace(tzinfo=None), tz=out.tz)
    unit = options.count.capitalize()
    out.settings.update({"Steps": ", ".join(options.steps), "Counted in": options.count,
                         "Conversion window": options.window, "Order": options.order,
                         "Breakdown": options.breakdown or "none", "Trend by": options.interval or "auto"})
    step_columns = {"step": "Step", "event_type": "Event", "reached": f"{unit} reaching the step",
                    "from_previous": "Conversion from the previous step (fraction)",
                    "from_start": "Conversion from the first step (fraction)",
                    "dropped": f"{unit} dropped after the step", "in_progress": f"{unit} still in progress"}
    out.tables.append(Table("steps", "Steps", _renamed(report.steps, step_columns)))
    if report.breakdown is not None:
        segment = options.breakdown
        out.tables.append(Table("breakdown", f"By {segment.replace('_', ' ')}", _renamed(
            report.breakdown, {segment: segment.replace("_", " ").capitalize(), **step_columns})))
    trend = report.trend.assign(bucket=_local(report.trend.bucket, out.tz))
    out.tables.append(Table("trend", "Conversion by entry time", _renamed(
        trend, {"bucket": f"Entry bucket start ({out.tz})", **step_columns})))
    out.tables.append(Table("times", "Time to convert", _renamed(report.times, {
        "from_step": "From step", "to_step": "To step", "converted": f"{unit} converted",
        "median_seconds": "Median (seconds)", "p90_seconds": "90th percentile (seconds)"})))
    out.tables.append(Table("time_histogram", "Time to convert, histogram", _renamed(report.time_histogram, {
        "from_step": "From step", "to_step": "To step", "bin_start_seconds": "Bin start (seconds)",
        "bin_end_seconds": "Bin end (seconds)", "converted": f"{unit} converted"})))


# -- experiments -----------------------------------------------------------------------------------------

def experiment_name(wh: Warehouse, filters: Filters) -> str:
    """The URL's experiment, or the most recent one; a FilterError names an unknown one."""
    experiments = experiment_list(wh)
    if experiments.empty:
        raise FilterError("experiment", url_option(filters, "experiment"), "the warehouse has no experiments yet")
    return url_option(filters, "experiment") or experiments.name.iloc[0]


def _experiments(wh: Warehouse, out: ViewTables, now: datetime) -> None:
    filters = out.filters
    name = experiment_name(wh, filters)
    metric, mode = experiment_options(filters, MODES)
    design = experiment_design(wh, name)
    if design is None:
        raise FilterError("experiment", name, "unknown experiment")
    counts, funnels = experiment_numbers(wh, design, filters, out.start, out.end, metric)
    result = compare_variants(counts.variants, design.control, mode=mode)
    out.settings.update({"Experiment": name, "Control": design.control, "Conversion step": metric,
                         "Statistics": mode, "Users excluded (saw two variants)": counts.multi_variant_users})
    out.tables.append(Table("variants", "Variants", _renamed(result.variants, {
        "variant": "Variant", "weight": "Planned share (fraction)", "users": "Exposed users",
        "conversions": f"Users converting ({metric})", "rate": "Conversion rate (fraction)",
        "absolute_lift": "Absolute lift (fraction)", "absolute_low": "Absolute lift, 95% low (fraction)",
        "absolute_high": "Absolute lift, 95% high (fraction)", "relative_lift": "Relative lift (fraction)",
        "relative_low": "Relative lift, 95% low (fraction)", "relative_high": "Relative lift, 95% high (fraction)",
        "p_value": "p-value", "chance_to_beat_control": "Chance to beat control (fraction)",
        "significant": "Significant", "verdict": "Verdict"})))
    out.tables.append(Table("funnels", "Funnel by variant", _renamed(funnels, {
        "variant": "Variant", "step": "Step", "users": "Users reaching the step",
        "from_previous": "Conversion from the previous step (fraction)",
        "from_start": "Share of exposed users (fraction)"})))


# -- budget ----------------------------------------------------------------------------------------------

def _budget(wh: Warehouse, out: ViewTables, now: datetime) -> None:
    filters, start, end = out.filters, out.start, out.end
    params = {k: v for k, v in filters.extra.items() if k in q.PAGE_KEYS}
    needs_target = params.get("scenario") in ("target_roas", "target_cpa") and not params.get("target")
    request, compare = q.request_from_query({k: v for k, v in params.items()
                                             if not (needs_target and k == "scenario")})
    report = attribution_report(wh, filters, start, end, AttributionOptions(request.attribution, request.lookback))
    out.settings.update({"Attribution": MODEL_LABELS[request.attribution], "Lookback (days)": request.lookback,
                         "Curves from": request.source, "Scenario": params.get("scenario", request.scenario)})
    try:
        responses = q.responses_for(wh, filters, start, end, request)
    except FilterError:
        responses = None
    returns = q.with_marginal_roas(report.channels, responses) if responses and request.source == "attribution" \
        else report.channels.assign(marginal_roas=np.nan)
    returns = returns.sort_values(["paid", "spend"], ascending=[False, False])
    out.tables.append(Table("channels", "Spend and return by channel", _renamed(returns, {
        "label": "Channel", "spend": "Spend ($)", "revenue": "Attributed revenue ($)", "orders": "Attributed orders",
        "roas": "ROAS (revenue / spend)", "marginal_roas": "Marginal ROAS (revenue / spend)",
        "cpa": "CPA ($ per order)", "cac": "CAC ($ per new customer)", "share_of_spend": "Share of spend (fraction)",
        "share_of_revenue": "Share of revenue (fraction)", "rank": "Rank", "rank_change": "Rank change vs last click"})))
    ranks = report.ranks.merge(report.channels[["channel", "label"]], on="channel").sort_values("last_click")
    out.tables.append(Table("ranking", "Channel ranking by model", _renamed(
        ranks, {"label": "Channel", **{m: f"Rank, {MODEL_LABELS[m].split(' (')[0].lower()}" for m in MODELS}})))
    if responses is not None and responses.fits:
        period = responses.period
        curves = q.curve_table(responses).assign(label=lambda t: [responses.labels.get(c, c) for c in t.channel])
        out.tables.append(Table("curves", "Response curves", _renamed(curves, {
            "label": "Channel", "spend": f"Spend per {period} ($)", "outcome": f"Outcome per {period}",
            "outcome_low": f"Outcome per {period}, 90% low", "outcome_high": f"Outcome per {period}, 90% high"})))
        if not needs_target:
            try:
                _, result = q.optimize(wh, filters, start, end, request)
            except FilterError:
                result = None
            if result is not None:
                out.tables.append(Table("plan", "Optimizer plan", _renamed(result.channels, {
                    "label": "Channel", "current_spend": f"Current spend per {period} ($)",
                    "recommended_spend": f"Recommended spend per {period} ($)", "change": "Change (fraction)",
                    "marginal_roas_current": "Marginal ROAS now", "marginal_roas_recommended": "Marginal ROAS after",
                    "explanation": "Why"})))
                scenarios = q.saved_scenarios(wh, responses.source, request.dataset)
                shown = {name: scenarios[name] for name in compare if name in scenarios}
                comparison = q.scenario_comparison(responses, result, shown).rename(
                    columns={"row": f"Row (spend and outcome per {period} in $; ROAS a ratio)"})
                out.tables.append(Table("comparison", "Scenarios side by side", comparison))
    pacing = q.pacing(wh, now.astimezone(timezone.utc).replace(tzinfo=None))
    out.tables.append(Table("pacing", "Pacing this month", _renamed(pacing, {
        "label": "Channel", "planned": "Planned ($)", "spend_to_date": "Spent to date ($)",
        "expected_to_date": "Plan to date ($)", "projected": "Projected month end ($)",
        "pace": "Pace (fraction of plan to date)", "status": "Status"})))


# -- wall ------------------------------------------------------------------------------------------------

def _wall(wh: Warehouse, out: ViewTables, now: datetime) -> None:
    data = wall_data(wh, out.tz, out.filters, now)
    kpis, plan = data["kpis"], data["plan"]
    rows = []
    for kpi in HEADLINE:
        row, planned = kpis.loc[kpi], plan.get(kpi)
        rows.append({"KPI": KPI_NAMES[kpi][0], "Unit": KPI_NAMES[kpi][1], "Today so far": row.current,
                     "Same time last week": row.previous,
                     "Change against last week (fraction)": row.change,
                     "Plan to date": planned if planned else np.nan,
                     "Against plan (fraction)": row.current / planned - 1 if planned else np.nan})
    out.tables.append(Table("kpis", "Today vs last week and plan", pd.DataFrame(rows)))
    when = f"Hour start ({out.tz})"
    previous = data["last_week"].assign(bucket=data["last_week"].bucket + data["shift"])
    out.tables.append(Table("revenue", "Revenue so far through the day", pd.concat([
        pd.DataFrame({when: _local(data["today"].bucket, out.tz), "Series": "Today",
                      "Revenue so far ($)": data["today"].revenue}),
        pd.DataFrame({when: _local(previous.bucket, out.tz), "Series": "Same day last week (shifted onto today)",
                      "Revenue so far ($)": previous.revenue})], ignore_index=True)))
    mix = data["mix"]
    mix = mix[mix.revenue > 0].sort_values("revenue", ascending=False)  # the bars the chart draws
    out.tables.append(Table("mix", "Revenue by channel (today)",
                            _renamed(mix, {"label": "Channel", "revenue": "Revenue ($)"})))


# -- alerts ----------------------------------------------------------------------------------------------

def _alerts(wh: Warehouse, out: ViewTables, now: datetime) -> None:
    rules = alert_queries.rule_table(wh)
    out.tables.append(Table("rules", "Rules", _renamed(rules, {
        "id": "Id", "name": "Rule", "enabled": "On", "kpi": "KPI", "kind": "Kind", "condition": "Condition",
        "filters": "Filters", "pending_minutes": "Pending (minutes)", "state": "State now"})))
    history = alert_queries.history(wh, limit=alert_queries.HISTORY_SHOWN)
    history = history.assign(ts=_local(history.ts, out.tz)) if len(history) else history
    out.tables.append(Table("history", "History", _renamed(history, {
        "ts": f"Time ({out.tz})", "rule_id": "Rule id", "rule_name": "Rule", "status": "Event (firing or resolved)",
        "observed": "Observed", "expected": "Expected", "message": "Message"})))


BUILDERS = {"monitoring": _monitoring, "funnel": _funnel, "experiments": _experiments, "budget": _budget,
            "wall": _wall, "alerts": _alerts}

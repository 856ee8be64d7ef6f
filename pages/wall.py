"""Wall: the handful of numbers an executive wants on a TV, readable across the room.

Today so far (from local midnight, or the URL's `from`/`to`) against the same time on the same day last
week, spend against its plan (the monthly budgets), revenue today against last week hour by hour, the
channel mix, and the top alert. Every number comes from the same query functions as the monitoring page
(`kpis_with_comparison`, `timeseries`, `channel_performance`), so the two always agree. Made for kiosk
mode (`kiosk=1`) and playlists; it refreshes itself every `refresh` seconds (default 10), prefetched
like the monitoring view (pages/_prefetch.py).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, callback, dcc, html, no_update

from analytics.pacing import share_done
from components import charts, formatting
from components.freshness import freshness
from components.kpi_card import KPI_DISPLAY, tone
from pages import _state
from pages import _prefetch
from pages._prefetch import Prefetcher, now_ms
from queries.alerts import active
from queries.channels import channel_performance
from queries.filters import FilterError, Filters
from queries.health import newest_event
from queries.kpis import kpis_with_comparison
from queries.plan import planned_kpis, planned_spend
from queries.timeseries import TOTAL, timeseries

dash.register_page(__name__, path="/wall", name="Wall", title="Pulse · Wall", order=5)

DEFAULTS = Filters(start="now/d", end="now", compare="week")
HEADLINE = ("revenue", "orders", "conversion_rate", "spend", "roas")
REFRESH_CHOICES = ("1", "2", "5", "10", "30", "60", "off")


def refresh_seconds(filters: Filters) -> int | None:
    return _prefetch.refresh_seconds(filters, REFRESH_CHOICES, "10")


@_state.with_filters(DEFAULTS)
def layout(filters: Filters, start, end):
    refresh = refresh_seconds(filters)
    as_of = now_ms()
    PREFETCH.start(_prefetch.view_of(filters), as_of, refresh)  # computed while the browser draws the layout
    return html.Div([
        dcc.Interval(id="wall-timer", interval=(refresh or 3600) * 1000, disabled=refresh is None),
        dcc.Store(id="wall-as-of", data=as_of),
        html.Div([html.H1("Today", className="wall-title mb-0"),
                  html.Div(id="wall-freshness"),
                  html.Span(id="wall-as-of-text", className="data-as-of text-body-secondary")],
                 className="d-flex align-items-baseline gap-3 mb-2"),
        dbc.Row(id="wall-numbers", className="g-3 mb-3"),
        dbc.Row([
            dbc.Col(dcc.Graph(id="wall-revenue", figure=charts.empty(), config={"displaylogo": False},
                              className="wall-graph"), lg=8),
            dbc.Col(dcc.Graph(id="wall-mix", figure=charts.empty(), config={"displaylogo": False},
                              className="wall-graph"), lg=4),
        ], className="g-3"),
        html.Div(id="wall-alert", className="mt-3"),
    ], className="wall")


def wall_data(wh, tz: str, filters: Filters, now: datetime) -> dict:
    """Everything the wall shows at `now`, before formatting."""
    if filters.compare == "none":  # the wall always says how today compares
        filters = filters.with_changes(compare="week")
    start, end = filters.resolve(now, tz)
    earlier = filters.comparison(now, tz)
    # Last week's curve runs through the whole day, so today's can be read against where it will end.
    whole = max(end - start, timedelta(days=1))
    day_before = (earlier[0], earlier[0] + whole)
    last_week = timeseries(wh, filters, *day_before, step="hour", tz=tz)
    return {
        "kpis": kpis_with_comparison(wh, filters, now=now, tz=tz).set_index("kpi"),
        "plan": _plan(wh, filters, (start, end), day_before, last_week[last_week.channel == TOTAL]),
        # the buckets the tiles' KPIs are summed from (queries/kpis.py): the same cached pieces, read once
        "today": _cumulative(timeseries(wh, filters, start, end, tz=tz)),
        "last_week": _cumulative(last_week),
        "shift": start - earlier[0],
        "mix": channel_performance(wh, filters, start, end, tz),
        "alerts": active(wh, include_pending=False),
        "newest": newest_event(wh),
    }


def _plan(wh, filters: Filters, today: tuple, day_before: tuple, last_week: pd.DataFrame) -> dict:
    """Plan to date per KPI. Spend: the budgets spread evenly (as the budget view paces them). Revenue
    and orders: the whole day's target times the share of last week's same day that was done by this
    time of day (they do not arrive evenly: a plan spread evenly would read 30 % behind every morning);
    evenly when last week had none. Conversion rate and ROAS: their targets."""
    (start, end), whole = today, day_before[1] - day_before[0]
    plan = planned_kpis(wh, filters, start, start + whole)
    for kpi in ("revenue", "orders"):
        if kpi in plan:
            plan[kpi] *= share_done(last_week, kpi, day_before[0] + (end - start), (end - start) / whole)
    spend = planned_spend(wh, filters, start, end)
    return plan | ({"spend": spend} if spend else {})


def _cumulative(series: pd.DataFrame) -> pd.DataFrame:
    """Revenue so far at the end of each hour (bucket), as (bucket, channel, revenue)."""
    totals = series[series.channel == TOTAL][["bucket", "revenue"]].sort_values("bucket")
    return totals.assign(revenue=totals.revenue.cumsum(), channel="today")


def _frame(view, instant_ms: int) -> dict:
    search, tz, wh = view
    filters = Filters.from_query(search, DEFAULTS)
    return wall_data(wh, tz, filters, datetime.fromtimestamp(instant_ms / 1000, timezone.utc))


PREFETCH = Prefetcher(_frame)


@callback(Output("wall-as-of", "data"), Input("wall-timer", "n_intervals"), State("url", "search"),
          prevent_initial_call=True)
def tick(_, search):
    return _prefetch.refresh_tick(PREFETCH, search, lambda query: Filters.from_query(query, DEFAULTS), refresh_seconds)


@callback(Output("wall-numbers", "children"), Output("wall-revenue", "figure"), Output("wall-mix", "figure"),
          Output("wall-alert", "children"), Output("wall-freshness", "children"), Output("wall-as-of-text", "children"),
          Input("wall-as-of", "data"), State("url", "search"))
def show(as_of, search):
    try:
        filters = Filters.from_query(search or "", DEFAULTS)
        as_of = as_of or now_ms()
        now = datetime.fromtimestamp(as_of / 1000, timezone.utc)
        tz = _state.timezone()
        filters.resolve(now, tz)
    except FilterError:
        return (no_update,) * 6
    data = PREFETCH.at(_prefetch.view_of(filters), as_of)
    shown = pd.Timestamp(now).tz_convert(tz)
    return ([_number(kpi, data) for kpi in HEADLINE], charts.filling(_revenue_chart(data, tz)), charts.filling(
        charts.channel_mix(data["mix"], "revenue", "Revenue by channel")), _top_alert(data["alerts"]),
        freshness(data["newest"], now, tz), f"Updated {shown:%H:%M:%S}")


def _number(kpi: str, data: dict) -> dbc.Col:
    display, row = KPI_DISPLAY[kpi], data["kpis"].loc[kpi]
    value = formatting.FORMATTERS[display.format](row.current)
    lines = [html.Div(f"{formatting.change(row.change)} vs last week", className=tone(row.change, display.up_is_good),
                      id={"type": "wall-change", "kpi": kpi})]
    plan = data["plan"].get(kpi)
    if plan:
        pace = row.current / plan - 1
        lines.append(html.Div(f"{formatting.change(pace)} vs plan ({formatting.FORMATTERS[display.format](plan)})",
                              className=tone(pace, display.up_is_good), id={"type": "wall-plan", "kpi": kpi}))
    return dbc.Col(dbc.Card(dbc.CardBody([
        html.Div(display.label, className="wall-label text-body-secondary text-uppercase"),
        html.Div(value, className="wall-value fw-semibold", id={"type": "wall-value", "kpi": kpi}),
        *lines,
    ]), className="h-100 wall-card"), lg=True, md=4, sm=6)


def _revenue_chart(data: dict, tz: str) -> dict:
    previous = data["last_week"].assign(bucket=data["last_week"].bucket + data["shift"])
    return charts.trend(data["today"], previous, "revenue", "Revenue so far, today and the same day last week",
                        {"today": "Today"}, tz, False, None, previous_name="Same day last week")


def _top_alert(alerts: pd.DataFrame):
    if alerts.empty:
        return dbc.Alert("No alert firing", color="success", className="wall-alert mb-0", id="wall-top-alert")
    top = alerts.iloc[0]
    more = f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else ""
    return dbc.Alert([html.Strong(f"{top.rule_name}: "), html.Span(top.message or ""), html.Span(more)],
                     color="danger", className="wall-alert mb-0", id="wall-top-alert")

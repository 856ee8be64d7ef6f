"""The filter bar shared by the views: time range, comparison, and the four dimensions. It holds no state
of its own: every change is written to the URL's query string (in the browser, assets/pulse_url.js), and the
page re-renders from the URL."""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import Input, Output, State, clientside_callback, dcc, html

from queries.filters import DIMENSIONS, Filters

# (label, from, to): Grafana's quick ranges that an e-commerce team uses.
TIME_PRESETS = (
    ("Last 15 minutes", "now-15m", "now"),
    ("Last hour", "now-1h", "now"),
    ("Last 24 hours", "now-24h", "now"),
    ("Today", "now/d", "now/d"),
    ("Yesterday", "now-1d/d", "now-1d/d"),
    ("Last 7 days", "now-7d", "now"),
    ("Last 30 days", "now-30d", "now"),
    ("Last 90 days", "now-90d", "now"),
)
COMPARE_OPTIONS = (("Previous period", "previous"), ("Same time last week", "week"), ("No comparison", "none"))
_SEPARATOR = "|"


def range_value(start: str, end: str) -> str:
    return f"{start}{_SEPARATOR}{end}"


def filter_bar(filters: Filters, options: dict[str, list[dict]], comparison: bool = True,
               defaults: Filters | None = None) -> dbc.Row:
    """`options` maps each dimension to dropdown options ({label, value}). A view that shows no comparison
    keeps the control hidden (its value still travels in the URL). `defaults`: the view's own (what its
    URL means without a parameter), so that controls drawn with them do not count as a change."""
    ranges = [{"label": label, "value": range_value(start, end)} for label, start, end in TIME_PRESETS]
    current = range_value(filters.start, filters.end)
    if current not in {r["value"] for r in ranges}:
        ranges.append({"label": f"{filters.start} → {filters.end}", "value": current})
    dates = _absolute_dates(filters)
    controls = [
        _control("Time range", dcc.Dropdown(ranges, current, id="filter-range", clearable=False),
                 chrome="timerange"),
        _control("Or dates", dcc.DatePickerRange(id="filter-dates", start_date=dates[0], end_date=dates[1],
                                                 display_format="YYYY-MM-DD", minimum_nights=0,
                                                 clearable=True), wide=True, chrome="timerange"),
        _control("Compare with", dcc.Dropdown([{"label": l, "value": v} for l, v in COMPARE_OPTIONS],
                                              filters.compare, id="filter-compare", clearable=False),
                 hidden=not comparison, chrome="timerange"),
    ]
    for dim in DIMENSIONS:
        controls.append(_control(dim.capitalize(), dcc.Dropdown(
            options.get(dim, []), list(getattr(filters, dim)), id=f"filter-{dim}", multi=True,
            placeholder=f"All {dim}s"), chrome="filters"))
    controls.append(dcc.Store(id="filter-defaults", data=(defaults or Filters()).to_query()))
    controls.append(dcc.Store(id="filter-shown", data=shown_filters(filters)))
    return dbc.Row(controls, className="filter-bar g-2 mb-3", id="filter-bar")


def shown_filters(filters: Filters) -> dict:
    """The filters as the controls report them (what the view was drawn with), keyed as in the URL."""
    dates = _absolute_dates(filters)
    return {"range": range_value(filters.start, filters.end), "start_date": dates[0], "end_date": dates[1],
            "compare": filters.compare, **{dim: ",".join(getattr(filters, dim)) for dim in DIMENSIONS}}


def _absolute_dates(filters: Filters) -> tuple[str | None, str | None]:
    """The date picker shows a range given as whole dates (from=2026-11-01&to=2026-11-07), else nothing."""
    if all(len(v) == 10 and v[4] == "-" for v in (filters.start, filters.end)):
        return filters.start, filters.end
    return None, None


def _control(label: str, control, hidden: bool = False, wide: bool = False, chrome: str = "filters") -> dbc.Col:
    """A labelled control; `chrome` names the piece of chrome it belongs to (kiosk mode hides it unless
    the URL's `show=` keeps it; components/kiosk.py)."""
    return dbc.Col([html.Label(label, className="small text-body-secondary mb-0"), control],
                   lg="auto" if wide else True, sm=6 if wide else 4, xs=12 if wide else 6,
                   className="d-none" if hidden else f"chrome-{chrome}")


# Any change of the filters becomes the URL, which redraws the view (a link restores it). In the browser, so that
# a choice made while the view redraws is kept (assets/pulse_url.js says why); only what differs from what the
# view was drawn with (`filter-shown`) is applied, so the redrawn controls reporting their own values change
# nothing. A time range comes from the preset menu, or from the date picker once both dates are picked (whole
# days, the end date included).
clientside_callback(
    """function (range, startDate, endDate, compare, channel, campaign, device, region, shown, defaults, search) {
        const none = dash_clientside.no_update;
        if (!shown) { return none; }
        const changes = {};
        if (range && range !== shown.range) {
            [changes.from, changes.to] = range.split('|');
        } else if (startDate && endDate
                   && (startDate.slice(0, 10) !== shown.start_date || endDate.slice(0, 10) !== shown.end_date)) {
            [changes.from, changes.to] = [startDate.slice(0, 10), endDate.slice(0, 10)];
        }
        if (compare && compare !== shown.compare) { changes.compare = compare; }
        const dimensions = {channel: channel, campaign: campaign, device: device, region: region};
        Object.keys(dimensions).forEach(dim => {
            const chosen = (dimensions[dim] || []).join(',');
            if (chosen !== shown[dim]) { changes[dim] = chosen; } });
        if (!Object.keys(changes).length) { return none; }
        return window.pulseSearchWith(search, changes, defaults);  // assets/pulse_url.js
    }""",
    Output("url", "search"),
    Input("filter-range", "value"), Input("filter-dates", "start_date"), Input("filter-dates", "end_date"),
    Input("filter-compare", "value"), *[Input(f"filter-{dim}", "value") for dim in DIMENSIONS],
    State("filter-shown", "data"), State("filter-defaults", "data"), State("url", "search"),
    prevent_initial_call=True,
)

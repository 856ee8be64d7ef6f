"""The filter bar shared by the views: time range, comparison, and the four dimensions. It holds no state
of its own: every change is written to the URL's query string, and the page re-renders from the URL."""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update

from queries.filters import DIMENSIONS, FilterError, Filters

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
    return dbc.Row(controls, className="filter-bar g-2 mb-3", id="filter-bar")


def _filters_of(search: str | None, defaults: str | None) -> Filters:
    """The URL's filters, read as the view reads them (with its defaults); fresh ones if unusable."""
    try:
        return Filters.from_query(search or "", Filters.from_query(defaults or ""))
    except FilterError:
        return Filters()  # the URL was unusable; the controls now define a fresh, valid one


def _absolute_dates(filters: Filters) -> tuple[str | None, str | None]:
    """The date picker shows a range given as whole dates (from=2026-11-01&to=2026-11-07), else nothing."""
    if all(len(v) == 10 and v[4] == "-" for v in (filters.start, filters.end)):
        return filters.start, filters.end
    return None, None


@callback(Output("url", "search", allow_duplicate=True), Input("filter-dates", "start_date"),
          Input("filter-dates", "end_date"), State("url", "search"), State("filter-defaults", "data"),
          prevent_initial_call=True)
def write_dates_to_url(start_date, end_date, search, defaults):
    """Both dates picked: an absolute range of whole days (the end date included)."""
    if not (start_date and end_date):
        return no_update
    filters = _filters_of(search, defaults)
    new = filters.with_changes(start=start_date[:10], end=end_date[:10])
    return no_update if new == filters else "?" + new.to_query()


def _control(label: str, control, hidden: bool = False, wide: bool = False, chrome: str = "filters") -> dbc.Col:
    """A labelled control; `chrome` names the piece of chrome it belongs to (kiosk mode hides it unless
    the URL's `show=` keeps it; components/kiosk.py)."""
    return dbc.Col([html.Label(label, className="small text-body-secondary mb-0"), control],
                   lg="auto" if wide else True, sm=6 if wide else 4, xs=12 if wide else 6,
                   className="d-none" if hidden else f"chrome-{chrome}")


@callback(
    Output("url", "search"),
    Input("filter-range", "value"),
    Input("filter-compare", "value"),
    *[Input(f"filter-{dim}", "value") for dim in DIMENSIONS],
    State("url", "search"),
    State("filter-defaults", "data"),
    prevent_initial_call=True,
)
def write_filters_to_url(time_range, compare, *rest):
    *dimension_values, search, defaults = rest
    filters = _filters_of(search, defaults)
    start, end = (time_range or range_value(filters.start, filters.end)).split(_SEPARATOR, 1)
    changes = {dim: tuple(values or ()) for dim, values in zip(DIMENSIONS, dimension_values)}
    new = filters.with_changes(start=start, end=end, compare=compare or filters.compare, **changes)
    if new == filters:  # a control reporting the value it was rendered with: nothing to navigate to
        return no_update
    return "?" + new.to_query()

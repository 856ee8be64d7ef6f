"""Figures of the views, built from query results (no SQL here). Times arrive in UTC and are drawn in the
display time zone; every figure uses the same quiet template and channel colours."""
from __future__ import annotations

from itertools import cycle

import numpy as np
import pandas as pd
import plotly.io as pio

from components import formatting

TEMPLATE = "plotly_white"
CHANNEL_COLOURS = {
    "direct": "#4c78a8", "organic_search": "#54a24b", "organic_social": "#88d27a", "referral": "#b79a20",
    "email": "#f58518", "paid_search": "#e45756", "paid_social": "#d67195", "display": "#9d755d",
    "affiliate": "#72b7b2", "video": "#b279a2", "unassigned": "#bab0ac",
}
AXIS_FORMATS = {"conversion_rate": {"tickformat": ".1%"}, "bounce_rate": {"tickformat": ".0%"},
                "revenue": {"tickprefix": "$"}, "spend": {"tickprefix": "$"}}
ANNOTATION_COLOURS = {"holiday": "rgba(84,162,75,0.12)", "campaign": "rgba(76,120,168,0.12)",
                      "incident": "rgba(228,87,86,0.18)", "alert": "rgba(245,133,24,0.18)"}


def local(times: pd.Series, tz: str) -> pd.Series:
    times = pd.to_datetime(times)
    if tz == "UTC":  # already the wall-clock time to show (converting costs more than a refresh's formatting)
        return times
    return times.dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None)


def _template() -> dict:
    """plotly_white as plain JSON, resolved once: figures here are plain dicts, which dcc.Graph draws as
    they are, skipping plotly.py's validation of every property (most of a refresh's time otherwise)."""
    return pio.templates[TEMPLATE].to_plotly_json()


_TEMPLATE_JSON = _template()


def iso_times(values: pd.Series) -> list[str]:
    """ISO 8601 strings of naive times, as `Timestamp.isoformat` writes them, converted all at once."""
    moments = np.asarray(pd.to_datetime(values), dtype="datetime64[us]")
    text = np.datetime_as_string(moments, unit="s")
    fraction = moments.astype("int64") % 1_000_000 != 0
    if fraction.any():
        text[fraction] = np.datetime_as_string(moments[fraction], unit="us")
    return text.tolist()


def _numbers(values) -> list:
    """Floats, with None (a gap in the line) for missing values."""
    numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float, na_value=np.nan).tolist()
    return [None if v != v else v for v in numbers]  # NaN is the one value not equal to itself


def _layout(title: str | None, height: int, **extra) -> dict:
    layout = {"template": _TEMPLATE_JSON, "height": height, "margin": {"l": 40, "r": 10, "t": 40, "b": 30}}
    if title:
        layout["title"] = {"text": title, "font": {"size": 14}}
    return {**layout, **extra}


def sparkline(values: pd.Series, times: pd.Series | list[str]) -> dict:
    """`times`: the points' times, or their ISO strings (`iso_times`), which the 13 tiles of a refresh share."""
    x = times if isinstance(times, list) else iso_times(times)
    trace = {"type": "scatter", "x": x, "y": _numbers(values), "mode": "lines",
             "line": {"width": 1.5, "color": "#4c78a8"}, "fill": "tozeroy", "fillcolor": "rgba(76,120,168,0.12)",
             "hoverinfo": "skip"}
    # No template: an invisible-axis sparkline needs none, and 13 of them per refresh would carry 13 copies.
    layout = {"height": 36, "margin": {"l": 0, "r": 0, "t": 0, "b": 0}, "showlegend": False,
              "xaxis": {"visible": False}, "yaxis": {"visible": False},
              "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)"}
    return {"data": [trace], "layout": layout}


def trend(series: pd.DataFrame, previous: pd.DataFrame | None, metric: str, title: str, labels: dict,
          tz: str, stacked: bool, annotations: pd.DataFrame | None = None,
          previous_name: str = "Comparison period") -> dict:
    """`metric` per channel over time (stacked areas or lines), the comparison period's total as a dashed
    line shifted onto the current range, and annotations as shaded spans."""
    traces = []
    channels = series[series.channel != "(all)"]
    # Times converted and channels told apart once for the whole series (per channel it cost more than the
    # rest of the figure); channels in order of first appearance, as the series lists them.
    x = np.array(iso_times(local(channels.bucket, tz)), dtype=object)
    codes, names = pd.factorize(channels.channel, sort=False)
    values = channels[metric].to_numpy()
    for code, channel in enumerate(names):
        rows = np.flatnonzero(codes == code)
        trace = {"type": "scatter", "x": x[rows].tolist(), "y": _numbers(values[rows]),
                 "name": labels.get(channel, channel), "mode": "lines", "customdata": [channel] * len(rows),
                 "line": {"width": 1 if stacked else 2, "color": CHANNEL_COLOURS.get(channel)}}
        if stacked:
            trace["stackgroup"] = "one"
        traces.append(trace)
    if previous is not None and len(previous):
        traces.append({"type": "scatter", "x": iso_times(local(previous.bucket, tz)), "y": _numbers(previous[metric]),
                       "name": previous_name, "mode": "lines",
                       "line": {"dash": "dash", "color": "#555", "width": 1.5}})
    shapes, notes = _annotation_spans(annotations, tz)
    layout = _layout(title, 300, legend={"orientation": "h", "y": -0.2}, hovermode="x unified",
                     shapes=shapes, annotations=notes, yaxis=AXIS_FORMATS.get(metric, {}))
    return {"data": traces, "layout": layout}


def _annotation_spans(annotations: pd.DataFrame | None, tz: str) -> tuple[list, list]:
    """Shaded spans across the plot's height, each labelled with its kind (the text on hover)."""
    shapes, notes = [], []
    for row in (annotations.itertuples() if annotations is not None else []):
        end = row.ts_end if pd.notna(row.ts_end) else row.ts
        x0, x1 = local(pd.Series([row.ts, end]), tz)
        x1 = x1 if x1 > x0 else x0 + pd.Timedelta(minutes=30)
        shapes.append({"type": "rect", "xref": "x", "yref": "y domain", "x0": x0.isoformat(), "x1": x1.isoformat(),
                       "y0": 0, "y1": 1, "fillcolor": ANNOTATION_COLOURS.get(row.kind, "rgba(0,0,0,0.08)"),
                       "line": {"width": 0}, "layer": "below"})
        notes.append({"x": x0.isoformat(), "xref": "x", "y": 1, "yref": "y domain", "text": row.kind,
                      "showarrow": False, "xanchor": "left", "yanchor": "top", "font": {"size": 10},
                      "hovertext": row.text})
    return shapes, notes


def channel_mix(table: pd.DataFrame, metric: str, title: str) -> dict:
    rows = table[table[metric] > 0].sort_values(metric)
    bar = {"type": "bar", "x": _numbers(rows[metric]), "y": list(rows["label"]), "orientation": "h",
           "customdata": list(rows["channel"]), "marker": {"color": [CHANNEL_COLOURS.get(c, "#888") for c in rows["channel"]]},
           "text": [formatting.money(v) for v in rows[metric]], "textposition": "auto"}
    return {"data": [bar], "layout": _layout(title, 300, margin={"l": 10, "r": 10, "t": 40, "b": 30})}


def filling(figure: dict) -> dict:
    """The figure sized by its container instead of a fixed height (wall displays: the CSS sets the
    container's height as a share of the screen's)."""
    return {**figure, "layout": {**figure["layout"], "height": None, "autosize": True}}


def empty(height: int = 300) -> dict:
    """A blank chart of the final size, shown until the first numbers arrive (the page does not jump)."""
    return {"data": [], "layout": _layout(None, height, xaxis={"visible": False}, yaxis={"visible": False})}


STEP_COLOURS = ("#4c78a8", "#72b7b2", "#54a24b", "#eeca3b", "#f58518", "#e45756", "#b279a2", "#9d755d")


def funnel_bars(labels: list[str], reached: list, from_start: list, title: str) -> dict:
    """Entities reaching each step, labelled with the share of the first step."""
    bar = {"type": "bar", "x": labels, "y": _numbers(reached), "marker": {"color": STEP_COLOURS[0]},
           "text": [formatting.percent(v, 1) for v in from_start], "textposition": "auto",
           "hovertemplate": "%{x}: %{y:,} (%{text} of the first step)<extra></extra>"}
    return {"data": [bar], "layout": _layout(title, 320, yaxis={"tickformat": ","})}


def segment_bars(table: pd.DataFrame, segment: str, labels: list[str], highlight: str | None, title: str) -> dict:
    """Conversion from the first step to each step, one group of bars per step, one bar per segment; the
    segment that deviates most drawn strong, the others faded."""
    traces = []
    for value, rows in table.groupby(segment, sort=False):
        strong = highlight is None or value == highlight
        traces.append({"type": "bar", "name": str(value), "x": [labels[k - 1] for k in rows["step"]],
                       "y": _numbers(rows["from_start"]), "opacity": 1.0 if strong else 0.35,
                       "hovertemplate": str(value).replace("%", "%%") + ": %{y:.1%}<extra></extra>"})
    return {"data": traces, "layout": _layout(title, 340, barmode="group", yaxis={"tickformat": ".0%"},
                                              legend={"orientation": "h", "y": -0.25})}


def step_trend(table: pd.DataFrame, labels: list[str], tz: str, title: str) -> dict:
    """Conversion from the first step to each later step, per bucket of entry time."""
    traces = []
    for k, rows in table[table["step"] > 1].groupby("step"):
        traces.append({"type": "scatter", "mode": "lines+markers", "name": labels[k - 1],
                       "x": iso_times(local(rows["bucket"], tz)), "y": _numbers(rows["from_start"]),
                       "line": {"color": STEP_COLOURS[(k - 1) % len(STEP_COLOURS)], "width": 2}})
    return {"data": traces, "layout": _layout(title, 300, yaxis={"tickformat": ".1%"}, hovermode="x unified",
                                              legend={"orientation": "h", "y": -0.25})}


def duration_histogram(table: pd.DataFrame, title: str) -> dict:
    """How long conversions took between consecutive steps: one bar series per pair of steps."""
    traces = []
    for (from_step, to_step), rows in table.groupby(["from_step", "to_step"], sort=False):
        centres = (rows["bin_start_seconds"] + rows["bin_end_seconds"]) / 2 / 60
        traces.append({"type": "bar", "name": f"{from_step} → {to_step}", "x": _numbers(centres),
                       "y": _numbers(rows["converted"]), "width": _numbers((rows["bin_end_seconds"]
                                                                             - rows["bin_start_seconds"]) / 60)})
    xaxis = {"title": {"text": "minutes"}}
    ordered = table.sort_values("bin_end_seconds")
    share = ordered["converted"].cumsum() / max(1, ordered["converted"].sum())
    if len(ordered) and ordered["converted"].sum() > 0:  # show where 99% of conversions are, not the whole window
        xaxis["range"] = [0, float(ordered["bin_end_seconds"][share >= 0.99].iloc[0]) / 60]
    return {"data": traces, "layout": _layout(title, 300, barmode="overlay", xaxis=xaxis,
                                              legend={"orientation": "h", "y": -0.3})}



CONTROL_COLOUR = "#9d9d9d"
VARIANT_COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#b279a2")


def variant_funnels(table: pd.DataFrame, labels: dict, control: str | None = None,
                    title: str = "Funnel by variant") -> dict:
    """Funnels side by side: per step, one bar per variant (the control grey) with the share of its
    exposed users who reached the step; the counts on hover. `table` has variant, step, users, from_start
    (queries.experiments.variant_funnels); `labels` names the steps."""
    traces = []
    treatments = cycle(VARIANT_COLOURS)
    for variant, rows in table.groupby("variant", sort=False):
        traces.append({
            "type": "bar", "name": str(variant), "x": [labels.get(s, s) for s in rows["step"]],
            "y": _numbers(rows["from_start"]), "customdata": [int(u) for u in rows["users"]],
            "marker": {"color": CONTROL_COLOUR if variant == control else next(treatments)},
            "text": [formatting.percent(v, 1) for v in rows["from_start"]], "textposition": "outside",
            "hovertemplate": f"{variant}: %{{customdata:,}} users, %{{y:.1%}} of exposed<extra></extra>",
        })
    layout = _layout(title, 320, barmode="group", yaxis={"tickformat": ".0%", "rangemode": "tozero"},
                     legend={"orientation": "h", "y": -0.15}, uniformtext={"minsize": 9, "mode": "hide"})
    return {"data": traces, "layout": layout}

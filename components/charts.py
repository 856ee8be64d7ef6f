"""Figures of the views, built from query results (no SQL here). Times arrive in UTC and are drawn in the
display time zone; every figure uses the same quiet template and channel colours."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

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
    return pd.to_datetime(times).dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None)


def sparkline(values: pd.Series, times: pd.Series) -> go.Figure:
    figure = go.Figure(go.Scatter(x=times, y=values, mode="lines", line=dict(width=1.5, color="#4c78a8"),
                                  fill="tozeroy", fillcolor="rgba(76,120,168,0.12)", hoverinfo="skip"))
    figure.update_layout(template=TEMPLATE, height=36, margin=dict(l=0, r=0, t=0, b=0), showlegend=False,
                         xaxis=dict(visible=False), yaxis=dict(visible=False))
    return figure


def trend(series: pd.DataFrame, previous: pd.DataFrame | None, metric: str, title: str, labels: dict,
          tz: str, stacked: bool, annotations: pd.DataFrame | None = None) -> go.Figure:
    """`metric` per channel over time (stacked areas or lines), the comparison period's total as a dashed
    line shifted onto the current range, and annotations as shaded spans."""
    figure = go.Figure()
    channels = series[series.channel != "(all)"]
    for channel, rows in channels.groupby("channel", sort=False):
        figure.add_trace(go.Scatter(
            x=local(rows.bucket, tz), y=rows[metric], name=labels.get(channel, channel), mode="lines",
            stackgroup="one" if stacked else None, customdata=[channel] * len(rows),
            line=dict(width=1 if stacked else 2, color=CHANNEL_COLOURS.get(channel))))
    if previous is not None and len(previous):
        figure.add_trace(go.Scatter(x=local(previous.bucket, tz), y=previous[metric], name="Comparison period",
                                    mode="lines", line=dict(dash="dash", color="#555", width=1.5)))
    for row in (annotations.itertuples() if annotations is not None else []):
        end = row.ts_end if pd.notna(row.ts_end) else row.ts
        x0, x1 = local(pd.Series([row.ts, end]), tz)
        figure.add_vrect(x0=x0, x1=x1 if x1 > x0 else x0 + pd.Timedelta(minutes=30),
                         fillcolor=ANNOTATION_COLOURS.get(row.kind, "rgba(0,0,0,0.08)"), line_width=0,
                         annotation_text=row.kind, annotation_position="top left",
                         annotation=dict(font_size=10, hovertext=row.text))
    figure.update_layout(template=TEMPLATE, title=dict(text=title, font_size=14), height=300,
                         margin=dict(l=40, r=10, t=40, b=30), legend=dict(orientation="h", y=-0.2),
                         hovermode="x unified")
    figure.update_yaxes(**AXIS_FORMATS.get(metric, {}))
    return figure


def channel_mix(table: pd.DataFrame, metric: str, title: str) -> go.Figure:
    rows = table[table[metric] > 0].sort_values(metric)
    figure = go.Figure(go.Bar(x=rows[metric], y=rows["label"], orientation="h", customdata=rows["channel"],
                              marker_color=[CHANNEL_COLOURS.get(c, "#888") for c in rows["channel"]],
                              text=[formatting.money(v) for v in rows[metric]], textposition="auto"))
    figure.update_layout(template=TEMPLATE, title=dict(text=title, font_size=14), height=300,
                         margin=dict(l=10, r=10, t=40, b=30))
    return figure

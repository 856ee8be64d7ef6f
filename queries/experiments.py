"""A/B experiments: the list for the picker, and the per-variant counts the statistics are computed from.

Definitions (docs/metrics.md, "Experiments"):

- **Exposure window**: [max(range start, experiment start_ts), min(range end, experiment end_ts)); an
  exposure is an event carrying the experiment with its time in the window.
- **Assignment**: a user belongs to the variant of their exposures. A user whose exposures in the window
  show more than one variant (cross-device, a reassignment bug) is excluded from every variant and counted
  as `multi_variant_users`.
- **Dimension filters** select users by the session of their first exposure in the window (its channel,
  campaign, device and region, as everywhere: the attributes of the session's first event). Exclusion is
  counted among the users the filters select.
- **Conversion**: a user converts when they have an event of the metric type at or after their first
  exposure and before the window's end (after the experiment stopped, nobody is treated any more). The
  event need not be in an exposed session.
- **Funnel**: a user reaches step k when, in that same span, they have events of each of steps 1..k, in
  any order (as the session funnel of queries/funnel.py).
- Exposures naming a variant that is not in `experiment_variants` count towards a user's variants (so can
  make them multi-variant) but have no row of their own.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import pandas as pd

from data import schema
from data.warehouse import Warehouse
from queries.filters import FilterError, Filters
from queries.funnel import PURCHASE_FUNNEL
from queries.scope import dimension_predicate

DEFAULT_METRIC = "purchase"
METRICS = schema.EVENT_TYPES  # any event type can be the metric step
# Without from/to, the view and its JSON twin count the last 90 days; the exposure window cuts that to the
# experiment's run, which is then the whole run for all but the longest experiments.
DEFAULT_FILTERS = Filters(start="now-90d", end="now")


@dataclass(frozen=True)
class ExperimentDesign:
    name: str
    description: str | None
    control: str
    start_ts: datetime
    end_ts: datetime | None
    weights: dict  # variant -> planned share of users, in variant order


class VariantCounts(NamedTuple):
    variants: pd.DataFrame      # variant, weight, users, conversions: one row per configured variant
    multi_variant_users: int    # users exposed to more than one variant, excluded from `variants`


def experiment_list(wh: Warehouse) -> pd.DataFrame:
    """Every experiment, newest first: name, description, control, start_ts, end_ts, variants (e.g. "A, B")."""
    return wh.read("""
        SELECT x.name, x.description, x.control, x.start_ts, x.end_ts,
               string_agg(v.variant, ', ' ORDER BY v.variant) AS variants
        FROM experiments x LEFT JOIN experiment_variants v ON v.experiment = x.name
        GROUP BY x.name, x.description, x.control, x.start_ts, x.end_ts
        ORDER BY x.start_ts DESC, x.name""")


def experiment_design(wh: Warehouse, name: str) -> ExperimentDesign | None:
    """The experiment called `name` with its variants' weights, or None when there is none."""
    rows = wh.read("""
        SELECT x.name, x.description, x.control, x.start_ts, x.end_ts, v.variant, v.weight
        FROM experiments x LEFT JOIN experiment_variants v ON v.experiment = x.name
        WHERE x.name = :name ORDER BY v.variant""", {"name": name})
    if rows.empty:
        return None
    first = rows.iloc[0]
    weights = {r.variant: float(r.weight) for r in rows.itertuples() if r.variant is not None}
    return ExperimentDesign(first["name"], first["description"], first["control"], _timestamp(first["start_ts"]),
                            _timestamp(first["end_ts"]), weights)


def check_metric(metric: str | None) -> str:
    """The metric step (an event type), `purchase` when not given; FilterError("metric", ...) otherwise."""
    if metric is None or metric == "":
        return DEFAULT_METRIC
    if metric not in schema.EVENT_TYPES:
        raise FilterError("metric", metric, f"must be one of {', '.join(schema.EVENT_TYPES)}")
    return metric


def url_option(filters: Filters, key: str) -> str | None:
    """A view's own parameter from the URL's extras, stripped; None when absent or blank. A repeated key:
    the last one wins, as for the filters."""
    value = filters.extra.get(key)
    if isinstance(value, list):
        value = value[-1]
    return value.strip() if isinstance(value, str) and value.strip() else None


def experiment_options(filters: Filters, modes: tuple[str, ...]) -> tuple[str, str]:
    """The `metric` (default purchase) and `mode` (default: the first of `modes`) that the experiment view
    and its JSON twin read from the query string; FilterError naming a bad one. `modes` is
    analytics.experiments.MODES, passed in because queries/ does not import analytics/."""
    metric = check_metric(url_option(filters, "metric"))
    mode = url_option(filters, "mode") or modes[0]
    if mode not in modes:
        raise FilterError("mode", mode, f"must be one of {', '.join(modes)}")
    return metric, mode


def exposure_window(design: ExperimentDesign, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The part of [start, end) during which the experiment ran (may be empty: start >= end)."""
    stop = min(end, design.end_ts) if design.end_ts is not None else end
    return max(start, design.start_ts), stop


class ExperimentNumbers(NamedTuple):
    counts: VariantCounts       # exposed and converted users per variant
    funnels: pd.DataFrame       # variant, step, users, from_previous, from_start


def experiment_numbers(wh: Warehouse, design: ExperimentDesign, filters: Filters, start: datetime, end: datetime,
                       metric: str = DEFAULT_METRIC, steps: tuple[str, ...] = PURCHASE_FUNNEL) -> ExperimentNumbers:
    """Exposed and converted users per variant and their funnels over the range [start, end) (module
    docstring), from one pass over the exposed users' events: the expensive part (millions of events joined
    by user) is shared. Where the warehouse caches results, a window that has closed (the experiment
    stopped) is computed once, until a late event reaches back into it."""
    metric = check_metric(metric)
    for step in steps:
        check_metric(step)
    window = exposure_window(design, start, end)

    def compute() -> pd.DataFrame:
        return _per_variant(wh, design, filters, start, end, metric, steps)
    if wh.results is None:
        rows = compute()
    else:
        key = "|".join(["experiment", design.name, repr(sorted(filters.dimension_values().items())),
                        *(t.isoformat() for t in window), metric, *steps])
        rows = wh.results.through(key, window[1], compute)
    return ExperimentNumbers(_counts(design, rows), _funnels(design, steps, rows))


def variant_counts(wh: Warehouse, design: ExperimentDesign, filters: Filters, start: datetime, end: datetime,
                   metric: str = DEFAULT_METRIC) -> VariantCounts:
    """Exposed users and converted users per variant over the range [start, end) (module docstring)."""
    return experiment_numbers(wh, design, filters, start, end, metric).counts


def variant_funnels(wh: Warehouse, design: ExperimentDesign, filters: Filters, start: datetime, end: datetime,
                    steps: tuple[str, ...] = PURCHASE_FUNNEL) -> pd.DataFrame:
    """Users of each variant reaching each step after exposure (module docstring), for funnels side by side.
    Columns: variant, step, users, from_previous, from_start; every configured variant, zero-filled."""
    return experiment_numbers(wh, design, filters, start, end, steps=steps).funnels


def _per_variant(wh: Warehouse, design: ExperimentDesign, filters: Filters, start: datetime, end: datetime,
                 metric: str, steps: tuple[str, ...]) -> pd.DataFrame:
    """One row per variant seen (NULL: users of several variants): users, conversions (an event of `metric`
    after exposure) and reached_i (events of each of steps 0..i after exposure, in any order)."""
    cte, params = _exposed_users_cte(design, filters, start, end)
    flags = ", ".join(f"max(CASE WHEN e.type = :step_{i} THEN 1 ELSE 0 END) AS s{i}" for i in range(len(steps)))
    reached = ", ".join("sum(" + " * ".join(f"s{j}" for j in range(i + 1)) + f") AS reached_{i}"
                        for i in range(len(steps)))
    sql = cte + """,
    per_user AS (
        SELECT u.user_id, u.variant, max(CASE WHEN e.type = :metric THEN 1 ELSE 0 END) AS converted, """ + flags + """
        FROM exposed_users u
        LEFT JOIN events e ON e.user_id = u.user_id AND e.ts >= u.first_exposure AND e.ts < :window_end
                          AND e.ts >= :window_start  -- implied by the first exposure; lets the scan skip older events
                          AND e.type IN :types
        GROUP BY u.user_id, u.variant
    )
    SELECT variant, count(*) AS users, sum(converted) AS conversions, """ + reached + """
    FROM per_user GROUP BY variant"""
    params.update({f"step_{i}": step for i, step in enumerate(steps)}, metric=metric,
                  types=sorted({metric, *steps}))
    return wh.read(sql, params)


def _counts(design: ExperimentDesign, rows: pd.DataFrame) -> VariantCounts:
    """Every configured variant in variant order, zero-filled, and the users excluded for several variants."""
    seen = rows[rows.variant.notna()].set_index("variant")
    variants = pd.DataFrame({"variant": sorted(design.weights)})
    variants["weight"] = variants.variant.map(design.weights).astype(float)
    for column in ("users", "conversions"):
        variants[column] = variants.variant.map(seen[column]).fillna(0).astype(int)
    multi = rows[rows.variant.isna()]
    return VariantCounts(variants, int(multi.users.sum()) if len(multi) else 0)


def _funnels(design: ExperimentDesign, steps: tuple[str, ...], rows: pd.DataFrame) -> pd.DataFrame:
    by_variant = rows[rows.variant.notna()].set_index("variant")
    frames = [_funnel_table(variant, steps, by_variant) for variant in design.weights]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["variant", "step", "users", "from_previous", "from_start"])


def _exposed_users_cte(design: ExperimentDesign, filters: Filters, start: datetime,
                       end: datetime) -> tuple[str, dict]:
    """CTEs ending in `exposed_users(user_id, first_exposure, variant)`; variant NULL for a user exposed to
    several variants. Parameters: experiment, window_start, window_end and the dimension filters."""
    predicate, params = dimension_predicate(filters, "s")
    window_start, window_end = exposure_window(design, start, end)
    sql = """WITH
    first_exposures AS (
        -- each user's first exposure in the window, ordered by (ts, event_id), by one hash aggregation
        -- (a window numbering every exposure per user sorted millions of rows); several variants seen when
        -- the least and the greatest differ (count(DISTINCT ...) cost four times the rest)
        SELECT user_id, min(ts) AS first_exposure,
               arg_min(session_id, {'ts': ts, 'event_id': event_id}) AS session_id,
               CASE WHEN min(variant) = max(variant) THEN min(variant) END AS variant
        FROM events
        WHERE experiment = :experiment AND ts >= :window_start AND ts < :window_end
        GROUP BY user_id
    ),
    exposed_users AS (
        SELECT f.user_id, f.first_exposure, f.variant
        FROM first_exposures f JOIN sessions s ON s.session_id = f.session_id
        -- a session holding an exposure in the window overlaps it: zone maps skip the rest of the table
        WHERE s.last_ts >= :window_start AND s.first_ts < :window_end AND """ + predicate + """
    )"""
    params.update(experiment=design.name, window_start=window_start, window_end=window_end)
    return sql, params


def _funnel_table(variant: str, steps: tuple[str, ...], by_variant: pd.DataFrame) -> pd.DataFrame:
    counts = [int(by_variant.loc[variant, f"reached_{i}"] or 0) if variant in by_variant.index else 0
              for i in range(len(steps))]
    table = pd.DataFrame({"variant": variant, "step": list(steps), "users": counts})
    first = counts[0]
    previous = table["users"].shift(1)
    table["from_previous"] = (table["users"] / previous.where(previous > 0)).astype(float)
    table["from_start"] = table["users"] / first if first else float("nan")
    table.loc[0, "from_previous"] = 1.0 if first else float("nan")
    return table


def _timestamp(value) -> datetime | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).to_pydatetime()

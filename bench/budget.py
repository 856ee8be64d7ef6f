"""The budget view's engine: the channel returns table on a generated warehouse, and fitting plus optimizing
10 channels over 2 years of daily data, next to baselines measured in the same run.

    python bench/budget.py [--runs 15] [--days 180] [--scale 1.0] [--keep DIR]

Part 1, channel table: a demo warehouse of `--days` days at `--scale` is generated into a temporary
directory (or `--keep DIR`, reused when it exists). Timed, for the last 30 and 90 days:
- channel table: `attribution_report` (every model from one read of the journeys, the chosen one's table);
- baseline: `channel_performance`, the last-click table the budget page showed before (queries/channels.py).
Then the whole `POST /api/v1/budget/optimize` for the last 90 days, warm (the curves kept from an earlier
request with the same data) and cold (the fit cache emptied before each request).

Part 2, optimizer: 10 channels with known curves (adstock + Hill), 730 days of spend with 25% noise and
outcome with 5% noise, synthesised here. Timed:
- fit 10 curves: `fit_curve` per channel with the bootstrap the app uses (cold: what the first request pays;
  the app keeps fits by their data, so later requests skip it);
- optimize: `recommend` on the fitted curves (max_response at the current total, default ±50% change);
- target ROAS: `recommend` with the target_roas scenario;
- baseline: one SLSQP run from the current split (no grid start, no repair), the plain approach.
Prints medians and p95 in milliseconds as Markdown tables for docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics.budget import ChannelInput, recommend  # noqa: E402
from app import create_app  # noqa: E402
from queries import budget as budget_queries  # noqa: E402
from analytics.response import Curve, fit_curve  # noqa: E402
from data.generate import generate  # noqa: E402
from data.warehouse import Warehouse  # noqa: E402
from queries.attribution import AttributionOptions, attribution_report  # noqa: E402
from queries.budget import BOOTSTRAP, DEFAULT_MAX_CHANGE  # noqa: E402
from queries.channels import channel_performance  # noqa: E402
from queries.filters import Filters  # noqa: E402

END = datetime(2026, 11, 20)


def timed(fn, runs: int) -> list[float]:
    fn()  # warm-up, untimed
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def row(name: str, times: list[float], baseline: list[float] | None = None) -> str:
    median = statistics.median(times)
    p95 = sorted(times)[max(0, int(round(0.95 * len(times))) - 1)]
    ratio = f"{median / statistics.median(baseline):.1f}×" if baseline else "–"
    return f"| {name} | {median:,.0f} | {p95:,.0f} | {ratio} |"


def channel_table(args) -> list[str]:
    directory = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pulse-bench-budget-"))
    path = directory / f"budget-{args.days}d-{args.scale}.duckdb"
    wh = Warehouse(f"duckdb:///{path}")
    if not path.exists() or wh.is_empty():
        directory.mkdir(parents=True, exist_ok=True)
        summary = generate(wh, days=args.days, scale=args.scale, seed=7, end=END, replace=True)
        print(f"generated {summary['rows']['events']:,} events in {summary['seconds']} s", file=sys.stderr)
    events = wh.row_count("events")
    lines = [f"Warehouse: {args.days} days at scale {args.scale}, {events:,} events.", "",
             "| setting | median ms | p95 ms | × baseline |", "|---|---:|---:|---:|"]
    bases = {}
    for days in (30, 90):
        start = END - timedelta(days=days)
        base = timed(lambda: channel_performance(wh, Filters(), start, END), args.runs)
        lines.append(row(f"last {days} days: last-click table (baseline)", base))
        for model in ("last_click", "time_decay"):
            mine = timed(lambda: attribution_report(wh, Filters(), start, END, AttributionOptions(model)), args.runs)
            lines.append(row(f"last {days} days: channel table, {model}", mine, base))
        bases[days] = base
    wh.cache_results()  # as in the server: each day's credit kept (queries/attribution.py)
    for days in (30, 90):
        moved = iter(range(1, 10 ** 6))  # a refresh: the range ends (and starts) a second later each time

        def refreshed():
            shift = timedelta(seconds=next(moved))
            attribution_report(wh, Filters(), END - timedelta(days=days) + shift, END + shift)
        refreshed()  # the days computed once
        lines.append(row(f"last {days} days: channel table, refreshed (days cached)", timed(refreshed, args.runs),
                         bases[days]))
    lines += ["", "`POST /api/v1/budget/optimize` (Flask test client, last 90 days, 5 paid channels):", "",
              "| request | median ms | p95 ms | × baseline |", "|---|---:|---:|---:|"]
    client = create_app(wh).server.test_client()
    url = (f"/api/v1/budget/optimize?from={END - timedelta(days=90):%Y-%m-%dT%H:%M:%SZ}"
           f"&to={END:%Y-%m-%dT%H:%M:%SZ}")

    def post(cold: bool):
        if cold:
            budget_queries._FITS.clear()  # what the first request after a change of data pays
        assert client.post(url, json={}).status_code == 200
    warm = timed(lambda: post(False), args.runs)
    lines.append(row("warm (curves kept from an earlier request)", warm))
    lines.append(row("cold (curves fitted in the request)", timed(lambda: post(True), args.runs), warm))
    wh.dispose()
    if not args.keep:
        shutil.rmtree(directory, ignore_errors=True)
    return lines


def synthetic_channels(rng, days: int = 730, n: int = 10):
    out = []
    for i in range(n):
        curve = Curve(decay=rng.uniform(0.0, 0.7), half_saturation=rng.uniform(300, 3000),
                      shape=rng.uniform(0.8, 2.2), beta=rng.uniform(1000, 8000))
        level = curve.half_saturation * (1 - curve.decay) * rng.uniform(0.4, 1.6)
        spend = level * rng.lognormal(-0.03, 0.25, days)
        outcome = curve.predict(spend) * rng.lognormal(0, 0.05, days)
        out.append((f"channel_{i}", spend, outcome))
    return out


def optimizer(args) -> list[str]:
    data = synthetic_channels(np.random.default_rng(3))
    fits = {}

    def fit_all():
        for name, spend, outcome in data:
            fits[name] = fit_curve(spend, outcome, bootstrap=BOOTSTRAP)

    fit_times = timed(fit_all, max(3, args.runs // 3))
    channels = [ChannelInput(n, n, f.current_spend, f.curve, tuple(f.samples)) for n, f in fits.items()]
    current = np.array([c.current for c in channels])

    def plain():  # one SLSQP run from the current split, nothing else
        minimize(lambda x: -sum(float(c.curve.outcome(v)) for c, v in zip(channels, x)), current, method="SLSQP",
                 bounds=[(0.5 * s, 1.5 * s) for s in current],
                 constraints=[{"type": "eq", "fun": lambda x: x.sum() - current.sum()}])

    base = timed(plain, args.runs)
    best = timed(lambda: recommend(channels, max_change=DEFAULT_MAX_CHANGE), args.runs)
    result = recommend(channels, max_change=DEFAULT_MAX_CHANGE)
    target = 0.9 * result.totals["roas_recommended"]
    roas = timed(lambda: recommend(channels, "target_roas", target_roas=target, max_change=DEFAULT_MAX_CHANGE),
                 args.runs)
    total = [f + b for f, b in zip(fit_times, best)]
    return ["10 channels × 730 days (synthetic, known curves).", "",
            "| step | median ms | p95 ms | × baseline |", "|---|---:|---:|---:|",
            row("plain SLSQP from the current split (baseline)", base),
            row(f"fit 10 curves (bootstrap {BOOTSTRAP}), cold", fit_times),
            row("optimize: max_response at the current total", best, base),
            row(f"optimize: target_roas ({target:.2f})", roas, base),
            row("fit (cold) + optimize", total)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--keep", default=None, help="directory to keep (and reuse) the generated warehouse in")
    args = parser.parse_args(argv)
    print(f"{datetime.now():%Y-%m-%d %H:%M}, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print("\n".join(optimizer(args)))
    print()
    print("\n".join(channel_table(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

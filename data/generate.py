"""Fill a warehouse with realistic demo data and the ground truth behind it.

    python -m data.generate [--data-dir DIR] [--days 90] [--scale 1.0] [--seed 7] [--end ISO-8601] [--replace]
    python -m data.generate --show-truth [--data-dir DIR]

The range is `days` whole UTC days before the day of `end`, plus that day up to `end` (default: now,
UTC, floored to the minute); nothing is stored at or after `end`. Same seed and same end give identical
tables. The model itself (traffic, funnel, response curves, experiments, incidents) is data/demo_model.py;
the tables and the ground truth are documented in docs/warehouse.md.
"""
from __future__ import annotations

import argparse
import calendar
import dataclasses
import datetime as dt
import json
import sys
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data import demo_model as dm
from data import rollups, schema
from data.schema import EVENT_TYPES
from data.warehouse import Warehouse

VERSION = "1"
TABLES_IN_LOAD_ORDER = ("channels", "campaigns", "events", "ad_spend", "budgets", "experiments",
                        "experiment_variants", "annotations", "ground_truth")


class WarehouseNotEmpty(RuntimeError):
    pass


# ------------------------------------------------------------------------------------------ public

def generate(warehouse: Warehouse, days: int = 90, scale: float = 1.0, seed: int = 7,
             end: dt.datetime | None = None, replace: bool = False) -> dict:
    """Generate `days` days of demo data ending at `end` into `warehouse` and return a summary (row counts
    per table, seconds). Raises WarehouseNotEmpty if it already has events, unless `replace`."""
    t0 = time.perf_counter()
    if days < 1 or scale <= 0:
        raise ValueError(f"days must be >= 1 and scale > 0, got days={days}, scale={scale}")
    if not replace and not warehouse.is_empty():
        raise WarehouseNotEmpty(f"the warehouse at {warehouse.url} already has events; use --replace")
    end = default_end() if end is None else naive_utc(end)
    tables = build(days, scale, seed, end)
    t_built = time.perf_counter()
    load(warehouse, tables, replace)
    t_loaded = time.perf_counter()
    return {"rows": {name: int(t.num_rows) for name, t in tables.items()},
            "start": iso(dm.from_us(range_start_us(end, days))), "end": iso(end),
            "seconds": round(t_loaded - t0, 2), "seconds_synthesis": round(t_built - t0, 2),
            "seconds_load": round(t_loaded - t_built, 2)}


def default_end() -> dt.datetime:
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return now.replace(second=0, microsecond=0)


def naive_utc(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None) if t.tzinfo else t


def iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="seconds") + "Z"


def range_start_us(end: dt.datetime, days: int) -> int:
    """Midnight UTC `days` days before the day that contains the last instant before `end`."""
    return ((dm.to_us(end) - 1) // dm.DAY_US - days) * dm.DAY_US


# ------------------------------------------------------------------------------------------ build

@dataclasses.dataclass
class Plan:
    """Everything about a range that does not depend on simulating its sessions: the model anchored at
    `end`, the daily spend and the sessions it buys, experiments and incidents, and the random streams
    the sessions and the hourly spend are drawn from."""
    model: dm.DemoModel
    days: int
    scale: float
    seed: int
    start: dt.datetime
    end: dt.datetime
    spend: pd.DataFrame
    expected: pd.DataFrame
    experiments: list
    incidents: list
    sim_rng: np.random.Generator
    ads_rng: np.random.Generator


@dataclasses.dataclass
class Chunk:
    """One stretch of the simulated range: its events (numbered, in time order, all before `until`), the
    paid sessions per hour that start in it (the clicks behind the spend) and its sessions exposed to an
    experiment (what the experiments' ground truth is computed from)."""
    events: pa.Table
    until: dt.datetime
    paid_by_hour: pd.DataFrame
    exposed: pd.DataFrame


def plan(days: int, scale: float, seed: int, end: dt.datetime) -> Plan:
    model = dm.default_model().scaled(scale).anchored(end)
    start_us = range_start_us(end, days)
    start = dm.from_us(start_us)
    spend_rng, sim_rng, ads_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    spend = dm.plan_daily_spend(model, start_us // dm.DAY_US, days + 1, spend_rng)
    return Plan(model=model, days=days, scale=scale, seed=seed, start=start, end=end, spend=spend,
                expected=dm.expected_paid_sessions(model, spend),
                experiments=clip_experiments(dm.default_experiments(model), start, end),
                incidents=[clip_incident(i, end) for i in dm.default_incidents(model) if start <= i.start < end],
                sim_rng=sim_rng, ads_rng=ads_rng)


def build(days: int, scale: float, seed: int, end: dt.datetime) -> dict[str, pa.Table]:
    """Every table as an Arrow table (ids still integers where the loader formats them), the whole range
    simulated at once."""
    p = plan(days, scale, seed, end)
    (chunk,) = simulate_in_chunks(p, chunk_days=None)
    return {**other_tables(p, chunk.paid_by_hour, chunk.exposed), "events": chunk.events}


def simulate_in_chunks(p: Plan, chunk_days: int | None = None):
    """Simulate the range `chunk_days` UTC days at a time (None: all at once, as the demo does), yielding
    a Chunk per stretch so a warehouse of any size is written with bounded memory. Users, sessions, events
    and orders keep counting across chunks; events of sessions that run past a chunk's end are held back
    and written, in time order, with the next chunk. All at once and in chunks are the same model with
    the same random stream, drawn in a different order: the data differ in detail, not in kind."""
    start_us, end_us = dm.to_us(p.start), dm.to_us(p.end)
    step = (chunk_days or p.days + 2) * dm.DAY_US
    users, sessions, events, orders = p.model.existing_users, 0, 1, 1
    held = None
    for lo in range(start_us, end_us, step):
        hi = min(lo + step, end_us)
        sim = dm.simulate(p.model, dm.from_us(lo), dm.from_us(hi), p.sim_rng, paid_sessions=p.expected,
                          users_before=users, experiments=p.experiments, incidents=p.incidents, seed=p.seed,
                          events_until=p.end)
        users += sim.new_users
        rows = event_rows(p.model, sim, p.experiments, first_session=sessions)
        sessions += len(sim.sessions)
        rows = in_time_order(rows if held is None else pd.concat([held, rows], ignore_index=True))
        due = int(np.searchsorted(rows.ts_us.to_numpy(), hi, side="left"))
        held = rows.iloc[due:].reset_index(drop=True)
        table = events_table(p.model, rows.iloc[:due], p.experiments, first_event=events, first_order=orders)
        events += table.num_rows
        orders += int(pc.count(table["order_n"]).as_py())
        yield Chunk(events=table, until=dm.from_us(hi), paid_by_hour=sim.paid_by_hour,
                    exposed=exposed_sessions(sim.sessions))


EXPOSED_COLUMNS = ("user", "experiment", "variant", "p_checkout", "q_purchase", "t_checkout_us", "t_purchase_us")


def exposed_sessions(sessions: pd.DataFrame) -> pd.DataFrame:
    """The sessions in an experiment, with only what `demo_model.experiment_truth` reads."""
    return sessions.loc[sessions.experiment.to_numpy() >= 0, list(EXPOSED_COLUMNS)].reset_index(drop=True)


def other_tables(p: Plan, paid_by_hour: pd.DataFrame, exposed: pd.DataFrame) -> dict[str, pa.Table]:
    """Every table but `events`: reference tables, spend, budgets, experiments, annotations and the
    ground truth (from the simulated paid sessions per hour and the exposed sessions)."""
    model, start, end, experiments = p.model, p.start, p.end, p.experiments
    truth = ground_truth(model, exposed, p.spend, experiments, p.incidents,
                         dict(seed=p.seed, days=p.days, scale=p.scale, start=iso(start), end=iso(end)))
    return {
        "channels": channels_table(model),
        "campaigns": campaigns_table(model),
        "ad_spend": ad_spend_table(model, p.spend, paid_by_hour, dm.to_us(start), dm.to_us(end), p.ads_rng),
        "budgets": budgets_table(model, p.spend),
        "experiments": pa.Table.from_pylist([
            {"name": e.name, "description": e.description, "control": e.control, "start_ts": e.start,
             "end_ts": e.end} for e in experiments],
            schema=pa.schema([("name", pa.string()), ("description", pa.string()), ("control", pa.string()),
                              ("start_ts", pa.timestamp("us")), ("end_ts", pa.timestamp("us"))])),
        "experiment_variants": pa.Table.from_pylist(
            [{"experiment": e.name, "variant": v, "weight": float(w)} for e in experiments
             for v, w in e.weights.items()],
            schema=pa.schema([("experiment", pa.string()), ("variant", pa.string()), ("weight", pa.float64())])),
        "annotations": annotations_table(model, start, end, p.incidents),
        "ground_truth": pa.Table.from_pylist([{"topic": k, "body": json.dumps(v, sort_keys=True)}
                                              for k, v in truth.items()]),
    }


def clip_experiments(experiments, start: dt.datetime, end: dt.datetime) -> list:
    """Experiments overlapping [start, end), their start clipped to `start` (no data exists before)."""
    out = []
    for e in experiments:
        if e.start < end and (e.end is None or e.end > start):
            out.append(dataclasses.replace(e, start=max(e.start, start)))
    return out


def clip_incident(incident, end: dt.datetime):
    return dataclasses.replace(incident, end=min(incident.end, end))


def channels_table(model) -> pa.Table:
    return pa.Table.from_pylist([{"name": c.name, "label": c.label, "paid": c.paid, "sort_order": c.sort_order}
                                 for c in model.channels],
                                schema=pa.schema([("name", pa.string()), ("label", pa.string()),
                                                  ("paid", pa.bool_()), ("sort_order", pa.int32())]))


def campaign_dates(model, k) -> tuple[dt.date, dt.date | None]:
    anchor = dm.EPOCH.date() + dt.timedelta(days=model.anchor_day)
    first = anchor - dt.timedelta(days=k.starts_days_before_end)
    last = anchor - dt.timedelta(days=k.ends_days_before_end) if k.ends_days_before_end is not None else None
    return first, last


def campaigns_table(model) -> pa.Table:
    rows = []
    for k in model.campaigns:
        first, last = campaign_dates(model, k)
        curve = model.curves.get(k.channel)
        budget = round(curve.planned_daily_spend * k.weight * k.spend_boost, 2) if curve else None
        rows.append({"name": k.name, "channel": k.channel, "start_date": first, "end_date": last,
                     "daily_budget": budget})
    return pa.Table.from_pylist(rows, schema=pa.schema([
        ("name", pa.string()), ("channel", pa.string()), ("start_date", pa.date32()),
        ("end_date", pa.date32()), ("daily_budget", pa.float64())]))


def _dictionary(codes: np.ndarray, vocabulary, mask: np.ndarray | None = None) -> pa.DictionaryArray:
    indices = pa.array(codes.astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(indices, pa.array(list(vocabulary), pa.string()))


def event_rows(model, sim: dm.Simulation, experiments, first_session: int = 0) -> pd.DataFrame:
    """One row per event with its session's attributes as codes; sessions numbered from `first_session`."""
    ev, s = sim.events, sim.sessions
    sid = ev.session.to_numpy()
    exp_code = s.experiment.to_numpy()[sid]
    variant_names = sorted({v for e in experiments for v in e.weights})
    variant_code = np.full(len(ev), -1)
    for i, e in enumerate(experiments):
        for j, name in enumerate(e.weights):
            variant_code[(exp_code == i) & (s.variant.to_numpy()[sid] == j)] = variant_names.index(name)
    return pd.DataFrame({
        "ts_us": ev.ts_us.to_numpy(), "session_n": sid.astype(np.int64) + first_session,
        "pos": ev.pos.to_numpy(), "type": ev.type.to_numpy(), "user_n": s.user.to_numpy()[sid],
        "channel": s.channel.to_numpy()[sid], "campaign": s.campaign.to_numpy()[sid],
        "device": s.device.to_numpy()[sid], "region": s.region.to_numpy()[sid], "page": ev.page.to_numpy(),
        "revenue": ev.revenue.to_numpy(), "experiment": exp_code, "variant": variant_code})


def in_time_order(rows: pd.DataFrame) -> pd.DataFrame:
    """Events in (ts, session, position) order: the order event ids are numbered in."""
    order = np.lexsort((rows.pos.to_numpy(), rows.session_n.to_numpy(), rows.ts_us.to_numpy()))
    return rows.iloc[order].reset_index(drop=True)


def events_table(model, rows: pd.DataFrame, experiments, first_event: int = 1, first_order: int = 1) -> pa.Table:
    """Events `rows` (in time order) as Arrow; `n` numbers them for event_id from `first_event`, `order_n`
    numbers purchases for order_id from `first_order`."""
    is_purchase = (rows.type == dm.PURCHASE).to_numpy()
    order_n = np.where(is_purchase, np.cumsum(is_purchase) + (first_order - 1), 0)
    variant_names = sorted({v for e in experiments for v in e.weights})
    exp_code, variant_code = rows.experiment.to_numpy(), rows.variant.to_numpy()
    no_exp = exp_code < 0
    return pa.table({
        "n": pa.array(np.arange(first_event, first_event + len(rows))),
        "ts": pa.array(rows.ts_us.to_numpy()).cast(pa.timestamp("us")),
        "type": _dictionary(rows.type.to_numpy(), EVENT_TYPES),
        "user_n": pa.array(rows.user_n.to_numpy()),
        "session_n": pa.array(rows.session_n.to_numpy()),
        "channel": _dictionary(rows.channel.to_numpy(), model.channel_names),
        "campaign": _dictionary(rows.campaign.to_numpy(), model.campaign_names),
        "device": _dictionary(rows.device.to_numpy(), model.devices),
        "region": _dictionary(rows.region.to_numpy(), [r.code for r in model.regions]),
        "page": _dictionary(rows.page.to_numpy(), dm.pages(model)),
        "revenue": pa.array(rows.revenue.to_numpy(), mask=~is_purchase),
        "order_n": pa.array(order_n, mask=~is_purchase),
        "experiment": _dictionary(np.maximum(exp_code, 0), [e.name for e in experiments] or [""], no_exp),
        "variant": _dictionary(np.maximum(variant_code, 0), variant_names or [""], no_exp),
    })


def ad_spend_table(model, spend: pd.DataFrame, paid_by_hour: pd.DataFrame, start_us: int, end_us: int,
                   rng) -> pa.Table:
    """Hourly cost per paid campaign: the day's spend x campaign share x the hour's share of the day's
    traffic (pro-rated in the hour containing `end`). Clicks ~ sessions / sessions_per_click, impressions
    from the channel's click-through rate."""
    hours = np.arange(start_us, end_us, dm.HOUR_US, dtype=np.int64)
    day = hours // dm.DAY_US
    full_days = np.arange(start_us, (day[-1] + 1) * dm.DAY_US, dm.HOUR_US, dtype=np.int64)
    hour_share = dm.hourly_weights(model, full_days).sum(axis=1)[: len(hours)]
    elapsed = np.minimum(1.0, (end_us - hours) / dm.HOUR_US)
    shares = dm.campaign_shares(model, day)
    realised = paid_by_hour.set_index(["hour_us", "campaign"]).sessions
    frames = []
    for j, k in enumerate(model.campaigns, start=1):
        if k.channel not in model.curves or not shares[:, j].any():
            continue
        curve = model.curves[k.channel]
        cost = spend[k.channel].reindex(day).to_numpy() * shares[:, j] * hour_share * elapsed
        sessions = realised.reindex(pd.MultiIndex.from_arrays([hours, np.full(len(hours), j)])).fillna(0).to_numpy()
        expected_clicks = (cost / np.maximum(cost.sum(), 1e-9)) * sessions.sum() / model.sessions_per_click
        n_clicks = sessions + rng.poisson(sessions * (1 / model.sessions_per_click - 1))
        impressions = n_clicks + rng.poisson(np.maximum(expected_clicks, n_clicks) * (1 / curve.click_through_rate - 1))
        keep = shares[:, j] > 0
        frames.append(pd.DataFrame({"ts_us": hours[keep], "channel": k.channel, "campaign": k.name,
                                    "impressions": impressions[keep].astype(np.int64),
                                    "clicks": n_clicks[keep].astype(np.int64), "cost": np.round(cost[keep], 2)}))
    out = pd.concat(frames, ignore_index=True).sort_values(["ts_us", "channel", "campaign"], kind="stable")
    table = pa.Table.from_pandas(out.drop(columns="ts_us"), preserve_index=False)
    return table.add_column(0, "ts", pa.array(out.ts_us.to_numpy()).cast(pa.timestamp("us")))


def budgets_table(model, spend: pd.DataFrame) -> pa.Table:
    """Monthly budget per paid channel for every month of the range and the next: the month's planned
    spend (`demo_model.planned_spend`, holidays included) divided by the channel's pacing, to the 100."""
    first = dm.EPOCH.date() + dt.timedelta(days=int(spend.index[0]))
    last = dm.EPOCH.date() + dt.timedelta(days=int(spend.index[-1]))
    months, m = [], first.replace(day=1)
    while m <= last:
        months.append(m)
        m = (m + dt.timedelta(days=32)).replace(day=1)
    months.append(m)
    rows = []
    for month in months:
        first_day = dm.epoch_day(month)
        expected = dm.planned_spend(model, np.arange(first_day, first_day + calendar.monthrange(
            month.year, month.month)[1])).sum()
        for channel in model.paid_channels:
            planned = round(expected[channel] / model.curves[channel].budget_pacing, -2)
            rows.append({"month": month, "channel": channel, "planned": float(planned)})
    return pa.Table.from_pylist(rows, schema=pa.schema([("month", pa.date32()), ("channel", pa.string()),
                                                        ("planned", pa.float64())]))


def annotations_table(model, start: dt.datetime, end: dt.datetime, incidents) -> pa.Table:
    """Holidays (one row per region, local midnight to local midnight in UTC), campaign launches and
    incidents that start inside [start, end)."""
    rows = []
    for h in dm.holidays_between(start.date() - dt.timedelta(days=1), end.date() + dt.timedelta(days=1)):
        for code in h.regions:
            offset = dt.timedelta(hours=next(r.utc_offset_hours for r in model.regions if r.code == code))
            ts = dt.datetime.combine(h.start, dt.time()) - offset
            ts_end = dt.datetime.combine(h.end + dt.timedelta(days=1), dt.time()) - offset
            ramp = f" (presale from {h.start - dt.timedelta(days=h.ramp_days)})" if h.ramp_days else ""
            if ts < end and ts_end > start:
                rows.append({"ts": ts, "ts_end": ts_end, "kind": "holiday", "text": h.name + ramp,
                             "region": code, "channel": None})
    for k in model.campaigns:
        first, last = campaign_dates(model, k)
        ts = dt.datetime.combine(first, dt.time())
        if start <= ts < end:
            ts_end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time()) if last else None
            rows.append({"ts": ts, "ts_end": ts_end, "kind": "campaign", "text": f"Campaign {k.name} launched",
                         "region": None, "channel": k.channel})
    for inc in incidents:
        rows.append({"ts": inc.start, "ts_end": inc.end, "kind": "incident", "text": inc.what,
                     "region": None, "channel": None})
    rows.sort(key=lambda r: (r["ts"], r["kind"], r["text"], r["region"] or ""))
    for r in rows:
        r["source"] = "generator"
    return pa.Table.from_pylist(rows, schema=pa.schema([
        ("ts", pa.timestamp("us")), ("ts_end", pa.timestamp("us")), ("kind", pa.string()), ("text", pa.string()),
        ("region", pa.string()), ("channel", pa.string()), ("source", pa.string())]))


# ------------------------------------------------------------------------------------ ground truth

RESPONSE_FORMULA = ("sessions(d) ~ Poisson(max_sessions_per_day * hill(A(d))), A(d) = spend(d) + "
                    "adstock_decay * A(d-1), A(-1) = adstock_before_start, hill(x) = x^S / (x^S + K^S) "
                    "with K = hill_half_saturation, S = hill_shape; steady-state revenue/day "
                    "R(s) = revenue_per_session * max_sessions_per_day * hill(s / (1 - adstock_decay))")


def ground_truth(model, exposed: pd.DataFrame, spend: pd.DataFrame, experiments, incidents, generator: dict) -> dict:
    """`exposed`: the simulated sessions exposed to an experiment (`exposed_sessions`)."""
    return {
        "generator": {**generator, "version": VERSION},
        "response_curves": response_curves_truth(model, spend, generator),
        "experiments": {e.name: dm.experiment_truth(exposed, i, e, incidents, dm.to_us(
            dt.datetime.fromisoformat(generator["end"].rstrip("Z")))) for i, e in enumerate(experiments)},
        "funnel": funnel_truth(model),
        "incidents": [{"name": i.name, "kind": i.kind, "what": i.what, "start": iso(i.start), "end": iso(i.end),
                       "device": i.device, "effect": incident_effect(i)} for i in incidents],
    }


def incident_effect(incident) -> dict:
    if incident.kind == "checkout_outage":
        return {"purchase_given_checkout_multiplier": incident.factor,
                "applies_to": "sessions whose checkout step falls inside the window"}
    return {"share_of_sessions_lost": incident.factor, "device": incident.device,
            "applies_to": "sessions starting inside the window on that device: all their events are missing"}


def full_days(spend: pd.DataFrame, generator: dict) -> pd.DataFrame:
    end_us = dm.to_us(dt.datetime.fromisoformat(generator["end"].rstrip("Z")))
    return spend[(spend.index.to_numpy() + 1) * dm.DAY_US <= end_us]


def response_curves_truth(model, spend: pd.DataFrame, generator: dict) -> dict:
    rps = dm.revenue_per_session(model)
    whole = full_days(spend, generator)
    channels = {}
    for channel in model.paid_channels:
        c = model.curves[channel]
        mean = float(whole[channel].mean()) if len(whole) else float(spend[channel].mean())
        channels[channel] = {
            "adstock_decay": c.adstock_decay, "hill_half_saturation": c.half_saturation, "hill_shape": c.shape,
            "max_sessions_per_day": c.max_sessions_per_day, "revenue_per_session": rps[channel],
            "max_revenue_per_day": rps[channel] * c.max_sessions_per_day, "mean_daily_spend": mean,
            "planned_daily_spend": c.planned_daily_spend, "adstock_before_start": dm.adstock_before_start(c),
            "revenue_at_mean_spend": float(dm.steady_state_revenue(c, rps[channel], mean)),
            "marginal_roas_at_mean_spend": dm.marginal_roas(c, rps[channel], mean),
            "formula": RESPONSE_FORMULA,
        }
    return {"channels": channels, "formula": RESPONSE_FORMULA, "day": "UTC calendar day",
            "mean_over_days": int(len(whole)),
            "budget_tests": [{"channel": ch, "start": str(dm.EPOCH.date() + dt.timedelta(days=int(spend.index[i]))),
                              "days": n, "multiplier": m} for ch, i, n, m in dm.budget_tests(model, len(spend))]}


def funnel_truth(model) -> dict:
    p = dm.step_probabilities(model)
    cr = dm.conversion_rate(model)
    names = ("bounce", "product_view", "add_to_cart", "checkout", "purchase")
    return {
        "steps": list(names),
        "meaning": "bounce = P(single page_view); product_view = P(product_view | not bounced); "
                   "add_to_cart = P(add_to_cart | product_view); checkout = P(checkout | add_to_cart); "
                   "purchase = P(purchase | checkout); conversion_rate = P(purchase) per session",
        "channels": {ch: {dev: {**{n: float(p[i, j, k]) for k, n in enumerate(names)},
                                "conversion_rate": float(cr[i, j])}
                          for j, dev in enumerate(model.devices)}
                     for i, ch in enumerate(model.channel_names)},
        "device_mix": {c.name: dict(zip(model.devices, map(float, dm.device_mix(model)[i])))
                       for i, c in enumerate(model.channels)},
        "average_order_value": model.average_order_value,
        "order_value": f"lognormal, sigma {model.order_value_sigma}, mean by device",
        "revenue_per_session": dm.revenue_per_session(model),
    }


# -------------------------------------------------------------------------------------------- load

EVENTS_SQL = """
    INSERT INTO events
    SELECT printf('e%09d', n), ts, type::VARCHAR, printf('u%08d', user_n), printf('s%08d', session_n),
           channel::VARCHAR, campaign::VARCHAR, device::VARCHAR, region::VARCHAR, page::VARCHAR, revenue,
           CASE WHEN order_n IS NULL THEN NULL ELSE printf('o%08d', order_n) END,
           experiment::VARCHAR, variant::VARCHAR
    FROM staged_events"""


def load(warehouse: Warehouse, tables: dict[str, pa.Table], replace: bool) -> None:
    """One transaction: when replacing, drop and recreate every table (much faster than deleting millions
    of indexed rows, and it restarts the annotation ids), then bulk insert."""
    with warehouse.driver_connection() as conn:
        if replace:
            for name in schema.TABLES:  # identifiers from the schema's allow-list, never from input
                conn.execute("DROP TABLE IF EXISTS " + name)
            conn.execute("DROP SEQUENCE IF EXISTS annotations_id_seq")
            schema.create_all(conn)
        insert_tables(conn, tables)
        rollups.rebuild(conn)
        seed_targets(conn)


def insert_tables(conn, tables: dict[str, pa.Table]) -> None:
    """Append the generated tables given (any of TABLES_IN_LOAD_ORDER), formatting the ids of events."""
    for name in TABLES_IN_LOAD_ORDER:
        if name not in tables:
            continue
        staged = f"staged_{name}"
        conn.register(staged, tables[name])
        if name == "events":
            conn.execute(EVENTS_SQL)
        else:
            conn.execute(_copy_statement(name, tables[name].column_names, staged))
        conn.unregister(staged)


TARGET_GROWTH = 1.05   # the demo business plans 5 % above its recent pace (revenue, orders) ...
RATE_GROWTH = 1.03     # ... and a conversion rate 3 % better; ROAS held where it is


def seed_targets(conn) -> None:
    """Monthly targets for every month of the data and the next, from the last four weeks' pace: revenue
    and orders per day times the month's days, conversion rate and ROAS as they were, with some growth.
    Months that already have a target keep it."""
    last = conn.execute("SELECT max(ts) FROM events").fetchone()[0]
    first = conn.execute("SELECT min(ts) FROM events").fetchone()[0]
    if last is None:
        return
    since = last - dt.timedelta(days=28)
    revenue, orders = conn.execute("SELECT coalesce(sum(revenue), 0), count(*) FROM orders WHERE ts >= ? AND ts < ?",
                                   [since, last]).fetchone()
    sessions, converted = conn.execute("SELECT count(*), count(*) FILTER (WHERE purchases > 0) FROM sessions "
                                       "WHERE first_ts >= ? AND first_ts < ?", [since, last]).fetchone()
    spend = conn.execute("SELECT coalesce(sum(cost), 0) FROM ad_spend WHERE ts >= ? AND ts < ?", [since, last]).fetchone()[0]
    rows, month = [], first.date().replace(day=1)
    while month <= (last.date().replace(day=1) + dt.timedelta(days=32)).replace(day=1):
        days = calendar.monthrange(month.year, month.month)[1]
        rows += [(month, "revenue", round(revenue / 28 * days * TARGET_GROWTH, -2)),
                 (month, "orders", float(round(orders / 28 * days * TARGET_GROWTH)))]
        if sessions:
            rows.append((month, "conversion_rate", round(converted / sessions * RATE_GROWTH, 4)))
        if spend:
            rows.append((month, "roas", round(revenue / spend, 2)))
        month = (month + dt.timedelta(days=32)).replace(day=1)
    conn.executemany("INSERT INTO targets (month, kpi, target) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                     [list(r) for r in rows])


def _copy_statement(table: str, columns: list[str], staged: str) -> str:
    """INSERT ... SELECT of a staged Arrow table; every identifier is checked against the schema."""
    known = set(schema.TABLES)
    if table not in known or staged != f"staged_{table}" or not all(c.isidentifier() for c in columns):
        raise ValueError(f"refusing to build SQL for {table!r} / {staged!r} / {columns!r}")
    listed = ", ".join(columns)
    verb = "INSERT OR REPLACE" if table == "channels" else "INSERT"  # over the reference channels
    return f"{verb} INTO {table} ({listed}) SELECT {listed} FROM {staged}"


# --------------------------------------------------------------------------------------------- CLI

def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m data.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None,
                        help="warehouse directory (default: $WAREHOUSE_URL, else $PULSE_DATA_DIR, else ./var)")
    parser.add_argument("--days", type=int, default=90, help="whole days before the day of --end (default 90)")
    parser.add_argument("--scale", type=float, default=1.0, help="traffic and spend multiplier (default 1.0)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--end", type=parse_end, default=None,
                        help="ISO-8601 instant the data ends (default: now, UTC, floored to the minute); "
                             "without a zone it means UTC")
    parser.add_argument("--replace", action="store_true",
                        help="empty every table of an existing warehouse first (user annotations included)")
    parser.add_argument("--show-truth", action="store_true", help="print the stored ground truth as JSON and exit")
    return parser.parse_args(argv)


def parse_end(text: str) -> dt.datetime:
    try:
        return naive_utc(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--end: not an ISO-8601 date-time: {text!r}") from None


def show_truth(warehouse: Warehouse) -> int:
    rows = warehouse.read("SELECT topic, body FROM ground_truth ORDER BY topic")
    if rows.empty:
        print(f"no ground truth in {warehouse.url}: generate data first", file=sys.stderr)
        return 1
    print(json.dumps({r.topic: json.loads(r.body) for r in rows.itertuples()}, indent=2, sort_keys=True))
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    warehouse = Warehouse.open(args.data_dir)
    try:
        if args.show_truth:
            return show_truth(warehouse)
        if not args.replace and not warehouse.is_empty():
            print(f"refusing to write: the warehouse at {warehouse.url} already has "
                  f"{warehouse.row_count('events')} events; pass --replace to empty it first", file=sys.stderr)
            return 2
        summary = generate(warehouse, days=args.days, scale=args.scale, seed=args.seed, end=args.end,
                           replace=args.replace)
        print(json.dumps(summary, indent=2))
        return 0
    finally:
        warehouse.dispose()


if __name__ == "__main__":
    sys.exit(main())

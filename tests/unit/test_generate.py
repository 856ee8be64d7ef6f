"""The demo generator: deterministic, internally consistent, and true to its own ground truth.

Every expectation here is recomputed from the stored tables (or from calendar facts), never copied from
the generator's output."""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from data import demo_model
from data.generate import generate
from data.schema import TABLES
from data.warehouse import Warehouse

END = dt.datetime(2026, 11, 20, 14, 37)      # range covers Double 11 and both incidents
DAYS, SCALE, SEED = 21, 0.25, 5
START = dt.datetime(2026, 10, 30)            # midnight UTC, 21 whole days before END's day
ROOT = Path(__file__).resolve().parents[2]
FUNNEL = ("page_view", "product_view", "add_to_cart", "checkout", "purchase")


def _build(path: Path, seed: int) -> Path:
    wh = Warehouse(f"duckdb:///{path}")
    generate(wh, days=DAYS, scale=SCALE, seed=seed, end=END)
    wh.dispose()
    return path


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("generate")
    return {"a": _build(root / "a.duckdb", SEED), "again": _build(root / "again.duckdb", SEED),
            "other": _build(root / "other.duckdb", SEED + 1)}


@pytest.fixture(scope="module")
def db(paths):
    conn = duckdb.connect(str(paths["a"]), read_only=True)
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def truth(db):
    return {topic: json.loads(body) for topic, body in db.execute("SELECT topic, body FROM ground_truth").fetchall()}


@pytest.fixture(scope="module")
def sessions(db):
    """One row per session, computed in SQL from the events alone."""
    return db.execute("""
        SELECT session_id, any_value(user_id) AS user_id, any_value(channel) AS channel,
               any_value(device) AS device, any_value(region) AS region, min(ts) AS start, count(*) AS n,
               max(ts) - min(ts) AS duration,
               bool_or(type = 'product_view') AS product_view, bool_or(type = 'add_to_cart') AS add_to_cart,
               bool_or(type = 'checkout') AS checkout, bool_or(type = 'purchase') AS purchase,
               bool_or(type = 'signup') AS signup
        FROM events GROUP BY session_id""").df()


def table_hash(conn, table: str) -> int:
    return conn.execute(f"SELECT coalesce(sum(hash(t)::HUGEINT), 0) FROM {table} AS t").fetchone()[0]


# ------------------------------------------------------------------------------------- determinism

def test_same_seed_and_end_give_identical_tables(paths):
    a, b = (duckdb.connect(str(paths[k]), read_only=True) for k in ("a", "again"))
    try:
        for table in TABLES:
            assert a.execute(f"SELECT count(*) FROM {table}").fetchone() == \
                b.execute(f"SELECT count(*) FROM {table}").fetchone(), table
            assert table_hash(a, table) == table_hash(b, table), table
    finally:
        a.close(), b.close()


def test_another_seed_gives_other_data(paths):
    a, b = (duckdb.connect(str(paths[k]), read_only=True) for k in ("a", "other"))
    try:
        for table in ("events", "ad_spend"):
            assert table_hash(a, table) != table_hash(b, table), table
        assert table_hash(a, "channels") == table_hash(b, "channels")
    finally:
        a.close(), b.close()


# ---------------------------------------------------------------------------------- events & sessions

def test_size_and_range(db):
    n = db.execute("SELECT count(*) FROM events").fetchone()[0]
    assert 50_000 < n < 250_000          # ~ 2M * 0.25 * 22/91 expected
    lo, hi = db.execute("SELECT min(ts), max(ts) FROM events").fetchone()
    assert START <= lo < START + dt.timedelta(hours=1)
    assert END - dt.timedelta(hours=1) < hi < END


def test_nothing_at_or_after_end(db):
    for table in ("events", "ad_spend", "annotations"):
        assert db.execute(f"SELECT count(*) FROM {table} WHERE ts >= ?", [END]).fetchone()[0] == 0, table
    assert db.execute("SELECT count(*) FROM experiments WHERE start_ts >= ?", [END]).fetchone()[0] == 0


def test_session_attributes_are_constant_within_a_session(db):
    worst = db.execute("""
        SELECT max(c) FROM (
            SELECT greatest(count(DISTINCT channel), count(DISTINCT campaign), count(DISTINCT device),
                            count(DISTINCT region), count(DISTINCT user_id),
                            count(DISTINCT coalesce(experiment, '-')), count(DISTINCT coalesce(variant, '-'))) AS c
            FROM events GROUP BY session_id)""").fetchone()[0]
    assert worst == 1


def test_first_event_of_a_session_is_a_page_view(db):
    firsts = db.execute("""
        SELECT type, count(*) FROM (
            SELECT type, row_number() OVER (PARTITION BY session_id ORDER BY ts, event_id) AS k FROM events)
        WHERE k = 1 GROUP BY type""").fetchall()
    assert [t for t, _ in firsts] == ["page_view"]


def test_landing_page_and_funnel_pages(db):
    bad = db.execute("""
        SELECT count(*) FROM events WHERE NOT (
            (type = 'page_view' AND (page = '/' OR page LIKE '/category/%' OR page LIKE '/product/%'))
         OR (type = 'product_view' AND page LIKE '/product/%')
         OR (type = 'add_to_cart' AND page = '/cart') OR (type = 'checkout' AND page = '/checkout')
         OR (type = 'purchase' AND page = '/checkout/complete') OR (type = 'signup' AND page = '/signup'))
        """).fetchone()[0]
    assert bad == 0


def test_funnel_steps_are_in_time_order_within_a_session(db):
    bad = db.execute("""
        WITH s AS (SELECT session_id, min(ts) FILTER (WHERE type = 'product_view') AS pv,
                          min(ts) FILTER (WHERE type = 'add_to_cart') AS cart,
                          min(ts) FILTER (WHERE type = 'checkout') AS co,
                          min(ts) FILTER (WHERE type = 'purchase') AS pur FROM events GROUP BY 1)
        SELECT count(*) FROM s WHERE cart < pv OR co < cart OR pur < co""").fetchone()[0]
    assert bad == 0


@pytest.mark.parametrize("by", [None, "channel", "device"])
def test_funnel_is_monotone(sessions, by):
    reached = sessions.assign(page_view=True)
    groups = [("all", reached)] if by is None else list(reached.groupby(by))
    for name, g in groups:
        counts = [int(g[step].sum()) for step in FUNNEL]
        assert counts == sorted(counts, reverse=True), (name, counts)
        assert counts[-1] > 0, name


def test_at_most_one_purchase_per_session_and_step_counts(db):
    assert db.execute("""SELECT max(n) FROM (SELECT count(*) n FROM events WHERE type = 'purchase'
                         GROUP BY session_id)""").fetchone()[0] == 1
    assert db.execute("""SELECT max(n) FROM (SELECT count(*) n FROM events WHERE type IN ('add_to_cart', 'checkout')
                         GROUP BY session_id, type)""").fetchone()[0] == 1


def test_bounce_rate_and_gaps_are_realistic(db, sessions):
    bounce = (sessions.n == 1).mean()
    assert 0.40 <= bounce <= 0.55
    assert (sessions.loc[sessions.n == 1, "duration"] == pd.Timedelta(0)).all()
    gaps = db.execute("""SELECT median(g), quantile_cont(g, 0.05) FROM (
        SELECT epoch(ts - lag(ts) OVER (PARTITION BY session_id ORDER BY ts, event_id)) AS g FROM events)
        WHERE g IS NOT NULL""").fetchone()
    assert 10 <= gaps[0] <= 120 and gaps[1] >= 1


def test_purchases_have_revenue_and_unique_order_ids(db):
    row = db.execute("""SELECT count(*), count(DISTINCT order_id), count(order_id), min(revenue), avg(revenue)
                        FROM events WHERE type = 'purchase'""").fetchone()
    n, distinct, with_id, low, mean = row
    assert n > 100 and distinct == n == with_id and low > 0 and 70 <= mean <= 100
    assert db.execute("""SELECT count(*) FROM events WHERE type <> 'purchase'
                         AND (revenue IS NOT NULL OR order_id IS NOT NULL)""").fetchone()[0] == 0
    assert db.execute("SELECT count(DISTINCT event_id) = count(*) FROM events").fetchone()[0]


def test_mobile_converts_worse_than_desktop(sessions):
    rate = sessions.groupby("device").purchase.mean()
    assert rate["mobile"] < 0.8 * rate["desktop"]


def test_channels_convert_as_marketers_expect(sessions):
    rate = sessions.groupby("channel").purchase.mean()
    assert min(rate["email"], rate["direct"]) > max(rate["display"], rate["paid_social"], rate["organic_social"])
    social_mobile = (sessions[sessions.channel == "paid_social"].device == "mobile").mean()
    assert social_mobile > 0.65 > (sessions[sessions.channel == "paid_search"].device == "mobile").mean()


def test_returning_users_exist_and_depend_on_channel(sessions):
    s = sessions.sort_values("start")
    s["seen_before"] = s.duplicated("user_id")
    assert s.seen_before.mean() > 0.1
    share = s.groupby("channel").seen_before.mean()
    assert share["email"] > share["direct"] > share["paid_social"]
    multi_session_buyers = s[s.purchase].user_id.isin(s[s.seen_before & ~s.purchase].user_id).sum()
    assert multi_session_buyers > 0


def test_signups_happen_in_a_new_users_first_session(sessions):
    s = sessions.sort_values("start")
    first = ~s.duplicated("user_id")
    assert s.signup.sum() > 0
    assert (first[s.signup]).all()
    assert s[s.signup].user_id.is_unique


def test_campaign_values(db):
    rows = db.execute("""SELECT e.channel, e.campaign, c.channel AS campaign_channel, ch.paid
                         FROM (SELECT DISTINCT channel, campaign FROM events) e
                         JOIN channels ch ON ch.name = e.channel
                         LEFT JOIN campaigns c ON c.name = e.campaign""").df()
    none = rows.campaign == "(none)"
    assert (rows[~none].campaign_channel == rows[~none].channel).all()
    assert not rows[rows.paid].campaign.eq("(none)").any()
    assert set(rows[none].channel) == {"direct", "organic_search", "organic_social", "referral"}


def test_diurnal_curve_follows_local_time(db):
    offsets = {"US": -5, "UK": 0, "DE": 1, "FR": 1, "CN": 8, "JP": 9, "AU": 10}
    rows = db.execute("""SELECT region, hour(ts) AS h, count(DISTINCT session_id) AS n FROM events
                         GROUP BY ALL""").df()
    for region, g in rows.groupby("region"):
        local = (g.h + offsets[region]) % 24
        by_local = g.groupby(local).n.sum()
        assert by_local.idxmax() in range(18, 23), region
        assert by_local.idxmin() in range(2, 7), region


def test_holiday_lifts_traffic_in_its_region(db):
    # Double 11 (Nov 10-11, China) against the week after, relative to the US over the same days
    share = db.execute("""
        SELECT sum(CASE WHEN region = 'CN' THEN 1 ELSE 0 END) / sum(CASE WHEN region = 'US' THEN 1 ELSE 0 END) AS r,
               (ts + INTERVAL 8 HOUR)::DATE BETWEEN DATE '2026-11-10' AND DATE '2026-11-11' AS d11
        FROM (SELECT DISTINCT session_id, region, ts FROM events WHERE type = 'page_view' AND channel NOT IN
              (SELECT name FROM channels WHERE paid) AND ts BETWEEN TIMESTAMP '2026-11-09' AND TIMESTAMP '2026-11-19')
        GROUP BY d11""").df().set_index("d11").r
    assert share[True] > 1.8 * share[False]


# ---------------------------------------------------------------------------------- spend & budgets

def test_spend_only_on_paid_channels_and_every_paid_channel_spends(db):
    paid = {r[0] for r in db.execute("SELECT name FROM channels WHERE paid").fetchall()}
    assert paid == {"paid_search", "paid_social", "display", "affiliate", "video"}
    spend = dict(db.execute("SELECT channel, sum(cost) FROM ad_spend GROUP BY 1").fetchall())
    assert set(spend) == paid and min(spend.values()) > 0
    assert db.execute("SELECT count(*) FROM ad_spend WHERE cost < 0 OR clicks > impressions").fetchone()[0] == 0
    mismatch = db.execute("""SELECT count(*) FROM ad_spend a JOIN campaigns c ON c.name = a.campaign
                             WHERE c.channel <> a.channel""").fetchone()[0]
    assert mismatch == 0 and db.execute("SELECT count(*) FROM ad_spend WHERE campaign NOT IN "
                                        "(SELECT name FROM campaigns)").fetchone()[0] == 0


def test_clicks_track_sessions(db):
    rows = db.execute("""
        SELECT a.channel, sum(a.clicks) AS clicks, any_value(s.n) AS sessions FROM ad_spend a
        JOIN (SELECT channel, count(DISTINCT session_id) n FROM events GROUP BY 1) s USING (channel)
        GROUP BY a.channel""").df()
    ratio = rows.sessions / rows.clicks
    assert ratio.between(0.8, 0.97).all(), rows


def test_budgets_cover_every_month_and_the_next_and_are_near_actual_spend(db):
    months = {r[0] for r in db.execute("SELECT DISTINCT month FROM budgets").fetchall()}
    assert months == {dt.date(2026, 10, 1), dt.date(2026, 11, 1), dt.date(2026, 12, 1)}
    rows = db.execute("""
        WITH daily AS (SELECT channel, sum(cost) / count(DISTINCT ts::DATE) AS per_day FROM ad_spend
                       WHERE ts < TIMESTAMP '2026-11-20' GROUP BY 1)
        SELECT b.channel, b.planned / 30 AS planned_per_day, d.per_day FROM budgets b JOIN daily d USING (channel)
        WHERE b.month = DATE '2026-11-01'""").df()
    pacing = rows.per_day / rows.planned_per_day
    assert pacing.between(0.6, 1.6).all() and (rows.planned_per_day != rows.per_day).all()
    assert pacing.max() > 1 > pacing.min() and pacing.max() - pacing.min() > 0.1   # some over, some under


# ------------------------------------------------------------------------------------- ground truth

def test_ground_truth_topics_and_generator(truth):
    assert {"generator", "response_curves", "experiments", "funnel", "incidents"} <= set(truth)
    g = truth["generator"]
    assert (g["seed"], g["days"], g["scale"]) == (SEED, DAYS, SCALE)
    assert dt.datetime.fromisoformat(g["end"].rstrip("Z")) == END
    assert dt.datetime.fromisoformat(g["start"].rstrip("Z")) == START


def test_response_curves_match_the_paid_channels_and_are_valid(db, truth):
    paid = {r[0] for r in db.execute("SELECT name FROM channels WHERE paid").fetchall()}
    curves = truth["response_curves"]["channels"]
    assert set(curves) == paid
    for name, c in curves.items():
        assert 0 <= c["adstock_decay"] < 1 and c["hill_half_saturation"] > 0 and 0.5 <= c["hill_shape"] <= 3
        assert c["max_sessions_per_day"] > 0 and c["revenue_per_session"] > 0 and c["mean_daily_spend"] > 0
        assert c["max_revenue_per_day"] == pytest.approx(c["max_sessions_per_day"] * c["revenue_per_session"])
    thetas = {c["adstock_decay"] for c in curves.values()}
    assert max(thetas) >= 0.5 and min(thetas) <= 0.2


def _revenue(c, s):
    x = s / (1 - c["adstock_decay"])
    k, shape = c["hill_half_saturation"], c["hill_shape"]
    return c["revenue_per_session"] * c["max_sessions_per_day"] * x ** shape / (x ** shape + k ** shape)


def test_marginal_roas_is_the_derivative_of_the_stored_curve_and_allocation_is_suboptimal(db, truth):
    curves = truth["response_curves"]["channels"]
    daily = db.execute("""SELECT channel, sum(cost) / 21 FROM ad_spend WHERE ts < TIMESTAMP '2026-11-20'
                          GROUP BY 1""").fetchall()
    mroas = {}
    for channel, mean_spend in daily:
        c = curves[channel]
        assert c["mean_daily_spend"] == pytest.approx(mean_spend, rel=1e-3)
        s = c["mean_daily_spend"]
        numeric = (_revenue(c, s * 1.001) - _revenue(c, s * 0.999)) / (0.002 * s)
        assert c["marginal_roas_at_mean_spend"] == pytest.approx(numeric, rel=1e-4)
        mroas[channel] = numeric
    assert min(mroas.values()) < 0.8 and max(mroas.values()) > 3


def test_observed_paid_sessions_follow_the_true_curve(db, truth):
    curves = truth["response_curves"]["channels"]
    spend = db.execute("""SELECT channel, ts::DATE AS day, sum(cost) AS cost FROM ad_spend GROUP BY ALL""").df()
    spend = spend.pivot(index="day", columns="channel", values="cost").sort_index()
    observed = db.execute("""SELECT channel, min(ts)::DATE AS day FROM events GROUP BY session_id, channel""").df()
    observed = observed.groupby(["day", "channel"]).size().unstack()
    whole_days = spend.index[spend.index < pd.Timestamp(END.date())]
    total_expected = total_observed = 0.0
    for channel, c in curves.items():
        stock, expected = c["adstock_before_start"], []
        for cost in spend[channel]:
            stock = cost + c["adstock_decay"] * stock
            x = stock ** c["hill_shape"]
            expected.append(c["max_sessions_per_day"] * x / (x + c["hill_half_saturation"] ** c["hill_shape"]))
        expected = pd.Series(expected, index=spend.index)[whole_days].sum()
        got = observed[channel].reindex(whole_days).fillna(0).sum()
        assert abs(got - expected) < 4 * math.sqrt(expected) + 0.01 * expected, (channel, got, expected)
        total_expected += expected
        total_observed += got
    assert total_observed / total_expected == pytest.approx(1, abs=0.02)


def test_experiment_truth_matches_the_experiment_tables(db, truth):
    experiments = db.execute("SELECT name, control, start_ts, end_ts FROM experiments").df()
    variants = db.execute("SELECT experiment, variant, weight FROM experiment_variants").df()
    assert set(experiments.name) == set(truth["experiments"]) == {"checkout_redesign"}
    for name, t in truth["experiments"].items():
        stored = variants[variants.experiment == name].set_index("variant").weight.to_dict()
        assert {v["name"]: v["weight"] for v in t["variants"]} == pytest.approx(stored)
        assert sum(stored.values()) == pytest.approx(1)
        assert t["control"] == experiments.set_index("name").control[name] and t["control"] in stored
    row = experiments.set_index("name").loc["checkout_redesign"]
    assert pd.isna(row.end_ts) and row.start_ts == START        # began 35 days ago: clipped to the range


def test_every_session_in_the_window_is_exposed_by_user(db):
    unexposed = db.execute("""SELECT count(*) FROM events e, experiments x WHERE x.name = 'checkout_redesign'
                              AND e.ts >= x.start_ts + INTERVAL 1 HOUR AND e.experiment IS NULL""").fetchone()[0]
    assert unexposed == 0
    users = db.execute("""SELECT user_id, count(DISTINCT variant) AS k FROM events
                          WHERE experiment = 'checkout_redesign' GROUP BY 1""").df()
    share_multi = (users.k > 1).mean()
    assert 0.002 <= share_multi <= 0.007
    split = db.execute("""SELECT avg((variant = 'B')::INT) FROM (SELECT user_id, any_value(variant) AS variant
                          FROM events WHERE experiment = 'checkout_redesign' GROUP BY 1 HAVING count(DISTINCT variant) = 1)
                       """).fetchone()[0]
    assert 0.48 < split < 0.52


def test_observed_experiment_conversion_is_within_standard_errors_of_the_truth(db, truth):
    observed = db.execute("""
        SELECT any_value(variant) AS variant, bool_or(type = 'purchase') AS converted FROM events
        WHERE experiment = 'checkout_redesign' GROUP BY user_id HAVING count(DISTINCT variant) = 1""").df()
    t = truth["experiments"]["checkout_redesign"]
    assert t["exposed_users_single_variant"] == len(observed)
    rates = {}
    for v in t["variants"]:
        arm = observed[observed.variant == v["name"]].converted
        p = v["expected_conversion_rate_in_arm"]
        se = math.sqrt(p * (1 - p) / len(arm))
        assert abs(arm.mean() - p) < 4 * se, (v["name"], arm.mean(), p, se)
        assert abs(arm.mean() - v["expected_conversion_rate"]) < 5 * se
        rates[v["name"]] = v["expected_conversion_rate"]
    lift = next(v for v in t["variants"] if v["name"] == "B")["true_relative_lift"]
    assert lift == pytest.approx(rates["B"] / rates["A"] - 1)
    assert 0.06 < lift <= 0.1 + 1e-9          # +10% on P(purchase | checkout), diluted by repeat sessions


def test_incidents_are_in_range_and_visible(db, truth):
    incidents = {i["kind"]: i for i in truth["incidents"]}
    assert set(incidents) == {"checkout_outage", "tracking_drop"}
    outage = incidents["checkout_outage"]
    lo, hi = (dt.datetime.fromisoformat(outage[k].rstrip("Z")) for k in ("start", "end"))
    assert START <= lo < hi < END and dt.timedelta(hours=2) <= hi - lo <= dt.timedelta(hours=4)
    checkouts, purchases = db.execute("""SELECT count(*) FILTER (WHERE type = 'checkout'),
        count(*) FILTER (WHERE type = 'purchase') FROM events WHERE ts BETWEEN ? AND ?""", [lo, hi]).fetchone()
    normal = db.execute("""SELECT count(*) FILTER (WHERE type = 'purchase') / count(*) FILTER (WHERE type = 'checkout')
                           FROM events WHERE ts NOT BETWEEN ? AND ?""", [lo, hi]).fetchone()[0]
    assert checkouts >= 5 and purchases / checkouts < 0.3 * normal
    drop = incidents["tracking_drop"]
    lo, hi = (dt.datetime.fromisoformat(drop[k].rstrip("Z")) for k in ("start", "end"))
    share = db.execute("""SELECT avg((device = 'mobile')::INT) FILTER (WHERE ts BETWEEN ? AND ?),
        avg((device = 'mobile')::INT) FILTER (WHERE hour(ts) BETWEEN ? AND ? AND ts::DATE <> ?::DATE)
        FROM events WHERE event_id IN (SELECT arg_min(event_id, ts) FROM events GROUP BY session_id)""",
                       [lo, hi, lo.hour, hi.hour, lo]).fetchone()           # sessions by their start
    assert share[0] < 0.5 * share[1]
    kinds = db.execute("SELECT kind, count(*) FROM annotations WHERE source = 'generator' GROUP BY 1").df()
    assert kinds.set_index("kind")["count_star()"].get("incident") == 2


def test_annotations(db):
    rows = db.execute("SELECT * FROM annotations").df()
    assert set(rows.kind) == {"holiday", "campaign", "incident"} and (rows.source == "generator").all()
    d11 = rows[rows.text.str.contains("Double 11")]
    assert list(d11.region) == ["CN"]
    assert d11.ts.iloc[0] == pd.Timestamp("2026-11-09 16:00")         # midnight in China (UTC+8)
    launches = rows[rows.kind == "campaign"]
    assert launches.channel.notna().all() and launches.ts.between(START, END).all()


def test_holiday_calendar_has_real_dates():
    cal = demo_model.holiday_calendar(range(2024, 2028))
    def dates(name):
        return {h.start for h in cal if h.name == name}
    assert dates("Black Friday") == {dt.date(2024, 11, 29), dt.date(2025, 11, 28), dt.date(2026, 11, 27),
                                     dt.date(2027, 11, 26)}
    assert dates("Cyber Monday") == {dt.date(2024, 12, 2), dt.date(2025, 12, 1), dt.date(2026, 11, 30),
                                     dt.date(2027, 11, 29)}
    spring = {h.start + dt.timedelta(days=2) for h in cal if h.name == "Spring Festival"}
    assert spring == {dt.date(2024, 2, 10), dt.date(2025, 1, 29), dt.date(2026, 2, 17), dt.date(2027, 2, 6)}
    assert all(h.regions == ("CN",) for h in cal if "Double 11" in h.name or "618" in h.name)


def test_simulate_works_for_a_short_window():
    model = demo_model.default_model().scaled(0.2).anchored(END)
    day = demo_model.to_us(END) // demo_model.DAY_US
    rng = np.random.default_rng(1)
    spend = demo_model.plan_daily_spend(model, day, 1, rng)
    expected = demo_model.expected_paid_sessions(model, spend)
    lo = END - dt.timedelta(minutes=15)
    sim = demo_model.simulate(model, lo, END, rng, paid_sessions=expected, users_before=1000)
    assert len(sim.sessions) > 0
    assert sim.events.ts_us.min() >= demo_model.to_us(lo) and sim.events.ts_us.max() < demo_model.to_us(END)


# --------------------------------------------------------------------------------------------- CLI

def _cli(*args, env_extra=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("WAREHOUSE_URL", None)
    return subprocess.run([sys.executable, "-m", "data.generate", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_refuses_an_existing_warehouse_unless_replace(tmp_path):
    common = ["--data-dir", str(tmp_path), "--days", "2", "--scale", "0.05", "--end", "2026-03-01T12:00:00Z"]
    first = _cli(*common)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["rows"]["events"] > 0
    again = _cli(*common, "--seed", "8")
    assert again.returncode == 2 and "--replace" in again.stderr
    replaced = _cli(*common, "--seed", "8", "--replace")
    assert replaced.returncode == 0, replaced.stderr
    shown = _cli("--show-truth", "--data-dir", str(tmp_path))
    assert shown.returncode == 0 and json.loads(shown.stdout)["generator"]["seed"] == 8
    fresh = tmp_path / "fresh"
    assert _cli("--data-dir", str(fresh), *common[2:], "--seed", "8").returncode == 0
    conn = duckdb.connect(str(tmp_path / "pulse.duckdb"), read_only=True)
    other = duckdb.connect(str(fresh / "pulse.duckdb"), read_only=True)
    try:
        assert conn.execute("SELECT count(*) FROM ground_truth").fetchone()[0] == 5
        assert conn.execute("SELECT max(ts) < TIMESTAMP '2026-03-01 12:00' FROM events").fetchone()[0]
        for table in TABLES:                      # replacing leaves exactly what a fresh run writes
            assert table_hash(conn, table) == table_hash(other, table), table
    finally:
        conn.close(), other.close()

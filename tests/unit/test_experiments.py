"""A/B experiment statistics (analytics/experiments.py), counts (queries/experiments.py) and their JSON twin.

The statistics are checked against statsmodels' implementations and formulas worked by hand; the chance to
beat control against a Monte Carlo of Beta draws; the counts against pandas over the raw events; the
interval against the demo's known true effect (the `ground_truth` table)."""
from __future__ import annotations

import json
import math
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats._delta_method import NonlinearDeltaCov
from statsmodels.stats import proportion as sm_proportion  # a module: pytest would collect test_* names

import analytics.experiments as ax
from analytics.experiments import chance_to_beat, compare_variants, lift, sample_ratio_mismatch
from app import create_app
from data.validation import EVENT_COLUMNS
from queries.experiments import (check_metric, experiment_design, experiment_list, experiment_numbers,
                                 experiment_options, variant_counts, variant_funnels)
from queries.filters import FilterError, Filters
from tests import reference
from tests.conftest import END

# statsmodels 0.14.5 still uses pandas' deprecated docstring decorators
pytestmark = [pytest.mark.filterwarnings("ignore:Substitution is deprecated"),
              pytest.mark.filterwarnings("ignore:Appender is deprecated")]

# (control users, control conversions, treatment users, treatment conversions)
CASES = [(10_000, 500, 10_000, 560), (2_400, 120, 2_500, 95), (150, 33, 160, 47), (16_972, 526, 16_953, 607),
         (50_000, 1_510, 49_000, 1_380)]


def counts_table(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["variant", "weight", "users", "conversions"])


# ---------------------------------------------------------------------------------- fixed-horizon statistics

@pytest.mark.parametrize("n_c, x_c, n_t, x_t", CASES)
def test_absolute_lift_and_p_value_agree_with_statsmodels_wald(n_c, x_c, n_t, x_t):
    got = lift(n_c, x_c, n_t, x_t)
    low, high = sm_proportion.confint_proportions_2indep(x_t, n_t, x_c, n_c, method="wald", compare="diff", alpha=0.05)
    test = sm_proportion.test_proportions_2indep(x_t, n_t, x_c, n_c, method="wald", compare="diff")
    assert float(got["absolute_low"]) == pytest.approx(low, rel=1e-9)
    assert float(got["absolute_high"]) == pytest.approx(high, rel=1e-9)
    assert float(got["p_value"]) == pytest.approx(test.pvalue, rel=1e-9)
    assert float(got["absolute_lift"]) == pytest.approx(x_t / n_t - x_c / n_c, rel=1e-12)


@pytest.mark.parametrize("n_c, x_c, n_t, x_t", CASES)
def test_relative_lift_interval_agrees_with_statsmodels_delta_method(n_c, x_c, n_t, x_t):
    """statsmodels' generic delta method (numerical gradient) on r = p_t / p_c − 1 with the two rates'
    independent binomial variances."""
    p = np.array([x_t / n_t, x_c / n_c])
    cov = np.diag([p[0] * (1 - p[0]) / n_t, p[1] * (1 - p[1]) / n_c])
    delta = NonlinearDeltaCov(lambda q: np.atleast_1d(q[0] / q[1] - 1), p, cov)
    (low, high), = delta.conf_int(alpha=0.05)
    got = lift(n_c, x_c, n_t, x_t)
    assert float(got["relative_lift"]) == pytest.approx(delta.predicted()[0], rel=1e-9)
    assert float(got["relative_low"]) == pytest.approx(low, abs=5e-4, rel=1e-5)
    assert float(got["relative_high"]) == pytest.approx(high, abs=5e-4, rel=1e-5)


def test_a_case_worked_by_hand():
    """200 / 1000 against 250 / 1000. SE = sqrt(.25·.75/1000 + .2·.8/1000) = 0.0186414; z = 1.959964;
    diff CI 0.05 ± 0.036536; z-stat 0.05 / 0.0186414 = 2.6822, p = 0.00731. Relative: SE_r² =
    0.0001875 / 0.04 + 0.0625 · 0.00016 / 0.0016 = 0.0109375, SE_r = 0.104583, CI 0.25 ± 0.204978."""
    got = {k: float(v) for k, v in lift(1000, 200, 1000, 250).items()}
    assert round(got["absolute_low"], 4) == 0.0135 and round(got["absolute_high"], 4) == 0.0865
    assert round(got["p_value"], 4) == 0.0073
    assert round(got["relative_lift"], 3) == 0.250
    assert round(got["relative_low"], 3) == 0.045 and round(got["relative_high"], 3) == 0.455


def test_undefined_comparisons_are_nan_not_errors():
    assert math.isnan(float(lift(0, 0, 100, 5)["control_rate"]))            # no control users
    assert math.isnan(float(lift(100, 0, 100, 3)["relative_lift"]))      # no control conversions
    assert math.isnan(float(lift(100, 0, 100, 0)["p_value"]))            # no variance at all
    assert math.isnan(chance_to_beat(0, 0, 10, 1))
    result = compare_variants(counts_table(("A", 0.5, 100, 0), ("B", 0.5, 100, 3)), "A")
    assert result.variants.verdict[1] == "Not enough data yet to compare B with A."


# ---------------------------------------------------------------------------------- chance to beat control

@pytest.mark.parametrize("n_c, x_c, n_t, x_t", CASES + [(40, 1, 45, 4), (1000, 200, 1000, 250)])
def test_chance_to_beat_control_matches_monte_carlo_of_beta_posteriors(n_c, x_c, n_t, x_t):
    rng = np.random.default_rng(20261122)
    draws = 2_000_000
    control = rng.beta(1 + x_c, 1 + n_c - x_c, draws)
    treatment = rng.beta(1 + x_t, 1 + n_t - x_t, draws)
    # Monte Carlo standard error is at most 0.5 / sqrt(2e6) = 0.00035
    assert chance_to_beat(n_c, x_c, n_t, x_t) == pytest.approx((treatment > control).mean(), abs=0.002)


def test_chance_to_beat_is_complementary_and_half_for_equal_data():
    assert chance_to_beat(500, 20, 700, 35) + chance_to_beat(700, 35, 500, 20) == pytest.approx(1, abs=1e-9)
    assert chance_to_beat(800, 40, 800, 40) == pytest.approx(0.5, abs=1e-9)


def test_normal_approximation_for_huge_counts_agrees_with_the_exact_sum(monkeypatch):
    exact = chance_to_beat(400_000, 12_000, 400_000, 12_300)
    monkeypatch.setattr(ax, "EXACT_TERMS_LIMIT", 0)
    assert chance_to_beat(400_000, 12_000, 400_000, 12_300) == pytest.approx(exact, abs=1e-3)


# ---------------------------------------------------------------------------------- sample ratio mismatch

def test_srm_warns_on_5000_vs_5400_at_even_split_with_scipys_chi_squared_p():
    check = sample_ratio_mismatch(["A", "B"], [5000, 5400], [0.5, 0.5])
    chi2 = (5000 - 5200) ** 2 / 5200 + (5400 - 5200) ** 2 / 5200  # by hand: 15.3846
    assert check.chi2 == pytest.approx(chi2, rel=1e-12)
    assert check.p_value == pytest.approx(stats.chi2.sf(chi2, df=1), rel=1e-9)
    assert check.p_value < 0.001 and check.warning
    assert "5,000 / 5,400" in check.message and "50% / 50%" in check.message


def test_srm_is_quiet_when_the_split_matches_the_plan():
    check = sample_ratio_mismatch(["A", "B"], [5000, 5060], [0.5, 0.5])
    assert not check.warning and check.message == "" and check.p_value > 0.5
    three = sample_ratio_mismatch(["A", "B", "C"], [3400, 3290, 3310], [0.34, 0.33, 0.33])
    expected = np.array([0.34, 0.33, 0.33]) * 10_000
    chi2 = float((((np.array([3400, 3290, 3310]) - expected) ** 2) / expected).sum())
    assert three.p_value == pytest.approx(stats.chi2.sf(chi2, df=2), rel=1e-9) and not three.warning


def test_experiment_result_carries_the_srm_warning():
    result = compare_variants(counts_table(("A", 0.5, 5000, 250), ("B", 0.5, 5400, 300)), "A")
    assert result.sample_ratio.warning and result.sample_ratio.message.startswith("Sample ratio mismatch")


# ---------------------------------------------------------------------------------- sequential mode

@pytest.mark.parametrize("n_c, x_c, n_t, x_t", CASES)
@pytest.mark.parametrize("expected_users", [1000, 5000, 100_000])
def test_sequential_interval_contains_the_fixed_one(n_c, x_c, n_t, x_t, expected_users):
    fixed = lift(n_c, x_c, n_t, x_t)
    seq = lift(n_c, x_c, n_t, x_t, mode="sequential", expected_users=expected_users)
    for kind in ("absolute", "relative"):
        assert seq[f"{kind}_low"] < fixed[f"{kind}_low"] and seq[f"{kind}_high"] > fixed[f"{kind}_high"]
    assert seq["p_value"] >= fixed["p_value"]


def test_sequential_interval_follows_the_published_formula():
    """Waudby-Smith et al. (2023) eq. 161 / GrowthBook: ρ² = (−2 ln α + ln(1 − 2 ln α)) / N*; half-width
    σ · sqrt(2(Nρ² + 1) / (N²ρ²) · ln(sqrt(Nρ² + 1) / α)) with σ² = N · SE²; here by hand for
    200/1000 vs 250/1000, N* = 5000."""
    alpha, n, n_star = 0.05, 2000, 5000
    rho2 = (-2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))) / n_star
    se = math.sqrt(0.25 * 0.75 / 1000 + 0.2 * 0.8 / 1000)
    half = math.sqrt(n) * se * math.sqrt(2 * (n * rho2 + 1) / (n**2 * rho2) * math.log(math.sqrt(n * rho2 + 1) / alpha))
    got = lift(1000, 200, 1000, 250, mode="sequential", expected_users=n_star)
    assert float(got["absolute_high"]) - 0.05 == pytest.approx(half, rel=1e-9)


def test_peeking_daily_inflates_fixed_false_positives_but_not_sequential_ones():
    """A/A test (both arms convert at 5 %), 1000 users per arm a day, looked at every day for 20 days;
    'significant' at any look counts as a false positive."""
    rng = np.random.default_rng(7)
    reps, looks, per_day, rate = 1000, 20, 1000, 0.05
    users = per_day * np.arange(1, looks + 1)
    control = rng.binomial(per_day, rate, (reps, looks)).cumsum(axis=1)
    treatment = rng.binomial(per_day, rate, (reps, looks)).cumsum(axis=1)
    fixed = lift(users, control, users, treatment)
    seq = lift(users, control, users, treatment, mode="sequential", expected_users=2 * users[-1])
    fixed_any = (fixed["p_value"] < 0.05).any(axis=1).mean()
    seq_any = (seq["p_value"] < 0.05).any(axis=1).mean()
    assert 0.02 < (fixed["p_value"][:, -1] < 0.05).mean() < 0.08   # one look: about 5 %, as promised
    assert fixed_any > 0.15                                         # twenty looks: far above 5 %
    assert seq_any <= 0.05
    # the always-valid p-value and the confidence sequence tell the same story
    excludes_zero = (seq["absolute_low"] > 0) | (seq["absolute_high"] < 0)
    assert np.array_equal(excludes_zero, seq["p_value"] < 0.05)


def test_mode_is_explicit_and_checked():
    table = counts_table(("A", 0.5, 10_000, 500), ("B", 0.5, 10_000, 600))
    assert compare_variants(table, "A").mode == "fixed"
    seq = compare_variants(table, "A", mode="sequential")
    assert seq.mode == "sequential" and "always valid" in seq.mode_description
    assert "95% sequential CI" in seq.variants.verdict[1]
    with pytest.raises(ValueError):
        compare_variants(table, "A", mode="bayesian")


# ---------------------------------------------------------------------------------- verdicts

def test_verdicts_in_words():
    table = counts_table(("B", 0.34, 1000, 250), ("A", 0.33, 1000, 200), ("C", 0.33, 1000, 190))
    result = compare_variants(table, "A")
    rows = result.variants.set_index("variant")
    assert list(result.variants.variant) == ["A", "B", "C"]  # control first
    assert rows.verdict["A"] == "A is the control."
    assert rows.verdict["B"] == "B converts 25.0% better (95% CI 4.5% to 45.5%), chance to beat A 99.6%"
    assert rows.verdict["C"] == ("No clear difference yet: C converts 5.0% worse (95% CI -21.9% to 11.9%), "
                                 "chance to beat A 28.6%")
    worse = compare_variants(counts_table(("A", 0.5, 4000, 400), ("B", 0.5, 4000, 320)), "A").variants
    assert worse.verdict[1] == "B converts 20.0% worse (95% CI -31.2% to -8.8%), chance to beat A <0.1%"


# ---------------------------------------------------------------------------------- on the demo warehouse

def _truth(warehouse) -> dict:
    with warehouse.driver_connection() as conn:
        return json.loads(conn.execute("SELECT body FROM ground_truth WHERE topic = 'experiments'").fetchone()[0])


def _experiment_start(warehouse, name) -> datetime:
    with warehouse.driver_connection() as conn:
        return conn.execute("SELECT start_ts FROM experiments WHERE name = ?", [name]).fetchone()[0]


def test_demo_counts_equal_pandas_over_raw_events(warehouse, raw):
    design = experiment_design(warehouse, "checkout_redesign")
    lo, hi = datetime(2026, 10, 1), END
    counts = variant_counts(warehouse, design, Filters(), lo, hi)
    expected, multi, _ = reference.experiment_counts(raw["events"], "checkout_redesign",
                                                     max(lo, _experiment_start(warehouse, "checkout_redesign")), hi)
    got = counts.variants.set_index("variant")
    assert got.users.to_dict() == expected.users.to_dict()
    assert got.conversions.to_dict() == expected.conversions.to_dict()
    assert counts.multi_variant_users == multi > 0
    truth = _truth(warehouse)["checkout_redesign"]  # the generator's own count of single / multi users
    assert counts.multi_variant_users == truth["exposed_users_multi_variant"]
    assert got.users.sum() == truth["exposed_users_single_variant"]


def test_demo_counts_under_filters_and_a_partial_range(warehouse, raw):
    design = experiment_design(warehouse, "checkout_redesign")
    lo, hi = datetime(2026, 11, 6, 7, 30), datetime(2026, 11, 17, 18)
    dims = {"channel": ("email", "paid_search", "direct"), "device": ("mobile", "desktop")}
    counts = variant_counts(warehouse, design, Filters(**dims), lo, hi, metric="add_to_cart")
    expected, multi, funnel = reference.experiment_counts(
        raw["events"], "checkout_redesign", lo, hi, "add_to_cart",
        steps=("page_view", "product_view", "add_to_cart", "checkout", "purchase"), **dims)
    got = counts.variants.set_index("variant")
    assert got.users.to_dict() == expected.users.to_dict()
    assert got.conversions.to_dict() == expected.conversions.to_dict()
    assert counts.multi_variant_users == multi
    funnels = variant_funnels(warehouse, design, Filters(**dims), lo, hi)
    for variant, reached in funnel.items():
        assert funnels[funnels.variant == variant].users.tolist() == reached


def test_demo_true_effect_lies_inside_the_reported_interval(warehouse):
    truth = _truth(warehouse)["checkout_redesign"]
    true_b = next(v for v in truth["variants"] if v["name"] == "B")
    design = experiment_design(warehouse, "checkout_redesign")
    counts = variant_counts(warehouse, design, Filters(), datetime(2026, 10, 1), END, metric="purchase")
    for mode in ("fixed", "sequential"):
        b = compare_variants(counts.variants, design.control, mode=mode).variants.set_index("variant").loc["B"]
        assert b.relative_low < true_b["true_relative_lift"] < b.relative_high, mode
        assert b.absolute_low < true_b["true_absolute_lift"] < b.absolute_high, mode


def test_demo_funnel_ends_where_the_purchase_counts_do(warehouse):
    design = experiment_design(warehouse, "checkout_redesign")
    lo = datetime(2026, 10, 1)
    counts = variant_counts(warehouse, design, Filters(), lo, END).variants.set_index("variant")
    funnels = variant_funnels(warehouse, design, Filters(), lo, END)
    for variant, steps in funnels.groupby("variant"):
        steps = steps.set_index("step")
        assert steps.users["page_view"] == counts.users[variant]  # every exposure starts with a page view
        assert steps.users["purchase"] <= counts.conversions[variant]
        assert steps.users.is_monotonic_decreasing


def test_range_outside_the_experiment_and_bad_metric(warehouse):
    design = experiment_design(warehouse, "checkout_redesign")
    before = variant_counts(warehouse, design, Filters(), datetime(2026, 9, 1), datetime(2026, 9, 8))
    assert before.variants.users.tolist() == [0, 0] and before.multi_variant_users == 0
    with pytest.raises(FilterError) as error:
        variant_counts(warehouse, design, Filters(), datetime(2026, 11, 1), END, metric="buy")
    assert error.value.field == "metric" and error.value.value == "buy"
    assert check_metric(None) == "purchase"
    assert experiment_design(warehouse, "no_such_test") is None
    assert "checkout_redesign" in set(experiment_list(warehouse).name)


# ---------------------------------------------------------------------------------- JSON twin

def test_api_returns_the_functions_numbers(warehouse):
    client = create_app(warehouse).server.test_client()
    listing = client.get("/api/v1/experiments").get_json()["experiments"]
    assert {"name": "checkout_redesign", "control": "A", "variants": ["A", "B"]}.items() <= \
        next(e for e in listing if e["name"] == "checkout_redesign").items()
    lo, hi = datetime(2026, 11, 1), datetime(2026, 11, 20, 12)
    query = "from=2026-11-01T00:00:00Z&to=2026-11-20T12:00:00Z&device=mobile&metric=checkout&mode=sequential"
    response = client.get("/api/v1/experiments/checkout_redesign?" + query)
    assert response.status_code == 200
    body = response.get_json()
    design = experiment_design(warehouse, "checkout_redesign")
    filters = Filters(device=("mobile",))
    counts = variant_counts(warehouse, design, filters, lo, hi, metric="checkout")
    result = compare_variants(counts.variants, "A", mode="sequential")
    assert body["mode"] == "sequential" and body["metric"] == "checkout" and body["filters"] == {"device": ["mobile"]}
    assert body["multi_variant_users"] == counts.multi_variant_users
    assert body["sample_ratio"]["p_value"] == pytest.approx(result.sample_ratio.p_value, rel=1e-12)
    for got, want in zip(body["variants"], result.variants.to_dict("records")):
        assert got["variant"] == want["variant"] and got["verdict"] == want["verdict"]
        for key in ("users", "conversions", "rate", "relative_low", "relative_high", "p_value",
                    "chance_to_beat_control"):
            assert (got[key] is None and pd.isna(want[key])) or got[key] == pytest.approx(want[key], rel=1e-12)
    funnel = variant_funnels(warehouse, design, filters, lo, hi)
    assert [r["users"] for r in body["funnel"]] == funnel.users.tolist()
    assert client.get("/api/v1/experiments/checkout_redesign?" + query.replace("sequential", "fixed")
                      ).get_json()["mode"] == "fixed"


def test_api_errors_name_the_problem(warehouse):
    client = create_app(warehouse).server.test_client()
    missing = client.get("/api/v1/experiments/no_such_test")
    assert missing.status_code == 404 and "no_such_test" in missing.get_json()["error"]
    for field, value in (("metric", "buy"), ("mode", "bayesian")):
        bad = client.get(f"/api/v1/experiments/checkout_redesign?{field}={value}")
        assert bad.status_code == 400
        assert bad.get_json()["field"] == field and bad.get_json()["value"] == value


def test_page_and_api_read_metric_and_mode_alike():
    assert experiment_options(Filters.from_query(""), ax.MODES) == ("purchase", "fixed")
    assert experiment_options(Filters.from_query("metric=checkout&mode=fixed&mode=sequential"), ax.MODES) == \
        ("checkout", "sequential")  # a repeated key: the last one wins, as for the filters
    with pytest.raises(FilterError) as error:
        experiment_options(Filters.from_query("mode=banana"), ax.MODES)
    assert (error.value.field, error.value.value) == ("mode", "banana")


def test_api_default_range_is_the_pages(warehouse):
    body = create_app(warehouse).server.test_client().get("/api/v1/experiments/checkout_redesign").get_json()
    span = datetime.fromisoformat(body["to"].rstrip("Z")) - datetime.fromisoformat(body["from"].rstrip("Z"))
    assert span.days == 90


def test_a_users_first_exposure_is_ordered_by_time_then_event_id_and_two_variants_exclude(tmp_path):
    """Hand-worked: u1 is exposed twice at the same instant, in an email session (event e00001) and a
    direct one (e00002): the first exposure is e00001's, so u1 counts under channel=email only. u2 saw A
    then B: excluded and counted apart. u3 saw B and bought after it."""
    from datetime import timedelta
    from tests.unit.test_funnel import build_warehouse, event
    t = datetime(2026, 11, 10, 9)

    def exposure(n, ts, user, session, channel, variant):
        return event(n, ts, "page_view", user, session, channel) | {"experiment": "hand", "variant": variant}

    rows = [exposure(2, t, "u1", "s2", "direct", "A"), exposure(1, t, "u1", "s1", "email", "A"),
            exposure(3, t, "u2", "s3", "email", "A"), exposure(4, t + timedelta(minutes=5), "u2", "s3", "email", "B"),
            exposure(5, t, "u3", "s4", "email", "B"), event(6, t + timedelta(minutes=9), "purchase", "u3", "s4")]
    wh = build_warehouse(tmp_path / "w.duckdb", rows)
    with wh.driver_connection() as conn:
        conn.execute("INSERT INTO experiments (name, description, control, start_ts, end_ts) "
                     "VALUES ('hand', '', 'A', ?, NULL)", [t - timedelta(days=1)])
        conn.execute("INSERT INTO experiment_variants VALUES ('hand', 'A', 0.5), ('hand', 'B', 0.5)")
    design = experiment_design(wh, "hand")
    window = (t - timedelta(hours=1), t + timedelta(hours=1))

    def users(**dims):
        counts = variant_counts(wh, design, Filters(**dims), *window)
        return counts.variants.set_index("variant")[["users", "conversions"]].to_dict("index"), counts.multi_variant_users
    assert users() == ({"A": {"users": 1, "conversions": 0}, "B": {"users": 1, "conversions": 1}}, 1)
    assert users(channel=("email",))[0]["A"]["users"] == 1
    assert users(channel=("direct",))[0]["A"]["users"] == 0
    wh.dispose()


def test_a_closed_window_is_computed_once_until_a_late_event_reaches_into_it(writable):
    """With the server's result cache, a window that has closed is read from the cache; a late purchase
    inside it (here by an exposed user of B who had not converted) is counted at once."""
    wh, client = writable
    design = experiment_design(wh, "checkout_redesign")
    lo, hi = datetime(2026, 11, 18), datetime(2026, 11, 19, 12)  # closed: the data runs to 11-20 12:00
    steps = ("page_view", "product_view", "add_to_cart", "checkout", "purchase")

    def expected():
        events = wh.read("SELECT * FROM events")
        summary, multi, funnel = reference.experiment_counts(events, "checkout_redesign", lo, hi, steps=steps)
        return summary, funnel, events

    def check(numbers, summary, funnel):
        got = numbers.counts.variants.set_index("variant")
        assert got.users.to_dict() == summary.users.to_dict()
        assert got.conversions.to_dict() == summary.conversions.to_dict()
        for variant, counts in funnel.items():
            assert numbers.funnels[numbers.funnels.variant == variant].users.tolist() == counts

    summary, funnel, events = expected()
    check(experiment_numbers(wh, design, Filters(), lo, hi), summary, funnel)
    misses = wh.results.misses
    check(experiment_numbers(wh, design, Filters(), lo, hi), summary, funnel)
    assert wh.results.misses == misses                           # the second time from the cache

    exposures = events[(events.experiment == "checkout_redesign") & (events.ts >= lo) & (events.ts < hi)]
    variants = exposures.groupby("user_id").variant.agg(set)
    bought = set(events[(events.type == "purchase") & (events.ts < hi)].user_id)
    user = next(u for u, seen in variants.items() if seen == {"B"} and u not in bought)
    first = exposures[exposures.user_id == user].sort_values(["ts", "event_id"]).iloc[0]
    late = first.to_frame().T.assign(event_id="late-purchase", type="purchase", ts=first.ts + pd.Timedelta(minutes=1),
                                     order_id="late-order", revenue=42.0, experiment=None, variant=None)
    client.application.extensions["pulse.writer"].write("events", late[list(EVENT_COLUMNS)].reset_index(drop=True))
    summary_after, funnel_after, _ = expected()
    assert summary_after.conversions["B"] == summary.conversions["B"] + 1
    check(experiment_numbers(wh, design, Filters(), lo, hi), summary_after, funnel_after)

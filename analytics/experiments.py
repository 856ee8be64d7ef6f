"""A/B experiment statistics on per-variant counts (users exposed, users converted): pure functions, no I/O.

Every treatment variant is compared with the control on its own (no correction for several variants):

- **Conversion rate** p = conversions / users.
- **Absolute lift** d = p_t − p_c with the unpooled ("Welch") normal interval
  d ± z·SE, SE² = p_t(1 − p_t)/n_t + p_c(1 − p_c)/n_c: the Wald interval of
  `statsmodels.stats.proportion.confint_proportions_2indep(method="wald", compare="diff")`.
- **Two-sided p-value** of d with the same SE, z = d / SE, p = 2·(1 − Φ(|z|)): the Wald test of
  `statsmodels.stats.proportion.test_proportions_2indep(method="wald", compare="diff")`.
- **Relative lift** r = p_t / p_c − 1 with the delta-method interval r ± z·SE_r,
  SE_r² = SE_t² / p_c² + p_t² · SE_c² / p_c⁴ (first-order Taylor expansion of p_t / p_c; the relative
  interval of GrowthBook's frequentist engine).
- **Chance to beat control** P(p_t > p_c) under independent Beta(1 + x, 1 + n − x) posteriors (uniform
  priors), computed exactly with Evan Miller's closed form ("Formulas for Bayesian A/B testing", 2015):
  P = Σ_{i=0}^{α_t−1} B(α_c + i, β_c + β_t) / ((β_t + i) · B(1 + i, β_t) · B(α_c, β_c)), summed in log
  space; above `EXACT_TERMS_LIMIT` conversions on both sides, the normal approximation of the two Betas.
  It is the same in both modes: a posterior does not depend on how often it was looked at.
- **Sample ratio mismatch** (SRM): Pearson's chi-squared test of the users per variant against the
  configured weights (`scipy.stats.chisquare`); a warning when p < `SRM_THRESHOLD` (0.001, the usual
  threshold: a real assignment bug, not bad luck).

Modes (`MODES`):

- `fixed`: the intervals and p-value above, valid when the experiment is read once, at a sample size fixed
  in advance. Peeking every day and stopping at the first "significant" day inflates false positives.
- `sequential`: an always-valid (anytime-valid) confidence sequence, safe to look at after every day. The
  asymptotic normal-mixture confidence sequence of Howard, Ramdas, McAuliffe & Sekhon (2021, Ann. Statist.
  49(2)) in the two-sided asymptotic form of Waudby-Smith et al. ("Time-uniform central limit theory and
  asymptotic confidence sequences", 2023), as GrowthBook's "sequential testing" uses it. With N the users
  of the two variants compared, σ̂² = N · SE² and ρ tuned to be tightest at N* expected users,
      half-width = σ̂ · sqrt( 2(Nρ² + 1) / (N²ρ²) · ln( sqrt(Nρ² + 1) / α ) ),
      ρ = sqrt( (−2 ln α + ln(−2 ln α + 1)) / N* ),
  and the always-valid p-value is its dual (the inverse of the mixture e-value), so p < α exactly when the
  interval excludes 0:  p = min(1, sqrt(Nρ² + 1) · exp(−ρ² · N · d² / (2 SE² (Nρ² + 1)))).
  N* defaults to GrowthBook's 5000 (`DEFAULT_EXPECTED_USERS`); it must be chosen before the data are seen.
  The sequence is always wider than the fixed interval.

The verdict sentence quotes the relative lift and its interval and calls a variant better or worse only when
that interval excludes 0. (The p-value tests the absolute difference; in a narrow band around significance
the two can disagree, because the ratio's interval also carries the control's noise.)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

MODES = ("fixed", "sequential")
MODE_DESCRIPTIONS = {
    "fixed": "Fixed horizon: read the result once, at the sample size planned in advance.",
    "sequential": "Sequential (always valid): safe to check every day; intervals are wider to pay for it.",
}
SRM_THRESHOLD = 0.001
DEFAULT_EXPECTED_USERS = 5000  # GrowthBook's default tuning of the confidence sequence
EXACT_TERMS_LIMIT = 1_000_000  # Evan Miller's sum has one term per conversion of one side


# ---------------------------------------------------------------------------------- one comparison

def lift(control_users, control_conversions, users, conversions, *, confidence: float = 0.95,
         mode: str = "fixed", expected_users: float = DEFAULT_EXPECTED_USERS) -> dict[str, np.ndarray]:
    """Treatment against control, element-wise over arrays (or scalars) of counts.

    Returns arrays: rate, control_rate, absolute_lift, absolute_low, absolute_high, relative_lift,
    relative_low, relative_high, p_value. NaN where undefined (no users; no control conversions for the
    relative lift; no variance at all for the p-value)."""
    _check_mode(mode)
    n_c, x_c, n_t, x_t = (np.asarray(v, dtype=float) for v in (control_users, control_conversions, users, conversions))
    with np.errstate(divide="ignore", invalid="ignore"):
        p_c, p_t = x_c / n_c, x_t / n_t
        var_c, var_t = p_c * (1 - p_c) / n_c, p_t * (1 - p_t) / n_t
        diff = p_t - p_c
        se_diff = np.sqrt(var_t + var_c)
        # no control conversions: "x% better than nothing" is undefined, not infinite
        relative = np.where(p_c > 0, p_t / p_c - 1, np.nan)
        se_relative = np.where(p_c > 0, np.sqrt(var_t / p_c**2 + p_t**2 * var_c / p_c**4), np.nan)
        if mode == "fixed":
            z = stats.norm.ppf(0.5 + confidence / 2)
            half_diff, half_relative = z * se_diff, z * se_relative
            p_value = 2 * stats.norm.sf(np.abs(diff) / se_diff)
        else:
            total = n_c + n_t
            half_diff = sequential_halfwidth(se_diff, total, confidence, expected_users)
            half_relative = sequential_halfwidth(se_relative, total, confidence, expected_users)
            p_value = sequential_p_value(diff, se_diff, total, confidence, expected_users)
    return {
        "rate": p_t, "control_rate": p_c,
        "absolute_lift": diff, "absolute_low": diff - half_diff, "absolute_high": diff + half_diff,
        "relative_lift": relative, "relative_low": relative - half_relative, "relative_high": relative + half_relative,
        "p_value": np.where(se_diff > 0, p_value, np.nan),
    }


def sequential_rho(confidence: float, expected_users: float) -> float:
    """The mixing parameter ρ that makes the confidence sequence tightest at `expected_users`
    (Waudby-Smith et al. 2023, eq. 161; GrowthBook's `sequential_tuning_parameter`)."""
    if expected_users <= 0:
        raise ValueError(f"expected_users must be positive, got {expected_users!r}")
    log_alpha = np.log(1 - confidence)
    return float(np.sqrt((-2 * log_alpha + np.log(-2 * log_alpha + 1)) / expected_users))


def sequential_halfwidth(se, total_users, confidence: float = 0.95,
                         expected_users: float = DEFAULT_EXPECTED_USERS):
    """Half-width of the always-valid interval around an estimate with standard error `se` from
    `total_users` users (module docstring)."""
    rho = sequential_rho(confidence, expected_users)
    n = np.asarray(total_users, dtype=float)
    spread = n * rho**2 + 1
    sigma = np.asarray(se, dtype=float) * np.sqrt(n)  # per-user standard deviation
    return sigma * np.sqrt(2 * spread / (n * rho) ** 2 * np.log(np.sqrt(spread) / (1 - confidence)))


def sequential_p_value(estimate, se, total_users, confidence: float = 0.95,
                       expected_users: float = DEFAULT_EXPECTED_USERS):
    """Always-valid two-sided p-value of estimate = 0: the inverse of the normal-mixture e-value
    (Waudby-Smith et al. 2023, eq. 155). It is below 1 − confidence exactly when the sequence excludes 0."""
    rho = sequential_rho(confidence, expected_users)
    n = np.asarray(total_users, dtype=float)
    spread = n * rho**2 + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        z_squared = (np.asarray(estimate, dtype=float) / np.asarray(se, dtype=float)) ** 2
    log_evidence = rho**2 * n * z_squared / (2 * spread) - 0.5 * np.log(spread)
    return np.minimum(1.0, np.exp(-log_evidence))


def chance_to_beat(control_users: int, control_conversions: int, users: int, conversions: int) -> float:
    """P(treatment's true rate > control's) under Beta(1 + x, 1 + n − x) posteriors: Evan Miller's exact
    sum (module docstring), over whichever side has fewer conversions; the normal approximation when
    both have more than `EXACT_TERMS_LIMIT`. NaN when either side has no users."""
    if control_users <= 0 or users <= 0:
        return float("nan")
    a_c, b_c = 1 + control_conversions, 1 + control_users - control_conversions
    a_t, b_t = 1 + conversions, 1 + users - conversions
    if min(a_c, a_t) > EXACT_TERMS_LIMIT:
        return _chance_to_beat_normal(a_c, b_c, a_t, b_t)
    if a_t <= a_c:
        return _miller_sum(a_c, b_c, a_t, b_t)
    return 1.0 - _miller_sum(a_t, b_t, a_c, b_c)  # the posteriors are continuous: no ties


def _miller_sum(a_a: int, b_a: float, a_b: int, b_b: float) -> float:
    """P(p_B > p_A), p_A ~ Beta(a_a, b_a), p_B ~ Beta(a_b, b_b), integer a_b (Evan Miller 2015)."""
    i = np.arange(a_b, dtype=float)
    terms = (special.betaln(a_a + i, b_a + b_b) - np.log(b_b + i) - special.betaln(1 + i, b_b)
             - special.betaln(a_a, b_a))
    return float(np.clip(np.exp(special.logsumexp(terms)), 0.0, 1.0))


def _chance_to_beat_normal(a_c, b_c, a_t, b_t) -> float:
    def mean_var(a, b):
        return a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
    (m_c, v_c), (m_t, v_t) = mean_var(a_c, b_c), mean_var(a_t, b_t)
    return float(stats.norm.cdf((m_t - m_c) / np.sqrt(v_c + v_t)))


# ---------------------------------------------------------------------------------- sample ratio

@dataclass(frozen=True)
class SampleRatioCheck:
    chi2: float
    p_value: float
    warning: bool
    message: str


def sample_ratio_mismatch(variants, users, weights, threshold: float = SRM_THRESHOLD) -> SampleRatioCheck:
    """Pearson's chi-squared of users per variant against the planned weights (normalised to sum to 1).
    Undefined (NaN, no warning) with fewer than two weighted variants or no users."""
    users = np.asarray(users, dtype=float)
    weights = np.asarray(weights, dtype=float)
    if len(users) < 2 or users.sum() <= 0 or np.any(weights <= 0):
        return SampleRatioCheck(float("nan"), float("nan"), False, "")
    expected = users.sum() * weights / weights.sum()
    chi2, p_value = stats.chisquare(users, f_exp=expected)
    warning = bool(p_value < threshold)
    message = _srm_message(variants, users, weights / weights.sum(), p_value) if warning else ""
    return SampleRatioCheck(float(chi2), float(p_value), warning, message)


def _srm_message(variants, users, shares, p_value) -> str:
    split = " / ".join(f"{int(n):,}" for n in users)
    planned = " / ".join(f"{s:.0%}" for s in shares)
    return (f"Sample ratio mismatch: users split {split} across {' / '.join(variants)} where {planned} was "
            f"planned (p = {p_value:.2g}). Assignment or tracking is likely broken; do not trust the results "
            "below until it is explained.")


# ---------------------------------------------------------------------------------- the whole experiment

@dataclass(frozen=True)
class ExperimentResult:
    control: str
    mode: str
    mode_description: str
    confidence: float
    expected_users: float
    variants: pd.DataFrame      # one row per variant, control first (columns: `compare_variants`)
    sample_ratio: SampleRatioCheck


def compare_variants(counts: pd.DataFrame, control: str, *, mode: str = "fixed", confidence: float = 0.95,
                     expected_users: float = DEFAULT_EXPECTED_USERS) -> ExperimentResult:
    """Every variant against `control`. `counts` has columns variant, weight, users, conversions.

    `variants` has, per variant: variant, weight, users, conversions, rate, is_control, absolute_lift,
    absolute_low, absolute_high, relative_lift, relative_low, relative_high, p_value,
    chance_to_beat_control, significant, verdict. The control's comparison columns are NaN."""
    _check_mode(mode)
    table = counts[["variant", "weight", "users", "conversions"]].reset_index(drop=True)
    if control not in set(table["variant"]):
        raise ValueError(f"control {control!r} is not among the variants {list(table['variant'])}")
    table = pd.concat([table[table.variant == control], table[table.variant != control]], ignore_index=True)
    base = table.iloc[0]
    numbers = lift(base.users, base.conversions, table.users, table.conversions, confidence=confidence,
                   mode=mode, expected_users=expected_users)
    out = table.assign(rate=numbers["rate"], is_control=table.variant == control)
    for column in ("absolute_lift", "absolute_low", "absolute_high", "relative_lift", "relative_low",
                   "relative_high", "p_value"):
        out[column] = np.where(out.is_control, np.nan, numbers[column])
    out["chance_to_beat_control"] = [
        np.nan if row.is_control else chance_to_beat(base.users, base.conversions, row.users, row.conversions)
        for row in out.itertuples()]
    out["significant"] = ~out.is_control & ((out.relative_low > 0) | (out.relative_high < 0))
    out["verdict"] = [verdict(row, control, mode, confidence) for row in out.itertuples()]
    check = sample_ratio_mismatch(list(out.variant), out.users, out.weight)
    return ExperimentResult(control, mode, MODE_DESCRIPTIONS[mode], confidence, expected_users, out, check)


def verdict(row, control: str, mode: str = "fixed", confidence: float = 0.95) -> str:
    """One variant's result in words, e.g. 'B converts 6.2% better (95% CI 1.1% to 11.3%), chance to beat
    A 98.9%'. `row` has variant, is_control, relative_lift/low/high, chance_to_beat_control, significant."""
    if row.is_control:
        return f"{row.variant} is the control."
    if not np.isfinite([row.relative_lift, row.relative_low, row.relative_high]).all():
        return f"Not enough data yet to compare {row.variant} with {control}."
    direction = "better" if row.relative_lift >= 0 else "worse"
    label = f"{confidence:.0%} {'sequential ' if mode == 'sequential' else ''}CI"
    sentence = (f"{row.variant} converts {abs(row.relative_lift):.1%} {direction} "
                f"({label} {row.relative_low:.1%} to {row.relative_high:.1%}), "
                f"chance to beat {control} {_chance(row.chance_to_beat_control)}")
    return sentence if row.significant else "No clear difference yet: " + sentence


def _chance(probability: float) -> str:
    # 99.96% would round to a misleading "100.0%": nothing here is certain.
    if probability > 0.999:
        return ">99.9%"
    if probability < 0.001:
        return "<0.1%"
    return f"{probability:.1%}"


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")

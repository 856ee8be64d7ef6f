"""Media-mix model: for data without event-level attribution, the total outcome per period explained as

    outcome(t) = baseline + trend * t / T + seasonality(t) + sum_j gamma_j * control_j(t)
                 + sum_i beta_i * hill(adstock(spend_i, theta_i)(t), K_i, S_i) + noise

with seasonality a Fourier series of the year (order 2; daily data adds the week, order 3). Every term but
the channels' (theta, K, S) enters linearly, so those are solved exactly for each trial of the nonlinear
ones (bounded linear least squares, beta_i ≥ 0): the search is over 3 numbers per channel, with scipy's
bounded least squares from a few starting points. Fit quality and uncertainty as for the single-channel
curves (analytics/response.py): R², MAPE on the last ~20% held out, a block bootstrap of the residuals.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import least_squares, lsq_linear

from analytics.response import (DECAY_BOUNDS, HOLDOUT_SHARE, RELATIVE_K_BOUNDS, SHAPE_BOUNDS, Curve, _hill,
                                adstock)

PERIODS_PER_YEAR = {"week": 365.25 / 7, "day": 365.25}
CURRENT_PERIODS = {"week": 13, "day": 91}       # "current spend": the mean over the last quarter
# A weak prior on each channel's (theta, log K relative to its mean adstock, S), as a penalty: with a few
# channels, a baseline and seasonality to separate, many shapes fit the noise equally well, and the prior
# keeps the fit from drifting to the bounds (a carry-over of 0.9, a Hill exponent of 3) on noise alone.
PRIOR_MEAN = np.array([0.3, 0.0, 1.5])
PRIOR_SD = np.array([0.3, 1.5, 1.0])


@dataclass
class MmmFit:
    channels: list[str]
    curves: dict                       # channel -> Curve (outcome per period)
    current_spend: dict                # channel -> mean spend per period over the last quarter
    r2: float
    mape: float
    samples: dict = field(default_factory=dict)     # channel -> list of bootstrap Curves
    baseline_share: float = float("nan")            # share of the outcome not explained by the channels
    fitted: np.ndarray | None = None
    contributions: pd.DataFrame | None = None       # per period: each channel's part of the outcome


def design(n: int, granularity: str, controls: np.ndarray, fitted: int | None = None) -> np.ndarray:
    """The linear part's columns: intercept, trend, yearly (and weekly) Fourier terms, controls. With
    `fitted`, the trend and the controls' standardisation are those of the first `fitted` periods (to
    carry a fit on to periods it has not seen)."""
    fitted = fitted or n
    t = np.arange(n, dtype=float)
    columns = [np.ones(n), t / max(fitted - 1, 1)]
    year = PERIODS_PER_YEAR[granularity]
    for k in (1, 2):
        columns += [np.sin(2 * np.pi * k * t / year), np.cos(2 * np.pi * k * t / year)]
    if granularity == "day":
        for k in (1, 2, 3):
            columns += [np.sin(2 * np.pi * k * t / 7), np.cos(2 * np.pi * k * t / 7)]
    if controls.size:
        seen = controls[:fitted]
        columns += list(((controls - seen.mean(axis=0)) / np.maximum(seen.std(axis=0), 1e-12)).T)
    return np.column_stack(columns)


def _n_base(granularity: str, n_controls: int) -> int:
    return 6 + (6 if granularity == "day" else 0) + n_controls


def fit_mmm(outcome, spend: pd.DataFrame, controls: pd.DataFrame | None = None, granularity: str = "week",
            bootstrap: int = 20, seed: int = 0, holdout: float = HOLDOUT_SHARE) -> MmmFit:
    """Fit the model on aligned per-period series (oldest first): `outcome`, `spend` (a column per
    channel) and `controls` (a column each, optional)."""
    y = np.asarray(outcome, dtype=float)
    x = spend.to_numpy(dtype=float)
    z = np.zeros((len(y), 0)) if controls is None or controls.empty else controls.to_numpy(dtype=float)
    if len(y) < 20:
        raise ValueError("a media-mix model needs at least 20 periods")
    params = _fit(y, x, z, granularity)
    fitted, coef = _predict(params, y, x, z, granularity)
    curves = _curves(params, coef, x, z.shape[1], granularity, len(y))
    r2 = 1 - np.sum((y - fitted) ** 2) / np.sum((y - y.mean()) ** 2)
    names = list(spend.columns)
    recent = CURRENT_PERIODS[granularity]
    current = {c: float(spend[c].to_numpy()[-recent:].mean()) for c in names}
    contributions = pd.DataFrame({c: curve.predict(x[:, i]) for i, (c, curve) in enumerate(zip(names, curves))})
    samples = _bootstrap(y, x, z, granularity, params, fitted, bootstrap, np.random.default_rng(seed))
    return MmmFit(names, dict(zip(names, curves)), current, float(r2),
                  _held_out_mape(y, x, z, granularity, holdout, params),
                  {c: [s[i] for s in samples] for i, c in enumerate(names)},
                  float(1 - contributions.to_numpy().sum() / y.sum()), fitted, contributions)


def _fit(y, x, z, granularity, starts=None) -> np.ndarray:
    n_channels = x.shape[1]
    lower = np.tile([DECAY_BOUNDS[0], np.log(RELATIVE_K_BOUNDS[0]), SHAPE_BOUNDS[0]], n_channels)
    upper = np.tile([DECAY_BOUNDS[1], np.log(RELATIVE_K_BOUNDS[1]), SHAPE_BOUNDS[1]], n_channels)
    scale = np.std(y) or 1.0
    prior_mean, prior_sd = np.tile(PRIOR_MEAN, n_channels), np.tile(PRIOR_SD, n_channels)

    def residuals(p):
        misfit = (_predict(p, y, x, z, granularity)[0] - y) / scale
        return np.r_[misfit, (p - prior_mean) / prior_sd]

    best = None
    for start in starts if starts is not None else _starts(n_channels):
        result = least_squares(residuals, start, bounds=(lower, upper), method="trf", max_nfev=100 * len(start))
        if best is None or result.cost < best.cost:
            best = result
    return best.x


def _starts(n_channels: int) -> list[np.ndarray]:
    return [np.tile(p, n_channels) for p in ((0.3, 0.0, 1.5), (0.6, np.log(2.0), 1.0), (0.1, np.log(0.5), 2.2))]


def _stocks(params, x, fitted: int | None = None):
    """Each channel's hill(adstock) column, and its K in spend units (K relative to the mean steady-state
    adstock of the first `fitted` periods)."""
    fitted = fitted or len(x)
    columns, ks = [], []
    for i in range(x.shape[1]):
        theta, log_kappa, shape = params[3 * i:3 * i + 3]
        stock = adstock(x[:, i], theta)
        k = np.exp(log_kappa) * max(x[:fitted, i].mean(), 1e-12) / (1 - theta)
        columns.append(_hill(stock, k, shape))
        ks.append(k)
    return np.column_stack(columns), ks


def _predict(params, y, x, z, granularity):
    base = design(len(y), granularity, z)
    media, _ = _stocks(params, x)
    matrix = np.column_stack([base, media])
    # the baseline terms are free; each channel's beta is ≥ 0 (spend cannot lower the outcome)
    lower = np.r_[np.full(base.shape[1], -np.inf), np.zeros(media.shape[1])]
    col_scale = np.maximum(np.abs(matrix).max(axis=0), 1e-12)
    solution = lsq_linear(matrix / col_scale, y, bounds=(lower, np.full(matrix.shape[1], np.inf)),
                          method="bvls", lsmr_tol="auto")
    coef = solution.x / col_scale
    return matrix @ coef, coef


def _curves(params, coef, x, n_controls, granularity, n) -> list[Curve]:
    _, ks = _stocks(params, x)
    betas = coef[_n_base(granularity, n_controls):]
    return [Curve(float(params[3 * i]), float(ks[i]), float(params[3 * i + 2]), float(betas[i]))
            for i in range(x.shape[1])]


def _held_out_mape(y, x, z, granularity, holdout, params) -> float:
    """Fit the first (1 - holdout) of the periods, predict the rest with the trend and seasonality carried
    on and the adstock running through."""
    cut = int(round(len(y) * (1 - holdout)))
    if cut < 20 or cut >= len(y):
        return float("nan")
    early = _fit(y[:cut], x[:cut], z[:cut], granularity, starts=[params])
    _, coef = _predict(early, y[:cut], x[:cut], z[:cut], granularity)
    media, _ = _stocks(early, x, fitted=cut)
    predicted = np.column_stack([design(len(y), granularity, z, fitted=cut), media]) @ coef
    actual = y[cut:]
    keep = actual != 0
    return float(np.mean(np.abs(predicted[cut:][keep] - actual[keep]) / np.abs(actual[keep])))


def _bootstrap(y, x, z, granularity, params, fitted, n, rng) -> list[list[Curve]]:
    residual = y - fitted
    block = 8 if granularity == "week" else 28
    out = []
    for _ in range(n):
        starts = rng.integers(0, len(y) - block + 1, size=int(np.ceil(len(y) / block)))
        resampled = fitted + np.concatenate([residual[s:s + block] for s in starts])[:len(y)]
        p = _fit(resampled, x, z, granularity, starts=[params])
        _, coef = _predict(p, resampled, x, z, granularity)
        out.append(_curves(p, coef, x, z.shape[1], granularity, len(y)))
    return out

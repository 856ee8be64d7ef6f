"""The demo shop's marketing model, and the vectorized synthesis of its sessions and events.

Everything a marketer would tune lives in `DemoModel` (built by `default_model()`): channels and their
traffic, device and region mixes, seasonality, holidays, the purchase funnel, paid response curves
(geometric adstock, then a Hill saturation curve), experiments and incidents. The functions below turn
the model into data for any time window, so the batch generator (data/generate.py) and a live
simulator share one code path:

    plan = plan_daily_spend(model, first_day, n_days, rng)          # paid spend per UTC day
    expected = expected_paid_sessions(model, plan)                   # response curve per day
    sim = simulate(model, start, end, rng, paid_sessions=expected, users_before=...)

Times are int64 microseconds since the Unix epoch, always UTC. Categorical values are small integer
codes into the model's tuples (`model.channels`, `model.campaigns`, `model.devices`, ...); `pages()`
and `EVENT_TYPES` name the rest. Nothing here touches the warehouse.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data.schema import DEVICES, EVENT_TYPES, NO_CAMPAIGN

US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 24 * HOUR_US
EPOCH = dt.datetime(1970, 1, 1)
FUNNEL_STEPS = ("product_view", "add_to_cart", "checkout", "purchase")   # after the landing page_view
PAGE_VIEW, PRODUCT_VIEW, ADD_TO_CART, CHECKOUT, PURCHASE, SIGNUP = range(6)
assert EVENT_TYPES[:6] == ("page_view", "product_view", "add_to_cart", "checkout", "purchase", "signup")


# --------------------------------------------------------------------------------------------- model

@dataclass(frozen=True)
class Channel:
    name: str
    label: str
    paid: bool
    sort_order: int
    device_mix: tuple[float, float, float]          # desktop, mobile, tablet
    weekly: tuple[float, ...]                       # Mon..Sun multipliers (traffic, or spend when paid)
    returning_share: float                          # P(a session's user visited before)
    landing_mix: tuple[float, float, float]         # home, category, product landing pages
    # funnel on desktop: bounce, P(product_view|not bounced), P(cart|pv), P(checkout|cart), P(purchase|co)
    funnel: tuple[float, float, float, float, float]
    daily_sessions: float = 0.0                     # non-paid: expected sessions/day at scale 1, today


@dataclass(frozen=True)
class ResponseCurve:
    """Daily paid sessions = Poisson(max_sessions_per_day * hill(adstock(spend)))."""
    adstock_decay: float            # theta: share of yesterday's adstock carried into today
    half_saturation: float          # K: adstocked spend (currency/day) giving half of max sessions
    shape: float                    # S: Hill exponent
    max_sessions_per_day: float     # beta
    planned_daily_spend: float      # the marketer's plan at scale 1 (before weekly/holiday/tests/noise)
    click_through_rate: float       # clicks / impressions
    budget_pacing: float            # actual / monthly budget (>1: over-pacing)


@dataclass(frozen=True)
class Campaign:
    name: str
    channel: str
    weight: float                   # share of the channel's spend (paid) while active
    starts_days_before_end: int     # start_date = end's date - this
    ends_days_before_end: int | None = None     # end_date = end's date - this (inclusive); None: running
    daily_sessions: float = 0.0     # non-paid campaigns (email): expected sessions/day at scale 1
    spend_boost: float = 1.0        # paid promos: channel spend multiplier while active
    weekly: tuple[float, ...] | None = None     # non-paid campaign's own weekly shape


@dataclass(frozen=True)
class Region:
    code: str
    share: float
    utc_offset_hours: int


@dataclass(frozen=True)
class Holiday:
    name: str
    regions: tuple[str, ...]
    start: dt.date                  # first day of the main window (local dates, inclusive)
    end: dt.date                    # last day (inclusive)
    lift: float                     # traffic multiplier of non-paid channels in the main window
    ramp_days: int = 0              # linear ramp-up (presale) before `start`


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    control: str
    weights: dict                   # variant -> share of users
    start: dt.datetime              # naive UTC
    end: dt.datetime | None
    purchase_lift: dict = field(default_factory=dict)  # variant -> multiplier of P(purchase | checkout)


@dataclass(frozen=True)
class Incident:
    name: str
    kind: str                       # "checkout_outage" | "tracking_drop"
    start: dt.datetime
    end: dt.datetime
    what: str
    factor: float                   # outage: P(purchase|checkout) multiplier; drop: share of sessions lost
    device: str | None = None


@dataclass(frozen=True)
class DemoModel:
    channels: tuple[Channel, ...]
    curves: dict                    # paid channel name -> ResponseCurve
    campaigns: tuple[Campaign, ...]
    regions: tuple[Region, ...]
    diurnal: tuple[float, ...]      # 24 local-hour weights
    funnel_device: dict             # device -> (bounce add, pv x, cart x, checkout x, purchase x)
    average_order_value: dict       # device -> mean revenue of a purchase
    order_value_sigma: float = 0.55
    growth_per_year: float = 0.25
    spend_noise_sigma: float = 0.25
    holiday_spend_push: float = 0.8     # paid spend +80% of the traffic-weighted holiday lift
    sessions_per_click: float = 0.9
    signup_rate: float = 0.09           # P(signup | new user, not bounced)
    existing_users: int = 120_000       # users created before the generated range (scale 1)
    recency_power: float = 3.0          # returning visitors favour recent users: age ~ n * U**power
    products: int = 400
    categories: tuple[str, ...] = ("new-arrivals", "dresses", "shoes", "bags", "accessories", "outerwear",
                                   "men", "sale")
    scale: float = 1.0
    anchor_day: int = 0                 # epoch day campaign offsets count back from (the batch's end date)

    def anchored(self, end: dt.datetime) -> "DemoModel":
        """This model with campaign dates counted back from `end`'s date."""
        return dataclasses.replace(self, anchor_day=to_us(end - dt.timedelta(microseconds=1)) // DAY_US)

    # ---- lookups
    @property
    def devices(self) -> tuple[str, ...]:
        return DEVICES

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.channels)

    @property
    def paid_channels(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.channels if c.paid)

    @property
    def campaign_names(self) -> tuple[str, ...]:
        """Campaign vocabulary; code 0 is NO_CAMPAIGN."""
        return (NO_CAMPAIGN,) + tuple(k.name for k in self.campaigns)

    def channel_index(self, name: str) -> int:
        return self.channel_names.index(name)

    def scaled(self, scale: float) -> "DemoModel":
        """The same shop at `scale` times the traffic: every volume and the spend scale, while
        conversion, ROAS and marginal ROAS stay the same (K scales with spend)."""
        curves = {c: dataclasses.replace(v, half_saturation=v.half_saturation * scale,
                                         max_sessions_per_day=v.max_sessions_per_day * scale,
                                         planned_daily_spend=v.planned_daily_spend * scale)
                  for c, v in self.curves.items()}
        return dataclasses.replace(self, curves=curves, scale=self.scale * scale,
                                   existing_users=int(round(self.existing_users * scale)))


def _weekly(*values: float) -> tuple[float, ...]:
    arr = np.asarray(values, dtype=float)
    return tuple(arr / arr.mean())


def default_model() -> DemoModel:
    """The demo shop. Paid curves are chosen so the current plan is clearly sub-optimal: search is
    saturated and over-spent (marginal ROAS ~0.6), affiliate under-spent (~4)."""
    flat = _weekly(1, 1, 1, 1, 1, 1, 1)
    weekday_heavy = _weekly(1.06, 1.05, 1.04, 1.02, 0.96, 0.90, 0.97)
    weekend_heavy = _weekly(0.92, 0.94, 0.95, 0.98, 1.04, 1.10, 1.07)
    ch = (
        Channel("direct", "Direct", False, 1, (0.55, 0.38, 0.07), _weekly(1.02, 1.03, 1.03, 1.02, .98, .95, .97),
                0.72, (0.65, 0.20, 0.15), (0.36, 0.80, 0.30, 0.60, 0.68), 1150),
        Channel("organic_search", "Organic search", False, 2, (0.45, 0.48, 0.07), weekday_heavy,
                0.35, (0.20, 0.30, 0.50), (0.44, 0.78, 0.22, 0.56, 0.64), 1350),
        Channel("organic_social", "Organic social", False, 3, (0.18, 0.76, 0.06), weekend_heavy,
                0.28, (0.15, 0.25, 0.60), (0.56, 0.70, 0.13, 0.50, 0.60), 420),
        Channel("referral", "Referral", False, 4, (0.50, 0.43, 0.07), _weekly(1.05, 1.06, 1.05, 1.03, .97, .90, .94),
                0.30, (0.30, 0.30, 0.40), (0.45, 0.76, 0.20, 0.55, 0.64), 260),
        Channel("email", "Email", False, 5, (0.40, 0.52, 0.08), flat,
                0.85, (0.30, 0.45, 0.25), (0.34, 0.82, 0.32, 0.62, 0.70)),
        Channel("paid_search", "Paid search", True, 6, (0.45, 0.48, 0.07), _weekly(1.05, 1.05, 1.04, 1.02, .97, .92, .95),
                0.30, (0.15, 0.35, 0.50), (0.40, 0.80, 0.24, 0.56, 0.64)),
        Channel("paid_social", "Paid social", True, 7, (0.15, 0.80, 0.05), weekend_heavy,
                0.15, (0.10, 0.30, 0.60), (0.55, 0.70, 0.15, 0.50, 0.60)),
        Channel("display", "Display", True, 8, (0.40, 0.52, 0.08), flat,
                0.22, (0.35, 0.35, 0.30), (0.66, 0.62, 0.10, 0.46, 0.56)),
        Channel("affiliate", "Affiliate", True, 9, (0.45, 0.48, 0.07), _weekly(1, 1, 1, 1, 1.02, 1.0, .98),
                0.25, (0.10, 0.20, 0.70), (0.38, 0.80, 0.27, 0.60, 0.66)),
        Channel("video", "Video", True, 10, (0.30, 0.60, 0.10), _weekly(.95, .95, .97, 1.0, 1.03, 1.06, 1.04),
                0.12, (0.40, 0.30, 0.30), (0.60, 0.66, 0.12, 0.48, 0.58)),
    )
    # theta, K, S, beta, planned spend/day, CTR, pacing. K and beta come from `design_curve` with targets
    # (sessions/day at plan, saturation h at plan): search (1000, .80), social (1350, .35), display
    # (800, .30), affiliate (290, .35), video (600, .20): marginal ROAS at plan ~0.6, 1.1, 1.1, 4.0, 1.6.
    curves = {
        "paid_search": ResponseCurve(0.10, 250.0, 1.0, 1250.0, 900.0, 0.040, 1.15),
        "paid_social": ResponseCurve(0.30, 1560.0, 1.2, 3860.0, 650.0, 0.012, 0.88),
        "display": ResponseCurve(0.60, 1100.0, 1.5, 2670.0, 250.0, 0.004, 1.08),
        "affiliate": ResponseCurve(0.20, 390.0, 1.1, 830.0, 180.0, 0.020, 0.85),
        "video": ResponseCurve(0.70, 2000.0, 2.0, 3000.0, 300.0, 0.008, 0.95),
    }
    tue_thu = _weekly(0.85, 1.40, 0.90, 1.30, 0.90, 0.75, 0.90)
    campaigns = (
        Campaign("search_brand", "paid_search", 0.35, 900),
        Campaign("search_generic", "paid_search", 0.45, 700),
        Campaign("search_shopping", "paid_search", 0.20, 400),
        Campaign("social_prospecting", "paid_social", 0.60, 500),
        Campaign("social_retargeting", "paid_social", 0.40, 500),
        Campaign("promo_flash_sale", "paid_social", 0.50, 26, 20, spend_boost=1.35),
        Campaign("display_prospecting", "display", 0.65, 600),
        Campaign("display_retargeting", "display", 0.35, 300),
        Campaign("affiliate_cashback", "affiliate", 0.55, 800),
        Campaign("affiliate_content", "affiliate", 0.45, 365),
        Campaign("video_awareness", "video", 0.70, 200),
        Campaign("video_product", "video", 0.30, 30),
        Campaign("newsletter", "email", 0.0, 1000, daily_sessions=260, weekly=tue_thu),
        Campaign("cart_recovery", "email", 0.0, 700, daily_sessions=140, weekly=flat),
        Campaign("promo_weekend_email", "email", 0.0, 13, 11, daily_sessions=420, weekly=flat),
    )
    regions = (Region("US", 0.36, -5), Region("UK", 0.14, 0), Region("DE", 0.12, 1), Region("FR", 0.08, 1),
               Region("CN", 0.16, 8), Region("JP", 0.07, 9), Region("AU", 0.07, 10))
    diurnal = (0.9, 0.55, 0.35, 0.25, 0.22, 0.3, 0.55, 1.0, 1.5, 1.85, 2.0, 2.05,
               2.15, 2.1, 2.0, 1.95, 1.95, 2.05, 2.25, 2.5, 2.7, 2.65, 2.2, 1.5)
    return DemoModel(
        channels=ch, curves=curves, campaigns=campaigns, regions=regions,
        diurnal=tuple(np.asarray(diurnal) / sum(diurnal)),
        funnel_device={"desktop": (0.0, 1.0, 1.0, 1.0, 1.0), "mobile": (0.07, 0.95, 0.85, 0.85, 0.85),
                       "tablet": (0.03, 0.98, 0.95, 0.95, 0.93)},
        average_order_value={"desktop": 92.0, "mobile": 78.0, "tablet": 86.0},
    )


def design_curve(spend: float, theta: float, shape: float, saturation: float,
                 sessions: float) -> tuple[float, float]:
    """(K, beta) such that a steady `spend`/day yields `sessions`/day at hill(.) = `saturation`: how the
    constants in `default_model` were chosen. Marginal ROAS there is ROAS x S x (1 - saturation)."""
    x = spend / (1 - theta)
    k = x * ((1 - saturation) / saturation) ** (1 / shape)
    return k, sessions / saturation


# ------------------------------------------------------------------------------------- the funnel

def step_probabilities(model: DemoModel) -> np.ndarray:
    """[channel, device, 5]: bounce, P(product_view | not bounced), P(add_to_cart | product_view),
    P(checkout | add_to_cart), P(purchase | checkout)."""
    base = np.array([c.funnel for c in model.channels])[:, None, :]
    dev = np.array([model.funnel_device[d] for d in model.devices])[None, :, :]
    out = base * np.concatenate([np.ones_like(dev[..., :1]), dev[..., 1:]], axis=-1)
    out[..., 0] = base[..., 0] + dev[..., 0]
    return np.clip(out, 0.0, 0.99)


def conversion_rate(model: DemoModel) -> np.ndarray:
    """[channel, device]: P(a session purchases), without experiments or incidents."""
    p = step_probabilities(model)
    return (1 - p[..., 0]) * p[..., 1:].prod(axis=-1)


def device_mix(model: DemoModel) -> np.ndarray:
    mix = np.array([c.device_mix for c in model.channels])
    return mix / mix.sum(axis=1, keepdims=True)


def revenue_per_session(model: DemoModel) -> dict:
    """Expected revenue of one session per channel: conversion x average order value, over the
    channel's device mix (no experiments, no incidents)."""
    aov = np.array([model.average_order_value[d] for d in model.devices])
    rps = (device_mix(model) * conversion_rate(model) * aov).sum(axis=1)
    return dict(zip(model.channel_names, rps.tolist()))


# ------------------------------------------------------------------------------ response curves

def hill(x, half_saturation, shape):
    """Hill saturation x^S / (x^S + K^S), in [0, 1)."""
    x = np.maximum(np.asarray(x, dtype=float), 0.0)
    return x ** shape / (x ** shape + half_saturation ** shape)


def adstock(spend: np.ndarray, decay: float, before: float = 0.0) -> np.ndarray:
    """Geometric adstock along axis 0: A(d) = spend(d) + decay * A(d-1), with A(-1) = `before`."""
    out = np.empty_like(np.asarray(spend, dtype=float))
    carry = before
    for d in range(len(spend)):            # one step per day: a few hundred iterations at most
        carry = spend[d] + decay * carry
        out[d] = carry
    return out


def adstock_before_start(curve: ResponseCurve) -> float:
    """The adstock carried into the first generated day: the steady state of the planned spend."""
    return curve.planned_daily_spend / (1 - curve.adstock_decay)


def steady_state_revenue(curve: ResponseCurve, rps: float, spend):
    """R(s) = rps * beta * hill(s / (1 - theta)): revenue/day when `spend`/day is held constant."""
    return rps * curve.max_sessions_per_day * hill(np.asarray(spend) / (1 - curve.adstock_decay),
                                                   curve.half_saturation, curve.shape)


def marginal_roas(curve: ResponseCurve, rps: float, spend: float) -> float:
    """dR/ds of the steady-state revenue curve (analytic derivative)."""
    x = spend / (1 - curve.adstock_decay)
    k, s = curve.half_saturation, curve.shape
    dhill = s * x ** (s - 1) * k ** s / (x ** s + k ** s) ** 2
    return float(rps * curve.max_sessions_per_day * dhill / (1 - curve.adstock_decay))


# ------------------------------------------------------------------------- calendar & seasonality

def _movable_dates(year: int) -> dict:
    """Movable dates of the holiday calendar for one year."""
    nov1 = dt.date(year, 11, 1)
    thanksgiving = nov1 + dt.timedelta(days=(3 - nov1.weekday()) % 7 + 21)
    jul1 = dt.date(year, 7, 1)
    second_tuesday = jul1 + dt.timedelta(days=(1 - jul1.weekday()) % 7 + 7)
    prime = {2024: (dt.date(2024, 7, 16), dt.date(2024, 7, 17)),
             2025: (dt.date(2025, 7, 8), dt.date(2025, 7, 11))}.get(
        year, (second_tuesday, second_tuesday + dt.timedelta(days=1)))
    spring = {2023: dt.date(2023, 1, 22), 2024: dt.date(2024, 2, 10), 2025: dt.date(2025, 1, 29),
              2026: dt.date(2026, 2, 17), 2027: dt.date(2027, 2, 6), 2028: dt.date(2028, 1, 26)}.get(year)
    return {"black_friday": thanksgiving + dt.timedelta(days=1), "prime": prime, "spring": spring}


def holiday_calendar(years) -> list[Holiday]:
    """Holidays and retail events of the given years (2024-2027 have real dates; July's Prime-Day-like
    event after 2025 is assumed on the second Tuesday and Wednesday of July)."""
    west = ("US", "UK", "DE", "FR")
    out = []
    for y in years:
        r = _movable_dates(y)
        bf, spring, (p0, p1) = r["black_friday"], r["spring"], r["prime"]
        day = dt.timedelta(days=1)
        if spring:                                  # lunar calendar: known years only
            out.append(Holiday("Spring Festival", ("CN",), spring - 2 * day, spring + 3 * day, 1.35, 10))
        out += [
            Holiday("618 shopping festival", ("CN",), dt.date(y, 6, 16), dt.date(y, 6, 18), 1.9, 15),
            Holiday("Prime Day (July deals event)", ("US", "UK", "DE", "FR", "JP", "AU"), p0, p1, 1.7, 0),
            Holiday("Golden Week", ("CN",), dt.date(y, 10, 1), dt.date(y, 10, 7), 1.25, 0),
            Holiday("Double 11 (Singles' Day)", ("CN",), dt.date(y, 11, 10), dt.date(y, 11, 11), 2.6, 17),
            Holiday("Black Friday", west, bf, bf, 2.3, 4),
            Holiday("Cyber Monday", west, bf + 3 * day, bf + 3 * day, 1.9, 0),
            Holiday("Christmas season", west + ("AU",), dt.date(y, 12, 1), dt.date(y, 12, 22), 1.3, 0),
        ]
    return out


def holidays_between(first: dt.date, last: dt.date) -> list[Holiday]:
    """Holidays whose ramp or main window touches [first, last]."""
    years = range(first.year - 1 if first.month == 1 else first.year, last.year + 1)
    return [h for h in holiday_calendar(years)
            if h.start - dt.timedelta(days=h.ramp_days) <= last and h.end >= first]


def epoch_day(d: dt.date) -> int:
    return (d - EPOCH.date()).days


def holiday_lift(model: DemoModel, days: np.ndarray) -> np.ndarray:
    """[region, len(days)]: traffic multiplier of non-paid channels on local epoch days `days` (max over
    the holidays in force; presale ramps rise linearly to the lift)."""
    days = np.asarray(days)
    lift = np.ones((len(model.regions), len(days)))
    first = EPOCH.date() + dt.timedelta(days=int(days.min()))
    last = EPOCH.date() + dt.timedelta(days=int(days.max()))
    codes = [r.code for r in model.regions]
    for h in holidays_between(first, last):
        s, e = epoch_day(h.start), epoch_day(h.end)
        ramp = np.clip((days - (s - h.ramp_days - 1)) / (h.ramp_days + 1), 0, 1) if h.ramp_days else 0.0
        value = np.where((days >= s) & (days <= e), h.lift,
                         np.where(days < s, 1 + (h.lift - 1) * ramp, 1.0))
        for region in h.regions:
            i = codes.index(region)
            lift[i] = np.maximum(lift[i], value)
    return lift


def weekday(days: np.ndarray) -> np.ndarray:
    """Monday = 0 for epoch days (1970-01-01 was a Thursday)."""
    return (np.asarray(days) + 3) % 7


# --------------------------------------------------------------------------------- paid spend plan

def campaign_shares(model: DemoModel, days: np.ndarray) -> np.ndarray:
    """[day, campaign code]: share of its channel's spend each paid campaign gets (active ones,
    weights renormalised); 0 for non-paid campaigns and NO_CAMPAIGN."""
    out = np.zeros((len(days), len(model.campaign_names)))
    for j, k in enumerate(model.campaigns, start=1):
        if k.channel in model.curves:
            out[:, j] = k.weight * campaign_active(k, days, model.anchor_day)
    for channel in model.paid_channels:
        cols = [j for j, k in enumerate(model.campaigns, start=1) if k.channel == channel]
        total = out[:, cols].sum(axis=1, keepdims=True)
        out[:, cols] = np.divide(out[:, cols], total, out=np.zeros_like(out[:, cols]), where=total > 0)
    return out


def campaign_active(k: Campaign, days: np.ndarray, end_day: int) -> np.ndarray:
    last = end_day - k.ends_days_before_end if k.ends_days_before_end is not None else np.inf
    return (days >= end_day - k.starts_days_before_end) & (days <= last)


def budget_tests(model: DemoModel, n_days: int) -> list[tuple[str, int, int, float]]:
    """Multi-day budget tests (channel, first day index, length, multiplier) placed at fixed fractions of
    the range so that every range has spend variation to identify the curves."""
    length = max(2, min(7, n_days // 6))
    plan = [("paid_social", 0.12, 0.6), ("paid_search", 0.30, 1.6), ("affiliate", 0.48, 1.6),
            ("video", 0.62, 0.6), ("display", 0.80, 1.6)]
    return [(c, int(f * n_days), length, m) for c, f, m in plan]


def spend_push(model: DemoModel, days: np.ndarray) -> np.ndarray:
    """Per UTC day: marketers push paid budgets when holidays lift traffic in the regions they run in."""
    share = np.array([r.share for r in model.regions])[:, None]
    return 1 + model.holiday_spend_push * (share * (holiday_lift(model, days) - 1)).sum(axis=0)


def planned_spend(model: DemoModel, days: np.ndarray) -> pd.DataFrame:
    """The marketer's expected spend per UTC epoch day (rows) and paid channel (columns): plan x weekly
    factor x holiday push x promo boost (no noise, no budget tests)."""
    days = np.asarray(days)
    push = spend_push(model, days)
    out = {}
    for channel in model.paid_channels:
        weekly = np.asarray(model.channels[model.channel_index(channel)].weekly)[weekday(days)]
        out[channel] = (model.curves[channel].planned_daily_spend * weekly * push
                        * _promo_boost(model, channel, days))
    return pd.DataFrame(out, index=pd.Index(days, name="day"))


def plan_daily_spend(model: DemoModel, first_day: int, n_days: int, rng: np.random.Generator) -> pd.DataFrame:
    """Actual spend per UTC epoch day (rows) and paid channel (columns): `planned_spend` x budget tests x
    lognormal noise (sigma `spend_noise_sigma`, mean 1)."""
    frame = planned_spend(model, np.arange(first_day, first_day + n_days))
    sigma = model.spend_noise_sigma
    for channel in frame.columns:
        frame[channel] *= rng.lognormal(-sigma ** 2 / 2, sigma, n_days)
    for channel, first, length, mult in budget_tests(model, n_days):
        frame.iloc[first:first + length, frame.columns.get_loc(channel)] *= mult
    return frame


def _promo_boost(model, channel, days):
    boost = np.ones(len(days))
    for k in model.campaigns:
        if k.channel == channel and k.spend_boost != 1.0:
            boost = np.where(campaign_active(k, days, model.anchor_day), boost * k.spend_boost, boost)
    return boost


def expected_paid_sessions(model: DemoModel, spend: pd.DataFrame, before: dict | None = None) -> pd.DataFrame:
    """Expected sessions per UTC day and paid channel: beta * hill(adstock(spend)). `before` maps a
    channel to the adstock carried into the first row (default: steady state of the plan)."""
    out = {}
    for channel in spend.columns:
        curve = model.curves[channel]
        carry = (before or {}).get(channel, adstock_before_start(curve))
        stock = adstock(spend[channel].to_numpy(), curve.adstock_decay, carry)
        out[channel] = curve.max_sessions_per_day * hill(stock, curve.half_saturation, curve.shape)
    return pd.DataFrame(out, index=spend.index)


# ---------------------------------------------------------------------------------- traffic intensity

def _hour_grid(model: DemoModel, hours_us: np.ndarray):
    """Local calendar of each (region, UTC hour): local epoch day, local hour, diurnal weight."""
    offsets = np.array([r.utc_offset_hours for r in model.regions])[:, None]
    local_hours = hours_us[None, :] // HOUR_US + offsets
    local_day, local_hour = np.divmod(local_hours, 24)
    return local_day, np.asarray(model.diurnal)[local_hour]


def hourly_weights(model: DemoModel, hours_us: np.ndarray) -> np.ndarray:
    """[hour, region]: how a paid channel's day spreads over UTC hours and regions (region share x
    holiday lift x local diurnal curve), normalised to sum 1 within each UTC day of the grid."""
    local_day, diurnal = _hour_grid(model, hours_us)
    first = int(local_day.min())
    lift = holiday_lift(model, np.arange(first, int(local_day.max()) + 1))
    lift_at = np.take_along_axis(lift, local_day - first, axis=1)
    share = np.array([r.share for r in model.regions])[:, None]
    w = (share * lift_at * diurnal).T
    day = hours_us // DAY_US
    totals = pd.Series(w.sum(axis=1)).groupby(day).transform("sum").to_numpy()
    return w / totals[:, None]


def _trend(model: DemoModel, hours_us: np.ndarray) -> np.ndarray:
    """Mild growth: 1 at the anchor (the batch's end), exp(growth x years) around it."""
    return np.exp(model.growth_per_year * (hours_us - (model.anchor_day + 1) * DAY_US) / (365 * DAY_US))


def traffic_sources(model: DemoModel) -> list[tuple[int, int]]:
    """(channel code, campaign code) of every traffic source: one per non-paid channel without
    campaigns, one per campaign otherwise."""
    with_campaigns = {k.channel for k in model.campaigns}
    out = [(i, 0) for i, c in enumerate(model.channels) if c.name not in with_campaigns]
    out += [(model.channel_index(k.channel), j) for j, k in enumerate(model.campaigns, start=1)]
    return out


def session_intensity(model: DemoModel, hours_us: np.ndarray, paid_sessions: pd.DataFrame) -> np.ndarray:
    """[hour, source, region]: expected sessions starting in each UTC hour (full UTC days expected in
    `hours_us`). Non-paid: daily sessions x trend x weekly x holiday lift x region share x diurnal.
    Paid: the day's expected sessions of the campaign spread by `hourly_weights`."""
    local_day, diurnal = _hour_grid(model, hours_us)
    first = int(local_day.min())
    lift = np.take_along_axis(holiday_lift(model, np.arange(first, int(local_day.max()) + 1)),
                              local_day - first, axis=1)
    share = np.array([r.share for r in model.regions])[:, None]
    organic_shape = (share * lift * diurnal).T * _trend(model, hours_us)[:, None]   # [H, R]
    paid_shape = hourly_weights(model, hours_us)
    utc_day = hours_us // DAY_US
    shares = campaign_shares(model, utc_day)
    sources = traffic_sources(model)
    out = np.zeros((len(hours_us), len(sources), len(model.regions)))
    for s, (ci, ki) in enumerate(sources):
        channel = model.channels[ci]
        if channel.paid:
            daily = paid_sessions[channel.name].reindex(utc_day).fillna(0.0).to_numpy() * shares[:, ki]
            out[:, s, :] = daily[:, None] * paid_shape
            continue
        k = model.campaigns[ki - 1] if ki else None
        weekly = np.asarray(k.weekly if k else channel.weekly)[weekday(local_day)].T     # [H, R]
        base = k.daily_sessions if k else channel.daily_sessions
        active = campaign_active(k, utc_day, model.anchor_day)[:, None] if k else 1.0
        out[:, s, :] = base * model.scale * weekly * organic_shape * active
    return out


# ------------------------------------------------------------------------------------- simulation

@dataclass
class Simulation:
    sessions: pd.DataFrame      # one row per tracked session (see `simulate`)
    events: pd.DataFrame        # one row per event, session attributes repeated
    new_users: int              # users created in the window (ids users_before .. +new_users-1)
    paid_by_hour: pd.DataFrame  # paid sessions per (hour_us, campaign), tracking loss included: clicks


def draw_sessions(model: DemoModel, intensity: np.ndarray, hours_us: np.ndarray, start_us: int,
                  end_us: int, rng: np.random.Generator) -> pd.DataFrame:
    """Poisson session counts per (hour, source, region); start uniform in the hour; sorted by start.
    Sessions outside [start_us, end_us) are dropped."""
    counts = rng.poisson(intensity).ravel()
    cell = np.repeat(np.arange(counts.size), counts)
    h, s, r = np.unravel_index(cell, intensity.shape)
    start = hours_us[h] + rng.integers(0, HOUR_US, size=cell.size)
    sources = np.array(traffic_sources(model))
    frame = pd.DataFrame({"start_us": start, "channel": sources[s, 0].astype(np.int16),
                          "campaign": sources[s, 1].astype(np.int16), "region": r.astype(np.int16)})
    frame = frame[(frame.start_us >= start_us) & (frame.start_us < end_us)]
    return frame.sort_values("start_us", kind="stable").reset_index(drop=True)


def _pick(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of `probs` [n, k]."""
    u = rng.random(len(probs))[:, None]
    return (u > np.cumsum(probs, axis=1)[:, :-1]).sum(axis=1).astype(np.int16)


def assign_devices_and_pages(model: DemoModel, sessions: pd.DataFrame, rng) -> None:
    ch = sessions.channel.to_numpy()
    sessions["device"] = _pick(rng, device_mix(model)[ch])
    kind = _pick(rng, np.array([c.landing_mix for c in model.channels])[ch])
    sessions["landing"] = page_codes(model, kind, rng)


def pages(model: DemoModel) -> tuple[str, ...]:
    """Page vocabulary: '/', categories, products, then the fixed funnel pages."""
    return (("/",) + tuple(f"/category/{c}" for c in model.categories)
            + tuple(f"/product/{n}" for n in range(1, model.products + 1))
            + ("/cart", "/checkout", "/checkout/complete", "/signup"))


def page_codes(model: DemoModel, kind: np.ndarray, rng) -> np.ndarray:
    """Page code for page kinds 0 home, 1 category, 2 product (popular products more often)."""
    n_cat = len(model.categories)
    cat = 1 + rng.integers(0, n_cat, size=len(kind))
    prod = 1 + n_cat + (model.products * rng.random(len(kind)) ** 2).astype(np.int64)
    return np.where(kind == 0, 0, np.where(kind == 1, cat, prod)).astype(np.int32)


def fixed_page(model: DemoModel, path: str) -> int:
    return 1 + len(model.categories) + model.products + ("/cart", "/checkout", "/checkout/complete",
                                                         "/signup").index(path)


def assign_users(model: DemoModel, sessions: pd.DataFrame, users_before: int, rng) -> int:
    """New or returning visitor per session (channel-specific), in start order: new users take the next
    id; returning ones pick among users created earlier, favouring recent users. Returns new users."""
    returning_share = np.array([c.returning_share for c in model.channels])[sessions.channel.to_numpy()]
    is_new = rng.random(len(sessions)) >= returning_share
    if users_before == 0 and len(is_new):
        is_new[0] = True                                        # nobody to return yet
    known = users_before + np.cumsum(is_new) - is_new          # users existing before this session
    age = np.floor(known * rng.random(len(sessions)) ** model.recency_power).astype(np.int64)
    sessions["user"] = np.where(is_new, known, known - 1 - age)
    sessions["new_user"] = is_new
    return int(is_new.sum())


def _uniform_hash(values: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 of value ^ salt, as a uniform in [0, 1): a stable per-user coin."""
    with np.errstate(over="ignore"):
        z = (values.astype(np.uint64) ^ np.uint64(salt)) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def experiment_salt(experiment: Experiment, seed: int) -> int:
    return zlib.crc32(f"{experiment.name}:{seed}".encode()) * 2654435761 % (1 << 63)


def assign_experiments(model: DemoModel, sessions: pd.DataFrame, experiments, seed: int, rng,
                       cross_device_share: float = 0.004) -> None:
    """Experiment (index into `experiments`, -1 none) and variant code per session: every session starting
    in an experiment's window is exposed, the variant is a hash of (user, experiment, seed). About
    `cross_device_share` of exposed users see another variant in one later session."""
    sessions["experiment"] = np.int16(-1)
    sessions["variant"] = np.int16(-1)
    for e, exp in enumerate(experiments):
        lo = to_us(exp.start)
        hi = to_us(exp.end) if exp.end else np.iinfo(np.int64).max
        idx = np.flatnonzero((sessions.start_us >= lo).to_numpy() & (sessions.start_us < hi).to_numpy())
        weights = np.array(list(exp.weights.values()))
        users = sessions.user.to_numpy()[idx]
        u = _uniform_hash(users, experiment_salt(exp, seed))
        variant = np.searchsorted(np.cumsum(weights) / weights.sum(), u, side="right").astype(np.int16)
        variant = np.minimum(variant, len(weights) - 1)
        variant = _cross_device(users, variant, len(weights), cross_device_share, rng)
        sessions.loc[idx, "experiment"] = np.int16(e)
        sessions.loc[idx, "variant"] = variant


def _cross_device(users: np.ndarray, variant: np.ndarray, n_variants: int, share: float, rng) -> np.ndarray:
    """Flip the variant of the 2nd exposed session of a random subset of users with 2+ sessions, sized to
    `share` of all exposed users."""
    order = np.argsort(users, kind="stable")
    sorted_users = users[order]
    first = np.r_[True, sorted_users[1:] != sorted_users[:-1]]
    rank = np.arange(len(users)) - np.maximum.accumulate(np.where(first, np.arange(len(users)), 0))
    second = order[rank == 1]
    n_users = int(first.sum())
    if len(second) == 0:
        return variant
    chosen = second[rng.random(len(second)) < min(1.0, share * n_users / len(second))]
    out = variant.copy()
    out[chosen] = (variant[chosen] + rng.integers(1, n_variants, size=len(chosen))) % n_variants
    return out


def draw_funnel(model: DemoModel, sessions: pd.DataFrame, experiments, incidents, rng) -> None:
    """Funnel depth of each session, with the timing skeleton: counts of extra page views, product views,
    signup; the potential time of checkout and purchase; purchase drawn with experiment lift and outage."""
    n = len(sessions)
    p = step_probabilities(model)[sessions.channel.to_numpy(), sessions.device.to_numpy()]
    u = rng.random((n, 5))
    bounced = u[:, 0] < p[:, 0]
    # not bounced, product_view, add_to_cart, checkout
    reached = np.cumprod(np.c_[~bounced, u[:, 1:4] < p[:, 1:4]], axis=1).astype(bool)
    sessions["p_checkout"] = (1 - p[:, 0]) * p[:, 1:4].prod(axis=1)
    sessions["q_purchase"] = p[:, 4]
    sessions["extra_pages"] = rng.geometric(0.45, n) - 1
    sessions["product_views"] = 1 + rng.poisson(1.4, n)
    sessions["signup"] = ~bounced & sessions.new_user.to_numpy() & (rng.random(n) < model.signup_rate)
    sessions["bounced"] = bounced
    sessions["depth"] = reached.sum(axis=1)     # 0 bounced, 1 browsed, 2 product, 3 cart, 4 checkout
    _skeleton_times(sessions, rng)
    lift = purchase_lift(sessions, experiments) * outage_factor(sessions.t_checkout_us.to_numpy(), incidents)
    sessions["purchase_factor"] = lift
    purchased = reached[:, 3] & (u[:, 4] < np.minimum(1.0, p[:, 4] * lift))
    sessions.loc[purchased, "depth"] = 5        # 5 purchased (emitted only if before `end`)


def purchase_lift(sessions: pd.DataFrame, experiments) -> np.ndarray:
    lift = np.ones(len(sessions))
    e, v = sessions.experiment.to_numpy(), sessions.variant.to_numpy()
    for i, exp in enumerate(experiments):
        for j, name in enumerate(exp.weights):
            lift[(e == i) & (v == j)] = exp.purchase_lift.get(name, 1.0)
    return lift


def outage_factor(t_us: np.ndarray, incidents) -> np.ndarray:
    out = np.ones(len(t_us))
    for inc in incidents:
        if inc.kind == "checkout_outage":
            out[(t_us >= to_us(inc.start)) & (t_us < to_us(inc.end))] *= inc.factor
    return out


def _gaps(rng, n: int, median_s: float) -> np.ndarray:
    return np.maximum(2 * US, rng.lognormal(np.log(median_s * US), 0.8, n)).astype(np.int64)


def _skeleton_times(sessions: pd.DataFrame, rng) -> None:
    """Potential time of the checkout and purchase steps (slots: landing, extra pages, signup, product
    views, cart, checkout, purchase), drawn whether or not the session gets there."""
    n = len(sessions)
    before_cart = (sessions.extra_pages + sessions.signup + sessions.product_views).to_numpy()
    # a sum of n lognormal page gaps, drawn by slot so realised event times can reuse them
    slots = np.repeat(np.arange(n), before_cart)
    gap_sum = np.bincount(slots, weights=_gaps(rng, slots.size, 35), minlength=n).astype(np.int64)
    sessions["t_cart_us"] = sessions.start_us.to_numpy() + gap_sum + _gaps(rng, n, 40)
    sessions["t_checkout_us"] = sessions.t_cart_us.to_numpy() + _gaps(rng, n, 45)
    sessions["t_purchase_us"] = sessions.t_checkout_us.to_numpy() + _gaps(rng, n, 90)


def build_events(model: DemoModel, sessions: pd.DataFrame, rng) -> pd.DataFrame:
    """Events of tracked sessions in slot order: landing page_view, extra page_views, signup, product
    views, add_to_cart, checkout, purchase. Browsing slots are spaced so that, for sessions reaching the
    cart, the cart/checkout/purchase land on their pre-drawn skeleton times."""
    s = sessions
    browse = np.where(s.bounced, 0, s.extra_pages + s.signup + np.where(s.depth >= 2, s.product_views, 0))
    # non-bounced sessions with nothing else to do still see a second page
    browse = np.where(~s.bounced & (browse == 0), 1, browse)
    tail = np.clip(s.depth.to_numpy() - 2, 0, 3)           # cart, checkout, purchase events
    n_events = 1 + browse + tail
    sid = np.repeat(np.arange(len(s)), n_events)
    pos = np.arange(sid.size) - np.repeat(np.cumsum(n_events) - n_events, n_events)
    types, pages_ = _slot_types(model, s, sid, pos, browse, rng)
    ts = _event_times(s, sid, pos, browse, rng)
    return pd.DataFrame({"session": sid, "pos": pos.astype(np.int16), "ts_us": ts, "type": types,
                         "page": pages_})


def _slot_types(model, s, sid, pos, browse, rng):
    extra = s.extra_pages.to_numpy()[sid]
    signup = s.signup.to_numpy()[sid]
    extra = np.where(browse[sid] > 0, np.minimum(extra, browse[sid]), 0)
    b = browse[sid]
    t = np.full(sid.size, PAGE_VIEW, dtype=np.int8)
    t[(pos > extra) & (pos <= extra + signup)] = SIGNUP
    t[(pos > extra + signup) & (pos <= b) & (s.depth.to_numpy() >= 2)[sid]] = PRODUCT_VIEW
    t[pos == b + 1] = ADD_TO_CART
    t[pos == b + 2] = CHECKOUT
    t[pos == b + 3] = PURCHASE
    t[pos == 0] = PAGE_VIEW
    kind = np.where(rng.random(sid.size) < 0.8, 1, 0)              # extra pages: category or home
    page = np.where(t == PAGE_VIEW, page_codes(model, kind, rng), page_codes(model, np.full(sid.size, 2), rng))
    page[pos == 0] = s.landing.to_numpy()[sid[pos == 0]]
    for code, path in ((ADD_TO_CART, "/cart"), (CHECKOUT, "/checkout"), (PURCHASE, "/checkout/complete"),
                       (SIGNUP, "/signup")):
        page[t == code] = fixed_page(model, path)
    return t, page


def _event_times(s, sid, pos, browse, rng):
    """Lognormal gaps (median 35 s) from the landing at session start; for sessions reaching the cart the
    browsing gaps are rescaled so the cart, checkout and purchase land on their skeleton times."""
    start = s.start_us.to_numpy()[sid]
    b = browse[sid]
    free = np.cumsum(np.where(pos == 0, 0, _gaps(rng, sid.size, 35)))
    free -= np.repeat(free[pos == 0], np.bincount(sid))
    at_cart = pos == b + 1
    to_cart = np.ones(len(s))
    to_cart[sid[at_cart]] = (s.t_cart_us.to_numpy() - s.start_us.to_numpy())[sid[at_cart]] / free[at_cart]
    ts = start + (free * to_cart[sid]).astype(np.int64)
    for k, col in ((1, "t_cart_us"), (2, "t_checkout_us"), (3, "t_purchase_us")):
        at = pos == b + k
        ts[at] = s[col].to_numpy()[sid[at]]
    return ts


def drop_tracking_loss(model: DemoModel, sessions: pd.DataFrame, incidents, rng) -> np.ndarray:
    """Mask of sessions that are tracked: a tracking drop loses `factor` of the matching sessions that
    start inside it (all their events)."""
    keep = np.ones(len(sessions), dtype=bool)
    u = rng.random(len(sessions))
    for inc in incidents:
        if inc.kind != "tracking_drop":
            continue
        hit = (sessions.start_us >= to_us(inc.start)) & (sessions.start_us < to_us(inc.end))
        if inc.device:
            hit &= sessions.device == model.devices.index(inc.device)
        keep &= ~(hit.to_numpy() & (u < inc.factor))
    return keep


def order_values(model: DemoModel, device: np.ndarray, rng) -> np.ndarray:
    """Lognormal order revenue with the device's mean, rounded to cents."""
    mean = np.array([model.average_order_value[d] for d in model.devices])[device]
    sigma = model.order_value_sigma
    return np.round(rng.lognormal(np.log(mean) - sigma ** 2 / 2, sigma), 2)


def simulate(model: DemoModel, start: dt.datetime, end: dt.datetime, rng: np.random.Generator, *,
             paid_sessions: pd.DataFrame, users_before: int, experiments=(), incidents=(), seed: int = 0,
             cross_device_share: float = 0.004, events_until: dt.datetime | None = None) -> Simulation:
    """Sessions starting in [start, end) (naive UTC) and their events. `paid_sessions`: expected sessions
    per UTC epoch day (index) and paid channel (columns), e.g. from `expected_paid_sessions`. Events after
    `events_until` (default `end`) are not emitted; the live stream passes a later time and holds those
    events back until they are due. Deterministic given `rng`'s state."""
    start_us, end_us = to_us(start), to_us(end)
    cutoff_us = to_us(events_until) if events_until is not None else end_us
    first_day, last_day = start_us // DAY_US, (end_us - 1) // DAY_US
    hours = np.arange(first_day * DAY_US, (last_day + 1) * DAY_US, HOUR_US, dtype=np.int64)
    intensity = session_intensity(model, hours, paid_sessions)
    sessions = draw_sessions(model, intensity, hours, start_us, end_us, rng)
    assign_devices_and_pages(model, sessions, rng)
    new_users = assign_users(model, sessions, users_before, rng)
    assign_experiments(model, sessions, experiments, seed, rng, cross_device_share)
    draw_funnel(model, sessions, experiments, incidents, rng)
    paid_by_hour = _paid_by_hour(model, sessions)
    sessions = sessions[drop_tracking_loss(model, sessions, incidents, rng)].reset_index(drop=True)
    events = build_events(model, sessions, rng)
    events = events[events.ts_us < cutoff_us].reset_index(drop=True)
    _attach_orders(model, sessions, events, rng)
    return Simulation(sessions=sessions, events=events, new_users=new_users, paid_by_hour=paid_by_hour)


def _paid_by_hour(model, sessions) -> pd.DataFrame:
    paid = np.array([c.paid for c in model.channels])[sessions.channel.to_numpy()]
    s = sessions[paid]
    return (s.assign(hour_us=s.start_us // HOUR_US * HOUR_US).groupby(["hour_us", "campaign"]).size()
            .rename("sessions").reset_index())


def _attach_orders(model, sessions, events, rng) -> None:
    is_purchase = (events.type == PURCHASE).to_numpy()
    sid = events.session.to_numpy()
    revenue = np.full(len(events), np.nan)
    revenue[is_purchase] = order_values(model, sessions.device.to_numpy()[sid[is_purchase]], rng)
    events["revenue"] = revenue
    sessions["purchased"] = np.bincount(sid[is_purchase], minlength=len(sessions)) > 0


# ----------------------------------------------------------------------------------- ground truth

def experiment_truth(sessions: pd.DataFrame, experiment_index: int, experiment: Experiment,
                     incidents, end_us: int) -> dict:
    """Expected purchase conversion per variant on the actual exposed population: for each user exposed
    in a single variant, 1 - prod over their exposed sessions of (1 - p_s(v)), with p_s(v) =
    P(reach checkout) x min(1, P(purchase|checkout) x lift(v) x outage) x [purchase time < end]."""
    s = sessions[sessions.experiment == experiment_index]
    single = s.groupby("user").variant.transform("nunique") == 1
    s = s[single.to_numpy()]
    outage = outage_factor(s.t_checkout_us.to_numpy(), incidents)
    in_range = (s.t_purchase_us < end_us).to_numpy()
    names = list(experiment.weights)
    rates, arm_rates = {}, {}
    for v in names:
        p = s.p_checkout.to_numpy() * np.minimum(
            1.0, s.q_purchase.to_numpy() * experiment.purchase_lift.get(v, 1.0) * outage) * in_range
        log_miss = pd.Series(np.log1p(-p)).groupby(s.user.to_numpy()).sum()
        conv = 1 - np.exp(log_miss)
        assigned = s.groupby("user").variant.first()
        rates[v] = float(conv.mean())
        arm_rates[v] = float(conv[assigned.reindex(conv.index).to_numpy() == names.index(v)].mean())
    control = experiment.control
    return {
        "metric": "purchase",
        "unit": "user",
        "control": control,
        "variants": [{"name": v, "weight": experiment.weights[v],
                      "purchase_given_checkout_multiplier": experiment.purchase_lift.get(v, 1.0),
                      "expected_conversion_rate": rates[v],
                      "expected_conversion_rate_in_arm": arm_rates[v],
                      "true_relative_lift": rates[v] / rates[control] - 1,
                      "true_absolute_lift": rates[v] - rates[control]} for v in names],
        "exposed_users_single_variant": int(s.user.nunique()),
        "exposed_users_multi_variant": int(sessions[sessions.experiment == experiment_index]
                                           .groupby("user").variant.nunique().gt(1).sum()),
    }


def default_experiments(model: DemoModel) -> list[Experiment]:
    """Experiments dated from the anchor (the batch's end date)."""
    day = EPOCH + dt.timedelta(days=model.anchor_day)
    return [
        Experiment("checkout_redesign", "One-page checkout with express pay buttons", "A", {"A": 0.5, "B": 0.5},
                   day - dt.timedelta(days=35) + dt.timedelta(hours=10), None, {"B": 1.10}),
        Experiment("homepage_hero", "Homepage hero: lifestyle photo (A), product grid (B), video (C)", "A",
                   {"A": 0.34, "B": 0.33, "C": 0.33},
                   day - dt.timedelta(days=80) + dt.timedelta(hours=9),
                   day - dt.timedelta(days=44) + dt.timedelta(hours=9)),
    ]


def default_incidents(model: DemoModel) -> list[Incident]:
    """Incidents dated from the anchor: a 3 h checkout outage 9 days before, a 90 min mobile tracking
    drop 16 days before."""
    day = EPOCH + dt.timedelta(days=model.anchor_day)
    outage = day - dt.timedelta(days=9) + dt.timedelta(hours=13, minutes=20)
    drop = day - dt.timedelta(days=16) + dt.timedelta(hours=18, minutes=45)
    return [
        Incident("checkout_outage", "checkout_outage", outage, outage + dt.timedelta(hours=3),
                 "Payment provider outage: most checkouts fail", 0.05),
        Incident("mobile_tracking_drop", "tracking_drop", drop, drop + dt.timedelta(minutes=90),
                 "Broken analytics tag on the mobile site: most mobile sessions not tracked", 0.8, "mobile"),
    ]


def to_us(t: dt.datetime) -> int:
    """Naive-UTC (or aware) datetime to epoch microseconds."""
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return (t - EPOCH) // dt.timedelta(microseconds=1)


def from_us(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=int(us))

"""What a stored alert rule may say: a KPI Pulse computes, dimension filters Pulse understands, and for
webhooks an absolute http(s) URL. Shared by the JSON API and the alerts page, so both refuse the same
rules with the same field-named problems."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from analytics.alerting import Rule, RuleError, parse_rule
from queries.filters import DIMENSIONS, FilterError, Filters

SPEND_KPIS = ("spend", "roas", "cpa", "cac")  # built on spend, which has no device or region


def kpi_columns() -> tuple[str, ...]:
    from queries.kpis import KPI_COLUMNS  # read at call time: the KPI list grows

    return tuple(KPI_COLUMNS)


def validate_rule(data: dict) -> Rule:
    """A rule as the API receives it, checked completely: the model's fields (analytics.alerting), the KPI
    against `KPI_COLUMNS`, and the filters as Pulse's own query-string filters (dimensions only).
    Raises `RuleError` whose problems each name the field."""
    rule = parse_rule(data, kpis=kpi_columns())
    problems = filter_problems(rule)
    if problems:
        raise RuleError(problems)
    return rule


def filter_problems(rule: Rule) -> list[dict]:
    text = rule.filters or ""
    try:
        keys = set(parse_qs(text.lstrip("?"), keep_blank_values=True))
        filters = Filters.from_query(text)
    except FilterError as error:
        return [{"field": "filters", "value": text, "problem": f"{error.field}: {error.problem}"}]
    unknown = sorted(keys - set(DIMENSIONS))
    if unknown:
        return [{"field": "filters", "value": text,
                 "problem": f"only dimension filters ({', '.join(DIMENSIONS)}) are allowed, not "
                            f"{', '.join(unknown)}; the time range is the rule's window"}]
    if rule.kind == "pacing" and (filters.campaign or filters.device or filters.region):
        return [{"field": "filters", "value": text,
                 "problem": "a pacing rule can filter by channel only (budgets are planned per channel)"}]
    if rule.kpi in SPEND_KPIS and (filters.device or filters.region):
        return [{"field": "filters", "value": text,
                 "problem": f"{rule.kpi} is built on spend, which cannot be split by device or region"}]
    return []


def webhook_url_problem(url) -> str | None:
    if not isinstance(url, str) or not url.strip():
        return "is required"
    parsed = urlparse(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return "must be an absolute http:// or https:// URL"
    if len(url) > 2000:
        return "is longer than 2000 characters"
    return None

"""The spend plan (queries/plan.py) against the monthly budgets read with plain SQL and prorated by hand."""
from datetime import datetime

import pytest

from queries.filters import Filters
from queries.plan import planned_spend


def budget(warehouse, month: str, channel: str | None = None) -> float:
    with warehouse.driver_connection() as conn:
        rows = conn.execute("SELECT channel, planned FROM budgets WHERE month = CAST(? AS DATE)", [month]).fetchall()
    return sum(planned for name, planned in rows if channel in (None, name))


def test_a_range_across_two_months_takes_each_months_share(warehouse):
    lo, hi = datetime(2026, 10, 31, 12), datetime(2026, 11, 1, 12)   # half a day of each month
    expected = budget(warehouse, "2026-10-01", "paid_search") / 31 / 2 + budget(warehouse, "2026-11-01", "paid_search") / 30 / 2
    assert expected > 0
    assert planned_spend(warehouse, Filters(channel=("paid_search",)), lo, hi) == pytest.approx(expected)


def test_all_channels_and_none_planned(warehouse):
    lo, hi = datetime(2026, 11, 10), datetime(2026, 11, 17)
    assert planned_spend(warehouse, Filters(), lo, hi) == pytest.approx(budget(warehouse, "2026-11-01") * 7 / 30)
    assert planned_spend(warehouse, Filters(channel=("email",)), lo, hi) is None     # email has no budget
    assert planned_spend(warehouse, Filters(), datetime(2020, 1, 1), datetime(2020, 1, 2)) is None

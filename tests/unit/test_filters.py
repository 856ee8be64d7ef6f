from datetime import datetime, timezone

import pytest

from queries.filters import FilterError, Filters

# A Sunday afternoon in UTC; in Asia/Shanghai (UTC+8) it is already Sunday night.
NOW = datetime(2026, 11, 22, 15, 30, 45, tzinfo=timezone.utc)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize("start,end,expected", [
    ("now-15m", "now", ("2026-11-22T15:15:45", "2026-11-22T15:30:45")),
    ("now-24h", "now", ("2026-11-21T15:30:45", "2026-11-22T15:30:45")),
    ("now-7d", "now", ("2026-11-15T15:30:45", "2026-11-22T15:30:45")),
    ("now/d", "now/d", ("2026-11-22T00:00:00", "2026-11-23T00:00:00")),          # today
    ("now-1d/d", "now-1d/d", ("2026-11-21T00:00:00", "2026-11-22T00:00:00")),    # yesterday
    ("now/w", "now", ("2026-11-16T00:00:00", "2026-11-22T15:30:45")),            # this week, from Monday
    ("2026-11-01", "2026-11-03", ("2026-11-01T00:00:00", "2026-11-04T00:00:00")),  # dates are whole days
    ("2026-11-01T08:00:00+08:00", "2026-11-01T12:00:00Z", ("2026-11-01T00:00:00", "2026-11-01T12:00:00")),
    ("2026-11-01T08:00:00 08:00", "now", ("2026-11-01T00:00:00", "2026-11-22T15:30:45")),  # '+' lost in a URL
])
def test_time_ranges_resolve_to_utc(start, end, expected):
    assert Filters(start=start, end=end).resolve(NOW) == (at(expected[0]), at(expected[1]))


def test_today_follows_the_display_time_zone():
    # 15:30 UTC is 23:30 in Shanghai: "today" there began at 16:00 UTC the day before.
    start, end = Filters(start="now/d", end="now/d").resolve(NOW, tz="Asia/Shanghai")
    assert (start, end) == (at("2026-11-21T16:00:00"), at("2026-11-22T16:00:00"))
    start, _ = Filters(start="2026-11-01", end="now").resolve(NOW, tz="America/New_York")
    assert start == at("2026-11-01T04:00:00")  # EDT, UTC-4, still in force on Nov 1st 00:00


def test_comparison_periods():
    filters = Filters(start="now-24h", end="now")
    assert filters.comparison(NOW) == (at("2026-11-20T15:30:45"), at("2026-11-21T15:30:45"))
    assert filters.with_changes(compare="week").comparison(NOW) == (at("2026-11-14T15:30:45"),
                                                                    at("2026-11-15T15:30:45"))
    assert filters.with_changes(compare="none").comparison(NOW) is None


@pytest.mark.parametrize("query", [
    "from=now-7d&to=now&compare=week&channel=email,paid_search&device=mobile",
    "from=2026-11-01&to=2026-11-03T12%3A00%3A00Z&compare=none&campaign=%28none%29&region=CN,US&experiment=x",
    "",
])
def test_round_trip_through_query_string(query):
    filters = Filters.from_query(query)
    again = Filters.from_query(filters.to_query())
    assert again == filters
    assert again.extra == filters.extra
    assert Filters.from_query("?" + again.to_query()).to_query() == filters.to_query()


def test_repeated_keys_and_dash_query_dicts_are_read_like_comma_lists():
    from_string = Filters.from_query("channel=email&channel=direct&channel=email")
    from_dash = Filters.from_query({"channel": ["email", "direct"]})
    assert from_string.channel == from_dash.channel == ("email", "direct")
    assert Filters.from_query({"channel": "email,direct"}).channel == ("email", "direct")


def test_defaults_apply_to_missing_keys_only():
    defaults = Filters(start="now-30d", end="now", compare="none")
    filters = Filters.from_query("to=now-1d", defaults)
    assert (filters.start, filters.end, filters.compare) == ("now-30d", "now-1d", "none")


@pytest.mark.parametrize("query,field", [
    ("from=yesterday", "from"),
    ("from=now-7x", "from"),
    ("to=2026-13-01", "to"),
    ("compare=lastyear", "compare"),
    ("from=now&to=now-1h", "to"),
    ("from=now-1d;DROP TABLE events", "from"),
    ("channel=" + "x" * 500, "channel"),
    ("channel=" + ",".join(f"c{i}" for i in range(101)), "channel"),
])
def test_bad_values_name_the_field_and_value(query, field):
    with pytest.raises(FilterError) as caught:
        Filters.from_query(query)
    assert caught.value.field == field
    assert field in str(caught.value)

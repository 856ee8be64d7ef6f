"""Shared fixtures: one small, real generated DuckDB warehouse per test session."""
from __future__ import annotations

from datetime import datetime

import pytest

from data.generate import generate
from data.warehouse import Warehouse

# The instant the small warehouse's data ends; tests resolve relative ranges against it.
END = datetime(2026, 11, 20, 14, 37)


@pytest.fixture(scope="session")
def warehouse_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("warehouse") / "pulse.duckdb"
    wh = Warehouse(f"duckdb:///{path}")
    generate(wh, days=21, scale=0.25, seed=11, end=END)
    wh.dispose()
    return path


@pytest.fixture(scope="session")
def warehouse(warehouse_path):
    wh = Warehouse(f"duckdb:///{warehouse_path}")
    yield wh
    wh.dispose()


@pytest.fixture(scope="session")
def raw(warehouse):
    """The raw tables as pandas frames, read with plain SQL, without any of Pulse's query code."""
    with warehouse.driver_connection() as conn:
        return {t: conn.execute(f"SELECT * FROM {t}").df() for t in ("events", "ad_spend", "channels")}


def count_rows(warehouse, table: str) -> int:
    with warehouse.driver_connection() as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.fixture
def writable(tmp_path):
    """A small warehouse of its own (three days at 1/20 scale) and a test client of an app serving it, for
    tests that write through the API."""
    from app import create_app
    wh = Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    generate(wh, days=3, scale=0.05, seed=2, end=datetime(2026, 11, 20, 12))
    yield wh, create_app(wh).server.test_client()
    wh.dispose()

"""Where the warehouse is and how this process talks to it.

One `Warehouse` object per process owns the database. Reads check a connection out of SQLAlchemy's pool,
so every thread reads through its own DuckDB connection to the one shared database instance; bulk writers
(the demo generator, importers) borrow the driver connection for speed. DuckDB is not fork-safe, so the
engine is created lazily, in the process that uses it.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data import schema
from data.changes import ChangeLog
from data.results import ResultCache

DEFAULT_DATA_DIR = "var"
DUCKDB_FILE = "pulse.duckdb"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: the explicit argument, else $PULSE_DATA_DIR, else ./var."""
    chosen = data_dir or os.environ.get("PULSE_DATA_DIR") or DEFAULT_DATA_DIR
    return Path(chosen).expanduser().resolve()


def resolve_url(data_dir: str | os.PathLike | None = None) -> str:
    """The warehouse URL every command uses: `--data-dir` when given, else $WAREHOUSE_URL, else a DuckDB
    file in the default data directory."""
    if data_dir is None and os.environ.get("WAREHOUSE_URL"):
        return os.environ["WAREHOUSE_URL"]
    return f"duckdb:///{resolve_data_dir(data_dir) / DUCKDB_FILE}"


class Warehouse:
    def __init__(self, url: str):
        self.url = url
        self._engine: sa.Engine | None = None
        self._lock = threading.Lock()
        # Set by `cache_results` in the process that owns the writer: only there does every write pass
        # through the change log that keeps cached results exact. Elsewhere (CLI, tests writing with
        # plain SQL) every query reads the tables.
        self.results: ResultCache | None = None

    def cache_results(self) -> ChangeLog:
        """Cache query results over closed time (data/results.py); returns the change log that every
        commit must be recorded in."""
        if self.results is None:
            self.results = ResultCache(ChangeLog())
        return self.results.changes

    @classmethod
    def open(cls, data_dir: str | os.PathLike | None = None) -> "Warehouse":
        return cls(resolve_url(data_dir))

    @property
    def duckdb_path(self) -> Path | None:
        """The DuckDB file behind the URL, or None for another kind of warehouse (or in-memory)."""
        url = sa.engine.make_url(self.url)
        if url.get_backend_name() != "duckdb" or url.database in (None, "", ":memory:"):
            return None
        return Path(url.database)

    @property
    def engine(self) -> sa.Engine:
        with self._lock:
            if self._engine is None:
                path = self.duckdb_path
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                self._engine = sa.create_engine(self.url)
                with self._engine.begin() as conn:
                    schema.create_all(conn.connection.driver_connection)
            return self._engine

    def read(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        """Run one read-only statement with bound `:name` parameters and return its rows. A list or
        tuple value binds as an expanding parameter, for `col IN :name`."""
        with self.engine.connect() as conn:
            result = conn.execute(_statement(sql, params), params or {})
            if hasattr(result.cursor, "fetch_df"):  # DuckDB: columnar, no Python object per row
                return result.cursor.fetch_df()
            return pd.DataFrame([tuple(row) for row in result.fetchall()], columns=list(result.keys()))

    def read_columns(self, sql: str, params: dict | None = None) -> dict[str, np.ndarray]:
        """`read`, as one numpy array per column: for results of millions of rows (DuckDB converts its
        columns directly, many times faster than building rows). A column with NULLs comes as an object
        array holding None for them."""
        with self.engine.connect() as conn:
            result = conn.execute(_statement(sql, params), params or {})
            cursor = result.cursor
            if hasattr(cursor, "fetchnumpy"):  # DuckDB
                return {name: _without_mask(values) for name, values in cursor.fetchnumpy().items()}
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
            return {column: frame[column].to_numpy() for column in frame.columns}

    def scalar(self, sql: str, params: dict | None = None):
        with self.engine.connect() as conn:
            return conn.execute(_statement(sql, params), params or {}).scalar()

    def execute(self, sql: str, params: dict | list[dict] | None = None) -> None:
        """Run one writing statement in its own transaction."""
        with self.engine.begin() as conn:
            conn.execute(sa.text(sql), params or {})

    @contextmanager
    def driver_connection(self):
        """The driver's own connection (duckdb's, on DuckDB) inside one transaction, for bulk loads that
        register DataFrames or Arrow tables. Committed when the block ends, rolled back on error."""
        with self.engine.begin() as conn:
            yield conn.connection.driver_connection

    def row_count(self, table: str) -> int:
        if table not in schema.TABLES:  # identifiers come from the allow-list, never from input
            raise ValueError(f"unknown table {table!r}")
        return int(self.scalar(f"SELECT count(*) FROM {table}"))

    def is_empty(self) -> bool:
        return self.row_count("events") == 0

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


def _without_mask(values: np.ndarray) -> np.ndarray:
    if not isinstance(values, np.ma.MaskedArray):
        return values
    plain = np.asarray(values.data, dtype=object).copy()
    plain[np.ma.getmaskarray(values)] = None
    return plain


def _statement(sql: str, params: dict | None) -> sa.TextClause:
    statement = sa.text(sql)
    expanding = [sa.bindparam(k, expanding=True) for k, v in (params or {}).items() if isinstance(v, (list, tuple))]
    return statement.bindparams(*expanding) if expanding else statement


def current() -> Warehouse:
    """The warehouse of the Flask app serving the current request (set by `app.create_app`)."""
    from flask import current_app

    return current_app.extensions["pulse.warehouse"]

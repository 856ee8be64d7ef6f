"""Bulk import of files into the warehouse (docs/import.md, "Bulk import").

    python -m data.load events FILE [--data-dir DIR]
    python -m data.load spend FILE [--format generic|google_ads|meta_ads|tiktok_ads] [--data-dir DIR]
    python -m data.load mmm FILE --name NAME --date COL --outcome COL --spend COL,COL,... [--controls COL,...]

FILE is CSV (also .tsv, .txt, gzipped .gz), Parquet or NDJSON, told by its name or `--as`. Every row is
validated with the same rules as HTTP ingest (data/validation.py) and an import is one transaction: all
rows or none. A problem is reported with the line of the file as an editor shows it (CSV header = line 1;
Parquet: row number, 1-based) and the field. Exit status: 0 imported, 1 rows rejected (nothing written),
2 the file, the format or the warehouse could not be used.

When a Pulse server owns the warehouse (`<data_dir>/server.json` names a live process that answers its
health check), the rows go through that server's staged-import API (api/imports.py): the DuckDB file has
one owner. Otherwise the file is written directly through the one writer (`data.writer.make_writer`).

The validation and commit helpers below (`validate_batch`, `finish_import`, `MmmSpec`) are shared with
the server side, so both ways check and store rows the same way.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import math
import os
import sys
import time
import urllib.error
import urllib.request
from array import array
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from data import platforms
from data.validation import (EventIn, BatchRejected, Context, RowProblem, SpendIn, validate_events,
                             validate_spend)
from data.warehouse import Warehouse, resolve_data_dir
from data.writer import make_writer

KINDS = ("events", "spend", "mmm")
FORMATS = ("generic",) + tuple(platforms.PLATFORMS)
CHUNK_ROWS = 10_000           # rows validated (or sent to the server) at a time
MAX_SHOWN = 20                # problems printed
MAX_KEPT = 1_000              # problems remembered (all are counted)
LARGE_FILE_BYTES = 20 * 1024 * 1024
HEADER_SEARCH_LINES = 30      # ad platform exports put a title and a date range above the header
SERVER_FILE = "server.json"
KEY_FILE = "ingest-key.txt"
SPEND_SUFFIXES = ("_spend", "_cost")
MMM_NAME_MAX = 100


class ReadError(Exception):
    """The file, its format or the warehouse cannot be used (exit 2)."""


class HeaderNotFound(ReadError):
    """No line near the top of a CSV file has the columns the format needs."""


# == reading files ===================================================================================
@dataclass
class Table:
    columns: list[str] | None     # None when the format has no header (NDJSON)
    records: Iterator[tuple[int, dict | RowProblem]]   # (line or row number, {column: value})
    unit: str                     # "line" for text files, "row" for Parquet
    header_line: int | None       # the line of the header (CSV), else None


def file_format(path: Path, override: str | None) -> str:
    if override:
        return override
    name = path.name.lower().removesuffix(".gz")
    for fmt, suffixes in (("csv", (".csv", ".tsv", ".txt")), ("parquet", (".parquet", ".pq")),
                          ("ndjson", (".ndjson", ".jsonl", ".json"))):
        if name.endswith(suffixes):
            return fmt
    raise ReadError(f"cannot tell the format of {path.name} from its name (.csv, .tsv, .parquet, .ndjson, "
                    f".jsonl): give it with --as csv|parquet|ndjson")


def open_table(path: Path, fmt: str, is_header=None) -> Table:
    if not path.is_file():
        raise ReadError(f"{path}: no such file")
    if fmt == "parquet":
        return _parquet_table(path)
    if fmt == "ndjson":
        return _ndjson_table(path)
    return _csv_table(path, is_header)


def _open_text(path: Path) -> io.TextIOWrapper:
    raw = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")
    start = raw.peek(4)[:4] if hasattr(raw, "peek") else b""
    encoding = "utf-16" if start[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    return io.TextIOWrapper(raw, encoding=encoding, newline="")


def _sniff_delimiter(path: Path) -> str:
    with _open_text(path) as text:
        try:
            sample = [line for line in (text.readline() for _ in range(HEADER_SEARCH_LINES)) if line.strip()]
        except UnicodeDecodeError as error:
            raise ReadError(f"{path.name} is not UTF-8 or UTF-16 text ({error.reason})") from None
    counts = {d: sum(line.count(d) for line in sample) for d in (",", "\t", ";")}
    return max(counts, key=counts.get) if any(counts.values()) else ","


def _csv_table(path: Path, is_header) -> Table:
    delimiter = _sniff_delimiter(path)
    text = _open_text(path)
    reader = csv.reader(text, delimiter=delimiter)
    header, header_line = _csv_header(reader, is_header, path)
    return Table(header, _csv_records(reader, header, path, text), "line", header_line)


def _csv_header(reader, is_header, path: Path) -> tuple[list[str], int]:
    for row in _guarded(reader, path):
        cells = [c.replace("\ufeff", "").strip() for c in row]
        if not any(cells):
            continue
        if is_header is None or is_header(cells):
            return cells, reader.line_num
        if reader.line_num >= HEADER_SEARCH_LINES:
            break
    raise HeaderNotFound(f"{path.name}: no header row with the expected columns in the first "
                    f"{HEADER_SEARCH_LINES} lines")


def _csv_records(reader, header: list[str], path: Path, text) -> Iterator[tuple[int, dict | RowProblem]]:
    with text:
        last = reader.line_num
        for row in _guarded(reader, path):
            line, last = last + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                yield line, RowProblem(line, None, None, f"has {len(row)} cells; the header has {len(header)}")
                continue
            yield line, {h: v for h, v in zip(header, row) if v.strip()}


def _guarded(reader, path: Path):
    try:
        yield from reader
    except UnicodeDecodeError as error:
        raise ReadError(f"{path.name} line {reader.line_num + 1}: not UTF-8 or UTF-16 text ({error.reason})") from None
    except csv.Error as error:
        raise ReadError(f"{path.name} line {reader.line_num}: not readable as CSV ({error})") from None


def _ndjson_table(path: Path) -> Table:
    records = _ndjson_records(path)
    first = next(records, None)
    columns = list(first[1]) if first and isinstance(first[1], dict) else []
    return Table(columns, _chain([first] if first else [], records), "line", None)


def _ndjson_records(path: Path) -> Iterator[tuple[int, dict | RowProblem]]:
    with _open_text(path) as text:
        try:
            for line, content in enumerate(text, start=1):
                if content.strip():
                    yield line, _json_object(line, content)
        except UnicodeDecodeError as error:
            raise ReadError(f"{path.name}: not UTF-8 or UTF-16 text ({error.reason})") from None


def _json_object(line: int, content: str) -> dict | RowProblem:
    try:
        value = json.loads(content)
    except json.JSONDecodeError as error:
        return RowProblem(line, None, content.strip()[:80], f"not JSON: {error.msg}")
    if not isinstance(value, dict):
        return RowProblem(line, None, content.strip()[:80], "not a JSON object")
    return {k: v for k, v in value.items() if v is not None}


def _parquet_table(path: Path) -> Table:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as error:  # noqa: BLE001 - pyarrow raises several kinds for a bad file
        raise ReadError(f"{path.name} is not a readable Parquet file ({error})") from None
    return Table(list(parquet.schema_arrow.names), _parquet_records(parquet), "row", None)


def _parquet_records(parquet) -> Iterator[tuple[int, dict]]:
    number = 0
    for batch in parquet.iter_batches(batch_size=CHUNK_ROWS):
        for record in batch.to_pylist():
            number += 1
            yield number, {k: v for k, v in record.items() if not _missing(v)}


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _chain(*parts: Iterable) -> Iterator:
    for part in parts:
        yield from part


def row_estimate(path: Path, fmt: str) -> int | None:
    """How many rows the file has, roughly (for the progress bar)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq
        return pq.ParquetFile(path).metadata.num_rows
    if path.name.lower().endswith(".gz"):
        return None
    with open(path, "rb") as raw:
        lines = sum(block.count(b"\n") for block in iter(lambda: raw.read(1 << 20), b""))
    return max(lines - (fmt == "csv"), 0)


# == mapping a file's records to the rows validation takes ===========================================
EVENT_FIELDS = tuple(EventIn.model_fields)
EVENT_REQUIRED = tuple(n for n, f in EventIn.model_fields.items() if f.is_required())
SPEND_FIELDS = tuple(SpendIn.model_fields)


def column_problems(columns: list[str] | None, known: tuple[str, ...], required: tuple[str, ...],
                    line: int | None) -> list[RowProblem]:
    """Unknown and missing columns of a file with a header, reported once instead of on every row."""
    if columns is None:
        return []
    unknown = [RowProblem(line, c, c, f"unknown column; known: {', '.join(known)}") for c in columns if c not in known]
    missing = [RowProblem(line, c, None, "required column is missing") for c in required if c not in columns]
    return unknown + missing


def mmm_row(spec: "MmmSpec", record: dict) -> dict:
    """A wide-table record as the row the mmm validation takes: the date as YYYY-MM-DD, numbers parsed."""
    row = {spec.date: platforms.parse_date(record[spec.date]) if spec.date in record else None}
    for column in spec.variables:
        row[column] = platforms.parse_number(record[column], nothing=None) if column in record else None
    return row


# == validation and commit, shared with the server (api/imports.py) ==================================
@dataclass(frozen=True)
class MmmSpec:
    """A media-mix dataset: what the wide table's columns mean."""
    name: str
    date: str
    outcome: str
    spend: tuple[str, ...]
    controls: tuple[str, ...] = ()

    @property
    def variables(self) -> tuple[str, ...]:
        return (self.outcome,) + self.spend + self.controls

    @staticmethod
    def channel(column: str) -> str:
        """`tv_spend` and `tv_cost` are channel `tv`."""
        for suffix in SPEND_SUFFIXES:
            if column.lower().endswith(suffix) and len(column) > len(suffix):
                return column[: -len(suffix)]
        return column

    def problems(self) -> list[RowProblem]:
        found = []
        if not 1 <= len(self.name.strip()) <= MMM_NAME_MAX:
            found.append(RowProblem(None, "name", self.name, f"must be 1 to {MMM_NAME_MAX} characters"))
        if len(self.spend) < 2:
            found.append(RowProblem(None, "spend", ",".join(self.spend), "give at least 2 spend columns"))
        roles = [self.date, *self.variables]
        for column in sorted({c for c in roles if roles.count(c) > 1}):
            found.append(RowProblem(None, column, column, "is given for more than one role"))
        channels = [self.channel(c) for c in self.spend]
        for channel in sorted({c for c in channels if channels.count(c) > 1}):
            found.append(RowProblem(None, "spend", channel, "two spend columns name the same channel"))
        return found

    def as_dict(self) -> dict:
        return {**asdict(self), "spend": list(self.spend), "controls": list(self.controls)}

    @classmethod
    def from_dict(cls, body: dict) -> "MmmSpec":
        text = (body["name"], body["date"], body["outcome"])
        lists = (body["spend"], body.get("controls") or [])
        if not all(isinstance(t, str) for t in text) or not all(
                isinstance(v, list) and all(isinstance(c, str) for c in v) for v in lists):
            raise TypeError("name, date and outcome are strings; spend and controls lists of strings")
        return cls(*text, tuple(lists[0]), tuple(lists[1]))


def validate_batch(kind: str, rows: list, context: Context, spec: MmmSpec | None = None) -> pd.DataFrame:
    """One batch validated and normalized, with `_row`: the index in `rows` of the row each output row
    came from (a daily spend row gives 24 hourly rows). Raises BatchRejected with 0-based batch rows."""
    if kind == "events":
        frame = validate_events(rows, context)
        return frame.assign(_row=np.arange(len(frame)))
    if kind == "spend":
        return _validate_spend_batch(rows, context)
    return validate_mmm_rows(rows, spec)


def _validate_spend_batch(rows: list, context: Context) -> pd.DataFrame:
    try:
        frame = validate_spend(rows, context)
    except BatchRejected as rejected:
        only = rejected.problems[0]
        if len(rejected.problems) == 1 and only.row is None and only.field == "ts":  # same hour twice
            frames = [validate_spend([row], context).assign(_row=i) for i, row in enumerate(rows)]
            raise BatchRejected(spend_duplicates(pd.concat(frames, ignore_index=True))) from None
        raise
    hours = [1 if row.get("ts") is not None else 24 for row in rows]
    return frame.assign(_row=np.repeat(np.arange(len(rows)), hours))


def spend_duplicates(frame: pd.DataFrame) -> list[RowProblem]:
    """A problem for every row giving spend for an hour, channel and campaign another row also gives."""
    clash = frame[frame.duplicated(["ts", "channel", "campaign"], keep=False)].drop_duplicates("_row")
    return [RowProblem(int(row), "ts", ts.strftime("%Y-%m-%d %H:00"),
                       f"another row also gives spend for this hour (UTC), channel {channel!r} and campaign "
                       f"{campaign!r}") for row, ts, channel, campaign in clash[["_row", "ts", "channel", "campaign"]]
                                                                            .itertuples(index=False, name=None)]


def validate_mmm_rows(rows: list, spec: MmmSpec) -> pd.DataFrame:
    """Rows of a wide media-mix table ({date column: YYYY-MM-DD, variable: number, ...}) as a frame of
    `_row`, `period` and one column per variable. Spend must be ≥ 0, every value finite and present."""
    problems, records = [], []
    for i, row in enumerate(rows):
        found = _mmm_row_problems(i, row, spec)
        problems.extend(found)
        if not found:
            records.append((i, date.fromisoformat(row[spec.date]), *(float(row[c]) for c in spec.variables)))
    if problems:
        raise BatchRejected(problems)
    frame = pd.DataFrame.from_records(records, columns=["_row", "period", *spec.variables])
    frame["period"] = pd.to_datetime(frame["period"]).astype("datetime64[s]")
    return frame


def _mmm_row_problems(i: int, row, spec: MmmSpec) -> list[RowProblem]:
    if not isinstance(row, dict):
        return [RowProblem(i, None, str(row)[:80], "a row must be an object")]
    problems = [RowProblem(i, k, None, "is not a column of this dataset")
                for k in row if k not in (spec.date, *spec.variables)]
    if _iso_date(row.get(spec.date)) is None:
        problems.append(RowProblem(i, spec.date, row.get(spec.date), "is not a date (YYYY-MM-DD)"))
    for column in spec.variables:
        problem = _mmm_value_problem(row.get(column), column in spec.spend)
        if problem:
            problems.append(RowProblem(i, column, row.get(column), problem))
    return problems


def _iso_date(value) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None


def _mmm_value_problem(value, is_spend: bool) -> str | None:
    if value is None:
        return "is missing"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "is not a number"
    if not math.isfinite(value):
        return "must be a finite number"
    if is_spend and value < 0:
        return "spend must be ≥ 0"
    return None


def mmm_granularity(frame: pd.DataFrame, date_field: str = "date") -> str:
    """'day' or 'week' from the spacing of the dates; raises BatchRejected (rows = `_row`) for duplicate
    dates, fewer than 2 rows, or spacing that is neither consecutive days nor 7 days throughout."""
    if len(frame) < 2:
        raise BatchRejected([RowProblem(None, None, len(frame), "a media-mix table needs at least 2 rows")])
    duplicated = frame[frame.duplicated("period", keep=False)]
    if len(duplicated):
        raise BatchRejected([RowProblem(int(row), date_field, period.date().isoformat(), "the same date is on "
                                        "another row") for row, period in zip(duplicated._row, duplicated.period)])
    ordered = frame.sort_values("period")
    gaps = ordered.period.diff().dt.days.iloc[1:]
    step = 7 if (gaps == 7).sum() > (gaps == 1).sum() else 1
    wrong = ordered.iloc[1:][(gaps != step).to_numpy()]
    if len(wrong):
        raise BatchRejected([RowProblem(int(row), date_field, period.date().isoformat(),
                                        f"is {int(g)} days after the previous date; a {'weekly' if step == 7 else 'daily'} "
                                        f"table needs dates {step} day(s) apart without gaps")
                             for row, period, g in zip(wrong._row, wrong.period, gaps[gaps != step])])
    return "week" if step == 7 else "day"


def finish_import(writer, kind: str, frame: pd.DataFrame, spec: MmmSpec | None = None,
                  timeout: float | None = None) -> dict:
    """Checks across the whole import, then ONE writer transaction. Returns counts; raises BatchRejected
    (rows = the `_row` values) when the rows do not go together."""
    if kind == "mmm":
        granularity = mmm_granularity(frame, spec.date)
        return writer.call(lambda conn: store_mmm(conn, spec, frame, granularity), timeout=timeout)
    if kind == "spend":
        problems = spend_duplicates(frame)
        if problems:
            raise BatchRejected(problems)
    if frame.empty:
        return {"rows": 0, "inserted": 0, "duplicates" if kind == "events" else "updated": 0}
    try:
        result = writer.write(kind, frame.drop(columns="_row"), timeout=timeout)
    except BatchRejected as rejected:  # found against stored data inside the transaction (a reused order_id)
        raise BatchRejected([q for p in rejected.problems for q in _located(frame, p)]) from None
    if kind == "events":
        return {"rows": len(frame), "inserted": result.inserted, "duplicates": result.duplicates}
    return {"rows": len(frame), "inserted": result.inserted, "updated": result.updated}


def _located(frame: pd.DataFrame, problem: RowProblem, most: int = 5) -> list[RowProblem]:
    """A problem without a row, placed on the rows whose `field` has the problem's value."""
    if problem.row is not None or problem.field not in frame.columns or problem.value is None:
        return [problem]
    rows = frame._row[frame[problem.field] == problem.value].head(most)
    return [RowProblem(int(r), problem.field, problem.value, problem.problem) for r in rows] or [problem]


def store_mmm(conn, spec: MmmSpec, frame: pd.DataFrame, granularity: str) -> dict:
    """Replace dataset `spec.name` (inside the caller's transaction)."""
    replaced = conn.execute("SELECT count(*) FROM mmm_datasets WHERE name = ?", [spec.name]).fetchone()[0] > 0
    conn.execute("DELETE FROM mmm_observations WHERE dataset = ?", [spec.name])
    conn.execute("DELETE FROM mmm_datasets WHERE name = ?", [spec.name])
    conn.execute(
        "INSERT INTO mmm_datasets (name, granularity, date_column, outcome, spend_columns, control_columns, "
        "first_period, last_period, rows, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [spec.name, granularity, spec.date, spec.outcome, json.dumps(list(spec.spend)),
         json.dumps(list(spec.controls)), frame.period.min().date(), frame.period.max().date(), len(frame),
         datetime.now(timezone.utc).replace(tzinfo=None)])
    conn.register("incoming_mmm", mmm_long(spec, frame))
    try:
        conn.execute("INSERT INTO mmm_observations (dataset, period, variable, role, channel, value) "
                     "SELECT dataset, CAST(period AS DATE), variable, role, channel, value FROM incoming_mmm")
    finally:
        conn.unregister("incoming_mmm")
    return {"rows": len(frame), "observations": len(frame) * len(spec.variables), "granularity": granularity,
            "replaced": replaced}


def mmm_long(spec: MmmSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """The wide table as one row per period and variable, with its role and (for spend) channel."""
    long = frame.melt(id_vars=["period"], value_vars=list(spec.variables), var_name="variable")
    roles = {spec.outcome: "outcome", **{c: "spend" for c in spec.spend}, **{c: "control" for c in spec.controls}}
    long["role"] = long.variable.map(roles)
    long["channel"] = [spec.channel(v) if roles[v] == "spend" else None for v in long.variable]
    long["dataset"] = spec.name
    return long.astype({"value": float})


# == where the rows go: directly, or through the running server ======================================
class DirectImport:
    """Validate into memory, commit through this process's own writer."""
    via = "directly"

    def __init__(self, warehouse: Warehouse, kind: str, spec: MmmSpec | None):
        self.warehouse, self.kind, self.spec = warehouse, kind, spec
        self.context = warehouse_context(warehouse)
        self.frames: list[pd.DataFrame] = []
        self.offset = 0
        self.failed = False

    def add(self, rows: list) -> list[RowProblem]:
        """Problems with rows counted from the start of the import."""
        offset, self.offset = self.offset, self.offset + len(rows)
        try:
            frame = validate_batch(self.kind, rows, self.context, self.spec)
        except BatchRejected as rejected:
            self.failed, self.frames = True, []
            return [_shift(p, offset) for p in rejected.problems]
        if not self.failed:
            self.frames.append(frame.assign(_row=frame._row + offset))
        return []

    def commit(self) -> dict:
        frame = pd.concat(self.frames, ignore_index=True) if self.frames else _empty(self.kind, self.spec)
        writer = make_writer(self.warehouse)
        try:
            return finish_import(writer, self.kind, frame, self.spec)
        finally:
            writer.stop()

    def abort(self) -> None:
        self.frames = []

    def close(self) -> None:
        self.warehouse.dispose()


def _shift(problem: RowProblem, offset: int) -> RowProblem:
    return RowProblem(None if problem.row is None else problem.row + offset, problem.field, problem.value,
                      problem.problem)


def _empty(kind: str, spec: MmmSpec | None) -> pd.DataFrame:
    columns = {"events": ["event_id"], "spend": ["ts", "channel", "campaign"]}.get(kind) or ["period", *spec.variables]
    return pd.DataFrame({c: [] for c in ["_row", *columns]})


def warehouse_context(warehouse: Warehouse) -> Context:
    """Validation context from the warehouse's `channels` table."""
    channels = warehouse.read("SELECT name, paid FROM channels")
    return Context(now=datetime.now(timezone.utc), channels=frozenset(channels.name),
                   paid_channels=frozenset(channels.name[channels.paid.astype(bool)]))


class ServerError(Exception):
    """The server refused the import for a reason other than the rows (exit 2)."""


class ServerImport:
    """Stage batches on the running server (POST /api/v1/imports ...), then ask it to commit."""

    def __init__(self, url: str, key: str, kind: str, spec: MmmSpec | None):
        self.url, self.key, self.kind = url.rstrip("/"), key, kind
        self.via = f"through the server at {self.url}"
        self.offset = 0
        body = {"kind": kind, **(spec.as_dict() if spec else {})}
        status, answer = self._request("POST", "/api/v1/imports", body)
        if status == 422:
            raise BatchRejected([RowProblem(None, p.get("field"), p.get("value"), p.get("problem"))
                                 for p in answer.get("problems", [])] or
                                [RowProblem(None, None, None, answer.get("error"))])
        self.id = self._expect(status, answer, 201)["id"]

    def add(self, rows: list) -> list[RowProblem]:
        offset, self.offset = self.offset, self.offset + len(rows)
        status, answer = self._request("POST", f"/api/v1/imports/{self.id}/rows", rows)
        if status == 422 and "problems" in answer:
            return [_shift(RowProblem(**p), offset) for p in answer["problems"]]
        self._expect(status, answer, 200)
        return []

    def commit(self) -> dict:
        status, answer = self._request("POST", f"/api/v1/imports/{self.id}/commit", {}, timeout=None)
        if status == 422 and "problems" in answer:
            raise BatchRejected([RowProblem(**p) for p in answer["problems"]])
        return self._expect(status, answer, 200)["result"]

    def abort(self) -> None:
        try:
            self._request("DELETE", f"/api/v1/imports/{self.id}", None)
        except ServerError:
            pass  # the server expires abandoned stages anyway

    def close(self) -> None:
        pass

    def _expect(self, status: int, answer: dict, wanted: int) -> dict:
        if status != wanted:
            raise ServerError(f"the server at {self.url} answered {status}: {answer.get('error', answer)}")
        return answer

    def _request(self, method: str, path: str, body, timeout: float | None = 300) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body, default=_json_value).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, _json_or_text(error.read())
        except (OSError, ValueError) as error:
            raise ServerError(f"the server at {self.url} could not be reached: {error}") from None


def _json_value(value):
    """JSON for what Parquet files hold beyond JSON's types."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _json_or_text(raw: bytes) -> dict:
    try:
        answer = json.loads(raw)
        return answer if isinstance(answer, dict) else {"error": str(answer)}
    except ValueError:
        return {"error": raw.decode(errors="replace")[:200]}


def running_server(data_dir: Path) -> str | None:
    """The URL of the Pulse server that owns the warehouse of `data_dir`, or None."""
    try:
        info = json.loads((data_dir / SERVER_FILE).read_text())
        url, pid = str(info["url"]), int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _alive(pid):
        return None
    try:
        # /ping needs no login (health does, once users exist), so this works on a secured server too
        with urllib.request.urlopen(f"{url}/api/v1/ping", timeout=10) as response:
            return url if response.status == 200 else None
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def ingest_key(given: str | None, data_dir: Path) -> str:
    """--key, else the first of $PULSE_INGEST_KEYS, else the key the server generated."""
    if given:
        return given
    env = [k.strip() for k in os.environ.get("PULSE_INGEST_KEYS", "").split(",") if k.strip()]
    if env:
        return env[0]
    try:
        return (data_dir / KEY_FILE).read_text().strip()
    except OSError:
        raise ReadError("a Pulse server owns the warehouse and needs an ingest key: give --key KEY or set "
                        "$PULSE_INGEST_KEYS (create one with python -m data.keys create)") from None


# == the command =====================================================================================
class Report:
    """Problems of an import, by line of the file."""

    def __init__(self, unit: str):
        self.unit = unit
        self.count = 0
        self.kept: list[RowProblem] = []

    def add(self, problems: Iterable[RowProblem]) -> None:
        for problem in problems:
            self.count += 1
            if len(self.kept) < MAX_KEPT:
                self.kept.append(problem)

    def lines(self) -> list[str]:
        shown = sorted(self.kept, key=lambda p: (p.row is not None, p.row or 0))[:MAX_SHOWN]
        text = [self._line(p) for p in shown]
        if self.count > len(shown):
            text.append(f"... and {self.count - len(shown)} more problem(s)")
        return text + [f"{self.count} problem(s); nothing was written."]

    def _line(self, p: RowProblem) -> str:
        where = f"{self.unit} {p.row}: " if p.row is not None else ""
        what = f"{p.field}={_shown(p.value)}: " if p.field else (f"{_shown(p.value)}: " if p.value is not None else "")
        return f"{where}{what}{p.problem}"


def _shown(value) -> str:
    if value is None:
        return "(missing)"
    return '""' if value == "" else str(value)


@dataclass
class Plan:
    """What a command line asks for: the rows to import and how to name their fields."""
    kind: str
    table: Table
    rows: Iterator[tuple[int, dict | RowProblem]]
    problems: list[RowProblem]            # found before any row is read (columns)
    spec: MmmSpec | None = None
    field_names: dict | None = None       # validation field -> the file's column, for messages


def plan(args) -> Plan:
    path = Path(args.file)
    fmt = file_format(path, args.input_format)
    if args.kind == "events":
        table = open_table(path, fmt)
        problems = column_problems(table.columns if fmt != "ndjson" else None, EVENT_FIELDS, EVENT_REQUIRED,
                                   table.header_line)
        return Plan("events", table, table.records, problems)
    if args.kind == "spend":
        return _spend_plan(path, fmt, args.format)
    return _mmm_plan(path, fmt, args)


def _spend_plan(path: Path, fmt: str, format_name: str) -> Plan:
    if format_name == "generic":
        table = open_table(path, fmt)
        problems = column_problems(table.columns if fmt != "ndjson" else None, SPEND_FIELDS, ("channel", "cost"),
                                   table.header_line)
        return Plan("spend", table, table.records, problems)
    platform = platforms.PLATFORMS[format_name]
    wrong = f"{path.name} is not a {format_name} export: it needs the columns {platforms.expected(platform)}"
    try:
        table = open_table(path, fmt, is_header=lambda cells: platforms.resolve(platform, cells) is not None)
    except HeaderNotFound:
        raise ReadError(f"{wrong} on one of its first {HEADER_SEARCH_LINES} lines") from None
    columns = platforms.resolve(platform, table.columns or [])
    if columns is None:
        raise ReadError(f"{wrong} (found: {', '.join(table.columns or []) or 'none'})")
    return Plan("spend", table, platforms.spend_rows(platform, columns, table.records), [],
                field_names=platforms.field_names(columns))


def _mmm_plan(path: Path, fmt: str, args) -> Plan:
    spec = MmmSpec(args.name, args.date, args.outcome, _names(args.spend), _names(args.controls))
    table = open_table(path, fmt)
    line = table.header_line or (1 if table.unit == "line" else None)
    missing = [RowProblem(line, c, None, "no such column in the file")
               for c in (spec.date, *spec.variables) if c not in (table.columns or [])]
    rows = ((n, r if isinstance(r, RowProblem) else mmm_row(spec, r)) for n, r in table.records)
    return Plan("mmm", table, rows, spec.problems() + missing, spec=spec)


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(c.strip() for c in (text or "").split(",") if c.strip())


def stream(plan_: Plan, target, report: Report, progress) -> array:
    """Send the rows in chunks; returns the line of every row sent, to place later problems."""
    lines, chunk, chunk_lines = array("q"), [], []

    def flush():
        found = target.add(chunk)
        report.add(_placed(found, lines, plan_.field_names))
        progress.update(len(chunk))
        chunk.clear()
        chunk_lines.clear()

    for line, row in plan_.rows:
        if isinstance(row, RowProblem):
            report.add([_named(row, plan_.field_names)])
            continue
        chunk.append(row)
        lines.append(line)
        if len(chunk) >= CHUNK_ROWS:
            flush()
    if chunk:
        flush()
    return lines


def _placed(problems: list[RowProblem], lines, names: dict | None) -> list[RowProblem]:
    """Problems with rows counted from the start of the import, placed on the file's lines."""
    return [_named(RowProblem(None if p.row is None else lines[p.row], p.field, p.value, p.problem), names)
            for p in problems]


def _named(problem: RowProblem, names: dict | None) -> RowProblem:
    if not names or problem.field not in names:
        return problem
    return RowProblem(problem.row, names[problem.field], problem.value, problem.problem)


def open_target(args, kind: str, spec: MmmSpec | None):
    """Through the server when one owns the warehouse, else directly."""
    warehouse = Warehouse.open(args.data_dir)
    data_dir = resolve_data_dir(args.data_dir) if args.data_dir or not warehouse.duckdb_path \
        else warehouse.duckdb_path.parent
    url = running_server(data_dir)
    if url:
        return ServerImport(url, ingest_key(args.key, data_dir), kind, spec)
    try:
        return DirectImport(warehouse, kind, spec)
    except Exception as error:  # noqa: BLE001 - a locked or unreachable warehouse, in the driver's words
        warehouse.dispose()
        raise ReadError(f"cannot open the warehouse {warehouse.url}: {error}. If a Pulse server uses it, "
                        f"start the server so it writes {data_dir / SERVER_FILE}") from None


def progress_bar(path: Path, fmt: str, enabled: bool):
    from tqdm import tqdm

    show = enabled and (sys.stderr.isatty() or path.stat().st_size >= LARGE_FILE_BYTES)
    total = row_estimate(path, fmt) if show else None
    return tqdm(total=total, unit=" rows", disable=not show, file=sys.stderr, mininterval=0.5,
                dynamic_ncols=True, leave=False)


def summary(kind: str, read: int, result: dict, via: str, seconds: float) -> str:
    if kind == "events":
        counts = f"{result['inserted']:,} inserted, {result['duplicates']:,} duplicates (already stored)"
    elif kind == "spend":
        counts = (f"{result['rows']:,} hourly rows: {result['inserted']:,} inserted, {result['updated']:,} "
                  f"updated (restated)")
    else:
        verb = "replaced" if result["replaced"] else "stored"
        counts = (f"{result['granularity']}ly dataset {verb}: {result['rows']:,} periods, "
                  f"{result['observations']:,} observations")
    return f"{kind}: {read:,} rows read, {counts}; {seconds:.1f} s, {via}."


def run(args) -> int:
    started = time.monotonic()
    plan_ = plan(args)
    report = Report(plan_.table.unit)
    report.add(plan_.problems)
    if report.count:
        return _rejected(report)
    target = open_target(args, plan_.kind, plan_.spec)
    try:
        with progress_bar(Path(args.file), file_format(Path(args.file), args.input_format),
                          not args.no_progress) as progress:
            lines = stream(plan_, target, report, progress)
        if report.count:
            target.abort()
            return _rejected(report)
        result = _commit(target, report, lines, plan_.field_names)
    except BaseException:
        target.abort()
        raise
    finally:
        target.close()
    if result is None:
        return _rejected(report)
    print(summary(plan_.kind, len(lines), result, target.via, time.monotonic() - started))
    return 0


def _commit(target, report: Report, lines, names) -> dict | None:
    try:
        return target.commit()
    except BatchRejected as rejected:
        report.add(_placed(rejected.problems, lines, names))
        target.abort()
        return None
    except ServerError:
        raise
    except Exception as error:  # noqa: BLE001 - the transaction was rolled back; say why
        target.abort()
        raise ReadError(f"the import failed and was rolled back, nothing was written: {error}") from None


def _rejected(report: Report) -> int:
    print("\n".join(report.lines()), file=sys.stderr)
    return 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m data.load", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="kind", required=True)
    events = commands.add_parser("events", help="import events (columns of the events table)")
    spend = commands.add_parser("spend", help="import ad spend (generic or an ad platform's export)")
    spend.add_argument("--format", choices=FORMATS, default="generic", help="column layout (default generic)")
    mmm = commands.add_parser("mmm", help="import a wide media-mix table for the budget view")
    mmm.add_argument("--name", required=True, help="dataset name (re-importing a name replaces it)")
    mmm.add_argument("--date", required=True, help="the date column (a day, or the week's first day)")
    mmm.add_argument("--outcome", required=True, help="the outcome column (e.g. revenue)")
    mmm.add_argument("--spend", required=True, help="spend columns, comma-separated (tv_spend = channel tv)")
    mmm.add_argument("--controls", default="", help="control columns, comma-separated")
    for command in (events, spend, mmm):
        command.add_argument("file", help="CSV (.csv/.tsv/.txt, optionally .gz), Parquet or NDJSON file")
        command.add_argument("--as", dest="input_format", choices=("csv", "parquet", "ndjson"),
                             help="file format when the name does not tell")
        command.add_argument("--data-dir", default=None,
                             help="data directory (default $PULSE_DATA_DIR or ./var; $WAREHOUSE_URL "
                                  "overrides when --data-dir is not given)")
        command.add_argument("--key", default=None, help="ingest key for a running server (default: "
                                                          "first of $PULSE_INGEST_KEYS, else <data_dir>/ingest-key.txt)")
        command.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        return run(args)
    except (ReadError, ServerError) as error:
        print(f"python -m data.load: {error}", file=sys.stderr)
        return 2
    except BatchRejected as rejected:  # the server refused the dataset's description
        report = Report("line")
        report.add(rejected.problems)
        return _rejected(report)


if __name__ == "__main__":
    sys.exit(main())

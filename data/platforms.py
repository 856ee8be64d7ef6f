"""Column mappings of the ad platforms' spend exports, to the rows `data.validation.validate_spend` takes.

Each export format names the columns it reads (header candidates, first one present wins, matched without
regard to case, surrounding spaces or repeated spaces; a candidate ending in `*` matches any header that
starts with it, as Meta's `Amount spent (EUR)`). docs/import.md lists them for the people who export.

Values in exports are written for people: numbers with thousands separators and currency signs, `--`
for nothing, dates as `Nov 3, 2026`. `parse_number` and `parse_date` read those; a value they cannot read
is passed on unchanged, so validation rejects it naming the field and the value.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable, Iterator

from data.validation import RowProblem


@dataclass(frozen=True)
class Platform:
    name: str
    date: tuple[str, ...]
    campaign: tuple[str, ...]
    cost: tuple[str, ...]
    impressions: tuple[str, ...] = ()
    clicks: tuple[str, ...] = ()
    hour: tuple[str, ...] = ()             # optional hour-of-day column (0-23): hourly rows
    date_end: tuple[str, ...] = ()         # optional end of the reporting period (must equal the start)
    channel_from: tuple[str, ...] = ()     # optional column the channel is derived from
    channel: Callable[[str | None], str] = lambda _: "paid_social"

    REQUIRED = ("date", "campaign", "cost")
    OPTIONAL = ("impressions", "clicks", "hour", "date_end", "channel_from")


def _google_channel(campaign_type: str | None) -> str:
    kind = (campaign_type or "").strip().casefold()
    return {"video": "video", "display": "display"}.get(kind, "paid_search")


PLATFORMS = {
    "google_ads": Platform(
        name="google_ads", date=("Day", "Date"), hour=("Hour of day", "Hour"), campaign=("Campaign",),
        impressions=("Impr.", "Impressions"), clicks=("Clicks",), cost=("Cost",),
        channel_from=("Campaign type",), channel=_google_channel),
    "meta_ads": Platform(
        name="meta_ads", date=("Day", "Reporting starts"), date_end=("Reporting ends",),
        campaign=("Campaign name",), impressions=("Impressions",), clicks=("Link clicks", "Clicks (all)"),
        cost=("Amount spent*",)),
    "tiktok_ads": Platform(
        name="tiktok_ads", date=("By Day", "Date"), campaign=("Campaign name",),
        impressions=("Impression", "Impressions"), clicks=("Clicks",), cost=("Cost",)),
}


# -- columns -----------------------------------------------------------------------------------------
def _norm(header: str) -> str:
    return " ".join(str(header).replace("\ufeff", "").split()).casefold()


def _find(candidates: tuple[str, ...], headers: Iterable[str]) -> str | None:
    by_norm = {_norm(h): h for h in headers}
    for candidate in candidates:
        wanted = _norm(candidate)
        if wanted.endswith("*"):
            match = next((h for n, h in by_norm.items() if n.startswith(wanted[:-1])), None)
        else:
            match = by_norm.get(wanted)
        if match is not None:
            return match
    return None


def resolve(platform: Platform, headers: Iterable[str]) -> dict[str, str] | None:
    """{field: the export's header for it}, or None when a required column is missing."""
    headers = [h for h in headers if h is not None]
    found = {f: _find(getattr(platform, f), headers) for f in Platform.REQUIRED + Platform.OPTIONAL}
    if any(found[f] is None for f in Platform.REQUIRED):
        return None
    return {f: h for f, h in found.items() if h is not None}


def expected(platform: Platform) -> str:
    """The required columns, for a message."""
    return ", ".join(" or ".join(getattr(platform, f)) for f in Platform.REQUIRED)


# -- values ------------------------------------------------------------------------------------------
_NOTHING = {"", "-", "--", "—", "n/a"}
_CURRENCY = re.compile(r"[$€£¥₹₩₽₺₪฿₫₱]|\b[A-Z]{3}\b|[\s\u00a0\u202f']")
_NUMBER = re.compile(r"^-?[\d.,]+$")


def parse_number(value, nothing=0):
    """A number written for people: `1,234`, `$1,234.50`, `1.234,50 €`, `1 234`, `USD 12`, `--` (nothing).
    "," and "." are told apart as thousands separator or decimal mark by position: the last of the two is
    the decimal mark when both appear; a lone "," followed by exactly three digits is a thousands separator
    (`1,234` is 1234), otherwise a decimal comma (`12,5`); several "." are thousands separators."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.casefold() in _NOTHING:
        return nothing
    digits = _CURRENCY.sub("", text)
    if not _NUMBER.match(digits) or not any(c.isdigit() for c in digits):
        return value
    digits = _plain_decimal(digits)
    try:
        number = float(digits)
    except ValueError:
        return value
    return int(number) if "." not in digits and abs(number) < 2**53 else number


def _plain_decimal(digits: str) -> str:
    if "," in digits and "." in digits:
        thousands = "," if digits.rfind(".") > digits.rfind(",") else "."
        return digits.replace(thousands, "").replace(",", ".")
    if "," in digits:
        head, _, tail = digits.rpartition(",")
        if digits.count(",") == 1 and (len(tail) != 3 or head.lstrip("-") in ("", "0")):
            return f"{head}.{tail}"
        return digits.replace(",", "")
    if digits.count(".") > 1:
        return digits.replace(".", "")
    return digits


_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y", "%d.%m.%Y", "%b %d, %Y", "%B %d, %Y", "%a, %b %d, %Y",
                 "%Y%m%d")


def parse_date(value):
    """An ISO date string (`2026-11-03`) for a date written as in exports: `2026-11-03`, `2026/11/03`,
    `11/03/2026` (month first, as US exports), `03.11.2026`, `Nov 3, 2026`, `November 3, 2026`,
    `Tue, Nov 3, 2026`, `20261103`, or any of these followed by a midnight time (`2026-11-03 00:00:00`).
    Date and datetime objects (Parquet) are taken as they are. Anything else is returned unchanged."""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value
    if hasattr(value, "isoformat") and hasattr(value, "year"):
        return value.isoformat()
    text = str(value).strip()
    text = re.sub(r"[ T]00:00(:00(\.0+)?)?$", "", text)
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return value


# -- rows --------------------------------------------------------------------------------------------
def spend_rows(platform: Platform, columns: dict[str, str],
               records: Iterable[tuple[int, dict]]) -> Iterator[tuple[int, dict | RowProblem]]:
    """(line, spend row) per exported row; rows of the same day (or hour), channel and campaign are added
    up (a report segmented by device or ad group). Totals rows are skipped."""
    combined: dict[tuple, tuple[int, dict]] = {}
    for line, record in records:
        if isinstance(record, RowProblem) or _is_total(record):
            if isinstance(record, RowProblem):
                yield line, record
            continue
        row = _spend_row(platform, columns, record)
        if isinstance(row, RowProblem):
            yield line, RowProblem(line, row.field, row.value, row.problem)
            continue
        key = _key(row)
        if key is None:
            yield line, row
        elif key in combined:
            _add(combined[key][1], row)
        else:
            combined[key] = (line, row)
    yield from combined.values()


def _is_total(record: dict) -> bool:
    first = next((str(v).strip() for v in record.values() if v not in (None, "")), "")
    return first.casefold().startswith("total")


def _spend_row(platform: Platform, columns: dict[str, str], record: dict) -> dict | RowProblem:
    day = parse_date(record.get(columns["date"], ""))
    if "date_end" in columns:
        end = parse_date(record.get(columns["date_end"], day))
        if end != day:
            return RowProblem(None, columns["date_end"], end,
                              "a row covers more than one day: export with a daily breakdown (by day)")
    row = {"channel": platform.channel(record.get(columns.get("channel_from", ""))),
           "campaign": record.get(columns["campaign"]),
           "impressions": parse_number(record.get(columns.get("impressions", ""), 0)),
           "clicks": parse_number(record.get(columns.get("clicks", ""), 0)),
           "cost": parse_number(record.get(columns["cost"], 0))}
    if "hour" in columns:
        hour = parse_number(record.get(columns["hour"], ""), nothing=None)
        if not isinstance(hour, int) or not 0 <= hour <= 23 or not isinstance(day, str):
            return RowProblem(None, columns["hour"] if isinstance(day, str) else columns["date"],
                              record.get(columns["hour"]) if isinstance(day, str) else day,
                              "needs a date and an hour of day from 0 to 23")
        row["ts"] = f"{day}T{hour:02d}:00:00+00:00"
    else:
        row["date"] = day
    return row


def _key(row: dict) -> tuple | None:
    """The row's (time, channel, campaign), or None when a value is unreadable (left to validation)."""
    numbers = all(isinstance(row[f], (int, float)) for f in ("impressions", "clicks", "cost"))
    when = row.get("ts") or row.get("date")
    return (when, row["channel"], row["campaign"]) if numbers and isinstance(when, str) else None


def _add(total: dict, row: dict) -> None:
    for field in ("impressions", "clicks", "cost"):
        total[field] += row[field]


def field_names(columns: dict[str, str]) -> dict[str, str]:
    """The export's header for each validation field, to name it in problems."""
    names = {f: columns[f] for f in ("campaign", "cost", "impressions", "clicks") if f in columns}
    names["date"] = columns["date"]
    names["ts"] = columns.get("hour") and f"{columns['date']}+{columns['hour']}" or columns["date"]
    names["channel"] = columns.get("channel_from", "channel")
    return names

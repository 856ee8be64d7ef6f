"""bench/run.py and bench/load.py, run for a few seconds on a tiny warehouse, still produce their tables
(they are not tests of speed: only that the scripts run against today's app and print what they should)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from data.generate import generate
from data.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bench")
    wh = Warehouse(f"duckdb:///{directory / 'pulse.duckdb'}")
    generate(wh, days=20, scale=0.02, seed=3)
    wh.dispose()
    return directory


def rows(output: str, header: str) -> list[list[str]]:
    """The rows of the Markdown table whose header starts with `header`, as lists of cells."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    assert re.fullmatch(r"\|(-+:?\|)+|\|(-*:?-*\|)+", lines[start + 1].replace("---:", "---")), lines[start + 1]
    table = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip("|").split("|")])
    width = len(lines[start].strip("|").split("|"))
    assert all(len(r) == width for r in table)
    return table


def run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, f"bench/{script}", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_run_prints_every_view_row_with_floor_and_target(tiny, tmp_path):
    out = run("run.py", "--data-dir", str(tiny), "--port", "8066", "--runs", "1", "--views", "monitoring,funnel",
              "--settings", "last 30 d", "--record-quiet", "0.5")
    table = rows(out, "| view | request |")
    by_name = {(r[0], r[1]): r for r in table}
    assert {("monitoring", "tiles"), ("monitoring", "tick"), ("funnel", "page"), ("api", "kpis"),
            ("api", "budget/optimize")} <= set(by_name)
    assert all(re.fullmatch(r"[\d,]+ / [\d,]+", r[3]) for r in table)          # HTTP p50 / p95
    assert re.fullmatch(r"[\d,]+ / [\d,]+", by_name[("api", "kpis")][4])       # its floor
    assert re.fullmatch(r"[\d,]+ / [\d,]+", by_name[("api", "kpis")][5])       # its naive baseline
    assert by_name[("api", "kpis")][9] in ("met",) or by_name[("api", "kpis")][9].startswith("**miss**")
    assert by_name[("funnel", "page")][8] == "≤1 s"
    assert all(r[7] == "0" for r in table if r[0] != "api" or r[1] != "budget/optimize")


def test_load_prints_callbacks_ingest_and_memory(tiny):
    out = run("load.py", "--data-dir", str(tiny), "--port", "8067", "--viewers", "3", "--rate", "100",
              "--minutes", "0.15", "--baseline-seconds", "3")
    callbacks = {r[0]: r for r in rows(out, "| request | count |")}
    assert set(callbacks) == {"page", "tick", "tiles", "trends", "tables", "refresh"}
    assert int(callbacks["tick"][1]) >= 3
    ingest = {r[0]: r for r in rows(out, "| measure | value |")}
    achieved = int(ingest["achieved (events acknowledged / s)"][1].replace(",", ""))
    assert 50 <= achieved <= 120
    assert rows(out, "| time, s | RSS, MB |")
    assert "errors (any answer but 200, or none): 0" in out

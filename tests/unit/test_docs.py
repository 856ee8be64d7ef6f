"""Documentation a test keeps complete: every warehouse column is described in docs/warehouse.md."""
import re
from pathlib import Path

import duckdb

from data import schema

DOCS = Path(__file__).resolve().parents[2] / "docs"


def documented_columns() -> dict[str, set[str]]:
    table, found = None, {}
    for line in (DOCS / "warehouse.md").read_text().splitlines():
        heading = re.match(r"^###\s+`(\w+)`", line)
        if heading:
            table = heading.group(1)
            found[table] = set()
        cell = re.match(r"^\|\s*`(\w+)`\s*\|", line)
        if table and cell:
            found[table].add(cell.group(1))
    return found


def test_every_table_and_column_is_documented(tmp_path):
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    schema.create_all(conn)
    docs = documented_columns()
    for table in schema.TABLES:
        columns = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
        assert table in docs, f"docs/warehouse.md has no section for {table}"
        assert columns - docs[table] == set(), f"undocumented columns of {table}"
        assert docs[table] - columns == set(), f"docs/warehouse.md describes columns {table} does not have"
